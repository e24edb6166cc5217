package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound"
)

// noWait retries at once, so that loopback tests never sleep.
var noWait = callEnv{backoff: rebound.Constant(0)}

type result struct {
	code           int
	stdout, stderr string
}

func runCall(ctx context.Context, env callEnv, stdin string, args ...string) result {
	var stdout, stderr bytes.Buffer
	code := call(ctx, args, IO{Stdin: strings.NewReader(stdin), Stdout: &stdout, Stderr: &stderr}, env)
	return result{code, stdout.String(), stderr.String()}
}

// seen is a request as the server received it.
type seen struct {
	method string
	host   string
	path   string
	header http.Header
	body   string
}

// server is a loopback server that answers the nth request (from 1) with
// handle, and records every request.
type server struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []seen
}

func newServer(t *testing.T, handle func(n int, w http.ResponseWriter, r *http.Request)) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, seen{r.Method, r.Host, r.URL.Path, r.Header.Clone(), string(body)})
		n := len(s.reqs)
		s.mu.Unlock()
		handle(n, w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) requests() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.reqs...)
}

// statuses answers each request with the next status of codes, the last one
// repeated, and a body naming the request's number.
func statuses(codes ...int) func(int, http.ResponseWriter, *http.Request) {
	return func(n int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(codes[min(n, len(codes))-1])
		fmt.Fprintf(w, "answer %d", n)
	}
}

func wantCode(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\nstdout: %q\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
}

func wantRequests(t *testing.T, s *server, n int) []seen {
	t.Helper()
	reqs := s.requests()
	if len(reqs) != n {
		t.Fatalf("server saw %d requests, want %d", len(reqs), n)
	}
	return reqs
}

