package idempotencygrpc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/idempotency"
	"github.com/rebound-go/rebound/idempotency/internal/lease"
)

// Defaults and metadata keys.
const (
	DefaultTTL               = idempotency.DefaultTTL
	DefaultLease             = idempotency.DefaultLease
	DefaultMaxKeyLength      = idempotency.DefaultMaxKeyLength
	DefaultMaxStoredResponse = idempotency.DefaultMaxStoredResponse
	// MetadataKey is the request metadata entry carrying the key.
	MetadataKey = "idempotency-key"
	// MetadataReplayed is the header metadata entry, "true", of a
	// replayed response.
	MetadataReplayed = "idempotent-replayed"
	// MetadataPushback is the trailer by which a call refused while the
	// first call with its key runs tells gRPC's retry machinery when to
	// try again, in milliseconds.
	MetadataPushback = "grpc-retry-pushback-ms"
)

// Config configures an Interceptor. Store is required; every other zero
// field means its default.
type Config struct {
	// Store keeps the keys. Required. It may be shared with
	// idempotency.Middleware: the interceptor's keys are stored under a
	// "grpc:" prefix of their own.
	Store idempotency.Store
	// Methods reports whether the interceptor applies to a method, given
	// its full name ("/package.Service/Method"). Default: every unary
	// method; other methods pass through untouched.
	Methods func(fullMethod string) bool
	// Required reports whether a call must carry a key (INVALID_ARGUMENT
	// without one). Default: a key is optional; calls without one pass
	// through.
	Required func(fullMethod string) bool
	// Principal returns who is calling, so that two callers' keys never
	// collide. Default: a SHA-256 digest of the "authorization" metadata
	// (the empty string for anonymous callers).
	Principal func(ctx context.Context) string
	// Fingerprint digests what makes two calls the same; a key reused
	// with another fingerprint is refused with INVALID_ARGUMENT. Default:
	// DefaultFingerprint. An error refuses the call without running it:
	// with the error's own code if it carries a gRPC status, else
	// INTERNAL.
	Fingerprint func(fullMethod string, req any) (string, error)
	// MaxKeyLength bounds the key; longer keys get INVALID_ARGUMENT.
	// Default 255.
	MaxKeyLength int
	// MaxStoredResponse bounds the stored response (the marshalled
	// message, or status). A larger one is sent but not stored: the key
	// is released, so a retry runs the handler again. Default 1 MiB.
	MaxStoredResponse int
	// TTL is how long a completed key is remembered. Default 24 h.
	TTL time.Duration
	// Lease bounds how long a crashed call blocks its key; a running call
	// renews it every Lease/3. Default 1 m.
	Lease time.Duration
	// Logger receives store failures that do not change the call's
	// answer (storing or releasing after the handler returned, renewing).
	// Default slog.Default().
	Logger *slog.Logger
}

// Interceptor dedupes unary gRPC calls by their idempotency key. Build it
// with New; it is safe for concurrent use.
type Interceptor struct {
	cfg Config
	// outputs caches, per full method name, the response type resolved
	// through protoregistry (an outputType).
	outputs sync.Map
}

// New validates cfg and returns an Interceptor. An invalid field is
// reported as a *rebound.ConfigError naming it.
func New(cfg Config) (*Interceptor, error) {
	if cfg.Store == nil {
		return nil, &rebound.ConfigError{Field: "idempotencygrpc.Config.Store", Problem: "required"}
	}
	for _, f := range []struct {
		name     string
		negative bool
	}{
		{"MaxKeyLength", cfg.MaxKeyLength < 0},
		{"MaxStoredResponse", cfg.MaxStoredResponse < 0},
		{"TTL", cfg.TTL < 0},
		{"Lease", cfg.Lease < 0},
	} {
		if f.negative {
			return nil, &rebound.ConfigError{Field: "idempotencygrpc.Config." + f.name, Problem: "must be 0 (the default) or positive"}
		}
	}
	if cfg.Principal == nil {
		cfg.Principal = authorizationDigest
	}
	if cfg.Fingerprint == nil {
		cfg.Fingerprint = DefaultFingerprint
	}
	if cfg.MaxKeyLength == 0 {
		cfg.MaxKeyLength = DefaultMaxKeyLength
	}
	if cfg.MaxStoredResponse == 0 {
		cfg.MaxStoredResponse = DefaultMaxStoredResponse
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Lease == 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Interceptor{cfg: cfg}, nil
}

// Unary returns the unary server interceptor, to install with
// grpc.ChainUnaryInterceptor (after authentication, so that Principal
// sees who is calling).
func (in *Interceptor) Unary() grpc.UnaryServerInterceptor {
	return in.intercept
}

func (in *Interceptor) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	method := info.FullMethod
	if in.cfg.Methods != nil && !in.cfg.Methods(method) {
		return handler(ctx, req)
	}
	md, _ := metadata.FromIncomingContext(ctx)
	values := md.Get(MetadataKey)
	if len(values) == 0 {
		if in.cfg.Required != nil && in.cfg.Required(method) {
			return nil, status.Errorf(codes.InvalidArgument, "%s requires an %s metadata entry", method, MetadataKey)
		}
		return handler(ctx, req)
	}
	key, err := parseKey(values, in.cfg.MaxKeyLength)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, "malformed "+MetadataKey+": "+err.Error())
	}
	output, err := in.outputType(method)
	if err != nil {
		return nil, err
	}
	fp, err := in.cfg.Fingerprint(method, req)
	if err != nil {
		if _, ok := status.FromError(err); ok {
			return nil, err
		}
		return nil, status.Errorf(codes.Internal, "idempotencygrpc: fingerprinting the request of %s: %v", method, err)
	}
	scoped := "grpc:" + in.cfg.Principal(ctx) + ":" + key

	c, err := in.cfg.Store.Claim(ctx, scoped, fp, time.Now(), in.cfg.Lease, in.cfg.TTL)
	if err != nil {
		if ctx.Err() != nil {
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		return nil, status.Error(codes.Unavailable, "idempotency store unavailable; the call was not run; retry with the same key")
	}
	if !c.Claimed {
		return in.answerExisting(ctx, method, output, c.Existing, fp)
	}
	return in.run(ctx, req, handler, scoped, c.Token)
}

