package reboundhttp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundhttp"
	"github.com/rebound-go/rebound/reboundtest"
)

// script is a loopback server that answers request n with step n (the
// last step repeats) and counts connections.
type script struct {
	srv      *httptest.Server
	requests atomic.Int64
	mu       sync.Mutex
	open     int // connections currently open
	maxOpen  int
	total    int // connections ever accepted
	keys     []string
}

func newScript(t *testing.T, steps ...http.HandlerFunc) *script {
	t.Helper()
	s := &script{}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(s.requests.Add(1)) - 1
		s.mu.Lock()
		s.keys = append(s.keys, r.Header.Get("Idempotency-Key"))
		s.mu.Unlock()
		steps[min(n, len(steps)-1)](w, r)
	}))
	s.srv.Config.ConnState = func(c net.Conn, st http.ConnState) {
		s.mu.Lock()
		defer s.mu.Unlock()
		switch st {
		case http.StateNew:
			s.open++
			s.total++
			s.maxOpen = max(s.maxOpen, s.open)
		case http.StateClosed, http.StateHijacked:
			s.open--
		}
	}
	s.srv.Start()
	t.Cleanup(s.srv.Close)
	return s
}

func reply(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

// resetAfterHeaders sends a 200 with a Content-Length, part of the body,
// then resets the connection.
func resetAfterHeaders(w http.ResponseWriter, r *http.Request) {
	c, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	fmt.Fprint(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"id\":")
	buf.Flush()
	c.(*net.TCPConn).SetLinger(0)
	c.Close()
}

// stall sends headers and part of the body, then waits for the client to
// give up.
func stall(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", "100")
	w.WriteHeader(200)
	io.WriteString(w, `{"id":`)
	w.(http.Flusher).Flush()
	<-r.Context().Done()
}

func fastPolicy() rebound.Policy { return rebound.Policy{Backoff: rebound.Constant(0)} }

type user struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

func TestWireScriptedSequences(t *testing.T) {
	cases := []struct {
		name     string
		steps    []http.HandlerFunc
		status   int
		attempts int64
	}{
		{"503 503 200", []http.HandlerFunc{reply(503, ""), reply(503, ""), reply(200, `ok`)}, 200, 3},
		{"429 with Retry-After 0, then 200", []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(429)
		}, reply(200, `ok`)}, 200, 2},
		{"400 is final", []http.HandlerFunc{reply(400, `{"error":"bad"}`), reply(200, `ok`)}, 400, 1},
		{"three 500s give up with the last", []http.HandlerFunc{reply(500, `a`), reply(500, `b`), reply(500, `c`), reply(200, ``)}, 500, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newScript(t, tc.steps...)
			c := newClient(t, reboundhttp.Config{Policy: fastPolicy()})
			resp, err := c.Get(s.srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, resp)
			if resp.StatusCode != tc.status || s.requests.Load() != tc.attempts {
				t.Fatalf("status %d after %d requests, want %d after %d", resp.StatusCode, s.requests.Load(), tc.status, tc.attempts)
			}
			if tc.status == 500 && body != "c" {
				t.Fatalf("returned body %q, want the last response's", body)
			}
		})
	}
}

func TestWireJSONRetriesBrokenBodies(t *testing.T) {
	ok := reply(200, `{"id":7,"name":"Ada"}`)
	cases := []struct {
		name  string
		first http.HandlerFunc
	}{
		{"empty body", reply(200, ``)},
		{"malformed JSON", reply(200, `{"id":7,`)},
		{"HTML error page", reply(200, `<html>oops</html>`)},
		{"reset after headers", resetAfterHeaders},
		{"503", reply(503, `{"error":"busy"}`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newScript(t, tc.first, ok)
			c := newClient(t, reboundhttp.Config{Policy: fastPolicy()})
			u, err := reboundhttp.GetJSON[user](context.Background(), c, s.srv.URL+"/v1/user/7")
			if err != nil || u.Name != "Ada" || s.requests.Load() != 2 {
				t.Fatalf("got %+v %v after %d requests", u, err, s.requests.Load())
			}
		})
	}
}

func TestWireJSONSlowBodyTimesOutAndRetries(t *testing.T) {
	s := newScript(t, stall, reply(200, `{"id":1,"name":"Grace"}`))
	c := newClient(t, reboundhttp.Config{Policy: fastPolicy(), AttemptTimeout: 100 * time.Millisecond})
	u, err := reboundhttp.GetJSON[user](context.Background(), c, s.srv.URL)
	if err != nil || u.Name != "Grace" || s.requests.Load() != 2 {
		t.Fatalf("got %+v %v after %d requests", u, err, s.requests.Load())
	}
}