func TestCallSuccessWritesTheBodyAndNothingElse(t *testing.T) {
	s := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"id": 7}`)
	})
	var stdout, stderr bytes.Buffer
	code := Call(t.Context(), []string{s.URL + "/v1/user/7"}, IO{Stdout: &stdout, Stderr: &stderr})
	if code != 0 || stdout.String() != `{"id": 7}` || stderr.Len() != 0 {
		t.Fatalf("code %d, stdout %q, stderr %q; want 0, the body, nothing", code, stdout.String(), stderr.String())
	}
	if r := wantRequests(t, s, 1)[0]; r.method != "GET" || r.path != "/v1/user/7" {
		t.Errorf("request %s %s, want GET /v1/user/7", r.method, r.path)
	}
}

func TestCallLogicErrorIsNotRetried(t *testing.T) {
	s := newServer(t, statuses(404))
	r := runCall(t.Context(), noWait, "", s.URL+"/missing")
	wantCode(t, r, 3)
	wantRequests(t, s, 1)
	if r.stdout != "answer 1" {
		t.Errorf("stdout %q, want the 404's body", r.stdout)
	}
	want := "rebound: attempt 1/3 GET " + s.URL + "/missing: 404 Not Found (logic)\n"
	if !strings.HasPrefix(r.stderr, want) || !strings.Contains(r.stderr, "rebound: gave up after 1 attempt in ") ||
		!strings.HasSuffix(r.stderr, ": permanent (last: 404)\n") {
		t.Errorf("stderr:\n%s\nwant the attempt line %q and a give-up line", r.stderr, want)
	}
}

func TestCallRetriesResponseErrorsUntilSuccess(t *testing.T) {
	s := newServer(t, statuses(503, 503, 200))
	r := runCall(t.Context(), noWait, "", s.URL)
	wantCode(t, r, 0)
	wantRequests(t, s, 3)
	if r.stdout != "answer 3" {
		t.Errorf("stdout %q, want the last body", r.stdout)
	}
	want := "rebound: attempt 1/3 GET " + s.URL + ": 503 Service Unavailable (response); retrying in 0s\n" +
		"rebound: attempt 2/3 GET " + s.URL + ": 503 Service Unavailable (response); retrying in 0s\n" +
		"rebound: attempt 3/3 GET " + s.URL + ": 200 OK\n"
	if r.stderr != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", r.stderr, want)
	}
}

func TestCallGivesUpAfterResponseErrors(t *testing.T) {
	s := newServer(t, statuses(503))
	r := runCall(t.Context(), noWait, "", "--attempts", "4", s.URL)
	wantCode(t, r, 4)
	wantRequests(t, s, 4)
	if r.stdout != "answer 4" {
		t.Errorf("stdout %q, want the last response's body", r.stdout)
	}
	if !strings.Contains(r.stderr, "attempt 4/4 GET "+s.URL+": 503 Service Unavailable (response)\n") ||
		!strings.Contains(r.stderr, "rebound: gave up after 4 attempts in ") || !strings.HasSuffix(r.stderr, ": exhausted (last: 503)\n") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}

func TestCallGivesUpAfterConnectionErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := runCall(t.Context(), noWait, "", "--attempts", "2", "http://"+addr+"/")
	wantCode(t, r, 5)
	if r.stdout != "" {
		t.Errorf("stdout %q, want nothing", r.stdout)
	}
	if strings.Count(r.stderr, "connection refused (connection)") != 2 || !strings.HasSuffix(r.stderr, ": exhausted (last: connection refused)\n") {
		t.Errorf("stderr:\n%s\nwant two refused attempts and a give-up line", r.stderr)
	}
}

func TestCallRetriesAPostOnlyWithAnIdempotencyKey(t *testing.T) {
	t.Run("no key, maybe processed", func(t *testing.T) {
		s := newServer(t, statuses(500))
		r := runCall(t.Context(), noWait, "", "-d", "order=1", s.URL)
		wantCode(t, r, 4)
		wantRequests(t, s, 1)
		if !strings.Contains(r.stderr, "permanent (last: 500); a POST without an Idempotency-Key is not retried") {
			t.Errorf("stderr:\n%s\nwant why the POST was not retried", r.stderr)
		}
	})
	t.Run("no key, not processed", func(t *testing.T) {
		// A 503 says the request was not processed: even a POST without a
		// key is retried.
		s := newServer(t, statuses(503, 200))
		r := runCall(t.Context(), noWait, "", "-d", "order=1", s.URL)
		wantCode(t, r, 0)
		wantRequests(t, s, 2)
	})
	t.Run("auto", func(t *testing.T) {
		s := newServer(t, statuses(500, 502, 201))
		r := runCall(t.Context(), noWait, "", "-d", "order=1", "--idempotency-key", "auto", s.URL)
		wantCode(t, r, 0)
		reqs := wantRequests(t, s, 3)
		key := reqs[0].header.Get("Idempotency-Key")
		if len(key) < 16 {
			t.Fatalf("Idempotency-Key %q, want a random key", key)
		}
		for i, req := range reqs {
			if got := req.header.Get("Idempotency-Key"); got != key {
				t.Errorf("attempt %d: Idempotency-Key %q, want %q as on the first", i+1, got, key)
			}
		}
	})
	t.Run("value", func(t *testing.T) {
		s := newServer(t, statuses(500, 200))
		r := runCall(t.Context(), noWait, "", "-d", "order=1", "--idempotency-key", "order-1", s.URL)
		wantCode(t, r, 0)
		for i, req := range wantRequests(t, s, 2) {
			if got := req.header.Get("Idempotency-Key"); got != "order-1" {
				t.Errorf("attempt %d: Idempotency-Key %q, want order-1", i+1, got)
			}
		}
	})
}

func TestCallSendsTheBodyIntactOnEveryAttempt(t *testing.T) {
	binary := "line 1\r\nline 2\n\x00\xff tail\n"
	file := filepath.Join(t.TempDir(), "body.bin")
	if err := os.WriteFile(file, []byte(binary), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		stdin      string
		args       []string
		method     string
		body       string
		wantHeader string
	}{
		{"-d", "", []string{"-d", "a=1&b=two words"}, "POST", "a=1&b=two words", "application/x-www-form-urlencoded"},
		{"--data", "", []string{"--data=x"}, "POST", "x", "application/x-www-form-urlencoded"},
		{"--data-binary @file", "", []string{"--data-binary", "@" + file}, "POST", binary, "application/x-www-form-urlencoded"},
		{"-d @-", binary, []string{"-d", "@-", "-H", "Content-Type: application/octet-stream"}, "POST", binary, "application/octet-stream"},
		{"-X PUT", "", []string{"-X", "PUT", "-d", `{"a":1}`}, "PUT", `{"a":1}`, "application/x-www-form-urlencoded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, statuses(503, 503, 200))
			r := runCall(t.Context(), noWait, tc.stdin, append(tc.args, s.URL)...)
			wantCode(t, r, 0)
			for i, req := range wantRequests(t, s, 3) {
				if req.method != tc.method || req.body != tc.body || req.header.Get("Content-Type") != tc.wantHeader {
					t.Errorf("attempt %d: %s %q (Content-Type %q), want %s %q (%q)",
						i+1, req.method, req.body, req.header.Get("Content-Type"), tc.method, tc.body, tc.wantHeader)
				}
			}
		})
	}
}

func TestCallSendsHeaders(t *testing.T) {
	s := newServer(t, statuses(200))
	r := runCall(t.Context(), noWait, "", s.URL,
		"-H", "X-One: 1", "-H", "X-Many: a", "-H", "X-Many: b", "-H", "Authorization:  Bearer t0k3n ", "-H", "Host: api.example.test")
	wantCode(t, r, 0)
	req := wantRequests(t, s, 1)[0]
	if req.header.Get("X-One") != "1" || strings.Join(req.header.Values("X-Many"), ",") != "a,b" ||
		req.header.Get("Authorization") != "Bearer t0k3n" || req.host != "api.example.test" {
		t.Errorf("headers %v, host %q", req.header, req.host)
	}
}

func TestCallJSON(t *testing.T) {
	t.Run("malformed is retried", func(t *testing.T) {
		s := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"id": 7`)
		})
		r := runCall(t.Context(), noWait, "", "--json", s.URL)
		wantCode(t, r, 4)
		reqs := wantRequests(t, s, 3)
		if reqs[0].header.Get("Accept") != "application/json" {
			t.Errorf("Accept %q, want application/json", reqs[0].header.Get("Accept"))
		}
		if r.stdout != `{"id": 7` {
			t.Errorf("stdout %q, want the last body", r.stdout)
		}
		if !strings.Contains(r.stderr, ": 200 OK, body is not JSON: unexpected end of JSON input (response); retrying in 0s\n") ||
			!strings.HasSuffix(r.stderr, ": exhausted (last: 200, body is not JSON: unexpected end of JSON input)\n") {
			t.Errorf("stderr:\n%s", r.stderr)
		}
	})
	t.Run("empty, then valid", func(t *testing.T) {
		s := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
			if n == 2 {
				fmt.Fprint(w, `{"id": 7}`)
			}
		})
		r := runCall(t.Context(), noWait, "", "--json", s.URL)
		wantCode(t, r, 0)
		wantRequests(t, s, 2)
		if r.stdout != `{"id": 7}` || !strings.Contains(r.stderr, ": 200 OK, empty body, want JSON (response); retrying") {
			t.Errorf("stdout %q, stderr:\n%s", r.stdout, r.stderr)
		}
	})
	t.Run("not checked on a 4xx", func(t *testing.T) {
		s := newServer(t, statuses(400))
		r := runCall(t.Context(), noWait, "", "--json", s.URL)
		wantCode(t, r, 3)
		wantRequests(t, s, 1)
	})
}

