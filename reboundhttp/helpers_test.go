package reboundhttp_test

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundhttp"
)

// fakeRT answers attempts from a script, in memory, and records them.
type fakeRT struct {
	mu      sync.Mutex
	script  []func(*http.Request) (*http.Response, error)
	reqs    []*http.Request
	bodies  []string
	at      []time.Time
	closed  int // response bodies closed
	started time.Time
}

func (f *fakeRT) RoundTrip(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	n := len(f.reqs)
	f.reqs = append(f.reqs, req)
	f.at = append(f.at, time.Now())
	var body string
	if req.Body != nil {
		b, _ := io.ReadAll(req.Body)
		req.Body.Close()
		body = string(b)
	}
	f.bodies = append(f.bodies, body)
	step := f.script[min(n, len(f.script)-1)]
	f.mu.Unlock()
	resp, err := step(req)
	if resp != nil {
		resp.Request = req
		resp.Body = &countingBody{ReadCloser: resp.Body, f: f}
	}
	return resp, err
}

func (f *fakeRT) attempts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

// offsets returns when each attempt started, relative to start.
func (f *fakeRT) offsets(start time.Time) []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []time.Duration
	for _, t := range f.at {
		out = append(out, t.Sub(start))
	}
	return out
}

type countingBody struct {
	io.ReadCloser
	f    *fakeRT
	once sync.Once
}

func (b *countingBody) Close() error {
	b.once.Do(func() {
		b.f.mu.Lock()
		b.f.closed++
		b.f.mu.Unlock()
	})
	return b.ReadCloser.Close()
}

func status(code int, body string, header ...string) func(*http.Request) (*http.Response, error) {
	return func(*http.Request) (*http.Response, error) {
		h := http.Header{}
		for i := 0; i+1 < len(header); i += 2 {
			h.Set(header[i], header[i+1])
		}
		return &http.Response{
			StatusCode: code, Status: http.StatusText(code), Header: h,
			Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)),
		}, nil
	}
}

func fail(err error) func(*http.Request) (*http.Response, error) {
	return func(*http.Request) (*http.Response, error) { return nil, err }
}

// hang blocks until the attempt's context ends.
func hang(req *http.Request) (*http.Response, error) {
	<-req.Context().Done()
	return nil, req.Context().Err()
}

func newClient(t *testing.T, cfg reboundhttp.Config) *http.Client {
	t.Helper()
	c, err := reboundhttp.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// exact is a policy with a fixed schedule: waits of 1 s, 2 s, 4 s…
func exact() rebound.Policy {
	return rebound.Policy{Backoff: rebound.Exponential{Jitter: rebound.NoJitter}}
}

func wantOffsets(t *testing.T, got, want []time.Duration) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("attempts at %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("attempts at %v, want %v", got, want)
		}
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
