package reboundgrpc

import (
	"context"
	"math"
	"strconv"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/rebound-go/rebound"
)

// StatusError is the error of a failed attempt: the RPC's status, with
// its classification (rebound.Classified). status.FromError, status.Code
// and status.Convert read its status through GRPCStatus, also when it is
// wrapped, as in the *rebound.Error a failed call returns.
type StatusError struct {
	st    *status.Status
	err   error // what the attempt returned, or what the status stands for
	class rebound.Classification
}

// Error reads like grpc-go's status errors: "rpc error: code = <code>
// desc = <message>".
func (e *StatusError) Error() string {
	return "rpc error: code = " + e.st.Code().String() + " desc = " + e.st.Message()
}

// GRPCStatus returns the status, for status.FromError and status.Code.
func (e *StatusError) GRPCStatus() *status.Status { return e.st }

// Code returns the status code.
func (e *StatusError) Code() codes.Code { return e.st.Code() }

// Unwrap returns the error the attempt returned (grpc-go's own status
// error), or, for a call that ended without an attempt's status, the
// error the status stands for (the context's error, rebound.ErrCircuitOpen).
func (e *StatusError) Unwrap() error { return e.err }

// Classification implements rebound.Classified.
func (e *StatusError) Classification() rebound.Classification { return e.class }

// attemptError is classifyError for the error of an attempt of a call
// whose context is ctx. A DEADLINE_EXCEEDED can reach the client (from the
// server, or from grpc-go's transport, which compares the clock with the
// deadline) a moment before ctx's own timer marks ctx done; rebound.Do tells
// the caller's deadline from an attempt's timeout by ctx.Err(), so when
// ctx's deadline has passed by the clock, attemptError waits for ctx to be
// done, which it is at once.
//
// A call that carries an idempotency key is deduplicated by its server, so
// its failures are never "maybe processed": a policy NonIdempotent for its
// method retries them all the same. The key is looked up here, on a
// failure, rather than for every call: reading the outgoing metadata
// copies it.
func attemptError(ctx context.Context, err error, trailer metadata.MD) error {
	if status.Code(err) == codes.DeadlineExceeded {
		if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
			<-ctx.Done()
		}
	}
	err = classifyError(err, trailer)
	if se, ok := err.(*StatusError); ok && se.class.MaybeProcessed && hasIdempotencyKey(ctx) {
		se.class.MaybeProcessed = false
	}
	return err
}

// classifyError returns the error an attempt reports to rebound.Do: a
// *StatusError for an error that carries a gRPC status, classified by its
// code and the server's pushback; any other error unchanged, for rebound's
// own rules.
func classifyError(err error, trailer metadata.MD) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	return &StatusError{st: st, err: err, class: classify(st, trailer)}
}

// classify is the package doc's table.
func classify(st *status.Status, trailer metadata.MD) rebound.Classification {
	var c rebound.Classification
	switch st.Code() {
	case codes.Unavailable:
		// The server did not take the call: safe to repeat.
		c = rebound.Classification{Class: rebound.Connection, Retryable: true}
	case codes.DeadlineExceeded:
		// An attempt ran out of its own timeout (rebound.Do reports the
		// caller's deadline as Canceled): the server may have done the work.
		c = rebound.Classification{Class: rebound.Connection, Retryable: true, MaybeProcessed: true}
	case codes.ResourceExhausted:
		// Retried only when the server says when (below).
		c = rebound.Classification{Class: rebound.Response}
	case codes.Aborted, codes.Internal, codes.Unknown:
		c = rebound.Classification{Class: rebound.Response, Retryable: true, MaybeProcessed: true}
	case codes.Canceled:
		return rebound.Classification{Class: rebound.Canceled}
	default:
		return rebound.Classification{Class: rebound.Logic}
	}
	wait, asked, stop := pushback(st, trailer)
	switch {
	case stop:
		c.Retryable = false
	case asked:
		c.Retryable = true
		if wait > 0 {
			c.RetryAfter = wait
		}
	}
	return c
}

// pushback reads the server's wait: the grpc-retry-pushback-ms trailer and
// a google.rpc.RetryInfo detail. stop is true when either asks not to
// retry (a negative, malformed or repeated pushback, a negative or invalid
// retry_delay); otherwise asked is true when either is present, and wait
// is the longer of the two. rebound.Do reads a zero RetryAfter as no wait
// asked, so a wait of zero becomes 1 ns: retry at once, not after the
// policy's backoff. A RetryInfo without retry_delay asks for a retry after
// the policy's backoff (wait 0).
func pushback(st *status.Status, trailer metadata.MD) (wait time.Duration, asked, stop bool) {
	if vs := trailer.Get(PushbackKey); len(vs) > 0 {
		if len(vs) > 1 {
			return 0, false, true
		}
		d, ok := parsePushback(vs[0])
		if !ok {
			return 0, false, true
		}
		wait, asked = max(d, time.Nanosecond), true
	}
	for _, d := range st.Details() {
		ri, ok := d.(*errdetails.RetryInfo)
		if !ok {
			continue
		}
		asked = true
		if ri.RetryDelay == nil {
			continue
		}
		if ri.RetryDelay.CheckValid() != nil || ri.RetryDelay.Seconds < 0 || ri.RetryDelay.Nanos < 0 {
			return 0, false, true
		}
		wait = max(wait, ri.RetryDelay.AsDuration(), time.Nanosecond)
	}
	return wait, asked, false
}

// parsePushback parses a grpc-retry-pushback-ms value: a non-negative
// decimal integer of milliseconds. Values too large for a time.Duration
// saturate (and then exceed any Policy.MaxRetryAfter).
func parsePushback(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange && v != "" && v[0] != '-' {
			return math.MaxInt64, true
		}
		return 0, false
	}
	if ms < 0 {
		return 0, false
	}
	if ms > math.MaxInt64/int64(time.Millisecond) {
		return math.MaxInt64, true
	}
	return time.Duration(ms) * time.Millisecond, true
}
