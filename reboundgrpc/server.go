package reboundgrpc

import (
	"context"
	"errors"
	"strconv"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/rebound-go/rebound"
)

// UnaryServerInterceptor returns a server interceptor that turns a
// handler's error into a status by rebound's classes (see ToStatus), and
// sends a wait the error asks for as both a google.rpc.RetryInfo detail
// and the grpc-retry-pushback-ms trailer.
func UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if err == nil {
			return resp, nil
		}
		st, wait, ok := toStatus(err)
		if !ok {
			return nil, err
		}
		if wait >= 0 {
			_ = grpc.SetTrailer(ctx, pushbackTrailer(wait))
		}
		return nil, st.Err()
	}
}

// StreamServerInterceptor is UnaryServerInterceptor for streams.
func StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		err := handler(srv, ss)
		if err == nil {
			return nil
		}
		st, wait, ok := toStatus(err)
		if !ok {
			return err
		}
		if wait >= 0 {
			ss.SetTrailer(pushbackTrailer(wait))
		}
		return st.Err()
	}
}

// ToStatus returns the status the server interceptors send for a handler's
// error (nil for nil):
//
//   - an error that carries a gRPC status (status.FromError): that status.
//   - rebound.RetryAfter with a positive wait: RESOURCE_EXHAUSTED with a
//     google.rpc.RetryInfo detail holding the wait.
//   - a Transient or RetryAfter mark (wait 0), Connection and Response
//     errors: UNAVAILABLE.
//   - Logic errors (rebound.Permanent, …): FAILED_PRECONDITION.
//   - Canceled: DEADLINE_EXCEEDED for context.DeadlineExceeded, CANCELED
//     otherwise.
//   - Unknown errors: UNKNOWN, as grpc-go sends for any error without a
//     status.
//
// The classes are rebound.Classify's. The message is the error's text.
func ToStatus(err error) *status.Status {
	if err == nil {
		return nil
	}
	if st, ok := status.FromError(err); ok {
		return st
	}
	st, _, _ := toStatus(err)
	return st
}

// toStatus is ToStatus for the interceptors: ok is false for an error that
// carries a status, which they return unchanged; wait is the RetryInfo's
// delay, or -1 without one.
func toStatus(err error) (st *status.Status, wait time.Duration, ok bool) {
	if _, has := status.FromError(err); has {
		return nil, -1, false
	}
	c := rebound.Classify(err)
	var code codes.Code
	switch {
	case c.Marked && c.RetryAfter > 0:
		st = status.New(codes.ResourceExhausted, err.Error())
		if d, derr := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(c.RetryAfter)}); derr == nil {
			return d, c.RetryAfter, true
		}
		return st, -1, true
	case c.Marked, c.Class == rebound.Connection, c.Class == rebound.Response:
		code = codes.Unavailable
	case c.Class == rebound.Logic:
		code = codes.FailedPrecondition
	case c.Class == rebound.Canceled:
		code = codes.Canceled
		if errors.Is(err, context.DeadlineExceeded) {
			code = codes.DeadlineExceeded
		}
	default:
		code = codes.Unknown
	}
	return status.New(code, err.Error()), -1, true
}

// pushbackTrailer is the grpc-retry-pushback-ms trailer of a wait, in
// whole milliseconds rounded up, so that no client waits less than asked.
func pushbackTrailer(wait time.Duration) metadata.MD {
	ms := int64(wait / time.Millisecond)
	if wait%time.Millisecond != 0 {
		ms++
	}
	return metadata.Pairs(PushbackKey, strconv.FormatInt(ms, 10))
}
