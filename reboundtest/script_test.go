package reboundtest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundhttp"
	"github.com/rebound-go/rebound/reboundtest"
)

// Steps apply in order, each to its count of requests; an uncounted last
// step repeats, a counted one is followed by passes.
func TestScriptSequence(t *testing.T) {
	cases := []struct {
		name   string
		steps  []reboundtest.Step
		faults []string
		counts []int
	}{
		{"fail twice then pass", []reboundtest.Step{reboundtest.Fail(2, 503), reboundtest.Pass()},
			[]string{"status 503", "status 503", "pass", "pass"}, []int{2, 2}},
		{"a counted last step is followed by passes", []reboundtest.Step{reboundtest.Fail(2, 503)},
			[]string{"status 503", "status 503", "pass", "pass"}, []int{2}},
		{"an uncounted last step repeats", []reboundtest.Step{reboundtest.Reset(), reboundtest.Status(500, "down")},
			[]string{"reset", "status 500", "status 500", "status 500"}, []int{1, 3}},
		{"no steps: every request passes", nil,
			[]string{"pass", "pass", "pass", "pass"}, []int{}},
		{"repeat", []reboundtest.Step{reboundtest.Repeat(3, reboundtest.Reset()), reboundtest.Truncate(2)},
			[]string{"reset", "reset", "reset", "truncate 2"}, []int{3, 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := reboundtest.NewScript(tc.steps...)
			rt := s.RoundTripper(roundTripFunc(func(r *http.Request) (*http.Response, error) {
				return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("ok")), Header: http.Header{}}, nil
			}))
			for range 4 {
				req, _ := http.NewRequest("GET", "http://api.test/x", nil)
				if resp, err := rt.RoundTrip(req); err == nil {
					resp.Body.Close()
				}
			}
			if got := s.Faults(); !slices.Equal(got, tc.faults) {
				t.Errorf("faults %q, want %q", got, tc.faults)
			}
			if got := s.StepCounts(); !slices.Equal(got, tc.counts) {
				t.Errorf("step counts %v, want %v", got, tc.counts)
			}
			if s.Count() != 4 {
				t.Errorf("count %d, want 4", s.Count())
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Each step against reboundhttp, on both sides: whether it retries, how
// many attempts, and what the caller gets.
func TestStepsAgainstReboundHTTP(t *testing.T) {
	cases := []struct {
		name     string
		method   string
		steps    []reboundtest.Step
		status   int      // 0: RoundTrip fails
		errIs    error    // when it fails
		reasons  []string // retry classes
		attempts int
		faults   []string
		effects  int64 // requests the handler served
	}{
		{"Fail(2, 503) then pass", "GET", []reboundtest.Step{reboundtest.Fail(2, 503)},
			200, nil, []string{"response", "response"}, 3, []string{"status 503", "status 503", "pass"}, 1},
		{"400 is final", "GET", []reboundtest.Step{reboundtest.Status(400, `{"error":"bad"}`), reboundtest.Pass()},
			400, nil, nil, 1, []string{"status 400"}, 0},
		{"501 is final", "GET", []reboundtest.Step{reboundtest.Status(501, ""), reboundtest.Pass()},
			501, nil, nil, 1, []string{"status 501"}, 0},
		{"503 for ever gives up with the last", "GET", []reboundtest.Step{reboundtest.Status(503, "")},
			503, nil, []string{"response", "response"}, 3, []string{"status 503", "status 503", "status 503"}, 0},
		{"Retry-After 0 then pass", "GET", []reboundtest.Step{reboundtest.RetryAfter(429, 0), reboundtest.Pass()},
			200, nil, []string{"response"}, 2, []string{"status 429 retry-after 0", "pass"}, 1},
		{"reset then pass", "GET", []reboundtest.Step{reboundtest.Reset(), reboundtest.Pass()},
			200, nil, []string{"connection"}, 2, []string{"reset", "pass"}, 1},
		{"reset of a POST without a key is not retried", "POST", []reboundtest.Step{reboundtest.Reset(), reboundtest.Pass()},
			0, syscall.ECONNRESET, nil, 1, []string{"reset"}, 0},
		{"503 to a POST is retried: not processed", "POST", []reboundtest.Step{reboundtest.Fail(1, 503)},
			200, nil, []string{"response"}, 2, []string{"status 503", "pass"}, 1},
		{"applied but lost: a GET is retried, the handler runs twice", "GET", []reboundtest.Step{reboundtest.AppliedButLost(), reboundtest.Pass()},
			200, nil, []string{"connection"}, 2, []string{"applied-but-lost", "pass"}, 2},
		{"reset three times gives up", "GET", []reboundtest.Step{reboundtest.Reset()},
			0, syscall.ECONNRESET, []string{"connection", "connection"}, 3, []string{"reset", "reset", "reset"}, 0},
	}
	for _, sd := range sides {
		for _, tc := range cases {
			t.Run(sd.name+"/"+tc.name, func(t *testing.T) {
				h := &counter{}
				s := reboundtest.NewScript(tc.steps...)
				rec := &reboundtest.Recorder{}
				c, url := sd.setup(t, s, h, reboundhttp.Config{Policy: fast(rec)})
				var body io.Reader
				if tc.method == "POST" {
					body = strings.NewReader(`{"sku":"X1"}`)
				}
				req, _ := http.NewRequest(tc.method, url+"/orders", body)
				resp, err := c.Do(req)
				if tc.status == 0 {
					if err == nil {
						resp.Body.Close()
						t.Fatalf("got %d, want an error", resp.StatusCode)
					}
					if !errors.Is(err, tc.errIs) {
						t.Errorf("err = %v, want %v", err, tc.errIs)
					}
					if cl := rebound.Classify(errors.Unwrap(err)); cl.Class != rebound.Connection {
						t.Errorf("class %s, want connection", cl.Class)
					}
				} else {
					if err != nil {
						t.Fatal(err)
					}
					readBody(t, resp)
					if resp.StatusCode != tc.status {
						t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
					}
				}
				rec.ExpectAttempts(t, tc.attempts)
				rec.ExpectRetryReasons(t, tc.reasons...)
				if got := s.Faults(); !slices.Equal(got, tc.faults) {
					t.Errorf("faults %q, want %q", got, tc.faults)
				}
				if h.n.Load() != tc.effects {
					t.Errorf("the handler ran %d times, want %d", h.n.Load(), tc.effects)
				}
			})
		}
	}
}

// A truncated body fails the caller's read with io.ErrUnexpectedEOF: the
// Transport has already returned the response. GetJSON reads the body
// inside the attempt, so it retries.
func TestTruncate(t *testing.T) {
	for _, sd := range sides {
		t.Run(sd.name+"/plain read", func(t *testing.T) {
			s := reboundtest.NewScript(reboundtest.Truncate(6), reboundtest.Pass())
			rec := &reboundtest.Recorder{}
			c, url := sd.setup(t, s, &counter{}, reboundhttp.Config{Policy: fast(rec)})
			resp, err := c.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if !errors.Is(err, io.ErrUnexpectedEOF) || string(b) != okBody[:6] {
				t.Fatalf("read %q, %v; want %q and io.ErrUnexpectedEOF", b, err, okBody[:6])
			}
			if resp.ContentLength != int64(len(okBody)) {
				t.Errorf("Content-Length %d, want the whole body's %d", resp.ContentLength, len(okBody))
			}
			rec.ExpectAttempts(t, 1)
		})
		t.Run(sd.name+"/GetJSON retries", func(t *testing.T) {
			s := reboundtest.NewScript(reboundtest.Truncate(6), reboundtest.Pass())
			rec := &reboundtest.Recorder{}
			h := &counter{}
			c, url := sd.setup(t, s, h, reboundhttp.Config{Policy: fast(rec)})
			v, err := reboundhttp.GetJSON[struct{ Name string }](context.Background(), c, url)
			if err != nil || v.Name != "Ada" {
				t.Fatalf("got %+v, %v", v, err)
			}
			rec.ExpectRetryReasons(t, "connection")
			rec.ExpectResult(t, rebound.ResultSuccess, rebound.ReasonNone)
			if h.n.Load() != 2 {
				t.Errorf("the handler ran %d times, want 2 (the truncated response's effect happened)", h.n.Load())
			}
		})
	}
}

// On the Handler side, a slow body arrives whole, in chunks (every 0: no
// real wait).
func TestSlowBodyHandlerDeliversTheWholeBody(t *testing.T) {
	s := reboundtest.NewScript(reboundtest.SlowBody(3, 0))
	c, url := sides[0].setup(t, s, &counter{}, reboundhttp.Config{})
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	if got := readBody(t, resp); got != okBody || resp.ContentLength != int64(len(okBody)) {
		t.Fatalf("body %q (length %d), want %q", got, resp.ContentLength, okBody)
	}
}

// A Retry-After HTTP-date in the past, read against net/http's Date
// header, asks no wait.
func TestRetryAtHandlerReadsTheDateHeader(t *testing.T) {
	s := reboundtest.NewScript(reboundtest.RetryAt(503, time.Unix(0, 0)), reboundtest.Pass())
	rec := &reboundtest.Recorder{}
	c, url := sides[0].setup(t, s, &counter{}, reboundhttp.Config{Policy: fast(rec)})
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	rec.ExpectWaits(t, 0)
	rec.ExpectResult(t, rebound.ResultSuccess, rebound.ReasonNone)
}

// The Script records each request's method, path and key.
func TestScriptRecordsRequests(t *testing.T) {
	s := reboundtest.NewScript(reboundtest.Fail(1, 503))
	c, url := sides[0].setup(t, s, &counter{}, reboundhttp.Config{Policy: fast(nil), IdempotencyKeys: true})
	resp, err := c.Post(url+"/orders", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	got := s.Requests()
	if len(got) != 2 || got[0].N != 1 || got[1].N != 2 || got[0].Step != 0 || got[1].Step != -1 ||
		got[0].Method != "POST" || got[0].Path != "/orders" || got[0].IdempotencyKey == "" || got[0].IdempotencyKey != got[1].IdempotencyKey {
		t.Fatalf("requests %+v", got)
	}
}