func TestCallCanceled(t *testing.T) {
	t.Run("before", func(t *testing.T) {
		s := newServer(t, statuses(200))
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		r := runCall(ctx, noWait, "", s.URL)
		wantCode(t, r, 6)
		wantRequests(t, s, 0)
	})
	t.Run("during an attempt", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		s := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
			cancel()
			<-r.Context().Done()
		})
		r := runCall(ctx, noWait, "", s.URL)
		wantCode(t, r, 6)
		wantRequests(t, s, 1)
		if !strings.HasSuffix(r.stderr, ": canceled\n") {
			t.Errorf("stderr:\n%s", r.stderr)
		}
	})
}

func TestCallRetryAfterAboveMaxWaitGivesUp(t *testing.T) {
	s := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	r := runCall(t.Context(), noWait, "", "--max-wait", "1m", s.URL)
	wantCode(t, r, 4)
	wantRequests(t, s, 1)
	if !strings.Contains(r.stderr, ": wait_too_long (the server asked to wait 2m0s, above --max-wait 1m0s) (last: 429)\n") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}

func TestCallRedactsURLs(t *testing.T) {
	s := newServer(t, statuses(503))
	u := strings.Replace(s.URL, "http://", "http://user:hunter2@", 1) + "/p?token=s3cret"
	r := runCall(t.Context(), noWait, "", "--attempts", "2", u)
	wantCode(t, r, 4)
	if strings.Contains(r.stderr, "hunter2") || strings.Contains(r.stderr, "s3cret") || !strings.Contains(r.stderr, " GET "+s.URL+"/p: 503") {
		t.Errorf("stderr shows credentials or misses the URL:\n%s", r.stderr)
	}
}

