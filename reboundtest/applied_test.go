package reboundtest_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/idempotency"
	"github.com/rebound-go/rebound/reboundhttp"
	"github.com/rebound-go/rebound/reboundtest"
)

// orders is a handler whose effect is creating an order.
type orders struct{ created atomic.Int64 }

func (o *orders) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.created.Add(1)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	w.Write([]byte(`{"order":1}`))
}

func post(c *http.Client, url string) (*http.Response, error) {
	return c.Post(url+"/orders", "application/json", strings.NewReader(`{"sku":"X1","qty":2}`))
}

// withKeys puts the idempotency middleware in front of h.
func withKeys(t *testing.T, h http.Handler) http.Handler {
	t.Helper()
	mw, err := idempotency.Middleware(idempotency.Config{Store: &idempotency.MemoryStore{}})
	if err != nil {
		t.Fatal(err)
	}
	return mw(h)
}

// Without an Idempotency-Key, a POST whose response was lost fails: the
// order was created, reboundhttp rightly does not retry (the request may
// have been processed), and a caller who tries again creates a second.
func TestAppliedButLostWithoutAKey(t *testing.T) {
	o := &orders{}
	s := reboundtest.NewScript(reboundtest.AppliedButLost(), reboundtest.Pass())
	srv := httptest.NewServer(s.Handler(o))
	defer srv.Close()
	rec := &reboundtest.Recorder{}
	c := newClient(t, reboundhttp.Config{Base: &http.Transport{}, Policy: fast(rec)})

	_, err := post(c, srv.URL)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("err = %v, want a reset", err)
	}
	rec.ExpectAttempts(t, 1)
	rec.ExpectResult(t, rebound.ResultFailure, rebound.ReasonPermanent)
	if n := o.created.Load(); n != 1 {
		t.Fatalf("%d orders after the lost response, want 1: the effect happened", n)
	}

	// The caller cannot tell this from a Reset, and tries again.
	resp, err := post(c, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if n := o.created.Load(); n != 2 {
		t.Fatalf("%d orders, want 2: without a key, trying again does it twice", n)
	}
}

// With reboundhttp's generated keys and the idempotency middleware in
// front of the handler, the retry gets the stored response: one order,
// and the caller sees its 201.
func TestAppliedButLostWithAKey(t *testing.T) {
	for _, sd := range sides {
		t.Run(sd.name, func(t *testing.T) {
			o := &orders{}
			s := reboundtest.NewScript(reboundtest.AppliedButLost(), reboundtest.Pass())
			rec := &reboundtest.Recorder{}
			c, url := sd.setup(t, s, withKeys(t, o), reboundhttp.Config{Policy: fast(rec), IdempotencyKeys: true})
			resp, err := post(c, url)
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(t, resp)
			if resp.StatusCode != 201 || body != `{"order":1}` || resp.Header.Get(idempotency.HeaderReplayed) != "true" {
				t.Fatalf("got %d %q replayed=%q, want the stored 201", resp.StatusCode, body, resp.Header.Get(idempotency.HeaderReplayed))
			}
			if n := o.created.Load(); n != 1 {
				t.Fatalf("%d orders, want 1", n)
			}
			rec.ExpectRetryReasons(t, "connection")
			rec.ExpectResult(t, rebound.ResultSuccess, rebound.ReasonNone)
			reqs := s.Requests()
			if got := s.Faults(); !slices.Equal(got, []string{"applied-but-lost", "pass"}) || reqs[0].IdempotencyKey == "" || reqs[0].IdempotencyKey != reqs[1].IdempotencyKey {
				t.Fatalf("requests %+v, want a lost one and a pass with the same key", reqs)
			}
		})
	}
}

// A key the server ignores protects nothing: reboundhttp retries (the
// request carries a key), and the handler creates a second order.
func TestAppliedButLostWithAKeyTheServerIgnores(t *testing.T) {
	o := &orders{}
	s := reboundtest.NewScript(reboundtest.AppliedButLost(), reboundtest.Pass())
	c := newClient(t, reboundhttp.Config{Base: s.RoundTripper(reboundtest.HandlerTransport{Handler: o}), Policy: fast(nil), IdempotencyKeys: true})
	resp, err := post(c, "http://api.test")
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if n := o.created.Load(); n != 2 {
		t.Fatalf("%d orders, want 2", n)
	}
}
