package bench

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/rebound-go/rebound/reboundhttp"
)

// TestHTTPSameSemantics checks that the HTTP benchmarks measure the same
// work for every library:
//
//   - each 503-benchmark configuration retries a 503 at once and ends with
//     the 200 and its body, sending exactly one more request per 503, and
//     makes exactly 3 attempts when every response is a 503;
//   - each GET configuration sends a successful request exactly once;
//   - reboundhttp's GET configuration keeps its default 5 s per-attempt
//     timeout, with a plain and with a cancelable request context, and
//     sends the caller's request itself when its deadline comes first.
func TestHTTPSameSemantics(t *testing.T) {
	newReq := func(t *testing.T, ctx context.Context) *http.Request {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://api.example.com/v1/item/42", nil)
		if err != nil {
			t.Fatal(err)
		}
		return req
	}

	for _, lib := range httpLibs() {
		if lib.fail != nil {
			t.Run(lib.name+"/503-then-200", func(t *testing.T) {
				srv := &memServer{every: 5}
				do := lib.fail(t, srv)
				req := newReq(t, context.Background())
				// Responses 1 to 4 are 200s; the 5th call gets the 5th
				// response, a 503, and must retry it once, with no wait.
				start := time.Now()
				for i := 1; i <= 5; i++ {
					getOnce(t, do, req)
				}
				if got := srv.n.Load(); got != 6 {
					t.Fatalf("5 calls sent %d requests; want 6 (one retry of the one 503)", got)
				}
				if d := time.Since(start); d > 500*time.Millisecond {
					t.Fatalf("5 calls took %v; the retry must not wait", d)
				}
			})
			t.Run(lib.name+"/always-503", func(t *testing.T) {
				srv := &memServer{every: 1}
				do := lib.fail(t, srv)
				resp, err := do(newReq(t, context.Background()))
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusServiceUnavailable {
						t.Fatalf("got status %d; want the last 503 or an error", resp.StatusCode)
					}
				}
				if got := srv.n.Load(); got != 3 {
					t.Fatalf("sent %d requests; want 3 attempts", got)
				}
			})
		}
		t.Run(lib.name+"/get-once", func(t *testing.T) {
			srv := &memServer{}
			do := lib.get(t, srv)
			for _, ctx := range []context.Context{context.Background(), t.Context()} {
				getOnce(t, do, newReq(t, ctx))
			}
			if got := srv.n.Load(); got != 2 {
				t.Fatalf("2 calls sent %d requests; want 2", got)
			}
		})
	}

	t.Run("reboundhttp/attempt-timeout-on", func(t *testing.T) {
		rec := &deadlineRecorder{base: &memServer{}}
		do := reboundHTTPClient(t, rec, false)
		for _, ctx := range []context.Context{context.Background(), t.Context()} {
			rec.left = 0
			getOnce(t, do, newReq(t, ctx))
			max := reboundhttp.DefaultAttemptTimeout + reboundhttp.DefaultAttemptTimeout/32
			if rec.left <= reboundhttp.DefaultAttemptTimeout-time.Second || rec.left > max {
				t.Fatalf("attempt deadline %v away; want about %v", rec.left, reboundhttp.DefaultAttemptTimeout)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		req := newReq(t, ctx)
		getOnce(t, do, req)
		if rec.last != req || rec.left > 2*time.Second {
			t.Fatalf("with a 2 s deadline the attempt was a copy (%v) with a deadline %v away; want the request itself", rec.last != req, rec.left)
		}
	})
}

// deadlineRecorder records the last attempt's request and how far away its
// context's deadline was.
type deadlineRecorder struct {
	base http.RoundTripper
	left time.Duration
	last *http.Request // the last attempt's request
}

func (d *deadlineRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if dl, ok := req.Context().Deadline(); ok {
		d.left = time.Until(dl)
	}
	d.last = req
	return d.base.RoundTrip(req)
}
