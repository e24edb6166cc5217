package idempotency_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound/idempotency"
)

// orders is a handler that counts its runs and answers 201 with a body.
type orders struct {
	runs    atomic.Int64
	status  int
	size    int
	block   chan struct{} // when set, each run waits on it
	started chan struct{}
}

func (o *orders) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := o.runs.Add(1)
	if o.started != nil {
		o.started <- struct{}{}
	}
	if o.block != nil {
		<-o.block
	}
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Order", "order-"+string(rune('0'+n)))
	status := o.status
	if status == 0 {
		status = http.StatusCreated
	}
	w.WriteHeader(status)
	if o.size > 0 {
		io.WriteString(w, strings.Repeat("x", o.size))
		return
	}
	io.WriteString(w, `{"received":`+string(body)+`}`)
}

func newHandler(t *testing.T, cfg idempotency.Config, h http.Handler) http.Handler {
	t.Helper()
	if cfg.Store == nil {
		cfg.Store = &idempotency.MemoryStore{}
	}
	mw, err := idempotency.Middleware(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return mw(h)
}

func send(h http.Handler, method, key, body string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "/orders", strings.NewReader(body))
	if key != "" {
		r.Header.Set("Idempotency-Key", key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func problemOf(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, want application/problem+json (body %s)", ct, w.Body)
	}
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestReplaysACompletedRequest(t *testing.T) {
	o := &orders{}
	h := newHandler(t, idempotency.Config{}, o)
	first := send(h, "POST", `"order-1"`, `{"qty":2}`)
	second := send(h, "POST", `"order-1"`, `{"qty":2}`)
	if o.runs.Load() != 1 {
		t.Fatalf("handler ran %d times, want 1", o.runs.Load())
	}
	if first.Code != 201 || first.Header().Get(idempotency.HeaderReplayed) != "" {
		t.Fatalf("first: %d %v", first.Code, first.Header())
	}
	if second.Code != 201 || second.Body.String() != first.Body.String() || second.Header().Get("X-Order") != "order-1" ||
		second.Header().Get(idempotency.HeaderReplayed) != "true" {
		t.Fatalf("replay: %d %q %v", second.Code, second.Body, second.Header())
	}
}

func TestKeyRules(t *testing.T) {
	o := &orders{}
	required := newHandler(t, idempotency.Config{Required: func(*http.Request) bool { return true }}, o)
	if w := send(required, "POST", "", `{}`); w.Code != 400 || problemOf(t, w)["status"] != float64(400) {
		t.Fatalf("missing required key: %d", w.Code)
	}
	optional := newHandler(t, idempotency.Config{}, o)
	if w := send(optional, "POST", "", `{}`); w.Code != 201 {
		t.Fatalf("missing optional key: %d", w.Code)
	}
	for _, bad := range []string{`""`, strings.Repeat("k", 256), "caf\xc3\xa9", `"a\x"`, `"a"b"`, `"abc`, `abc"`, `"`, `a"b`, `a\b`} {
		if w := send(optional, "POST", bad, `{}`); w.Code != 400 {
			t.Errorf("key %q: %d, want 400", bad, w.Code)
		}
	}
	if w := send(optional, "POST", "a", `{}`, "Idempotency-Key", "b"); w.Code != 400 {
		t.Errorf("two keys: %d, want 400", w.Code)
	}
	// Other methods pass through, key or not.
	before := o.runs.Load()
	send(optional, "GET", "k", "")
	send(optional, "GET", "k", "")
	if o.runs.Load() != before+2 {
		t.Fatal("GET was deduplicated")
	}
	if k, err := idempotency.ParseKey([]string{`"with \"quotes\" and \\"`}, 255); err != nil || k != `with "quotes" and \` {
		t.Fatalf("ParseKey = %q, %v", k, err)
	}
}

func TestSameKeyDifferentRequestIs422(t *testing.T) {
	h := newHandler(t, idempotency.Config{}, &orders{})
	send(h, "POST", "k", `{"qty":2}`)
	w := send(h, "POST", "k", `{"qty":3}`)
	if w.Code != 422 || problemOf(t, w)["title"] == nil {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
}

func TestInFlightIs409(t *testing.T) {
	o := &orders{block: make(chan struct{}), started: make(chan struct{}, 1)}
	h := newHandler(t, idempotency.Config{}, o)
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- send(h, "POST", "k", `{}`) }()
	<-o.started
	w := send(h, "POST", "k", `{}`)
	if w.Code != 409 || w.Header().Get("Retry-After") == "" {
		t.Fatalf("concurrent duplicate: %d", w.Code)
	}
	close(o.block)
	if first := <-done; first.Code != 201 {
		t.Fatalf("first: %d", first.Code)
	}
}

func TestServerErrorsAndLargeResponsesAreNotStored(t *testing.T) {
	o := &orders{status: 503}
	h := newHandler(t, idempotency.Config{}, o)
	send(h, "POST", "k", `{}`)
	send(h, "POST", "k", `{}`)
	if o.runs.Load() != 2 {
		t.Fatalf("a 503 was stored: %d runs", o.runs.Load())
	}
	o2 := &orders{status: 500}
	h = newHandler(t, idempotency.Config{StoreServerErrors: true}, o2)
	send(h, "POST", "k", `{}`)
	if w := send(h, "POST", "k", `{}`); w.Code != 500 || o2.runs.Load() != 1 {
		t.Fatalf("StoreServerErrors: %d after %d runs", w.Code, o2.runs.Load())
	}
	o3 := &orders{size: 2048}
	h = newHandler(t, idempotency.Config{MaxStoredResponse: 1024}, o3)
	first := send(h, "POST", "k", `{}`)
	send(h, "POST", "k", `{}`)
	if first.Body.Len() != 2048 || o3.runs.Load() != 2 {
		t.Fatalf("large response: sent %d bytes, %d runs", first.Body.Len(), o3.runs.Load())
	}
}

func TestKeysAreScopedPerCaller(t *testing.T) {
	o := &orders{}
	h := newHandler(t, idempotency.Config{}, o)
	send(h, "POST", "k", `{}`, "Authorization", "Bearer alice")
	w := send(h, "POST", "k", `{}`, "Authorization", "Bearer bob")
	if o.runs.Load() != 2 || w.Header().Get(idempotency.HeaderReplayed) != "" {
		t.Fatalf("bob got alice's response: %d runs", o.runs.Load())
	}
}

func TestFiftyConcurrentDuplicatesRunOnce(t *testing.T) {
	o := &orders{}
	h := newHandler(t, idempotency.Config{}, o)
	var wg sync.WaitGroup
	codes := make(chan int, 50)
	start := make(chan struct{})
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			codes <- send(h, "POST", "same", `{"qty":1}`).Code
		}()
	}
	close(start)
	wg.Wait()
	close(codes)
	if o.runs.Load() != 1 {
		t.Fatalf("handler ran %d times for 50 duplicates", o.runs.Load())
	}
	for c := range codes {
		if c != 201 && c != 409 {
			t.Fatalf("unexpected status %d", c)
		}
	}
}

func TestLeaseIsRenewedWhileRunningAndExpiresAfterACrash(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &idempotency.MemoryStore{}
		o := &orders{block: make(chan struct{}), started: make(chan struct{}, 1)}
		h := newHandler(t, idempotency.Config{Store: store, Lease: time.Minute}, o)
		done := make(chan int)
		go func() { done <- send(h, "POST", "slow", `{}`).Code }()
		<-o.started
		time.Sleep(3 * time.Minute) // well past one lease: renewed meanwhile
		if w := send(h, "POST", "slow", `{}`); w.Code != 409 {
			t.Fatalf("a running request's key was taken over: %d", w.Code)
		}
		close(o.block)
		if c := <-done; c != 201 {
			t.Fatalf("first: %d", c)
		}

		// A holder that crashed: it claimed and never came back.
		if _, err := store.Claim(context.Background(), ":crashed", idempotency.DefaultFingerprint(httptest.NewRequest("POST", "/orders", nil), []byte(`{}`)), time.Now(), time.Minute, time.Hour); err != nil {
			t.Fatal(err)
		}
		o2 := &orders{}
		h2 := newHandler(t, idempotency.Config{Store: store, Lease: time.Minute}, o2)
		if w := send(h2, "POST", "crashed", `{}`); w.Code != 409 {
			t.Fatalf("before the lease ends: %d", w.Code)
		}
		time.Sleep(time.Minute)
		if w := send(h2, "POST", "crashed", `{}`); w.Code != 201 || o2.runs.Load() != 1 {
			t.Fatalf("after the lease: %d, %d runs", w.Code, o2.runs.Load())
		}
	})
}

type failingStore struct{ idempotency.MemoryStore }

func (*failingStore) Claim(context.Context, string, string, time.Time, time.Duration, time.Duration) (idempotency.Claim, error) {
	return idempotency.Claim{}, errors.New("connection refused")
}

func TestStoreFailureRefusesTheRequest(t *testing.T) {
	o := &orders{}
	h := newHandler(t, idempotency.Config{Store: &failingStore{}}, o)
	w := send(h, "POST", "k", `{}`)
	if w.Code != 503 || o.runs.Load() != 0 {
		t.Fatalf("got %d after %d runs", w.Code, o.runs.Load())
	}
}

func TestBodyTooLarge(t *testing.T) {
	o := &orders{}
	h := newHandler(t, idempotency.Config{MaxRequestBody: 8}, o)
	if w := send(h, "POST", "k", `{"qty":12345}`); w.Code != 413 || o.runs.Load() != 0 {
		t.Fatalf("got %d", w.Code)
	}
}

func TestConfigErrors(t *testing.T) {
	if _, err := idempotency.Middleware(idempotency.Config{}); err == nil {
		t.Fatal("a nil store was accepted")
	}
	if _, err := idempotency.Middleware(idempotency.Config{Store: &idempotency.MemoryStore{}, TTL: -1}); err == nil {
		t.Fatal("a negative TTL was accepted")
	}
}

// panicky panics on its first run, with value, and answers 201 after.
type panicky struct {
	runs  atomic.Int64
	value any
}

func (p *panicky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.runs.Add(1) == 1 {
		w.Header().Set("X-Partial", "yes")
		panic(p.value)
	}
	w.WriteHeader(http.StatusCreated)
}

// sendRecover is send, returning what the handler panicked with.
func sendRecover(h http.Handler, key string) (w *httptest.ResponseRecorder, panicked any) {
	defer func() { panicked = recover() }()
	return send(h, "POST", key, `{}`), nil
}

func TestPanickingHandlerReleasesTheKeyAndPanicsOn(t *testing.T) {
	for _, value := range []any{"boom", http.ErrAbortHandler} {
		t.Run(fmt.Sprint(value), func(t *testing.T) {
			p := &panicky{value: value}
			h := newHandler(t, idempotency.Config{}, p)
			if _, got := sendRecover(h, "k"); got != value {
				t.Fatalf("the middleware recovered %v; want the handler's panic, %v, to go on", got, value)
			}
			w, got := sendRecover(h, "k")
			if got != nil || w.Code != http.StatusCreated || p.runs.Load() != 2 {
				t.Fatalf("the retry got %d (panic %v) after %d runs; want the handler to run again and answer 201", w.Code, got, p.runs.Load())
			}
			if w := send(h, "POST", "k", `{}`); w.Code != http.StatusCreated || w.Header().Get(idempotency.HeaderReplayed) != "true" || p.runs.Load() != 2 {
				t.Fatalf("after the retry: %d, %d runs; want its response replayed", w.Code, p.runs.Load())
			}
		})
	}
}

// Through net/http, the panic still reaches the server (which logs it and
// drops the connection), and the client's retry runs the handler.
func TestPanickingHandlerOverHTTP(t *testing.T) {
	p := &panicky{value: http.ErrAbortHandler}
	srv := httptest.NewServer(newHandler(t, idempotency.Config{}, p))
	defer srv.Close()
	post := func() (*http.Response, error) {
		req, _ := http.NewRequest("POST", srv.URL+"/orders", strings.NewReader(`{}`))
		req.Header.Set("Idempotency-Key", `"order-7"`)
		return srv.Client().Do(req)
	}
	if resp, err := post(); err == nil {
		resp.Body.Close()
		t.Fatalf("the first request got %d; want the connection dropped", resp.StatusCode)
	}
	resp, err := post()
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || p.runs.Load() != 2 {
		t.Fatalf("the retry got %d after %d runs; want 201 from a second run", resp.StatusCode, p.runs.Load())
	}
}
