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
		Idempotency: be.Idempotency,
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