func TestWireJSONErrorsNameStatusTypeAndBody(t *testing.T) {
	s := newScript(t, reply(200, `{"id":"seven"}`))
	c := newClient(t, reboundhttp.Config{Policy: fastPolicy()})
	_, err := reboundhttp.GetJSON[user](context.Background(), c, s.srv.URL+"/u?token=secret")
	var se *reboundhttp.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("got %v", err)
	}
	// A type mismatch is a Logic error: not retried.
	if s.requests.Load() != 1 || se.Classification().Class != rebound.Logic {
		t.Fatalf("%d requests, class %v", s.requests.Load(), se.Classification().Class)
	}
	msg := se.Error()
	for _, want := range []string{"status 200", `"application/json"`, `{\"id\":\"seven\"}`, "/u"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %s", msg, want)
		}
	}
	if strings.Contains(msg, "secret") {
		t.Errorf("error %q leaks the query", msg)
	}

	// Giving up on malformed JSON says so.
	s = newScript(t, reply(200, `not json`))
	_, err = reboundhttp.GetJSON[user](context.Background(), c, s.srv.URL)
	if !errors.As(err, &se) || !errors.Is(err, rebound.ErrExhausted) || s.requests.Load() != 3 || !strings.Contains(err.Error(), `body starts "not json"`) {
		t.Fatalf("got %v after %d", err, s.requests.Load())
	}

	// A 404 is returned as an error naming it, at once.
	s = newScript(t, reply(404, `{"error":"no such user"}`))
	_, err = reboundhttp.GetJSON[user](context.Background(), c, s.srv.URL)
	if !errors.As(err, &se) || se.StatusCode != 404 || s.requests.Load() != 1 {
		t.Fatalf("got %v after %d", err, s.requests.Load())
	}
}

func TestWireDoJSONPost(t *testing.T) {
	s := newScript(t, reply(503, ``), reply(201, `{"id":9,"name":"Radia"}`))
	req, _ := http.NewRequest("POST", s.srv.URL+"/users", strings.NewReader(`{"name":"Radia"}`))
	req.Header.Set("Idempotency-Key", "create-radia")
	u, err := reboundhttp.DoJSON[user](newClient(t, reboundhttp.Config{Policy: fastPolicy()}), req)
	if err != nil || u.ID != 9 || s.requests.Load() != 2 {
		t.Fatalf("got %+v %v after %d", u, err, s.requests.Load())
	}
	if s.keys[0] != "create-radia" || s.keys[1] != "create-radia" {
		t.Fatalf("keys %v", s.keys)
	}
}

func TestWireRefusedPostIsRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	rec := &reboundtest.Recorder{}
	c := newClient(t, reboundhttp.Config{Policy: rebound.Policy{Observer: rec, Backoff: rebound.Constant(0)}})
	_, err = c.Post("http://"+addr+"/orders", "application/json", strings.NewReader(`{}`))
	var e *rebound.Error
	if !errors.As(err, &e) || e.Attempts != 3 || e.Class != rebound.Connection {
		t.Fatalf("got %v", err)
	}
}

// 1,000 calls that each retry once leave no connection behind: every
// discarded response is drained and closed, so connections are reused.
func TestWireNoLeakedConnections(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	s := newScript(t, func(w http.ResponseWriter, r *http.Request) {
		// The first attempt of every call fails, the second succeeds.
		mu.Lock()
		retried := seen[r.URL.RawQuery]
		seen[r.URL.RawQuery] = true
		mu.Unlock()
		if !retried {
			w.WriteHeader(503)
			io.WriteString(w, strings.Repeat("e", 2048))
			return
		}
		io.WriteString(w, "ok")
	})
	base := &http.Transport{MaxIdleConnsPerHost: 4}
	defer base.CloseIdleConnections()
	c := newClient(t, reboundhttp.Config{Base: base, Policy: fastPolicy()})
	var wg sync.WaitGroup
	var failures atomic.Int64
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 250; i++ {
				resp, err := c.Get(fmt.Sprintf("%s/?call=%d-%d", s.srv.URL, g, i))
				if err != nil {
					failures.Add(1)
					continue
				}
				if b, _ := io.ReadAll(resp.Body); string(b) != "ok" {
					failures.Add(1)
				}
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	if failures.Load() != 0 {
		t.Fatalf("%d calls failed", failures.Load())
	}
	if got := s.requests.Load(); got != 2000 {
		t.Fatalf("%d requests, want 2000", got)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Four callers need at most four connections (plus a little churn).
	if s.total > 8 {
		t.Fatalf("%d connections opened for 2000 requests from 4 callers: responses were not drained", s.total)
	}
}