func TestCallRedirects(t *testing.T) {
	s := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/old" {
			http.Redirect(w, r, "/new", http.StatusFound)
			return
		}
		fmt.Fprint(w, "new")
	})
	r := runCall(t.Context(), noWait, "", s.URL+"/old")
	wantCode(t, r, 0)
	wantRequests(t, s, 1)

	r = runCall(t.Context(), noWait, "", "-L", s.URL+"/old")
	wantCode(t, r, 0)
	if reqs := wantRequests(t, s, 3); reqs[2].path != "/new" || r.stdout != "new" {
		t.Errorf("followed to %s, stdout %q; want /new and its body", reqs[2].path, r.stdout)
	}
}

func TestCallQuietReportsOnlyFailure(t *testing.T) {
	s := newServer(t, statuses(503))
	r := runCall(t.Context(), noWait, "", s.URL, "-q")
	wantCode(t, r, 4)
	if strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "rebound: gave up after 3 attempts") {
		t.Errorf("stderr:\n%s\nwant only the give-up line", r.stderr)
	}
}

func TestCallFlagsAfterTheURL(t *testing.T) {
	s := newServer(t, statuses(503))
	r := runCall(t.Context(), noWait, "", s.URL, "--attempts", "1", "-H", "X-A: 1")
	wantCode(t, r, 4)
	if reqs := wantRequests(t, s, 1); reqs[0].header.Get("X-A") != "1" {
		t.Errorf("header X-A %q, want 1", reqs[0].header.Get("X-A"))
	}
}

func TestCallUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "missing URL"},
		{[]string{"--attempts", "0", "http://h/"}, `invalid value "0" for flag --attempts: want a whole number from 1 to 1000`},
		{[]string{"--attempts", "many", "http://h/"}, `flag --attempts: want a whole number`},
		{[]string{"--timeout", "5", "http://h/"}, `invalid value "5" for flag --timeout: want a duration above zero`},
		{[]string{"--max-time", "-1s", "http://h/"}, `flag --max-time: want a duration`},
		{[]string{"--max-wait", "0", "http://h/"}, `flag --max-wait: want a duration above zero`},
		{[]string{"-H", "no colon", "http://h/"}, `invalid value "no colon" for flag -H: want "Name: value"`},
		{[]string{"-X", "GET /", "http://h/"}, `flag -X: want a method`},
		{[]string{"-d", "a", "--data-binary", "b", "http://h/"}, `flag --data-binary: want one body, already given by -d`},
		{[]string{"--idempotency-key", "", "http://h/"}, `flag --idempotency-key: want auto or a key`},
		{[]string{"--bogus", "http://h/"}, "flag provided but not defined: -bogus"},
		{[]string{"http://h/", "--attempts"}, "flag needs an argument: -attempts"},
		{[]string{"ftp://h/"}, `bad URL "ftp://h/": want an http:// or https:// URL`},
		{[]string{"http:///path"}, "no host"},
		{[]string{"http://h/a", "http://h/b"}, "want one URL, got 2"},
	} {
		r := runCall(t.Context(), noWait, "", tc.args...)
		first, _, _ := strings.Cut(r.stderr, "\n")
		if r.code != 2 || first != "rebound call: "+tc.want && !strings.Contains(first, tc.want) || !strings.Contains(r.stderr, "usage: rebound call") {
			t.Errorf("%q: exit %d, stderr:\n%s\nwant 2, %q and the usage", tc.args, r.code, r.stderr, tc.want)
		}
	}
}

