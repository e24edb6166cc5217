package reboundhttp_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundhttp"
	"github.com/rebound-go/rebound/reboundtest"
)

var errReset = &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
var errRefused = &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}

func TestRetries503ThenSucceeds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeRT{script: []func(*http.Request) (*http.Response, error){status(503, "busy"), status(503, "busy"), status(200, "ok")}}
		c := newClient(t, reboundhttp.Config{Base: f, Policy: exact()})
		start := time.Now()
		resp, err := c.Get("http://api.test/v1/user")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || readAll(t, resp) != "ok" {
			t.Fatalf("got %d", resp.StatusCode)
		}
		wantOffsets(t, f.offsets(start), []time.Duration{0, time.Second, 3 * time.Second})
		if f.closed != 3 {
			t.Fatalf("%d of 3 response bodies closed", f.closed)
		}
	})
}

func TestStatusRules(t *testing.T) {
	cases := []struct {
		code     int
		attempts int
	}{
		{200, 1}, {204, 1}, {301, 1}, {304, 1},
		{500, 3}, {502, 3}, {503, 3}, {504, 3}, {429, 3}, {408, 3},
		{501, 1}, {400, 1}, {401, 1}, {403, 1}, {404, 1}, {409, 1}, {422, 1},
	}
	for _, tc := range cases {
		f := &fakeRT{script: []func(*http.Request) (*http.Response, error){status(tc.code, "body")}}
		c := newClient(t, reboundhttp.Config{Base: f, Policy: rebound.Policy{Backoff: rebound.Constant(0)}})
		resp, err := c.Get("http://api.test/x")
		if err != nil {
			t.Fatalf("%d: %v", tc.code, err)
		}
		// Give-up returns the last response, status, headers and unread body.
		if resp.StatusCode != tc.code || readAll(t, resp) != "body" {
			t.Fatalf("%d: got %d", tc.code, resp.StatusCode)
		}
		if f.attempts() != tc.attempts {
			t.Errorf("status %d: %d attempts, want %d", tc.code, f.attempts(), tc.attempts)
		}
	}
}

func TestCustomStatusRule(t *testing.T) {
	// Treat 409 as retryable, for an API that uses it for "try again".
	rule := func(resp *http.Response) (rebound.Classification, bool) {
		if resp.StatusCode == http.StatusConflict {
			return rebound.Classification{Class: rebound.Response, Retryable: true}, true
		}
		return reboundhttp.DefaultClassifyResponse(resp)
	}
	f := &fakeRT{script: []func(*http.Request) (*http.Response, error){status(409, ""), status(200, "")}}
	c := newClient(t, reboundhttp.Config{Base: f, ClassifyResponse: rule, Policy: rebound.Policy{Backoff: rebound.Constant(0)}})
	resp, err := c.Get("http://api.test/x")
	if err != nil || resp.StatusCode != 200 || f.attempts() != 2 {
		t.Fatalf("got %v %v after %d attempts", resp, err, f.attempts())
	}
}

func TestRetryAfterForms(t *testing.T) {
	// The server's clock is 10 s ahead of ours: dates are read against its
	// Date header, so the wait is what the server meant.
	cases := []struct {
		name, value string
		want        time.Duration
	}{
		{"delta-seconds", "7", 7 * time.Second},
		{"IMF-fixdate", "Sat, 01 Jan 2000 00:00:27 GMT", 7 * time.Second},
		{"RFC 850", "Saturday, 01-Jan-00 00:00:27 GMT", 7 * time.Second},
		{"asctime", "Sat Jan  1 00:00:27 2000", 7 * time.Second},
		{"date in the past", "Sat, 01 Jan 2000 00:00:00 GMT", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// synctest's clock starts at 2000-01-01 00:00:00 UTC.
				serverNow := time.Now().Add(20 * time.Second).UTC().Format(http.TimeFormat)
				f := &fakeRT{script: []func(*http.Request) (*http.Response, error){
					status(429, "", "Retry-After", tc.value, "Date", serverNow), status(200, ""),
				}}
				// A zero wait falls back to the backoff: make that 1 s exactly.
				c := newClient(t, reboundhttp.Config{Base: f, Policy: rebound.Policy{Backoff: rebound.Constant(time.Second)}})
				start := time.Now()
				if _, err := c.Get("http://api.test/x"); err != nil {
					t.Fatal(err)
				}
				want := tc.want
				if want == 0 {
					want = time.Second
				}
				wantOffsets(t, f.offsets(start), []time.Duration{0, want})
			})
		})
	}
}

