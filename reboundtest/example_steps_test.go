package reboundtest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundhttp"
	"github.com/rebound-go/rebound/reboundtest"
)

// hello answers every request 200 "hello".
var hello = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, "hello")
})

// A 503 or 429 whose Retry-After says when to come back. Retry-After: 0
// means at once: the client retries and succeeds. A wait above
// Policy.MaxRetryAfter (60 s by default) is not worth waiting for: the
// client gives up at once and returns the response.
func ExampleRetryAfter() {
	s := reboundtest.NewScript(
		reboundtest.RetryAfter(http.StatusServiceUnavailable, 0), reboundtest.Pass(),
		reboundtest.RetryAfter(http.StatusTooManyRequests, time.Hour))
	srv := httptest.NewServer(s.Handler(hello))
	defer srv.Close()
	rec := &reboundtest.Recorder{}
	client, _ := reboundhttp.NewClient(reboundhttp.Config{
		Policy: rebound.Policy{Backoff: rebound.Constant(0), Observer: rec},
	})

	for range 2 {
		rec.Clear()
		resp, err := client.Get(srv.URL)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		outcome := "retried"
		if last, _ := rec.Last(); last.Reason != rebound.ReasonNone {
			outcome = "gave up: " + last.Reason.String()
		}
		fmt.Println(resp.Status, "- attempts:", rec.Attempts(""), "-", outcome)
	}
	fmt.Println("requests:", s.Faults())
	// Output:
	// 200 OK - attempts: 2 - retried
	// 429 Too Many Requests - attempts: 1 - gave up: wait_too_long
	// requests: [status 503 retry-after 0 pass status 429 retry-after 3600]
}

// Retry-After as an HTTP-date, read against the response's Date header: a
// date already reached means at once, a date an hour away is above
// Policy.MaxRetryAfter and the client returns the response.
func ExampleRetryAt() {
	now := time.Now()
	s := reboundtest.NewScript(
		reboundtest.RetryAt(http.StatusServiceUnavailable, now), reboundtest.Pass(),
		reboundtest.RetryAt(http.StatusServiceUnavailable, now.Add(time.Hour)))
	srv := httptest.NewServer(s.Handler(hello))
	defer srv.Close()
	rec := &reboundtest.Recorder{}
	client, _ := reboundhttp.NewClient(reboundhttp.Config{
		Policy: rebound.Policy{Backoff: rebound.Constant(0), Observer: rec},
	})

	for range 2 {
		rec.Clear()
		resp, err := client.Get(srv.URL)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		fmt.Println(resp.Status, "- attempts:", rec.Attempts(""))
	}
	// Output:
	// 200 OK - attempts: 2
	// 503 Service Unavailable - attempts: 1
}

// The connection is reset before any response: the server may or may not
// have acted. A POST without an Idempotency-Key is not retried, and the
// caller gets the error; a GET is retried.
func ExampleReset() {
	s := reboundtest.NewScript(reboundtest.Reset(), reboundtest.Reset(), reboundtest.Pass())
	srv := httptest.NewServer(s.Handler(hello))
	defer srv.Close()
	rec := &reboundtest.Recorder{}
	client, _ := reboundhttp.NewClient(reboundhttp.Config{
		Policy: rebound.Policy{Backoff: rebound.Constant(0), Observer: rec},
	})

	_, err := client.Post(srv.URL, "text/plain", strings.NewReader("charge 30"))
	var re *rebound.Error
	if errors.As(err, &re) {
		fmt.Println("POST:", re.Class, re.Reason, "after", re.Attempts, "attempt")
	}
	rec.Clear()
	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println("GET:", resp.Status, "after", rec.Attempts(""), "attempts")
	fmt.Println("requests:", s.Faults())
	// Output:
	// POST: connection permanent after 1 attempt
	// GET: 200 OK after 2 attempts
	// requests: [reset reset pass]
}

// The first request never gets an answer. The client's attempt timeout
// (here 50 ms) ends that attempt, as a Connection failure, and the next
// one gets through.
func ExampleHang() {
	s := reboundtest.NewScript(reboundtest.Hang(), reboundtest.Pass())
	srv := httptest.NewServer(s.Handler(hello))
	defer srv.Close()
	rec := &reboundtest.Recorder{}
	client, _ := reboundhttp.NewClient(reboundhttp.Config{
		AttemptTimeout: 50 * time.Millisecond,
		Policy:         rebound.Policy{Backoff: rebound.Constant(0), Observer: rec},
	})

	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.Status, string(body), "- retried for:", rec.RetryReasons(), "- requests:", s.Faults())
	// Output:
	// 200 OK hello - retried for: [connection] - requests: [hang pass]
}

