package reboundotel_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundhttp"
	"github.com/rebound-go/rebound/reboundotel"
	"github.com/rebound-go/rebound/reboundtest"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// scripted answers the n-th request with codes[n] (the last code once the
// script runs out) and records each request's traceparent header.
type scripted struct {
	mu          sync.Mutex
	codes       []int
	traceparent []string
}

func (s *scripted) RoundTrip(req *http.Request) (*http.Response, error) {
	s.mu.Lock()
	n := len(s.traceparent)
	s.traceparent = append(s.traceparent, req.Header.Get("Traceparent"))
	code := s.codes[min(n, len(s.codes)-1)]
	s.mu.Unlock()
	return &http.Response{
		StatusCode: code, Status: http.StatusText(code), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: io.NopCloser(strings.NewReader("body")), Request: req,
	}, nil
}

func (s *scripted) headers() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.traceparent...)
}

// traceparent is the header value that carries span's context.
func traceparent(span sdktrace.ReadOnlySpan) string {
	h := http.Header{}
	ctx := trace.ContextWithSpanContext(context.Background(), span.SpanContext())
	propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(h))
	return h.Get("Traceparent")
}

func clientSpans(spans []sdktrace.ReadOnlySpan) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.SpanKind() == trace.SpanKindClient {
			out = append(out, s)
		}
	}
	return out
}

