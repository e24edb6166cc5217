package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rebound-go/rebound/idempotency"
	"github.com/rebound-go/rebound/internal/api"
	"github.com/rebound-go/rebound/internal/daemon"
	"github.com/rebound-go/rebound/outbox"
)

// A caller who hangs up while its enqueue is being written, then retries
// with the same Idempotency-Key, gets the first attempt's message ID, and
// the message is stored once.
func TestHangUpThenRetryEnqueuesOnce(t *testing.T) {
	ctx := context.Background()
	be, err := daemon.Open(ctx, "sqlite", filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	if err := be.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	started, release := make(chan struct{}, 1), make(chan struct{})
	h, err := api.New(api.Config{
		Store: be.Outbox,
		Enqueue: func(ctx context.Context, msgs []outbox.Message) ([]string, error) {
			select {
			case started <- struct{}{}:
				<-release // the first call is slow: its caller hangs up meanwhile
			default:
			}
			return be.Enqueue(ctx, msgs)
		},
		Idempotency: &idempotency.MemoryStore{},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	post := func(ctx context.Context) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/v1/messages", strings.NewReader(`{"destination":"d","payload":1}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", `"k-1"`)
		return http.DefaultClient.Do(req)
	}
	hangUp, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		resp, err := post(hangUp)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-started
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("the first request got an answer; want it cut off")
	}
	close(release)
	// The retry waits out the first request (409 while it is in flight),
	// then gets its stored answer.
	var resp *http.Response
	for range 500 {
		if resp, err = post(ctx); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusConflict {
			break
		}
		resp.Body.Close()
		time.Sleep(10 * time.Millisecond)
	}
	defer resp.Body.Close()
	var got api.EnqueueResponse
	if resp.StatusCode != http.StatusAccepted || json.NewDecoder(resp.Body).Decode(&got) != nil || resp.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry: %d (replayed %q) %+v; want the first attempt's stored 202", resp.StatusCode, resp.Header.Get("Idempotent-Replayed"), got)
	}
	recs, _, err := be.Outbox.List(ctx, outbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].ID != got.ID {
		t.Fatalf("%d messages stored (%v); want exactly the one answered, %s", len(recs), recs, got.ID)
	}
}

// The enqueue commits but its answer is lost (a relay that dies between
// writing the message and recording the key's answer, or a commit whose
// acknowledgement never came): the key is left unanswered, and a retry
// with it must find the message written rather than write it again.
func TestRetryAfterLostAnswerEnqueuesOnce(t *testing.T) {
	ctx := context.Background()
	be, err := daemon.Open(ctx, "sqlite", filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	if err := be.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	lose := true
	h, err := api.New(api.Config{
		Store: be.Outbox,
		Enqueue: func(ctx context.Context, msgs []outbox.Message) ([]string, error) {
			ids, err := daemon.EnqueueFor(be)(ctx, msgs)
			if lose && err == nil {
				lose = false
				return nil, context.DeadlineExceeded // written, but the answer is lost
			}
			return ids, err
		},
		Idempotency: &idempotency.MemoryStore{},
	})
	if err != nil {
		t.Fatal(err)
	}
	post := func(body string) (*httptest.ResponseRecorder, api.EnqueueResponse) {
		req := httptest.NewRequest("POST", "/v1/messages", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", `"order-9"`)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		var got api.EnqueueResponse
		_ = json.Unmarshal(w.Body.Bytes(), &got)
		return w, got
	}
	body := `{"destination":"d","payload":{"order":9}}`
	if w, _ := post(body); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("first: %d; want 503 (outcome unknown)", w.Code)
	}
	w, got := post(body)
	if w.Code != http.StatusAccepted || got.ID == "" || w.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry: %d %s; want 202 for the message already written", w.Code, w.Body.String())
	}
	recs, _, err := be.Outbox.List(ctx, outbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].ID != got.ID {
		t.Fatalf("%d messages stored; want one, %s", len(recs), got.ID)
	}
	// The same key with another request is refused.
	if w, _ := post(`{"destination":"d","payload":{"order":10}}`); w.Code != http.StatusUnprocessableEntity {
		t.Fatalf("same key, other body: %d; want 422", w.Code)
	}
}

// A message its destination cannot take is refused before it is stored,
// 422 naming the JSON field.
func TestCheckRefusesBeforeStoring(t *testing.T) {
	ctx := context.Background()
	be, err := daemon.Open(ctx, "sqlite", filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	var stored int
	h, err := api.New(api.Config{
		Store: be.Outbox,
		Enqueue: func(ctx context.Context, msgs []outbox.Message) ([]string, error) {
			stored += len(msgs)
			return []string{"id-1"}, nil
		},
		Check: func(m outbox.Message) error {
			if m.OrderingKey == "" {
				return &outbox.FieldError{Field: "OrderingKey", Expected: "a subject token"}
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		body   string
		status int
	}{
		{`{"destination":"d","payload":1}`, http.StatusUnprocessableEntity},
		{`{"destination":"d","ordering_key":"k","payload":1}`, http.StatusAccepted},
	} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/v1/messages", strings.NewReader(tc.body))
		r.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(w, r)
		if w.Code != tc.status {
			t.Fatalf("%s: %d %s; want %d", tc.body, w.Code, w.Body, tc.status)
		}
		if tc.status == http.StatusUnprocessableEntity && !strings.Contains(w.Body.String(), `"field":"ordering_key"`) {
			t.Errorf("422 does not name the field: %s", w.Body)
		}
	}
	if stored != 1 {
		t.Fatalf("%d messages stored, want 1", stored)
	}
}

// A POST with a W3C traceparent stores it with the message, for the
// relay's delivery to continue; an invalid one is ignored, not refused.
func TestEnqueueTakesTheCallersTraceContext(t *testing.T) {
	var got []outbox.Message
	be, err := daemon.Open(context.Background(), "sqlite", filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	h, err := api.New(api.Config{
		Store: be.Outbox,
		Enqueue: func(ctx context.Context, msgs []outbox.Message) ([]string, error) {
			got = append(got, msgs...)
			return []string{"id"}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, c := range []struct{ traceparent, tracestate, wantParent, wantState string }{
		{parent, "rojo=00f067aa0ba902b7", parent, "rojo=00f067aa0ba902b7"},
		{"", "", "", ""},
		{"00-not-a-trace-01", "rojo=1", "", ""},
	} {
		got = nil
		req := httptest.NewRequest("POST", "/v1/messages", strings.NewReader(`{"destination":"d","payload":1}`))
		req.Header.Set("Content-Type", "application/json")
		if c.traceparent != "" {
			req.Header.Set("traceparent", c.traceparent)
			req.Header.Set("tracestate", c.tracestate)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusAccepted || len(got) != 1 {
			t.Fatalf("traceparent %q: %d %s", c.traceparent, w.Code, w.Body)
		}
		if got[0].TraceParent != c.wantParent || got[0].TraceState != c.wantState {
			t.Errorf("traceparent %q: stored %q, %q; want %q, %q", c.traceparent, got[0].TraceParent, got[0].TraceState, c.wantParent, c.wantState)
		}
	}
}