// The response's body is cut after 8 of its 14 bytes. A plain client gets
// the headers, then io.ErrUnexpectedEOF from the body. reboundhttp.GetJSON
// reads the body inside each attempt, so the cut body is retried.
func ExampleTruncate() {
	user := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"name":"Ada"}`)
	})
	s := reboundtest.NewScript(reboundtest.Truncate(8), reboundtest.Truncate(8), reboundtest.Pass())
	srv := httptest.NewServer(s.Handler(user))
	defer srv.Close()

	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Printf("plain client: %s, %q, %v\n", resp.Status, body, err)

	client, _ := reboundhttp.NewClient(reboundhttp.Config{Policy: rebound.Policy{Backoff: rebound.Constant(0)}})
	u, err := reboundhttp.GetJSON[struct{ Name string }](context.Background(), client, srv.URL)
	fmt.Println("GetJSON:", u.Name, err)
	fmt.Println("requests:", s.Faults())
	// Output:
	// plain client: 200 OK, "{\"name\":", unexpected EOF
	// GetJSON: Ada <nil>
	// requests: [truncate 8 truncate 8 pass]
}

// The body trickles in, 4 bytes every 5 ms: slow, but whole.
func ExampleSlowBody() {
	s := reboundtest.NewScript(reboundtest.SlowBody(4, 5*time.Millisecond))
	srv := httptest.NewServer(s.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "sixteen bytes!!!")
	})))
	defer srv.Close()

	client, _ := reboundhttp.NewClient(reboundhttp.Config{})
	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.Status, len(body), "bytes,", err)
	// Output:
	// 200 OK 16 bytes, <nil>
}

// The script answers by itself, with any status and body. A 500 is
// retried; a 404 is not, and the client returns it. As the last step of
// the script, Status answers every request after it.
func ExampleStatus() {
	s := reboundtest.NewScript(
		reboundtest.Status(http.StatusInternalServerError, "oops"),
		reboundtest.Status(http.StatusNotFound, "no such user"))
	srv := httptest.NewServer(s.Handler(hello))
	defer srv.Close()

	client, _ := reboundhttp.NewClient(reboundhttp.Config{Policy: rebound.Policy{Backoff: rebound.Constant(0)}})
	resp, err := client.Get(srv.URL + "/users/7")
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.Status, string(body))
	fmt.Println("requests:", s.Faults())
	// Output:
	// 404 Not Found no such user
	// requests: [status 500 status 404]
}

// Repeat applies a step to several requests in a row: two resets, then
// the requests pass. The client's third attempt, its last by default,
// gets through.
func ExampleRepeat() {
	s := reboundtest.NewScript(reboundtest.Repeat(2, reboundtest.Reset()), reboundtest.Pass())
	srv := httptest.NewServer(s.Handler(hello))
	defer srv.Close()

	client, _ := reboundhttp.NewClient(reboundhttp.Config{Policy: rebound.Policy{Backoff: rebound.Constant(0)}})
	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	fmt.Println("requests:", s.Faults(), "per step:", s.StepCounts())
	// Output:
	// 200 OK
	// requests: [reset reset pass] per step: [2 1]
}

// The script on the client's side, in memory: under reboundhttp's retries,
// as Config.Base, in front of a RoundTripper that needs no socket (here a
// handler served in process). The reset is the error net/http returns for
// a connection reset by the peer.
func ExampleScript_RoundTripper() {
	s := reboundtest.NewScript(reboundtest.Reset(), reboundtest.Fail(1, http.StatusBadGateway), reboundtest.Pass())
	rec := &reboundtest.Recorder{}
	client, _ := reboundhttp.NewClient(reboundhttp.Config{
		Base:   s.RoundTripper(reboundtest.HandlerTransport{Handler: hello}),
		Policy: rebound.Policy{Backoff: rebound.Constant(0), Observer: rec},
	})

	resp, err := client.Get("http://api.example.test/users/7")
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.Status, string(body))
	fmt.Println("retried for:", rec.RetryReasons())
	// Output:
	// 200 OK hello
	// retried for: [connection response]
}

// What the script saw, request by request. A POST with the Idempotency-Key
// reboundhttp generates is retried after a reset, and both attempts carry
// the same key: the server can tell the second is a retry.
func ExampleScript_Requests() {
	s := reboundtest.NewScript(reboundtest.Reset(), reboundtest.Pass())
	srv := httptest.NewServer(s.Handler(hello))
	defer srv.Close()
	client, _ := reboundhttp.NewClient(reboundhttp.Config{
		IdempotencyKeys: true,
		Policy:          rebound.Policy{Backoff: rebound.Constant(0)},
	})

	resp, err := client.Post(srv.URL+"/orders", "application/json", strings.NewReader(`{"sku":"X1"}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	reqs := s.Requests()
	for _, r := range reqs {
		fmt.Println(r.N, r.Step, r.Fault, r.Method, r.Path)
	}
	fmt.Println("same key:", reqs[0].IdempotencyKey != "" && reqs[0].IdempotencyKey == reqs[1].IdempotencyKey)
	// Output:
	// 1 0 reset POST /orders
	// 2 1 pass POST /orders
	// same key: true
}
