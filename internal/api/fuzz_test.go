package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rebound-go/rebound/internal/api"
	"github.com/rebound-go/rebound/internal/daemon"
)

// FuzzEnqueue sends arbitrary bodies to POST /v1/messages over a real
// SQLite store. The handler never panics nor answers 5xx; an error is a
// problem+json 4xx; a 202 means the message is stored with the payload
// sent.
func FuzzEnqueue(f *testing.F) {
	for _, s := range []string{
		`{"destination":"orders","payload":{"n":1}}`,
		`{"destination":"orders","payload_base64":"aGVsbG8="}`,
		`{"destination":"orders","payload":1,"headers":{"X-A":"b"},"ordering_key":"k","id":"abc"}`,
		`{"destination":"orders","payload":[1,2],"not_before":"2026-01-02T03:04:05Z"}`,
		`{"destination":"nowhere","payload":1}`,
		`{"destination":"orders","payload":1,"extra":true}`,
		`{"destination":"orders","payload":1} x`,
		`{"destination":"orders","payload":"\u0000"}`,
		`[]`, `null`, ``, `{`,
	} {
		f.Add(s)
	}
	ctx := context.Background()
	be, err := daemon.Open(ctx, "sqlite", filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(be.Close)
	if err := be.Migrate(ctx); err != nil {
		f.Fatal(err)
	}
	h, err := api.New(api.Config{
		Store:        be.Outbox,
		Enqueue:      daemon.EnqueueFor(be),
		Destination:  func(d string) bool { return d == "orders" },
		MaxBodyBytes: 64 << 10,
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/v1/messages", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch {
		case w.Code == http.StatusAccepted:
			var resp api.EnqueueResponse
			if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || resp.ID == "" {
				t.Fatalf("202 with body %q", w.Body.String())
			}
			rec, err := be.Outbox.Get(ctx, resp.ID)
			if err != nil {
				t.Fatalf("202 for %s, but Get: %v", resp.ID, err)
			}
			var sent api.EnqueueRequest
			if err := json.Unmarshal([]byte(body), &sent); err != nil {
				t.Fatalf("202 for a body that does not decode: %v", err)
			}
			if len(sent.Payload) > 0 && !bytes.Equal(rec.Payload, sent.Payload) {
				t.Fatalf("stored payload %q; sent %q", rec.Payload, sent.Payload)
			}
			if rec.Destination != "orders" {
				t.Fatalf("stored destination %q", rec.Destination)
			}
		case w.Code >= 400 && w.Code < 500:
			var p api.Problem
			if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("%d with Content-Type %q", w.Code, ct)
			}
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Status != w.Code || p.Title == "" {
				t.Fatalf("%d with problem %q", w.Code, w.Body.String())
			}
		default:
			t.Fatalf("status %d for body %q: %s", w.Code, body, w.Body.String())
		}
	})
}
