package reboundtest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundhttp"
	"github.com/rebound-go/rebound/reboundtest"
)

// inMemory returns a client whose requests go through s's RoundTripper to
// h, in memory, for a synctest bubble.
func inMemory(t *testing.T, s *reboundtest.Script, h http.Handler, cfg reboundhttp.Config) *http.Client {
	cfg.Base = s.RoundTripper(reboundtest.HandlerTransport{Handler: h})
	return newClient(t, cfg)
}

// Retry-After in delay-seconds and as an HTTP-date: reboundhttp waits
// exactly what was asked, in virtual time.
func TestRetryAfterWaits(t *testing.T) {
	cases := []struct {
		name string
		step func() reboundtest.Step // made inside the bubble, for RetryAt's clock
		wait time.Duration
	}{
		{"seconds", func() reboundtest.Step { return reboundtest.RetryAfter(503, 2*time.Second) }, 2 * time.Second},
		{"rounded up", func() reboundtest.Step { return reboundtest.RetryAfter(429, 1500*time.Millisecond) }, 2 * time.Second},
		{"HTTP-date", func() reboundtest.Step { return reboundtest.RetryAt(503, time.Now().Add(3*time.Second)) }, 3 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := reboundtest.NewScript(tc.step(), reboundtest.Pass())
				rec := &reboundtest.Recorder{}
				c := inMemory(t, s, &counter{}, reboundhttp.Config{Policy: fast(rec)})
				start := time.Now()
				resp, err := c.Get("http://api.test/")
				if err != nil {
					t.Fatal(err)
				}
				readBody(t, resp)
				if got := time.Since(start); got != tc.wait {
					t.Errorf("took %v, want %v", got, tc.wait)
				}
				rec.ExpectWaits(t, tc.wait)
				rec.ExpectRetryReasons(t, "response")
				rec.ExpectResult(t, rebound.ResultSuccess, rebound.ReasonNone)
			})
		})
	}
}

// A Retry-After above the policy's cap gives up at once with the
// response.
func TestRetryAfterTooLong(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := reboundtest.NewScript(reboundtest.RetryAfter(503, time.Hour), reboundtest.Pass())
		rec := &reboundtest.Recorder{}
		c := inMemory(t, s, &counter{}, reboundhttp.Config{Policy: fast(rec)})
		resp, err := c.Get("http://api.test/")
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "3600" {
			t.Fatalf("got %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		rec.ExpectAttempts(t, 1)
		rec.ExpectResult(t, rebound.ResultGaveUp, rebound.ReasonWaitTooLong)
	})
}

// Hang holds the attempt until its timeout, which reboundhttp retries as
// a Connection failure.
func TestHangTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := reboundtest.NewScript(reboundtest.Hang(), reboundtest.Pass())
		rec := &reboundtest.Recorder{}
		h := &counter{}
		c := inMemory(t, s, h, reboundhttp.Config{Policy: fast(rec), AttemptTimeout: time.Second})
		start := time.Now()
		resp, err := c.Get("http://api.test/")
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
		// Each attempt gets between its timeout and 1/32 more (reboundhttp).
		if got := time.Since(start); got < time.Second || got > time.Second+time.Second/32 {
			t.Errorf("took %v, want the 1 s attempt timeout", got)
		}
		rec.ExpectRetryReasons(t, "connection")
		if h.n.Load() != 1 {
			t.Errorf("the handler ran %d times, want 1 (the hung request never reached it)", h.n.Load())
		}
	})
}

// Hang ends with the caller's context: the call is canceled, not retried.
func TestHangEndsWithTheCallersContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := reboundtest.NewScript(reboundtest.Hang())
		rec := &reboundtest.Recorder{}
		c := inMemory(t, s, &counter{}, reboundhttp.Config{Policy: fast(rec), AttemptTimeout: reboundhttp.NoAttemptTimeout})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://api.test/", nil)
		_, err := c.Do(req)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want the context's deadline", err)
		}
		rec.ExpectAttempts(t, 1)
		rec.ExpectResult(t, rebound.ResultFailure, rebound.ReasonCanceled)
	})
}

// SlowBody delivers the body chunk by chunk, a wait before each: 21 bytes
// in chunks of 8 take three waits.
func TestSlowBodyTrickles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := reboundtest.NewScript(reboundtest.SlowBody(8, time.Second))
		c := inMemory(t, s, &counter{}, reboundhttp.Config{Policy: fast(nil)})
		start := time.Now()
		resp, err := c.Get("http://api.test/")
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("headers after %v, want at once", d)
		}
		var got []byte
		buf := make([]byte, 64)
		var at []time.Duration
		for {
			n, err := resp.Body.Read(buf)
			if n > 0 {
				got = append(got, buf[:n]...)
				at = append(at, time.Since(start))
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		resp.Body.Close()
		want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}
		if string(got) != okBody || len(at) != 3 || at[0] != want[0] || at[1] != want[1] || at[2] != want[2] {
			t.Fatalf("read %q at %v, want %q at %v", got, at, okBody, want)
		}
	})
}

// A body slower than the attempt timeout fails GetJSON's attempt, which
// reads the body inside it, and the next attempt passes.
func TestSlowBodyPastTheAttemptTimeoutIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := reboundtest.NewScript(reboundtest.SlowBody(4, time.Second), reboundtest.Pass())
		rec := &reboundtest.Recorder{}
		c := inMemory(t, s, &counter{}, reboundhttp.Config{Policy: fast(rec), AttemptTimeout: 2 * time.Second})
		v, err := reboundhttp.GetJSON[struct{ ID int }](context.Background(), c, "http://api.test/")
		if err != nil || v.ID != 7 {
			t.Fatalf("got %+v, %v", v, err)
		}
		rec.ExpectRetryReasons(t, "connection")
		rec.ExpectAttempts(t, 2)
	})
}
