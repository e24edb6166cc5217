package bench

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go/failsafehttp"
	"github.com/hashicorp/go-retryablehttp"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundhttp"
)

// HTTP benchmarks: reboundhttp against plain net/http, go-retryablehttp and
// failsafe-go's failsafehttp.
//
// Shared rules, on top of those at the top of bench_test.go:
//
//   - every library sends its attempts through the same base
//     http.RoundTripper (in memory, or one *http.Transport per library on
//     loopback), and is used through an *http.Client's Do, except
//     retryablehttp-do, which uses go-retryablehttp's own Client.Do;
//   - the *http.Request is built once, outside the timed loop, and sent on
//     every iteration. Only go-retryablehttp's own Do needs something per
//     call: its *retryablehttp.Request wraps the *http.Request and Do
//     replaces the wrapped request by a copy on each retry, so the wrapper
//     is made per call with retryablehttp.FromRequest, which is exactly what
//     its StandardClient's RoundTripper does on every call;
//   - each iteration sends one GET, reads the whole body, closes it and
//     checks the status and the body's length;
//   - at most 3 attempts (reboundhttp's default; go-retryablehttp RetryMax
//     2; failsafehttp's default of 2 retries). The GET benchmarks never
//     retry, so their backoff settings cost configuration only: each
//     library's default, except failsafehttp, whose default has no delay,
//     gets exponential backoff from 1 s to 10 s like reboundhttp's default.
//     The 503 benchmark waits zero everywhere;
//   - reboundhttp keeps its default per-attempt timeout (5 s) in every
//     benchmark: it is part of what it does for a request, and none of the
//     peers has one by default.

// httpJSON is the body of every successful response: a 60-byte JSON
// document, as a small API would send.
const httpJSON = `{"id":42,"name":"rebound","tags":["retry","http"],"ok":true}`

// http503Body is the body of the 503 responses.
const http503Body = `{"error":"unavailable"}`

// memServer is an in-memory http.RoundTripper that answers like a small
// server: a fresh *http.Response per request, with its own header map and
// body reader, ContentLength and Request set. When every is not zero, every
// every-th response (counted across all requests it serves) is a 503 with
// a small body; n counts the requests it served.
type memServer struct {
	every uint64
	n     atomic.Uint64
}

func (s *memServer) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		req.Body.Close()
	}
	code, status, body := http.StatusOK, "200 OK", httpJSON
	if n := s.n.Add(1); s.every != 0 && n%s.every == 0 {
		code, status, body = http.StatusServiceUnavailable, "503 Service Unavailable", http503Body
	}
	return &http.Response{
		Status:        status,
		StatusCode:    code,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": []string{"application/json"}},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}, nil
}

// newJSONServer starts a loopback server that answers every request with
// httpJSON, as memServer does.
func newJSONServer() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(httpJSON)))
		_, _ = io.WriteString(w, httpJSON)
	}))
}

// httpDo sends one request through a library.
type httpDo func(*http.Request) (*http.Response, error)

// httpLib is one library's pair of configurations over a base transport.
type httpLib struct {
	name string
	// get is the configuration of the GET benchmarks: each library's
	// defaults, at most 3 attempts.
	get func(tb testing.TB, base http.RoundTripper) httpDo
	// fail is the configuration of the 503 benchmark: the same with zero
	// waits. nil for plain net/http, which does not retry.
	fail func(tb testing.TB, base http.RoundTripper) httpDo
}

// reboundHTTPClient: reboundhttp.NewClient with the Config's defaults
// (3 attempts, exponential backoff 1 s to 10 s with full jitter, 5 s per
// attempt timeout, DefaultClassifyResponse), apart from the base transport
// and, when zeroWait, Backoff Constant(0).
func reboundHTTPClient(tb testing.TB, base http.RoundTripper, zeroWait bool) httpDo {
	return reboundHTTPClientTimeout(tb, base, zeroWait, 0)
}

// reboundHTTPNoTimeout: reboundHTTPClient with the per-attempt timeout off
// (reboundhttp.NoAttemptTimeout), the configuration that matches the peers,
// none of which bounds an attempt by default.
func reboundHTTPNoTimeout(tb testing.TB, base http.RoundTripper, zeroWait bool) httpDo {
	return reboundHTTPClientTimeout(tb, base, zeroWait, reboundhttp.NoAttemptTimeout)
}