func TestRetryAfterAboveCapReturnsThatResponse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeRT{script: []func(*http.Request) (*http.Response, error){status(503, "maintenance", "Retry-After", "3600")}}
		rec := &reboundtest.Recorder{}
		c := newClient(t, reboundhttp.Config{Base: f, Policy: rebound.Policy{Observer: rec}})
		start := time.Now()
		resp, err := c.Get("http://api.test/x")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "3600" || readAll(t, resp) != "maintenance" {
			t.Fatalf("got %d", resp.StatusCode)
		}
		if f.attempts() != 1 || time.Since(start) != 0 {
			t.Fatalf("%d attempts over %v, want 1 at once", f.attempts(), time.Since(start))
		}
		if e, _ := rec.Last(); e.Reason != rebound.ReasonWaitTooLong {
			t.Fatalf("gave up with %v, want wait_too_long", e.Reason)
		}
	})
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		value, date string
		want        time.Duration
		ok          bool
	}{
		{"0", "", 0, true},
		{"120", "", 2 * time.Minute, true},
		{" 5 ", "", 5 * time.Second, true},
		{"99999999999999999999999", "", (1 << 30) * time.Second, true},
		{"-1", "", 0, false},
		{"1.5", "", 0, false},
		{"soon", "", 0, false},
		{"", "", 0, false},
		{"Thu, 26 Nov 2026 12:01:00 GMT", "", time.Minute, true},
		{"Thu, 26 Nov 2026 12:01:00 GMT", "Thu, 26 Nov 2026 12:00:30 GMT", 30 * time.Second, true},
		{"Thu, 26 Nov 2026 12:01:00 GMT", "garbage", time.Minute, true},
		{"Thursday, 26-Nov-26 12:00:10 GMT", "", 10 * time.Second, true},
		{"Thu Nov 26 12:00:10 2026", "", 10 * time.Second, true},
		{"Thu, 26 Nov 2026 11:00:00 GMT", "", 0, true},
	}
	for _, tc := range cases {
		got, ok := reboundhttp.ParseRetryAfter(tc.value, tc.date, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseRetryAfter(%q, %q) = %v, %v; want %v, %v", tc.value, tc.date, got, ok, tc.want, tc.ok)
		}
	}
}

func TestMethodsAndIdempotency(t *testing.T) {
	cases := []struct {
		name     string
		method   string
		key      string
		fail     func(*http.Request) (*http.Response, error)
		attempts int
	}{
		{"GET reset", "GET", "", fail(errReset), 3},
		{"PUT 500", "PUT", "", status(500, ""), 3},
		{"DELETE reset", "DELETE", "", fail(errReset), 3},
		{"POST reset: maybe processed", "POST", "", fail(errReset), 1},
		{"POST 500: maybe processed", "POST", "", status(500, ""), 1},
		{"POST refused: not sent", "POST", "", fail(errRefused), 3},
		{"POST DNS failure: not sent", "POST", "", fail(&net.DNSError{Err: "server misbehaving", Name: "api.test", IsTemporary: true}), 3},
		{"POST 503: not processed", "POST", "", status(503, ""), 3},
		{"POST 429: not processed", "POST", "", status(429, ""), 3},
		{"POST with Idempotency-Key, reset", "POST", "Idempotency-Key", fail(errReset), 3},
		{"PATCH with X-Idempotency-Key, 500", "PATCH", "X-Idempotency-Key", status(500, ""), 3},
		{"PATCH reset", "PATCH", "", fail(errReset), 1},
	}
	for _, tc := range cases {
		f := &fakeRT{script: []func(*http.Request) (*http.Response, error){tc.fail}}
		c := newClient(t, reboundhttp.Config{Base: f, Policy: rebound.Policy{Backoff: rebound.Constant(0)}})
		req, _ := http.NewRequest(tc.method, "http://api.test/orders", strings.NewReader(`{"qty":1}`))
		if tc.key != "" {
			req.Header.Set(tc.key, "k-1")
		}
		resp, err := c.Do(req)
		if resp != nil {
			resp.Body.Close()
		}
		_ = err
		if f.attempts() != tc.attempts {
			t.Errorf("%s: %d attempts, want %d", tc.name, f.attempts(), tc.attempts)
		}
	}
}

