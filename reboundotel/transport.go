package reboundotel

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/rebound-go/rebound/internal/redact"
	"github.com/rebound-go/rebound/reboundhttp"
)

// Attribute keys of the attempt spans, from OpenTelemetry's HTTP semantic
// conventions.
const (
	keyMethod         = attribute.Key("http.request.method")
	keyMethodOriginal = attribute.Key("http.request.method_original")
	keyURL            = attribute.Key("url.full")
	keyServerAddress  = attribute.Key("server.address")
	keyServerPort     = attribute.Key("server.port")
	keyStatusCode     = attribute.Key("http.response.status_code")
	keyErrorType      = attribute.Key("error.type")
	keyResendCount    = attribute.Key("http.request.resend_count")
)

// NewTransport returns an http.RoundTripper that sends each request through
// base (http.DefaultTransport when nil) in a CLIENT span of its own, named
// and described by the HTTP semantic conventions, with the trace context
// injected into the request's headers (the caller's request is not
// modified). Under a reboundhttp.Transport (as its Config.Base) each span
// is one attempt, and a retry's span has http.request.resend_count. See the
// package documentation for the attributes and for how it composes with
// otelhttp. Only cfg's TracerProvider and Propagator are used.
func NewTransport(base http.RoundTripper, cfg Config) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{base: base, tracer: cfg.tracer(), prop: cfg.propagator()}
}

type transport struct {
	base   http.RoundTripper
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

// ReadsAttempts tells reboundhttp, when this transport is its Base, to put
// each attempt in its request's context (reboundhttp.Config.Attempts).
func (*transport) ReadsAttempts() bool { return true }

// RoundTrip implements http.RoundTripper.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	a, inAttempt := reboundhttp.AttemptOf(ctx)
	if inAttempt {
		// An instrumentation between reboundhttp and this transport
		// (otelhttp as Config.Base) started the attempt's span: the span
		// of the request's context is not the one reboundhttp's attempt
		// began with. Annotate that span rather than start a second one.
		cur := trace.SpanFromContext(ctx).SpanContext()
		made := trace.SpanFromContext(a.Context()).SpanContext()
		if cur.SpanID() != made.SpanID() || cur.TraceID() != made.TraceID() {
			if a.N > 1 {
				trace.SpanFromContext(ctx).SetAttributes(keyResendCount.Int(a.N - 1))
			}
			return t.base.RoundTrip(req)
		}
	} else if httpClientSpanAbove(ctx, req.Method) {
		// No attempt to compare with (reboundhttp without Attempts, as
		// when otelhttp hides this transport from it), but the request's
		// context holds an unfinished CLIENT span named for this request,
		// as otelhttp's: it instruments the request already.
		return t.base.RoundTrip(req)
	}

	method, known := normalizeMethod(req.Method)
	name := method
	if !known {
		name = "HTTP"
	}
	attrs := make([]attribute.KeyValue, 0, 8)
	attrs = append(attrs, keyMethod.String(method))
	if !known {
		attrs = append(attrs, keyMethodOriginal.String(req.Method))
	}
	attrs = append(attrs, keyURL.String(redact.URL(req.URL)))
	if host, port := serverOf(req); host != "" {
		attrs = append(attrs, keyServerAddress.String(host))
		if port > 0 {
			attrs = append(attrs, keyServerPort.Int(port))
		}
	}
	if inAttempt && a.N > 1 {
		attrs = append(attrs, keyResendCount.Int(a.N-1))
	}
	ctx, span := t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))

	// A RoundTripper must not modify its request: the trace context goes
	// into a copy of the headers, on a copy of the request.
	h := req.Header.Clone()
	if h == nil {
		h = make(http.Header, 2)
	}
	t.prop.Inject(ctx, propagation.HeaderCarrier(h))
	r := req.WithContext(ctx)
	r.Header = h

	resp, err := t.base.RoundTrip(r)
	if err != nil {
		span.SetAttributes(keyErrorType.String(errorType(err)))
		span.SetStatus(codes.Error, err.Error())
		span.End()
		return resp, err
	}
	span.SetAttributes(keyStatusCode.Int(resp.StatusCode))
	if resp.StatusCode >= 400 {
		// The client span rule: a 4xx or 5xx is an error of the request.
		span.SetAttributes(keyErrorType.String(strconv.Itoa(resp.StatusCode)))
		span.SetStatus(codes.Error, "")
	}
	if resp.Body == nil || resp.Body == http.NoBody {
		span.End()
		return resp, nil
	}
	resp.Body = wrapBody(span, resp.Body)
	return resp, nil
}

// normalizeMethod returns the method as the semantic conventions record
// it, and whether it is one of the known ones ("_OTHER" if not). An empty
// method is GET, as for net/http.
func normalizeMethod(m string) (string, bool) {
	switch m {
	case "":
		return http.MethodGet, true
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m, true
	}
	return "_OTHER", false
}

// serverOf returns the host and port the request goes to: the URL's, with
// the scheme's default port when it has none.
func serverOf(req *http.Request) (string, int) {
	u := req.URL
	if u == nil {
		return "", 0
	}
	host := u.Hostname()
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			return host, 0
		}
		return host, n
	}
	switch u.Scheme {
	case "http":
		return host, 80
	case "https":
		return host, 443
	}
	return host, 0
}

// errorType returns the low-cardinality kind of a transport error, the
// value of error.type.
func errorType(err error) string {
	var dns *net.DNSError
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection_refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection_reset"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "unexpected_eof"
	case errors.As(err, &dns):
		return "dns"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "_OTHER"
}

// wrapBody ends span when the body reaches its end or is closed. A body
// that can be written to (a protocol switch) stays writable.
func wrapBody(span trace.Span, body io.ReadCloser) io.ReadCloser {
	b := &spanBody{span: span, body: body}
	if _, ok := body.(io.ReadWriteCloser); ok {
		return &writableSpanBody{b}
	}
	return b
}

type spanBody struct {
	span  trace.Span
	body  io.ReadCloser
	ended atomic.Bool
}

func (b *spanBody) end() {
	if b.ended.CompareAndSwap(false, true) {
		b.span.End()
	}
}

func (b *spanBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	switch {
	case err == nil:
	case err == io.EOF:
		b.end()
	default:
		if !b.ended.Load() {
			b.span.SetAttributes(keyErrorType.String(errorType(err)))
			b.span.SetStatus(codes.Error, err.Error())
		}
	}
	return n, err
}

func (b *spanBody) Close() error {
	b.end()
	return b.body.Close()
}

type writableSpanBody struct{ *spanBody }

func (b *writableSpanBody) Write(p []byte) (int, error) {
	return b.body.(io.Writer).Write(p)
}

// httpClientSpanAbove reports whether ctx's span is an unfinished CLIENT
// span named as HTTP client instrumentations name one for method ("GET",
// "HTTP GET", "GET /route"): an instrumentation above this transport,
// such as otelhttp, started it for this request. It can tell only for
// spans that expose their kind, name and end (the SDK's do).
func httpClientSpanAbove(ctx context.Context, method string) bool {
	s, ok := trace.SpanFromContext(ctx).(interface {
		SpanKind() trace.SpanKind
		Name() string
		EndTime() time.Time
	})
	if !ok || s.SpanKind() != trace.SpanKindClient || !s.EndTime().IsZero() {
		return false
	}
	name := s.Name()
	return name == method || name == "HTTP "+method || strings.HasPrefix(name, method+" ")
}