func TestCallHelp(t *testing.T) {
	r := runCall(t.Context(), noWait, "", "-h")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "usage: rebound call") {
		t.Errorf("exit %d, stdout %q; want 0 and the usage", r.code, r.stdout)
	}
}

func TestCallUnreadableBodyFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.json")
	r := runCall(t.Context(), noWait, "", "--data-binary", "@"+missing, "http://127.0.0.1:1/")
	wantCode(t, r, 1)
	if !strings.HasPrefix(r.stderr, "rebound call: --data-binary @"+missing+": ") {
		t.Errorf("stderr %q, want the flag and the file named", r.stderr)
	}
}

// fake answers attempts in memory, for synctest bubbles, and records when
// each came.
type fake struct {
	start time.Time
	at    []time.Duration
	reply func(n int, req *http.Request) (*http.Response, error)
}

func (f *fake) RoundTrip(req *http.Request) (*http.Response, error) {
	f.at = append(f.at, time.Since(f.start))
	if req.Body != nil {
		req.Body.Close()
	}
	return f.reply(len(f.at), req)
}

func reply(req *http.Request, code int, body string) *http.Response {
	return &http.Response{
		StatusCode: code, Status: fmt.Sprintf("%d %s", code, http.StatusText(code)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)),
		Request: req,
	}
}

func statusesFake(codes ...int) func(int, *http.Request) (*http.Response, error) {
	return func(n int, req *http.Request) (*http.Response, error) {
		return reply(req, codes[min(n, len(codes))-1], fmt.Sprintf("answer %d", n)), nil
	}
}

// hang answers no attempt: each ends when its context does.
func hang(n int, req *http.Request) (*http.Response, error) {
	<-req.Context().Done()
	return nil, req.Context().Err()
}

// runFake runs a call in a synctest bubble against f, with the default
// backoff and every jitter draw 0.5, and checks the attempts' start times.
func runFake(t *testing.T, f *fake, terminal bool, wantAt []time.Duration, args ...string) result {
	t.Helper()
	var r result
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background()) // cancelable: each attempt gets its own timeout
		defer cancel()
		f.start = time.Now()
		var stdout, stderr bytes.Buffer
		env := callEnv{base: f, rand: func() float64 { return 0.5 }}
		r.code = call(ctx, append(args, "http://api.test/v1/user"), IO{Stdout: &stdout, Stderr: &stderr, StderrIsTerminal: terminal}, env)
		r.stdout, r.stderr = stdout.String(), stderr.String()
	})
	if fmt.Sprint(f.at) != fmt.Sprint(wantAt) {
		t.Errorf("attempts at %v, want %v", f.at, wantAt)
	}
	return r
}

func TestCallSchedule(t *testing.T) {
	r := runFake(t, &fake{reply: statusesFake(503, 502, 200)}, false, []time.Duration{0, 500 * time.Millisecond, 1500 * time.Millisecond})
	wantCode(t, r, 0)
	want := "rebound: attempt 1/3 GET http://api.test/v1/user: 503 Service Unavailable (response); retrying in 500ms\n" +
		"rebound: attempt 2/3 GET http://api.test/v1/user: 502 Bad Gateway (response); retrying in 1s\n" +
		"rebound: attempt 3/3 GET http://api.test/v1/user: 200 OK\n"
	if r.stderr != want || r.stdout != "answer 3" {
		t.Errorf("stdout %q, stderr:\n%s\nwant:\n%s", r.stdout, r.stderr, want)
	}
}

func TestCallScheduleHonoursRetryAfter(t *testing.T) {
	f := &fake{reply: func(n int, req *http.Request) (*http.Response, error) {
		if n == 1 {
			resp := reply(req, 429, "slow down")
			resp.Header.Set("Retry-After", "7")
			return resp, nil
		}
		return reply(req, 200, "ok"), nil
	}}
	r := runFake(t, f, false, []time.Duration{0, 7 * time.Second})
	wantCode(t, r, 0)
	if !strings.HasPrefix(r.stderr, "rebound: attempt 1/3 GET http://api.test/v1/user: 429 Too Many Requests (response); retrying in 7s\n") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}