func TestGeneratedIdempotencyKeyIsStableAndRequestUntouched(t *testing.T) {
	f := &fakeRT{script: []func(*http.Request) (*http.Response, error){fail(errReset), status(503, ""), status(201, "")}}
	c := newClient(t, reboundhttp.Config{Base: f, IdempotencyKeys: true, Policy: rebound.Policy{Backoff: rebound.Constant(0)}})
	req, _ := http.NewRequest("POST", "http://api.test/orders", strings.NewReader(`{"qty":1}`))
	resp, err := c.Do(req)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("got %v %v", resp, err)
	}
	resp.Body.Close()
	key := f.reqs[0].Header.Get("Idempotency-Key")
	if len(key) != 32 {
		t.Fatalf("generated key %q", key)
	}
	for i, r := range f.reqs {
		if r.Header.Get("Idempotency-Key") != key || f.bodies[i] != `{"qty":1}` {
			t.Fatalf("attempt %d sent key %q body %q", i+1, r.Header.Get("Idempotency-Key"), f.bodies[i])
		}
	}
	if req.Header.Get("Idempotency-Key") != "" {
		t.Fatal("the caller's request was modified")
	}
	// Each request gets its own key.
	req2, _ := http.NewRequest("POST", "http://api.test/orders", strings.NewReader(`{}`))
	if resp, err := c.Do(req2); err == nil {
		resp.Body.Close()
	}
	if f.reqs[len(f.reqs)-1].Header.Get("Idempotency-Key") == key {
		t.Fatal("two requests share a key")
	}
}

func TestAttemptTimeoutVersusCallerDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeRT{script: []func(*http.Request) (*http.Response, error){hang, hang, status(200, "ok")}}
		c := newClient(t, reboundhttp.Config{Base: f, Policy: rebound.Policy{Backoff: rebound.Constant(time.Second)}})
		start := time.Now()
		resp, err := c.Get("http://api.test/slow")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		// Default 5 s per attempt (plus at most 1/32 for sharing a timer),
		// then 1 s of backoff.
		got := f.offsets(start)
		if len(got) != 3 || got[1] < 6*time.Second || got[1] > 6*time.Second+5*time.Second/32 || got[2]-got[1] < 6*time.Second || got[2]-got[1] > 6*time.Second+5*time.Second/32 {
			t.Fatalf("attempts at %v, want about 0, 6s, 12s", got)
		}

		// The caller's own deadline ends the call.
		f2 := &fakeRT{script: []func(*http.Request) (*http.Response, error){hang}}
		c2 := newClient(t, reboundhttp.Config{Base: f2})
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://api.test/slow", nil)
		start = time.Now()
		_, err = c2.Do(req)
		var e *rebound.Error
		if !errors.As(err, &e) || e.Reason != rebound.ReasonCanceled || !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 2*time.Second || f2.attempts() != 1 {
			t.Fatalf("got %v after %v and %d attempts, want canceled at 2s", err, time.Since(start), f2.attempts())
		}
	})
}

func TestAttemptTimeoutIsExactWithCancelableParent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeRT{script: []func(*http.Request) (*http.Response, error){hang, status(200, "")}}
		p := rebound.Policy{Backoff: rebound.Constant(time.Second)}
		c := newClient(t, reboundhttp.Config{Base: f, Policy: p, AttemptTimeout: 2 * time.Second})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://api.test/slow", nil)
		start := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		wantOffsets(t, f.offsets(start), []time.Duration{0, 3 * time.Second})
	})
}

