package idempotencygrpc

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/rebound-go/rebound/idempotency"
)

// storedCodes are the errors that say the request itself was wrong: the
// same request would fail the same way, so they are stored and replayed
// like a response. Every other code releases the key.
var storedCodes = map[codes.Code]bool{
	codes.InvalidArgument:    true,
	codes.NotFound:           true,
	codes.AlreadyExists:      true,
	codes.PermissionDenied:   true,
	codes.FailedPrecondition: true,
	codes.OutOfRange:         true,
	codes.Unimplemented:      true,
	codes.Unauthenticated:    true,
}

// encodeOutcome encodes what the handler returned as a stored
// idempotency.Response (see the package doc). It reports false when the
// outcome is not to be stored, with why when that deserves a log line.
func encodeOutcome(resp any, err error, limit int) (idempotency.Response, bool, string) {
	if err == nil {
		m, ok := resp.(proto.Message)
		if !ok || m == nil {
			return idempotency.Response{}, false, fmt.Sprintf("the response is a %T, not a proto.Message", resp)
		}
		b, merr := proto.Marshal(m)
		if merr != nil {
			return idempotency.Response{}, false, "marshalling the response: " + merr.Error()
		}
		if len(b) > limit {
			return idempotency.Response{}, false, "the response is " + strconv.Itoa(len(b)) + " bytes, above MaxStoredResponse"
		}
		return idempotency.Response{Status: int(codes.OK), Body: b}, true, ""
	}
	st, _ := status.FromError(err)
	if !storedCodes[st.Code()] {
		return idempotency.Response{}, false, ""
	}
	b, merr := proto.Marshal(st.Proto())
	if merr != nil {
		return idempotency.Response{}, false, "marshalling the status: " + merr.Error()
	}
	if len(b) > limit {
		return idempotency.Response{}, false, "the status is " + strconv.Itoa(len(b)) + " bytes, above MaxStoredResponse"
	}
	return idempotency.Response{Status: int(st.Code()), Body: b}, true, ""
}

// outcome is what a replayed call returns.
type outcome struct {
	message any
	err     error
}

// decodeOutcome reverses encodeOutcome: a message of type output, or the
// stored status as an error.
func decodeOutcome(r idempotency.Response, output protoreflect.MessageType) (outcome, error) {
	if codes.Code(r.Status) == codes.OK {
		m := output.New().Interface()
		if err := proto.Unmarshal(r.Body, m); err != nil {
			return outcome{}, fmt.Errorf("unmarshalling a %s: %w", output.Descriptor().FullName(), err)
		}
		return outcome{message: m}, nil
	}
	p := status.New(codes.Unknown, "").Proto() // an empty google.rpc.Status
	if err := proto.Unmarshal(r.Body, p); err != nil {
		return outcome{}, fmt.Errorf("unmarshalling the status: %w", err)
	}
	if p.GetCode() != int32(r.Status) {
		return outcome{}, fmt.Errorf("the stored status has code %d, its record %d", p.GetCode(), r.Status)
	}
	return outcome{err: status.ErrorProto(p)}, nil
}

// resolved is a cached answer of resolveOutput.
type resolved struct {
	typ protoreflect.MessageType
	err error
}

// outputType returns the response type of method, which replaying a
// stored response needs, resolving it once per method.
func (in *Interceptor) outputType(method string) (protoreflect.MessageType, error) {
	if v, ok := in.outputs.Load(method); ok {
		r := v.(resolved)
		return r.typ, r.err
	}
	typ, err := resolveOutput(method)
	in.outputs.Store(method, resolved{typ, err})
	return typ, err
}

// resolveOutput finds the response type of a method from its full name
// ("/package.Service/Method") through protoregistry: the service's
// descriptor, the method's output, then the output's Go type. The
// registries are filled when the generated packages are initialized, so
// an answer, found or not, holds for the life of the program.
func resolveOutput(fullMethod string) (protoreflect.MessageType, error) {
	fail := func(why string) error {
		return status.Errorf(codes.Internal, "idempotencygrpc: cannot make %s idempotent: %s; the response type must be registered in protoregistry (link the package generated for the service), or the method left out with Config.Methods", fullMethod, why)
	}
	service, name, ok := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	if !ok || service == "" || name == "" {
		return nil, fail("the method name is not /package.Service/Method")
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(service))
	if err != nil {
		return nil, fail("service " + service + " is not registered")
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, fail(service + " is not a service")
	}
	md := sd.Methods().ByName(protoreflect.Name(name))
	if md == nil {
		return nil, fail("service " + service + " has no method " + name)
	}
	out := md.Output().FullName()
	mt, err := protoregistry.GlobalTypes.FindMessageByName(out)
	if err != nil {
		if errors.Is(err, protoregistry.NotFound) {
			return nil, fail("its response type " + string(out) + " is not registered")
		}
		return nil, fail(err.Error())
	}
	return mt, nil
}

// inFlightStatus is the answer to a call whose key another call holds:
// ABORTED with a google.rpc.RetryInfo of one second, the gRPC form of
// HTTP's 409 with Retry-After: 1.
var inFlightStatus = func() *status.Status {
	p := status.New(codes.Aborted, "a call with this idempotency key is in progress; retry once it has completed").Proto()
	p.Details = append(p.Details, retryInfo(time.Second))
	return status.FromProto(p)
}()

func inFlightError() error { return inFlightStatus.Err() }

// retryInfo encodes a google.rpc.RetryInfo{retry_delay: d} as an Any by
// hand (its field 1 is the google.protobuf.Duration), so that this
// package needs none of the genproto modules: clients decode it with
// errdetails.RetryInfo as usual.
func retryInfo(d time.Duration) *anypb.Any {
	dur, _ := proto.Marshal(durationpb.New(d)) // never fails on a valid Duration
	v := protowire.AppendTag(nil, 1, protowire.BytesType)
	v = protowire.AppendBytes(v, dur)
	return &anypb.Any{TypeUrl: "type.googleapis.com/google.rpc.RetryInfo", Value: v}
}