func get(t *testing.T, c *http.Client, ctx context.Context, url string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// Under reboundhttp, each attempt is a CLIENT span of its own, a child of
// the caller's span, carried to the server in its own traceparent; only a
// retry has http.request.resend_count, and it counts the resends: absent,
// 1, 2.
func TestTransportSpanPerAttempt(t *testing.T) {
	tel := newTelemetry(t)
	srv := &scripted{codes: []int{503, 502, 200}}
	rt, err := reboundhttp.NewTransport(reboundhttp.Config{
		Base:   reboundotel.NewTransport(srv, tel.config()),
		Policy: rebound.Policy{Backoff: rebound.Constant(0)},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, parent := tel.tp.Tracer("test").Start(context.Background(), "parent")
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://user:secret@api.test:8080/v1/item/42?token=x#frag", nil)
	req.Header.Set("Accept", "application/json")
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	drain(resp)
	parent.End()

	if len(req.Header) != 1 || req.Header.Get("Traceparent") != "" {
		t.Errorf("the caller's request headers were modified: %v", req.Header)
	}
	spans := clientSpans(tel.spans.Ended())
	if len(spans) != 3 {
		t.Fatalf("%d client spans ended, want 3 (one per attempt)", len(spans))
	}
	sent := srv.headers()
	for i, s := range spans {
		if s.Name() != "GET" || s.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("attempt %d: span %q with parent %v; want GET, a child of the caller's span", i+1, s.Name(), s.Parent().SpanID())
		}
		if sent[i] != traceparent(s) {
			t.Errorf("attempt %d: the server got traceparent %q, want the attempt span's %q", i+1, sent[i], traceparent(s))
		}
		want := map[string]any{
			"http.request.method":       "GET",
			"url.full":                  "http://api.test:8080/v1/item/42",
			"server.address":            "api.test",
			"server.port":               int64(8080),
			"http.response.status_code": int64([]int{503, 502, 200}[i]),
		}
		for k, v := range want {
			if got, ok := attr(s.Attributes(), k); !ok || got.AsInterface() != v {
				t.Errorf("attempt %d: %s = %v, want %v", i+1, k, got.AsInterface(), v)
			}
		}
		resend, ok := attr(s.Attributes(), "http.request.resend_count")
		switch i {
		case 0:
			if ok {
				t.Errorf("attempt 1 has http.request.resend_count %v; want none on a first attempt", resend.AsInterface())
			}
		default:
			if !ok || resend.AsInt64() != int64(i) {
				t.Errorf("attempt %d: http.request.resend_count = %v (present %v), want %d", i+1, resend.AsInterface(), ok, i)
			}
		}
		errType, hasErrType := attr(s.Attributes(), "error.type")
		if i < 2 {
			if s.Status().Code != codes.Error || errType.AsString() != []string{"503", "502"}[i] {
				t.Errorf("attempt %d: status %v, error.type %q; want Error and the status code", i+1, s.Status(), errType.AsString())
			}
		} else if s.Status().Code != codes.Unset || hasErrType {
			t.Errorf("attempt 3 (200): status %v, error.type %v; want Unset, none", s.Status(), errType.AsInterface())
		}
	}
}

// Outside reboundhttp the transport traces the request the same way, with
// no resend count.
func TestTransportAlone(t *testing.T) {
	tel := newTelemetry(t)
	srv := &scripted{codes: []int{404}}
	c := &http.Client{Transport: reboundotel.NewTransport(srv, tel.config())}
	drain(get(t, c, context.Background(), "https://api.test/missing"))
	spans := clientSpans(tel.spans.Ended())
	if len(spans) != 1 {
		t.Fatalf("%d client spans, want 1", len(spans))
	}
	s := spans[0]
	if _, ok := attr(s.Attributes(), "http.request.resend_count"); ok {
		t.Error("http.request.resend_count set outside reboundhttp")
	}
	if port, _ := attr(s.Attributes(), "server.port"); port.AsInt64() != 443 {
		t.Errorf("server.port = %v, want 443 (https's default)", port.AsInterface())
	}
	if et, _ := attr(s.Attributes(), "error.type"); s.Status().Code != codes.Error || et.AsString() != "404" {
		t.Errorf("404: status %v, error.type %q; want Error, 404", s.Status(), et.AsString())
	}
	if srv.headers()[0] != traceparent(s) {
		t.Errorf("traceparent %q, want %q", srv.headers()[0], traceparent(s))
	}
}

// The span ends when the body is read to its end or closed, not before;
// on a transport error, at once, with the error's kind.
func TestTransportSpanEnds(t *testing.T) {
	tel := newTelemetry(t)
	c := &http.Client{Transport: reboundotel.NewTransport(&scripted{codes: []int{200}}, tel.config())}

	resp := get(t, c, context.Background(), "http://api.test/a")
	if n := len(tel.spans.Ended()); n != 0 {
		t.Fatalf("%d spans ended before the body was read", n)
	}
	_, _ = io.ReadAll(resp.Body) // EOF ends it
	if n := len(tel.spans.Ended()); n != 1 {
		t.Fatalf("%d spans ended after EOF, want 1", n)
	}
	resp.Body.Close()

	resp = get(t, c, context.Background(), "http://api.test/b")
	resp.Body.Close() // unread: Close ends it
	if n := len(tel.spans.Ended()); n != 2 {
		t.Fatalf("%d spans ended after Close, want 2", n)
	}

	var failing roundTripFunc = func(*http.Request) (*http.Response, error) { return nil, errRefused }
	c = &http.Client{Transport: reboundotel.NewTransport(failing, tel.config())}
	if _, err := c.Get("http://api.test/c"); err == nil {
		t.Fatal("no error")
	}
	spans := tel.spans.Ended()
	if len(spans) != 3 {
		t.Fatalf("%d spans ended after a transport error, want 3", len(spans))
	}
	s := spans[2]
	if et, _ := attr(s.Attributes(), "error.type"); s.Status().Code != codes.Error || et.AsString() != "connection_refused" {
		t.Errorf("transport error: status %v, error.type %q; want Error, connection_refused", s.Status(), et.AsString())
	}
	if _, ok := attr(s.Attributes(), "http.response.status_code"); ok {
		t.Error("a transport error has a status code")
	}
}

// flakyServer answers 503 to its first request and 200 after, and records
// the traceparent of each request.
func flakyServer(t *testing.T) (*httptest.Server, func() []string) {
	var mu sync.Mutex
	var got []string
	flaky := reboundtest.NewScript(reboundtest.Fail(1, http.StatusServiceUnavailable)).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("Traceparent"))
		mu.Unlock()
		flaky.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

func newBase(t *testing.T) *http.Transport {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// otelhttp outside reboundhttp: its span is the logical request, and the
// two attempts are CLIENT spans of their own, its children.
func TestWithOtelhttpOutside(t *testing.T) {
	tel := newTelemetry(t)
	ts, sent := flakyServer(t)
	rt, err := reboundhttp.NewTransport(reboundhttp.Config{
		Base:   reboundotel.NewTransport(newBase(t), tel.config()),
		Policy: rebound.Policy{Backoff: rebound.Constant(0)},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: otelhttp.NewTransport(rt, otelhttp.WithTracerProvider(tel.tp), otelhttp.WithPropagators(propagation.TraceContext{}))}
	drain(get(t, c, context.Background(), ts.URL+"/x"))

	spans := clientSpans(tel.spans.Ended())
	if len(spans) != 3 {
		t.Fatalf("%d client spans, want 3: otelhttp's and one per attempt", len(spans))
	}
	var logical sdktrace.ReadOnlySpan
	for _, s := range spans {
		if !s.Parent().IsValid() {
			logical = s
		}
	}
	if logical == nil {
		t.Fatal("no root span: otelhttp's span is missing")
	}
	var attempts []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s != logical {
			attempts = append(attempts, s)
			if s.Parent().SpanID() != logical.SpanContext().SpanID() {
				t.Errorf("attempt span %v is not a child of otelhttp's span", s.SpanContext().SpanID())
			}
		}
	}
	if len(attempts) != 2 {
		t.Fatalf("%d attempt spans, want 2", len(attempts))
	}
	if _, ok := attr(logical.Attributes(), "http.request.resend_count"); ok {
		t.Error("otelhttp's logical span has http.request.resend_count")
	}
	checkAttempts(t, attempts, sent())
}

// otelhttp as reboundhttp's Base, wrapping this package's transport:
// otelhttp's span is the attempt's, this transport only adds the resend
// count: exactly two CLIENT spans.
func TestWithOtelhttpInside(t *testing.T) {
	tel := newTelemetry(t)
	ts, sent := flakyServer(t)
	rt, err := reboundhttp.NewTransport(reboundhttp.Config{
		Base: otelhttp.NewTransport(reboundotel.NewTransport(newBase(t), tel.config()),
			otelhttp.WithTracerProvider(tel.tp), otelhttp.WithPropagators(propagation.TraceContext{})),
		Attempts: true, // otelhttp hides that its base reads them
		Policy:   rebound.Policy{Backoff: rebound.Constant(0)},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, parent := tel.tp.Tracer("test").Start(context.Background(), "parent")
	drain(get(t, &http.Client{Transport: rt}, ctx, ts.URL+"/x"))
	parent.End()

	spans := clientSpans(tel.spans.Ended())
	if len(spans) != 2 {
		t.Fatalf("%d client spans, want 2 (one per attempt, otelhttp's)", len(spans))
	}
	for _, s := range spans {
		if s.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("attempt span %v is not a child of the caller's span", s.SpanContext().SpanID())
		}
		if s.InstrumentationScope().Name == reboundotel.ScopeName {
			t.Errorf("span %q was started by reboundotel: a duplicate of otelhttp's", s.Name())
		}
	}
	checkAttempts(t, spans, sent())
}

// checkAttempts checks the spans of the 503 attempt and the 200 one: the
// server got each one's traceparent; only the second has a resend count, 1.
func checkAttempts(t *testing.T, spans []sdktrace.ReadOnlySpan, sent []string) {
	t.Helper()
	if len(sent) != 2 {
		t.Fatalf("the server got %d requests, want 2", len(sent))
	}
	byHeader := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byHeader[traceparent(s)] = s
	}
	for i, h := range sent {
		s := byHeader[h]
		if s == nil {
			t.Fatalf("request %d carried traceparent %q, which is no attempt span's", i+1, h)
		}
		code, _ := attr(s.Attributes(), "http.response.status_code")
		resend, ok := attr(s.Attributes(), "http.request.resend_count")
		switch i {
		case 0:
			if code.AsInt64() != 503 || ok || s.Status().Code != codes.Error {
				t.Errorf("first attempt: status code %v, resend count %v (present %v), status %v; want 503, none, Error", code.AsInterface(), resend.AsInterface(), ok, s.Status())
			}
		case 1:
			if code.AsInt64() != 200 || !ok || resend.AsInt64() != 1 {
				t.Errorf("second attempt: status code %v, resend count %v (present %v); want 200, 1", code.AsInterface(), resend.AsInterface(), ok)
			}
		}
	}
}

// The same order without reboundhttp.Config.Attempts: nothing tells this
// transport the attempt, but it sees otelhttp's unfinished CLIENT span
// for the request and starts no second one (the resend count is then
// unknown: set Attempts for it).
func TestWithOtelhttpInsideWithoutAttempts(t *testing.T) {
	tel := newTelemetry(t)
	ts, _ := flakyServer(t)
	rt, err := reboundhttp.NewTransport(reboundhttp.Config{
		Base: otelhttp.NewTransport(reboundotel.NewTransport(newBase(t), tel.config()),
			otelhttp.WithTracerProvider(tel.tp), otelhttp.WithPropagators(propagation.TraceContext{})),
		Policy: rebound.Policy{Backoff: rebound.Constant(0)},
	})
	if err != nil {
		t.Fatal(err)
	}
	drain(get(t, &http.Client{Transport: rt}, context.Background(), ts.URL+"/x"))
	spans := clientSpans(tel.spans.Ended())
	if len(spans) != 2 {
		t.Fatalf("%d client spans, want 2 (otelhttp's, one per attempt)", len(spans))
	}
	for _, s := range spans {
		if s.InstrumentationScope().Name == reboundotel.ScopeName {
			t.Errorf("span %q was started by reboundotel: a duplicate of otelhttp's", s.Name())
		}
	}
}

// A CLIENT span of the caller's that is no HTTP request's (an SDK call
// that uses HTTP underneath) does not stop this transport's own span.
func TestOwnSpanUnderAForeignClientSpan(t *testing.T) {
	tel := newTelemetry(t)
	ts, _ := flakyServer(t)
	c := &http.Client{Transport: reboundotel.NewTransport(newBase(t), tel.config())}
	ctx, call := tel.tp.Tracer("sdk").Start(context.Background(), "S3.GetObject", trace.WithSpanKind(trace.SpanKindClient))
	drain(get(t, c, ctx, ts.URL+"/x"))
	call.End()
	spans := clientSpans(tel.spans.Ended())
	own := 0
	for _, s := range spans {
		if s.InstrumentationScope().Name == reboundotel.ScopeName {
			own++
		}
	}
	if own != 1 {
		t.Fatalf("%d spans of reboundotel under the caller's CLIENT span, want 1", own)
	}
}