func TestNoAttemptTimeoutLeavesAttemptsToTheCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// An attempt that answers after a minute: well past the default
		// 5 s, which would have retried it.
		slow := func(*http.Request) (*http.Response, error) {
			time.Sleep(time.Minute)
			return status(200, "late")(nil)
		}
		for _, d := range []time.Duration{reboundhttp.NoAttemptTimeout, -time.Second} {
			f := &fakeRT{script: []func(*http.Request) (*http.Response, error){slow}}
			p := rebound.Policy{Backoff: rebound.Constant(time.Second)}
			c := newClient(t, reboundhttp.Config{Base: f, Policy: p, AttemptTimeout: d})
			req, _ := http.NewRequest("GET", "http://api.test/slow", nil)
			start := time.Now()
			resp, err := c.Do(req)
			if err != nil {
				t.Fatalf("AttemptTimeout %v: %v", d, err)
			}
			if got := readAll(t, resp); got != "late" || time.Since(start) != time.Minute || f.attempts() != 1 {
				t.Fatalf("AttemptTimeout %v: got %q after %v and %d attempts, want the one late answer after 1m", d, got, time.Since(start), f.attempts())
			}
			// Nothing to carry: the base got the caller's own request.
			if f.reqs[0] != req {
				t.Fatalf("AttemptTimeout %v: the base got a copy of the request", d)
			}
			if _, ok := f.reqs[0].Context().Deadline(); ok {
				t.Fatalf("AttemptTimeout %v: the attempt has a deadline", d)
			}
		}

		// The caller's deadline still ends the call.
		f := &fakeRT{script: []func(*http.Request) (*http.Response, error){hang}}
		c := newClient(t, reboundhttp.Config{Base: f, AttemptTimeout: reboundhttp.NoAttemptTimeout})
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://api.test/slow", nil)
		start := time.Now()
		_, err := c.Do(req)
		if !errors.Is(err, rebound.ErrCanceled) || time.Since(start) != 20*time.Second || f.attempts() != 1 {
			t.Fatalf("got %v after %v and %d attempts, want canceled at 20s", err, time.Since(start), f.attempts())
		}
	})
}

func TestNoResponseReturnsTheReboundError(t *testing.T) {
	f := &fakeRT{script: []func(*http.Request) (*http.Response, error){fail(errReset)}}
	c := newClient(t, reboundhttp.Config{Base: f, Policy: rebound.Policy{Backoff: rebound.Constant(0)}})
	_, err := c.Get("http://api.test/x")
	var e *rebound.Error
	if !errors.As(err, &e) || e.Reason != rebound.ReasonExhausted || e.Attempts != 3 || !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("got %v", err)
	}
}