func TestCallGivesUpFailureLines(t *testing.T) {
	r := runFake(t, &fake{reply: statusesFake(503)}, false, []time.Duration{0, 500 * time.Millisecond, 1500 * time.Millisecond})
	wantCode(t, r, 4)
	want := "rebound: attempt 1/3 GET http://api.test/v1/user: 503 Service Unavailable (response); retrying in 500ms\n" +
		"rebound: attempt 2/3 GET http://api.test/v1/user: 503 Service Unavailable (response); retrying in 1s\n" +
		"rebound: attempt 3/3 GET http://api.test/v1/user: 503 Service Unavailable (response)\n" +
		"rebound: gave up after 3 attempts in 1.5s: exhausted (last: 503)\n"
	if r.stderr != want || r.stdout != "answer 3" {
		t.Errorf("stdout %q, stderr:\n%s\nwant:\n%s", r.stdout, r.stderr, want)
	}
}

func TestCallTerminalRewritesOneLine(t *testing.T) {
	t.Run("success", func(t *testing.T) {
		r := runFake(t, &fake{reply: statusesFake(503, 503, 200)}, true, []time.Duration{0, 500 * time.Millisecond, 1500 * time.Millisecond})
		wantCode(t, r, 0)
		want := "\r\x1b[Krebound: attempt 1/3: 503 Service Unavailable (response); retrying in 500ms" +
			"\r\x1b[Krebound: attempt 2/3: 503 Service Unavailable (response); retrying in 1s" +
			"\r\x1b[K" + "rebound: attempt 3/3: 200 OK\n"
		if r.stderr != want {
			t.Errorf("stderr %q\nwant   %q", r.stderr, want)
		}
	})
	t.Run("failure", func(t *testing.T) {
		r := runFake(t, &fake{reply: statusesFake(503)}, true, []time.Duration{0, 500 * time.Millisecond, 1500 * time.Millisecond}, "-q")
		wantCode(t, r, 4)
		if want := "rebound: gave up after 3 attempts in 1.5s: exhausted (last: 503)\n"; r.stderr != want {
			t.Errorf("stderr %q\nwant   %q", r.stderr, want)
		}
	})
}

func TestCallAttemptTimeout(t *testing.T) {
	r := runFake(t, &fake{reply: hang}, false, []time.Duration{0, 2500 * time.Millisecond}, "--timeout", "2s", "--attempts", "2")
	wantCode(t, r, 5)
	want := "rebound: attempt 1/2 GET http://api.test/v1/user: no answer within --timeout 2s (connection); retrying in 500ms\n" +
		"rebound: attempt 2/2 GET http://api.test/v1/user: no answer within --timeout 2s (connection)\n" +
		"rebound: gave up after 2 attempts in 4.5s: exhausted (last: timeout)\n"
	if r.stderr != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", r.stderr, want)
	}
}

func TestCallMaxTime(t *testing.T) {
	t.Run("no room for another attempt", func(t *testing.T) {
		// Waits are 500ms, then 1s: the third attempt would start at 1.5s.
		r := runFake(t, &fake{reply: statusesFake(503)}, false, []time.Duration{0, 500 * time.Millisecond}, "--max-time", "1200ms", "--attempts", "5")
		wantCode(t, r, 4)
		if r.stdout != "answer 2" || !strings.HasSuffix(r.stderr, "\nrebound: gave up after 2 attempts in 500ms: deadline (the next attempt would start after --max-time 1.2s) (last: 503)\n") {
			t.Errorf("stdout %q, stderr:\n%s", r.stdout, r.stderr)
		}
	})
	t.Run("during an attempt", func(t *testing.T) {
		r := runFake(t, &fake{reply: hang}, false, []time.Duration{0}, "--max-time", "3s")
		wantCode(t, r, 5)
		want := "rebound: attempt 1/3 GET http://api.test/v1/user: --max-time 3s reached (canceled)\n" +
			"rebound: gave up after 1 attempt in 3s: --max-time 3s reached\n"
		if r.stderr != want {
			t.Errorf("stderr:\n%s\nwant:\n%s", r.stderr, want)
		}
	})
}