func reboundHTTPClientTimeout(tb testing.TB, base http.RoundTripper, zeroWait bool, attemptTimeout time.Duration) httpDo {
	cfg := reboundhttp.Config{Base: base, AttemptTimeout: attemptTimeout}
	if zeroWait {
		cfg.Policy.Backoff = rebound.Constant(0)
	}
	c, err := reboundhttp.NewClient(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return c.Do
}

// retryableHTTPClient: retryablehttp.NewClient with its defaults
// (DefaultRetryPolicy: retry connection errors, 429 and 5xx except 501;
// DefaultBackoff: 1 s doubling to 30 s), no logger (the default logs every
// request to stderr), an internal http.Client over base, RetryMax 2 (3
// attempts, like the others; its default is 4 retries) and, when zeroWait,
// RetryWaitMin and RetryWaitMax 0.
func retryableHTTPClient(base http.RoundTripper, zeroWait bool) *retryablehttp.Client {
	c := retryablehttp.NewClient()
	c.Logger = nil
	c.HTTPClient = &http.Client{Transport: base}
	c.RetryMax = 2
	if zeroWait {
		c.RetryWaitMin, c.RetryWaitMax = 0, 0
	}
	return c
}

// retryableHTTPStd: go-retryablehttp as a drop-in *http.Client
// (StandardClient), the way the others are used.
func retryableHTTPStd(_ testing.TB, base http.RoundTripper, zeroWait bool) httpDo {
	return retryableHTTPClient(base, zeroWait).StandardClient().Do
}

// retryableHTTPDo: go-retryablehttp's own Client.Do, which skips the outer
// http.Client of StandardClient. The *retryablehttp.Request is made per call
// (see the rules above).
func retryableHTTPDo(_ testing.TB, base http.RoundTripper, zeroWait bool) httpDo {
	c := retryableHTTPClient(base, zeroWait)
	return func(req *http.Request) (*http.Response, error) {
		rreq, err := retryablehttp.FromRequest(req)
		if err != nil {
			return nil, err
		}
		return c.Do(rreq)
	}
}

// failsafeHTTPClient: an http.Client over failsafehttp.NewRoundTripper with
// failsafehttp's retry policy (NewRetryPolicyBuilder: retry errors, 429 and
// 5xx except 501, honour Retry-After, 2 retries). Its default delay is 0;
// for the GET benchmarks it gets exponential backoff 1 s doubling to 10 s,
// like reboundhttp's default; for the 503 benchmark it keeps 0.
func failsafeHTTPClient(_ testing.TB, base http.RoundTripper, zeroWait bool) httpDo {
	b := failsafehttp.NewRetryPolicyBuilder()
	if !zeroWait {
		b = b.WithBackoff(time.Second, 10*time.Second)
	}
	return (&http.Client{Transport: failsafehttp.NewRoundTripper(base, b.Build())}).Do
}

func httpLibs() []httpLib {
	with := func(f func(testing.TB, http.RoundTripper, bool) httpDo, zeroWait bool) func(testing.TB, http.RoundTripper) httpDo {
		return func(tb testing.TB, base http.RoundTripper) httpDo { return f(tb, base, zeroWait) }
	}
	return []httpLib{
		// net-http: a plain client with no retries, the floor. Not a peer.
		{"net-http", func(_ testing.TB, base http.RoundTripper) httpDo {
			return (&http.Client{Transport: base}).Do
		}, nil},
		// net-http-timeout: the same with http.Client.Timeout 5 s, the
		// protection reboundhttp's default per-attempt timeout gives, done
		// the standard library's way. Not a peer either.
		{"net-http-timeout", func(_ testing.TB, base http.RoundTripper) httpDo {
			return (&http.Client{Transport: base, Timeout: reboundhttp.DefaultAttemptTimeout}).Do
		}, nil},
		{"reboundhttp", with(reboundHTTPClient, false), with(reboundHTTPClient, true)},
		{"reboundhttp-notimeout", with(reboundHTTPNoTimeout, false), with(reboundHTTPNoTimeout, true)},
		{"retryablehttp", with(retryableHTTPStd, false), with(retryableHTTPStd, true)},
		{"retryablehttp-do", with(retryableHTTPDo, false), with(retryableHTTPDo, true)},
		{"failsafehttp", with(failsafeHTTPClient, false), with(failsafeHTTPClient, true)},
	}
}

// getOnce sends req through do, reads the whole body, closes it, and checks
// that it was the 200 with httpJSON.
func getOnce(tb testing.TB, do httpDo, req *http.Request) {
	resp, err := do(req)
	if err != nil {
		tb.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || n != int64(len(httpJSON)) {
		tb.Fatalf("got status %d, %d body bytes, error %v; want 200, %d bytes", resp.StatusCode, n, err, len(httpJSON))
	}
}

// benchGet runs every library's GET configuration over base (made per
// library by base) with req.
func benchGet(b *testing.B, req *http.Request, base func(b *testing.B) http.RoundTripper) {
	for _, lib := range httpLibs() {
		b.Run(lib.name, func(b *testing.B) {
			do := lib.get(b, base(b))
			b.ReportAllocs()
			for b.Loop() {
				getOnce(b, do, req)
			}
		})
	}
}

// BenchmarkHTTPGetMemory: a successful GET over the in-memory server, with
// a context.Background request. One memServer is the base of every library.
func BenchmarkHTTPGetMemory(b *testing.B) {
	srv := &memServer{}
	req, err := http.NewRequest(http.MethodGet, "http://api.example.com/v1/item/42", nil)
	if err != nil {
		b.Fatal(err)
	}
	benchGet(b, req, func(*testing.B) http.RoundTripper { return srv })
}

// BenchmarkHTTPGetMemoryCtx: the same with a request whose context can be
// canceled (made once). reboundhttp then gives each attempt its own timeout
// context instead of a shared one.
func BenchmarkHTTPGetMemoryCtx(b *testing.B) {
	srv := &memServer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://api.example.com/v1/item/42", nil)
	if err != nil {
		b.Fatal(err)
	}
	benchGet(b, req, func(*testing.B) http.RoundTripper { return srv })
}

// BenchmarkHTTPGetMemoryDeadline: the same with a request whose context
// has a 2 s deadline, made per call (context.WithTimeout and
// Request.WithContext inside the loop, the same work for every library).
// The deadline comes before reboundhttp's 5 s per-attempt timeout would, so
// reboundhttp adds no timeout context: the attempt's copy of the request
// carries only the attempt (reboundhttp.AttemptOf).
func BenchmarkHTTPGetMemoryDeadline(b *testing.B) {
	srv := &memServer{}
	req, err := http.NewRequest(http.MethodGet, "http://api.example.com/v1/item/42", nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, lib := range httpLibs() {
		b.Run(lib.name, func(b *testing.B) {
			do := lib.get(b, srv)
			b.ReportAllocs()
			for b.Loop() {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				getOnce(b, do, req.WithContext(ctx))
				cancel()
			}
		})
	}
}

// BenchmarkHTTPGetLoopback: a successful GET to an httptest server on
// loopback. Each library gets its own *http.Transport (16 idle connections
// per host), so no library reuses another's connections.
func BenchmarkHTTPGetLoopback(b *testing.B) {
	ts := newJSONServer()
	defer ts.Close()
	req, err := http.NewRequest(http.MethodGet, ts.URL+"/v1/item/42", nil)
	if err != nil {
		b.Fatal(err)
	}
	benchGet(b, req, func(b *testing.B) http.RoundTripper {
		tr := &http.Transport{MaxIdleConnsPerHost: 16}
		b.Cleanup(tr.CloseIdleConnections)
		return tr
	})
}

// BenchmarkHTTP503Memory: GETs over the in-memory server when every 5th
// response is a 503: each call succeeds, on its first attempt or (every 4th
// call) on its second after a 503, with no wait. Each library gets its own
// memServer, so all see the same sequence.
func BenchmarkHTTP503Memory(b *testing.B) {
	req, err := http.NewRequest(http.MethodGet, "http://api.example.com/v1/item/42", nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, lib := range httpLibs() {
		if lib.fail == nil {
			continue
		}
		b.Run(lib.name, func(b *testing.B) {
			do := lib.fail(b, &memServer{every: 5})
			b.ReportAllocs()
			for b.Loop() {
				getOnce(b, do, req)
			}
		})
	}
}