func TestOpenBreakerFailsFastWithoutTheNetwork(t *testing.T) {
	breakers, _ := rebound.NewBreakers(rebound.BreakerConfig{ConsecutiveFailures: 2, FailureRate: -1}, 10)
	f := &fakeRT{script: []func(*http.Request) (*http.Response, error){fail(errRefused)}}
	c := newClient(t, reboundhttp.Config{Base: f, Breakers: breakers, Policy: rebound.Policy{Backoff: rebound.Constant(0)}})
	_, _ = c.Get("http://pay.test/charge")
	if f.attempts() != 2 || breakers.Get("GET pay.test").State() != rebound.Open {
		t.Fatalf("%d attempts; breaker %v", f.attempts(), breakers.Get("GET pay.test").State())
	}
	body := &closeRecorder{Reader: strings.NewReader("x")}
	req, _ := http.NewRequest("PUT", "http://pay.test/charge", body)
	req = req.WithContext(reboundhttp.WithEndpoint(req.Context(), "GET pay.test"))
	_, err := c.Do(req)
	if !errors.Is(err, rebound.ErrCircuitOpen) || f.attempts() != 2 {
		t.Fatalf("got %v after %d attempts, want a fast circuit_open", err, f.attempts())
	}
	if !body.closed {
		t.Fatal("the request body of a refused request was not closed")
	}
	// Other endpoints have their own breaker.
	f.script = []func(*http.Request) (*http.Response, error){status(200, "")}
	if resp, err := c.Get("http://other.test/"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
}

type closeRecorder struct {
	*strings.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func TestEndpointLabels(t *testing.T) {
	rec := &reboundtest.Recorder{}
	f := &fakeRT{script: []func(*http.Request) (*http.Response, error){status(200, "")}}
	get := func(c *http.Client, ctx context.Context, url string) {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	c := newClient(t, reboundhttp.Config{Base: f, Policy: rebound.Policy{Observer: rec}})
	get(c, context.Background(), "http://user:secret@api.test:8080/v1/user/42?token=abc")
	if e, _ := rec.Last(); e.Endpoint != "GET api.test:8080" {
		t.Fatalf("default label %q", e.Endpoint)
	}
	get(c, reboundhttp.WithEndpoint(context.Background(), "api/v1/user"), "http://api.test/v1/user/42")
	if e, _ := rec.Last(); e.Endpoint != "api/v1/user" {
		t.Fatalf("context label %q", e.Endpoint)
	}
	c = newClient(t, reboundhttp.Config{Base: f, Policy: rebound.Policy{Observer: rec}, Endpoint: func(r *http.Request) string { return "users" }})
	get(c, context.Background(), "http://api.test/v1/user/42")
	if e, _ := rec.Last(); e.Endpoint != "users" {
		t.Fatalf("function label %q", e.Endpoint)
	}
}

func TestErrorsRedactURLs(t *testing.T) {
	f := &fakeRT{script: []func(*http.Request) (*http.Response, error){status(503, `{"error":"down"}`, "Content-Type", "application/json")}}
	rec := &reboundtest.Recorder{}
	c := newClient(t, reboundhttp.Config{Base: f, Policy: rebound.Policy{Observer: rec, MaxAttempts: 1}})
	resp, err := c.Get("http://user:secret@api.test/v1/user?token=abc")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	e, _ := rec.Last()
	msg := e.Err.Error()
	if strings.Contains(msg, "secret") || strings.Contains(msg, "token") || !strings.Contains(msg, "http://api.test/v1/user") ||
		!strings.Contains(msg, "503") || !strings.Contains(msg, "application/json") || !strings.Contains(msg, `{\"error\":\"down\"}`) {
		t.Fatalf("error text %q", msg)
	}
}

func TestRequestBodies(t *testing.T) {
	// A body with GetBody is replayed through it.
	f := &fakeRT{script: []func(*http.Request) (*http.Response, error){status(503, ""), status(200, "")}}
	c := newClient(t, reboundhttp.Config{Base: f, Policy: rebound.Policy{Backoff: rebound.Constant(0)}})
	req, _ := http.NewRequest("PUT", "http://api.test/doc", strings.NewReader("payload"))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(f.bodies) != 2 || f.bodies[0] != "payload" || f.bodies[1] != "payload" {
		t.Fatalf("bodies %q", f.bodies)
	}

	// A body without GetBody is buffered up to the limit and replayed.
	f = &fakeRT{script: []func(*http.Request) (*http.Response, error){status(503, ""), status(200, "")}}
	c = newClient(t, reboundhttp.Config{Base: f, MaxBufferedBody: 16, Policy: rebound.Policy{Backoff: rebound.Constant(0)}})
	body := &closeRecorder{Reader: strings.NewReader("sixteen bytes!!!")}
	req, _ = http.NewRequest("PUT", "http://api.test/doc", body)
	req.GetBody = nil
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(f.bodies) != 2 || f.bodies[1] != "sixteen bytes!!!" || !body.closed {
		t.Fatalf("bodies %q, original closed %v", f.bodies, body.closed)
	}

	// Above the limit it is sent once, whole, and never retried.
	f = &fakeRT{script: []func(*http.Request) (*http.Response, error){status(503, ""), status(200, "")}}
	c = newClient(t, reboundhttp.Config{Base: f, MaxBufferedBody: 8, Policy: rebound.Policy{Backoff: rebound.Constant(0)}})
	req, _ = http.NewRequest("PUT", "http://api.test/doc", &closeRecorder{Reader: strings.NewReader("sixteen bytes!!!")})
	req.GetBody = nil
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(f.bodies) != 1 || f.bodies[0] != "sixteen bytes!!!" || resp.StatusCode != 503 {
		t.Fatalf("bodies %q status %d", f.bodies, resp.StatusCode)
	}
}

func TestInvalidConfig(t *testing.T) {
	_, err := reboundhttp.NewTransport(reboundhttp.Config{Policy: rebound.Policy{MaxAttempts: -2}})
	if err == nil || !strings.Contains(err.Error(), "Config.Policy.MaxAttempts") {
		t.Fatalf("got %v", err)
	}
}

// Policy.AttemptTimeout means what it means in rebound.Do: a policy shared
// with Do gives each HTTP attempt that long; zero adds nothing; a value
// that contradicts Config.AttemptTimeout is refused instead of guessed.
func TestPolicyAttemptTimeout(t *testing.T) {
	for _, c := range []struct{ policy, config time.Duration }{{-1, 0}, {time.Second, 2 * time.Second}, {time.Second, reboundhttp.NoAttemptTimeout}} {
		_, err := reboundhttp.NewTransport(reboundhttp.Config{AttemptTimeout: c.config, Policy: rebound.Policy{AttemptTimeout: c.policy}})
		var ce *rebound.ConfigError
		if !errors.As(err, &ce) || ce.Field != "reboundhttp.Config.Policy.AttemptTimeout" || !strings.Contains(ce.Problem, "Config.AttemptTimeout") {
			t.Fatalf("Policy.AttemptTimeout %v with Config.AttemptTimeout %v: got %v", c.policy, c.config, err)
		}
	}
	for _, d := range []time.Duration{0, time.Second, reboundhttp.NoAttemptTimeout} {
		if _, err := reboundhttp.NewTransport(reboundhttp.Config{AttemptTimeout: d}); err != nil {
			t.Fatalf("Config.AttemptTimeout %v: %v", d, err)
		}
	}
	synctest.Test(t, func(t *testing.T) {
		hang := reboundtest.NewScript(reboundtest.Hang()).RoundTripper(nil)
		for _, cfg := range []reboundhttp.Config{
			{Base: hang, Policy: rebound.Policy{AttemptTimeout: 100 * time.Millisecond, MaxAttempts: 2, Backoff: rebound.Constant(0)}},
			{Base: hang, AttemptTimeout: 100 * time.Millisecond, Policy: rebound.Policy{AttemptTimeout: 100 * time.Millisecond, MaxAttempts: 2, Backoff: rebound.Constant(0)}},
		} {
			c := newClient(t, cfg)
			start := time.Now()
			_, err := c.Get("http://api.test/slow")
			if took := time.Since(start); err == nil || took < 200*time.Millisecond || took > 200*time.Millisecond*33/32 {
				t.Fatalf("two attempts of a hanging server took %v (%v); want 100 ms each, from the policy", took, err)
			}
		}
	})
}

// A caller's deadline that comes before the attempt timeout would bounds
// the attempt alone: no timed context, no copy of the request.
func TestCallerDeadlineBeforeTheAttemptTimeoutSendsTheRequestItself(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeRT{script: []func(*http.Request) (*http.Response, error){status(200, "ok")}}
		c := newClient(t, reboundhttp.Config{Base: f}) // 5 s per attempt
		for _, tc := range []struct {
			deadline time.Duration
			itself   bool
		}{{2 * time.Second, true}, {5 * time.Second, true}, {10 * time.Second, false}} {
			ctx, cancel := context.WithTimeout(t.Context(), tc.deadline)
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://api.test/x", nil)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			sent := f.reqs[len(f.reqs)-1]
			dl, _ := sent.Context().Deadline()
			if (sent == req) != tc.itself || time.Until(dl) != min(tc.deadline, reboundhttp.DefaultAttemptTimeout) {
				t.Errorf("deadline %v: the base got the request itself: %v, want %v; attempt deadline %v away", tc.deadline, sent == req, tc.itself, time.Until(dl))
			}
			cancel()
		}
	})
}

// With a caller's deadline that comes first, an attempt costs no more
// allocations than the same request through a plain http.Client.
func TestCallerDeadlineBeforeTheAttemptTimeoutAllocatesNothing(t *testing.T) {
	ok := &http.Response{StatusCode: 200, Status: "200 OK", Header: http.Header{}, Body: http.NoBody}
	base := roundTripFunc(func(*http.Request) (*http.Response, error) { return ok, nil })
	req, _ := http.NewRequest("GET", "http://api.test/x", nil)
	allocs := func(c *http.Client) float64 {
		return testing.AllocsPerRun(100, func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			resp, err := c.Do(req.WithContext(ctx))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			cancel()
		})
	}
	plain := allocs(&http.Client{Transport: base})
	viaRebound := allocs(newClient(t, reboundhttp.Config{Base: base}))
	if viaRebound != plain {
		t.Fatalf("%v allocations per call through reboundhttp, %v through a plain client; want the same", viaRebound, plain)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
