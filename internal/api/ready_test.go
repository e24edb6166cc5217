package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rebound-go/rebound/internal/api"
	"github.com/rebound-go/rebound/internal/auth"
	"github.com/rebound-go/rebound/outbox"
)

// While NotReady says the store cannot be used, every route answers an
// authenticated caller 503 with Retry-After and a problem+json body, and
// never touches the store; an unauthenticated caller still gets 401. Once
// ready, requests reach the store.
func TestNotReadyAnswers503WithRetryAfter(t *testing.T) {
	tokens := &auth.Tokens{}
	if err := tokens.Add("admin-token-0123456789", auth.Admin); err != nil {
		t.Fatal(err)
	}
	var wait atomic.Int64
	wait.Store(int64(2300 * time.Millisecond))
	var enqueued atomic.Int32
	h, err := api.New(api.Config{
		Store: failingStore{},
		Enqueue: func(ctx context.Context, msgs []outbox.Message) ([]string, error) {
			enqueued.Add(1)
			return []string{"m1"}, nil
		},
		Tokens:   tokens,
		NotReady: func() time.Duration { return time.Duration(wait.Load()) },
	})
	if err != nil {
		t.Fatal(err)
	}
	serve := func(method, path, token, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	const admin = "admin-token-0123456789"
	msg := `{"destination":"d","payload":1}`
	if w := serve("POST", "/v1/messages", "", msg); w.Code != http.StatusUnauthorized {
		t.Errorf("no token while not ready: %d; want 401", w.Code)
	}
	for _, r := range []struct{ method, path, body string }{
		{"POST", "/v1/messages", msg},
		{"GET", "/v1/messages", ""},
		{"GET", "/v1/messages/m1", ""},
		{"POST", "/v1/messages/m1/replay", ""},
		{"POST", "/v1/replay", `{"all":true}`},
		{"DELETE", "/v1/messages/m1", ""},
	} {
		w := serve(r.method, r.path, admin, r.body)
		var p api.Problem
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
			t.Errorf("%s %s: body %q: %v", r.method, r.path, w.Body.String(), err)
		}
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "3" ||
			w.Header().Get("Content-Type") != "application/problem+json" || !strings.HasSuffix(p.Type, "store-unavailable") {
			t.Errorf("%s %s while not ready: %d, Retry-After %q, %s %+v; want 503, 3 and a store-unavailable problem",
				r.method, r.path, w.Code, w.Header().Get("Retry-After"), w.Header().Get("Content-Type"), p)
		}
	}
	if n := enqueued.Load(); n != 0 {
		t.Fatalf("%d enqueues while not ready; want none", n)
	}
	wait.Store(0)
	if w := serve("POST", "/v1/messages", admin, msg); w.Code != http.StatusAccepted || enqueued.Load() != 1 {
		t.Fatalf("once ready: %d %s; want 202", w.Code, w.Body.String())
	}
}

func TestUnavailableRoundsRetryAfterUp(t *testing.T) {
	for _, c := range []struct {
		wait time.Duration
		want string
	}{{time.Nanosecond, "1"}, {time.Second, "1"}, {1001 * time.Millisecond, "2"}, {5 * time.Second, "5"}, {-time.Second, "1"}} {
		w := httptest.NewRecorder()
		api.Unavailable(w, c.wait)
		if got := w.Header().Get("Retry-After"); got != c.want || w.Code != http.StatusServiceUnavailable {
			t.Errorf("Unavailable(%v): %d, Retry-After %q; want 503, %q", c.wait, w.Code, got, c.want)
		}
	}
}

// failingStore is an outbox.Store whose every method fails the test's
// expectations by panicking: the routes under test must not reach it.
type failingStore struct{ outbox.Store }
