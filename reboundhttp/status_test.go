package reboundhttp_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundhttp"
)

// The give-up error names its endpoint even with nothing that needs the
// label (no observer, breaker or budget), and the URL once.
func TestGiveUpErrorNamesItsEndpointAndTheURLOnce(t *testing.T) {
	const url = "http://api.test/v1/user/7"
	f := &fakeRT{script: []func(*http.Request) (*http.Response, error){fail(errReset)}}
	c := newClient(t, reboundhttp.Config{Base: f, Policy: rebound.Policy{Backoff: rebound.Constant(0)}})
	_, err := c.Get(url + "?token=secret")
	var e *rebound.Error
	if !errors.As(err, &e) || e.Endpoint != "GET api.test" {
		t.Fatalf("got %v, want a *rebound.Error for endpoint %q", err, "GET api.test")
	}
	if n := strings.Count(err.Error(), url); n != 1 {
		t.Errorf("%q names the URL %d times, want once", err, n)
	}

	// A JSON call that fails at once: "failed", the status, the URL once.
	f = &fakeRT{script: []func(*http.Request) (*http.Response, error){status(404, `{"error":"no such user"}`)}}
	c = newClient(t, reboundhttp.Config{Base: f})
	_, err = reboundhttp.GetJSON[user](context.Background(), c, url+"?token=secret")
	if !errors.As(err, &e) || e.Endpoint != "GET api.test" || e.Reason != rebound.ReasonPermanent {
		t.Fatalf("got %v, want a permanent *rebound.Error for endpoint %q", err, "GET api.test")
	}
	want := `rebound: GET api.test: failed (permanent) after 1 attempt: GET http://api.test/v1/user/7: status 404, body starts "{\"error\":\"no such user\"}"`
	if err.Error() != want {
		t.Errorf("error text\n got %q\nwant %q", err, want)
	}

	// A connection failure of a JSON call, through http.Client: the URL
	// once, without its query.
	f = &fakeRT{script: []func(*http.Request) (*http.Response, error){fail(errRefused)}}
	c = newClient(t, reboundhttp.Config{Base: f, Policy: rebound.Policy{MaxAttempts: 1}})
	_, err = reboundhttp.GetJSON[user](context.Background(), c, url+"?token=secret")
	if n := strings.Count(err.Error(), url); n != 1 || strings.Contains(err.Error(), "secret") {
		t.Errorf("%q names the URL %d times, want once without the query", err, n)
	}
}

// StatusError.Body keeps up to 4 KiB, enough to decode an API's JSON error;
// its text shows 64 bytes.
func TestStatusErrorKeepsTheBodyOfAJSONError(t *testing.T) {
	type problem struct {
		Title  string `json:"title"`
		Detail string `json:"detail"`
	}
	doc, _ := json.Marshal(problem{Title: "Validation failed", Detail: strings.Repeat("field qty must be positive; ", 40)})
	f := &fakeRT{script: []func(*http.Request) (*http.Response, error){status(422, string(doc), "Content-Type", "application/problem+json")}}
	c := newClient(t, reboundhttp.Config{Base: f})
	_, err := reboundhttp.GetJSON[user](context.Background(), c, "http://api.test/orders")
	var se *reboundhttp.StatusError
	if !errors.As(err, &se) || len(doc) < 1000 {
		t.Fatalf("got %v", err)
	}
	var p problem
	if err := json.Unmarshal([]byte(se.Body), &p); err != nil || p.Title != "Validation failed" {
		t.Fatalf("decoding StatusError.Body (%d of %d bytes): %v", len(se.Body), len(doc), err)
	}
	if !strings.HasSuffix(se.Error(), ", body starts "+strconv.Quote(string(doc[:64]))) {
		t.Fatalf("error text %q, want the first 64 bytes of the body", se.Error())
	}

	// A larger body is cut at MaxStatusErrorBody.
	f = &fakeRT{script: []func(*http.Request) (*http.Response, error){status(400, strings.Repeat("x", 10<<10))}}
	c = newClient(t, reboundhttp.Config{Base: f})
	_, err = reboundhttp.GetJSON[user](context.Background(), c, "http://api.test/orders")
	if !errors.As(err, &se) || len(se.Body) != reboundhttp.MaxStatusErrorBody || reboundhttp.MaxStatusErrorBody != 4<<10 {
		t.Fatalf("got a %d-byte Body, want %d", len(se.Body), 4<<10)
	}
}

// A discarded response is read at most 4 KiB (and one byte, to see its end)
// and closed, however long its body.
func TestDiscardedResponsesAreReadABoundedAmount(t *testing.T) {
	var bodies []*endless
	var mu sync.Mutex
	huge := func(*http.Request) (*http.Response, error) {
		b := &endless{}
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
		return &http.Response{StatusCode: 503, Status: "503 Service Unavailable", Header: http.Header{}, Body: b, ContentLength: -1}, nil
	}
	f := &fakeRT{script: []func(*http.Request) (*http.Response, error){huge, huge, status(200, "ok")}}
	c := newClient(t, reboundhttp.Config{Base: f, Policy: rebound.Policy{Backoff: rebound.Constant(0)}})
	resp, err := c.Get("http://api.test/x")
	if err != nil || readAll(t, resp) != "ok" {
		t.Fatalf("got %v %v", resp, err)
	}
	for i, b := range bodies {
		if b.read > 4<<10+1 || !b.closed {
			t.Errorf("discarded body %d: %d bytes read, closed %v; want at most 4 KiB + 1, closed", i+1, b.read, b.closed)
		}
	}
}

// endless is a response body that never ends.
type endless struct {
	read   int
	closed bool
}

func (e *endless) Read(p []byte) (int, error) {
	if e.closed {
		return 0, errors.New("read on closed body")
	}
	for i := range p {
		p[i] = 'e'
	}
	e.read += len(p)
	return len(p), nil
}

func (e *endless) Close() error { e.closed = true; return nil }

var _ io.ReadCloser = (*endless)(nil)
