package reboundhttp_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundhttp"
)

type ctxKey string

// Each attempt's request carries its number, from 1, and its own context;
// a RoundTripper in Base that derives a context from it still finds the
// attempt, and Attempt.Context is the context before it did.
func TestAttemptOfEachAttempt(t *testing.T) {
	for _, timeout := range []time.Duration{0, reboundhttp.NoAttemptTimeout} {
		synctest.Test(t, func(t *testing.T) {
			type seen struct {
				n        int
				ok       bool
				sameBase bool // Attempt.Context is the context reboundhttp made
				value    bool // a value of the caller's context, through the attempt's
			}
			var got []seen
			f := &fakeRT{script: []func(*http.Request) (*http.Response, error){status(503, "a"), status(503, "b"), status(200, "ok")}}
			var base roundTripFunc = func(req *http.Request) (*http.Response, error) {
				made := req.Context()
				// What a tracing RoundTripper in Base would do: derive.
				derived := context.WithValue(made, ctxKey("span"), "child")
				a, ok := reboundhttp.AttemptOf(derived)
				got = append(got, seen{a.N, ok, ok && a.Context() == made, ok && a.Context().Value(ctxKey("caller")) == "v"})
				return f.RoundTrip(req.WithContext(derived))
			}
			c := newClient(t, reboundhttp.Config{Base: base, Attempts: true, AttemptTimeout: timeout, Policy: rebound.Policy{Backoff: rebound.Constant(time.Second)}})
			ctx := context.WithValue(t.Context(), ctxKey("caller"), "v")
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://api.test/x", nil)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if body := readAll(t, resp); body != "ok" {
				t.Fatalf("got %q, want ok", body)
			}
			if len(got) != 3 {
				t.Fatalf("timeout %v: %d attempts, want 3", timeout, len(got))
			}
			for i, s := range got {
				if s != (seen{i + 1, true, true, true}) {
					t.Errorf("timeout %v: attempt %d saw %+v; want N %d, found, its own context, the caller's values", timeout, i+1, s, i+1)
				}
			}
			if _, ok := reboundhttp.AttemptOf(req.Context()); ok {
				t.Errorf("the caller's request context carries an attempt: the request was modified")
			}
		})
	}
}

// Outside a Transport there is no attempt.
func TestAttemptOfOutsideATransport(t *testing.T) {
	for _, ctx := range []context.Context{context.Background(), t.Context(), nil} {
		if a, ok := reboundhttp.AttemptOf(ctx); ok || a != (reboundhttp.Attempt{}) {
			t.Errorf("AttemptOf(%v) = %+v, %v; want the zero Attempt, false", ctx, a, ok)
		}
	}
}

// A POST with a body and a generated key: each attempt's copy carries the
// attempt, the replayed body and the key, and the caller's request is left
// alone.
func TestAttemptOfWithReplayedBody(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ns []int
		f := &fakeRT{script: []func(*http.Request) (*http.Response, error){status(503, ""), status(200, "ok")}}
		var base roundTripFunc = func(req *http.Request) (*http.Response, error) {
			a, _ := reboundhttp.AttemptOf(req.Context())
			ns = append(ns, a.N)
			return f.RoundTrip(req)
		}
		c := newClient(t, reboundhttp.Config{Base: base, Attempts: true, IdempotencyKeys: true, Policy: rebound.Policy{Backoff: rebound.Constant(0)}})
		req, _ := http.NewRequest("POST", "http://api.test/orders", strings.NewReader("order"))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		if len(ns) != 2 || ns[0] != 1 || ns[1] != 2 {
			t.Fatalf("attempt numbers %v, want [1 2]", ns)
		}
		if f.bodies[0] != "order" || f.bodies[1] != "order" {
			t.Fatalf("bodies %q, want the body on both attempts", f.bodies)
		}
		k1, k2 := f.reqs[0].Header.Get("Idempotency-Key"), f.reqs[1].Header.Get("Idempotency-Key")
		if k1 == "" || k1 != k2 || req.Header.Get("Idempotency-Key") != "" {
			t.Fatalf("keys %q and %q, caller's %q; want one generated key on both attempts, none on the caller's request", k1, k2, req.Header.Get("Idempotency-Key"))
		}
	})
}

// readsAttempts is a base transport that asks for the attempts.
type readsAttempts struct{ fakeRT }

func (*readsAttempts) ReadsAttempts() bool { return true }

// Without Config.Attempts nothing carries the attempt, unless Base says it
// reads them; with it, and nothing else to carry, an attempt costs one
// allocation more than without (its copy of the request, with the attempt
// in its context): the price of telling a tracing transport the attempt.
func TestAttemptsOnlyWhenAskedFor(t *testing.T) {
	for _, c := range []struct {
		name     string
		cfg      func(base http.RoundTripper) reboundhttp.Config
		attempts bool
	}{
		{"default", func(b http.RoundTripper) reboundhttp.Config { return reboundhttp.Config{Base: b} }, false},
		{"Attempts", func(b http.RoundTripper) reboundhttp.Config { return reboundhttp.Config{Base: b, Attempts: true} }, true},
	} {
		f := &fakeRT{script: []func(*http.Request) (*http.Response, error){status(200, "ok")}}
		req, _ := http.NewRequest("GET", "http://api.test/x", nil)
		resp, err := newClient(t, c.cfg(f)).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if _, ok := reboundhttp.AttemptOf(f.reqs[0].Context()); ok != c.attempts {
			t.Errorf("%s: the attempt in the request's context: %v, want %v", c.name, ok, c.attempts)
		}
	}
	r := &readsAttempts{fakeRT{script: []func(*http.Request) (*http.Response, error){status(200, "ok")}}}
	req, _ := http.NewRequest("GET", "http://api.test/x", nil)
	resp, err := newClient(t, reboundhttp.Config{Base: r}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if a, ok := reboundhttp.AttemptOf(r.reqs[0].Context()); !ok || a.N != 1 {
		t.Errorf("a Base that reads attempts got %+v, %v; want attempt 1", a, ok)
	}

	ok := &http.Response{StatusCode: 200, Status: "200 OK", Header: http.Header{}, Body: http.NoBody}
	base := roundTripFunc(func(*http.Request) (*http.Response, error) { return ok, nil })
	allocs := func(c *http.Client) float64 {
		return testing.AllocsPerRun(200, func() {
			req, _ := http.NewRequest("GET", "http://api.test/x", nil)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		})
	}
	off := reboundhttp.NoAttemptTimeout
	without := allocs(newClient(t, reboundhttp.Config{Base: base, AttemptTimeout: off}))
	with := allocs(newClient(t, reboundhttp.Config{Base: base, AttemptTimeout: off, Attempts: true}))
	if with != without+1 {
		t.Errorf("%v allocations per call with Attempts, %v without; want 1 more", with, without)
	}
}