// parseKey applies idempotency.ParseKey's rules to the metadata values,
// with a message of gRPC's own for a repeated entry.
func parseKey(values []string, max int) (string, error) {
	if len(values) != 1 {
		return "", fmt.Errorf("the call carries %d %s entries; want exactly one", len(values), MetadataKey)
	}
	return idempotency.ParseKey(values, max)
}

// answerExisting answers a call whose key another call holds or has
// completed: INVALID_ARGUMENT for another request's key, ABORTED while
// the first is in flight, else the stored outcome.
func (in *Interceptor) answerExisting(ctx context.Context, method string, output protoreflect.MessageType, existing idempotency.Record, fp string) (any, error) {
	switch {
	case existing.Fingerprint != fp:
		return nil, status.Error(codes.InvalidArgument, "idempotency key reused: this key was already used for a different request")
	case existing.State == idempotency.InFlight:
		_ = grpc.SetTrailer(ctx, metadata.Pairs(MetadataPushback, "1000"))
		return nil, inFlightError()
	}
	_ = grpc.SetHeader(ctx, metadata.Pairs(MetadataReplayed, "true"))
	resp, err := decodeOutcome(existing.Response, output)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "idempotencygrpc: the stored outcome of %s cannot be replayed: %v", method, err)
	}
	return resp.message, resp.err
}

// run runs the handler for a call whose key it claimed, renewing the
// lease while it runs, then stores its outcome, or releases the key when
// the outcome must not be replayed.
func (in *Interceptor) run(ctx context.Context, req any, handler grpc.UnaryHandler, scoped, token string) (resp any, err error) {
	stop := lease.Renew(in.cfg.Lease/3, func(now time.Time) error {
		return in.cfg.Store.Extend(context.WithoutCancel(ctx), scoped, token, now, in.cfg.Lease)
	}, func(err error) bool {
		in.cfg.Logger.Warn("idempotencygrpc: renewing lease failed", "error", err.Error())
		return errors.Is(err, idempotency.ErrLeaseLost)
	})
	returned := false
	defer func() {
		stop()
		if !returned {
			// The handler panicked (or called runtime.Goexit): it did not
			// finish, so its key must not stay locked for the rest of the
			// lease. Released, a retry runs the handler again. The panic
			// goes on unrecovered, to grpc-go (which crashes the program)
			// or to a recovery interceptor installed before this one.
			in.release(ctx, scoped, token)
		}
	}()
	resp, err = handler(ctx, req)
	returned = true

	stored, ok, why := encodeOutcome(resp, err, in.cfg.MaxStoredResponse)
	if !ok {
		if why != "" {
			in.cfg.Logger.Warn("idempotencygrpc: outcome not stored; a retry will run the handler again", "method", methodOf(ctx), "reason", why)
		}
		in.release(ctx, scoped, token)
		return resp, err
	}
	if cerr := in.cfg.Store.Complete(context.WithoutCancel(ctx), scoped, token, stored, time.Now(), in.cfg.TTL); cerr != nil {
		in.cfg.Logger.Warn("idempotencygrpc: storing the outcome failed; a retry will run the handler again", "error", cerr.Error())
	}
	return resp, err
}

// release gives key back, so that the next call with it runs the handler.
// It runs even when the call's context has ended.
func (in *Interceptor) release(ctx context.Context, key, token string) {
	if err := in.cfg.Store.Release(context.WithoutCancel(ctx), key, token); err != nil {
		in.cfg.Logger.Warn("idempotencygrpc: releasing key failed", "error", err.Error())
	}
}

// methodOf returns the call's full method name for logs.
func methodOf(ctx context.Context) string {
	m, _ := grpc.Method(ctx)
	return m
}

// DefaultFingerprint digests the full method name and the request's
// deterministic protobuf encoding (proto.MarshalOptions{Deterministic:
// true}), with SHA-256. A request that is not a proto.Message is an error
// (the call is refused with INTERNAL: a server whose codec is not
// protobuf must set Config.Fingerprint).
func DefaultFingerprint(fullMethod string, req any) (string, error) {
	m, ok := req.(proto.Message)
	if !ok {
		return "", fmt.Errorf("the request is a %T, not a proto.Message; set Config.Fingerprint for non-protobuf codecs", req)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	io.WriteString(h, fullMethod)
	h.Write([]byte{0})
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// authorizationDigest digests the call's "authorization" metadata (all
// its values, in order), as idempotency.Middleware does the Authorization
// header.
func authorizationDigest(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	a := md.Get("authorization")
	if len(a) == 0 {
		return ""
	}
	sum := sha256.Sum256([]byte(strings.Join(a, "\x00")))
	return hex.EncodeToString(sum[:16])
}
