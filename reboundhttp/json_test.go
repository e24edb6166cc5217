package reboundhttp_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundhttp"
	"github.com/rebound-go/rebound/reboundtest"
)

// tracing wraps a RoundTripper as otelhttp or a logging transport does: it
// passes each request on with a context of its own and wraps the response
// body to see it closed.
type tracing struct {
	next   http.RoundTripper
	calls  atomic.Int64
	closed atomic.Int64
}

type spanKey struct{}

func (w *tracing) RoundTrip(req *http.Request) (*http.Response, error) {
	w.calls.Add(1)
	ctx := context.WithValue(req.Context(), spanKey{}, "span")
	resp, err := w.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	resp.Body = &spanBody{ReadCloser: resp.Body, w: w}
	return resp, nil
}

type spanBody struct {
	io.ReadCloser
	w *tracing
}

func (b *spanBody) Close() error {
	b.w.closed.Add(1)
	return b.ReadCloser.Close()
}

func wrapped(t *testing.T, p rebound.Policy) (*http.Client, *tracing) {
	t.Helper()
	rt, err := reboundhttp.NewTransport(reboundhttp.Config{Policy: p})
	if err != nil {
		t.Fatal(err)
	}
	w := &tracing{next: rt}
	return &http.Client{Transport: w}, w
}

// Behind a wrapper, the Transport still retries a malformed body and the
// decoded value comes back; the body is read once, by the one who decodes.
func TestJSONBehindAWrappedTransport(t *testing.T) {
	s := newScript(t, reply(200, `{"id":7,"name":"Ada"}`))
	c, w := wrapped(t, fastPolicy())
	u, err := reboundhttp.GetJSON[user](context.Background(), c, s.srv.URL+"/v1/user/7")
	if err != nil || u.Name != "Ada" || s.requests.Load() != 1 {
		t.Fatalf("got %+v %v after %d requests", u, err, s.requests.Load())
	}
	if w.calls.Load() != 1 || w.closed.Load() != 1 {
		t.Fatalf("the wrapper saw %d calls and %d closed bodies, want 1 and 1", w.calls.Load(), w.closed.Load())
	}

	for _, first := range []http.HandlerFunc{reply(200, `{"id":7,`), reply(200, ``), resetAfterHeaders} {
		s := newScript(t, first, reply(200, `{"id":7,"name":"Ada"}`))
		c, _ := wrapped(t, fastPolicy())
		u, err := reboundhttp.GetJSON[user](context.Background(), c, s.srv.URL+"/v1/user/7")
		if err != nil || u.Name != "Ada" || s.requests.Load() != 2 {
			t.Fatalf("got %+v %v after %d requests, want Ada after 2", u, err, s.requests.Load())
		}
	}
}

// The only retry layer is the configured one, wherever it sits: MaxAttempts
// 2 makes 2 requests, all of them seen by the policy's observer.
func TestJSONBehindAWrappedTransportRetriesOnlyAsConfigured(t *testing.T) {
	s := newScript(t, reply(503, `{"error":"busy"}`))
	rec := &reboundtest.Recorder{}
	p := fastPolicy()
	p.MaxAttempts = 2
	p.Observer = rec
	c, _ := wrapped(t, p)
	_, err := reboundhttp.GetJSON[user](context.Background(), c, s.srv.URL+"/v1/user/7")
	if s.requests.Load() != 2 {
		t.Fatalf("%d requests, want MaxAttempts = 2", s.requests.Load())
	}
	var e *rebound.Error
	var se *reboundhttp.StatusError
	if !errors.As(err, &e) || e.Reason != rebound.ReasonExhausted || e.Attempts != 2 || !errors.As(err, &se) || se.StatusCode != 503 {
		t.Fatalf("got %v, want the Transport's exhausted error with the 503", err)
	}
	rec.ExpectAttempts(t, 2)

	// Malformed JSON to the end: the same count, and the error says why.
	s = newScript(t, reply(200, `not json`))
	_, err = reboundhttp.GetJSON[user](context.Background(), c, s.srv.URL)
	if s.requests.Load() != 2 || !errors.As(err, &e) || e.Reason != rebound.ReasonExhausted || !strings.Contains(err.Error(), `body starts "not json"`) {
		t.Fatalf("got %v after %d requests", err, s.requests.Load())
	}
}

// A client without a Transport in its chain sends the request once, and the
// error of a failure a Transport would have retried says what to do.
func TestJSONWithAPlainClient(t *testing.T) {
	plain := &http.Client{}
	cases := []struct {
		name   string
		step   http.HandlerFunc
		advice bool
		status int
	}{
		{"503", reply(503, `{"error":"busy"}`), true, 503},
		{"malformed body", reply(200, `{"id":`), true, 200},
		{"404", reply(404, `{"error":"no such user"}`), false, 404},
		{"type mismatch", reply(200, `{"id":"seven"}`), false, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newScript(t, tc.step, reply(200, `{"id":7,"name":"Ada"}`))
			_, err := reboundhttp.GetJSON[user](context.Background(), plain, s.srv.URL+"/v1/user/7")
			if s.requests.Load() != 1 {
				t.Fatalf("%d requests, want 1", s.requests.Load())
			}
			var se *reboundhttp.StatusError
			if !errors.As(err, &se) || se.StatusCode != tc.status {
				t.Fatalf("got %v, want a StatusError with %d", err, tc.status)
			}
			if got := strings.Contains(err.Error(), "not retried") && strings.Contains(err.Error(), "reboundhttp.NewClient"); got != tc.advice {
				t.Fatalf("error %q: advice %v, want %v", err, got, tc.advice)
			}
		})
	}
	s := newScript(t, reply(200, `{"id":7,"name":"Ada"}`))
	if u, err := reboundhttp.GetJSON[user](context.Background(), plain, s.srv.URL); err != nil || u.Name != "Ada" {
		t.Fatalf("got %+v %v", u, err)
	}
}
