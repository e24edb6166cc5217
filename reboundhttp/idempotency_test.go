package reboundhttp_test

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/idempotency"
	"github.com/rebound-go/rebound/reboundhttp"
	"github.com/rebound-go/rebound/reboundtest"
)

// slowOrders is a handler behind idempotency.Middleware that takes 300 ms
// to create an order, and counts its runs.
func slowOrders(t *testing.T, runs *atomic.Int64) http.Handler {
	t.Helper()
	mw, err := idempotency.Middleware(idempotency.Config{Store: &idempotency.MemoryStore{}})
	if err != nil {
		t.Fatal(err)
	}
	return mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := runs.Add(1)
		time.Sleep(300 * time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"order":`+string(rune('0'+n))+`}`)
	}))
}

// The first attempt times out while the handler runs; the retry meets
// rebound's own middleware answering 409 "in flight" with Retry-After: 1,
// waits that second, and gets the handler's 201 replayed. The handler runs
// once.
func TestIdempotencyMiddlewareInFlight409IsAWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var runs atomic.Int64
		// Whatever happens, let every handler run end inside the bubble.
		t.Cleanup(func() { time.Sleep(time.Second) })
		rec := &reboundtest.Recorder{}
		c := newClient(t, reboundhttp.Config{
			Base:            reboundtest.HandlerTransport{Handler: slowOrders(t, &runs)},
			IdempotencyKeys: true,
			AttemptTimeout:  100 * time.Millisecond,
			Policy: rebound.Policy{
				MaxAttempts: 10,
				Backoff:     rebound.Constant(50 * time.Millisecond),
				Observer:    rec,
			},
		})
		// A cancelable context: each attempt gets exactly its 100 ms.
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://shop.test/orders", strings.NewReader(`{"sku":"X1"}`))
		start := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusCreated || body != `{"order":1}` || resp.Header.Get(idempotency.HeaderReplayed) != "true" {
			t.Fatalf("got %d %q replayed=%q, want the handler's 201 replayed", resp.StatusCode, body, resp.Header.Get(idempotency.HeaderReplayed))
		}
		if runs.Load() != 1 {
			t.Fatalf("the handler ran %d times, want 1", runs.Load())
		}
		// Attempt 1 at 0 times out at 100 ms; attempt 2 at 150 ms gets the
		// 409; attempt 3, one second later, the stored 201.
		var at []time.Duration
		var waits []time.Duration
		for _, e := range rec.Events() {
			switch e.Kind {
			case rebound.AttemptFinished:
				at = append(at, e.Elapsed-e.Duration)
			case rebound.RetryScheduled:
				waits = append(waits, e.Wait)
			}
		}
		wantOffsets(t, at, []time.Duration{0, 150 * time.Millisecond, 1150 * time.Millisecond})
		wantOffsets(t, waits, []time.Duration{50 * time.Millisecond, time.Second})
		if time.Since(start) != 1150*time.Millisecond {
			t.Fatalf("the call took %v, want 1.15s", time.Since(start))
		}
	})
}

func TestConflictRule(t *testing.T) {
	conflict := status(409, `{"title":"in flight"}`, "Retry-After", "1")
	cases := []struct {
		name     string
		method   string
		key      string
		first    func(*http.Request) (*http.Response, error)
		max      int
		status   int
		attempts int
		at       []time.Duration
	}{
		{"keyed POST: wait and retry", "POST", "Idempotency-Key", conflict, 0, 201, 2, []time.Duration{0, time.Second}},
		{"X-Idempotency-Key too", "PATCH", "X-Idempotency-Key", conflict, 0, 201, 2, []time.Duration{0, time.Second}},
		{"an HTTP date", "POST", "Idempotency-Key", status(409, "", "Retry-After", "Sat, 01 Jan 2000 00:00:02 GMT"), 0, 201, 2, []time.Duration{0, 2 * time.Second}},
		{"counted as an attempt", "POST", "Idempotency-Key", conflict, 1, 409, 1, []time.Duration{0}},
		{"above MaxRetryAfter: returned", "POST", "Idempotency-Key", status(409, "", "Retry-After", "3600"), 0, 409, 1, []time.Duration{0}},
		{"no Retry-After: a logic error", "POST", "Idempotency-Key", status(409, ""), 0, 409, 1, []time.Duration{0}},
		{"no key: a logic error", "GET", "", conflict, 0, 409, 1, []time.Duration{0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fakeRT{script: []func(*http.Request) (*http.Response, error){tc.first, status(201, "created")}}
				c := newClient(t, reboundhttp.Config{Base: f, Policy: rebound.Policy{MaxAttempts: tc.max, Backoff: rebound.Constant(0)}})
				req, _ := http.NewRequest(tc.method, "http://shop.test/orders", strings.NewReader(`{}`))
				if tc.key != "" {
					req.Header.Set(tc.key, "order-1")
				}
				start := time.Now()
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tc.status {
					t.Fatalf("got %d, want %d", resp.StatusCode, tc.status)
				}
				wantOffsets(t, f.offsets(start), tc.at)
			})
		})
	}
}
