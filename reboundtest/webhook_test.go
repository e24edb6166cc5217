package reboundtest_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/internal/sqlitetest"
	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/outboxtest"
	"github.com/rebound-go/rebound/reboundtest"
	"github.com/rebound-go/rebound/webhook"
)

// A fixed secret, so that failures reproduce.
const hookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// signedRequest returns a delivery of body as message id, signed with
// secret now.
func signedRequest(t *testing.T, url, secret, id, body string) *http.Request {
	t.Helper()
	key, err := webhook.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	req.Header.Set(webhook.HeaderID, id)
	req.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(webhook.HeaderSignature, webhook.Sign([][]byte{key}, id, now, []byte(body)))
	return req
}

// deliver sends req to the server and returns the status.
func deliver(t *testing.T, req *http.Request) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func startReceiver(t *testing.T, r *reboundtest.WebhookReceiver) *httptest.Server {
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv
}

// Signed deliveries are answered 204, counted per message ID and kept.
func TestWebhookReceiverAcceptsSigned(t *testing.T) {
	r := reboundtest.NewWebhookReceiver(hookSecret)
	srv := startReceiver(t, r)
	for _, id := range []string{"msg_1", "msg_2"} {
		if got := deliver(t, signedRequest(t, srv.URL, hookSecret, id, `{"id":"`+id+`"}`)); got != http.StatusNoContent {
			t.Errorf("%s: status %d, want 204", id, got)
		}
	}
	if r.Count("msg_1") != 1 || r.Count("msg_2") != 1 || r.IDs() != 2 || r.Invalid() != 0 || len(r.Duplicates()) != 0 {
		t.Errorf("counts %d, %d; %d IDs, %d invalid, duplicates %v; want 1, 1; 2, 0, none",
			r.Count("msg_1"), r.Count("msg_2"), r.IDs(), r.Invalid(), r.Duplicates())
	}
	ds := r.Deliveries()
	if len(ds) != 2 || string(ds[0].Body) != `{"id":"msg_1"}` || ds[1].ID != "msg_2" || ds[1].Nth != 1 || !ds[1].Accepted() || ds[1].Err != nil {
		t.Errorf("deliveries %+v", ds)
	}
}

// A delivery signed with another secret is answered 401 and counted
// invalid, not delivered; one without the headers is answered 400. Any of
// several secrets verifies, as during a key rotation.
func TestWebhookReceiverRefusesBadSignature(t *testing.T) {
	r := reboundtest.NewWebhookReceiver(webhook.NewSecret(), hookSecret)
	srv := startReceiver(t, r)
	if got := deliver(t, signedRequest(t, srv.URL, webhook.NewSecret(), "msg_1", `{}`)); got != http.StatusUnauthorized {
		t.Errorf("wrong secret: status %d, want 401", got)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader([]byte(`{}`)))
	if got := deliver(t, req); got != http.StatusBadRequest {
		t.Errorf("unsigned: status %d, want 400", got)
	}
	if got := deliver(t, signedRequest(t, srv.URL, hookSecret, "msg_1", `{}`)); got != http.StatusNoContent {
		t.Errorf("the second secret: status %d, want 204", got)
	}
	if r.Invalid() != 2 || r.Count("msg_1") != 1 || r.IDs() != 1 {
		t.Errorf("%d invalid, %d deliveries of msg_1, %d IDs; want 2, 1, 1", r.Invalid(), r.Count("msg_1"), r.IDs())
	}
	ds := r.Deliveries()
	if len(ds) != 3 || !errors.Is(ds[0].Err, webhook.ErrInvalidSignature) || !errors.Is(ds[1].Err, webhook.ErrMissingHeaders) || ds[0].Nth != 0 || ds[0].Accepted() {
		t.Errorf("deliveries %+v", ds)
	}
}

// The same message accepted twice is a duplicate; a retry after a refusal
// is not.
func TestWebhookReceiverDuplicates(t *testing.T) {
	r := reboundtest.NewWebhookReceiver(hookSecret)
	r.Fail = func(d reboundtest.WebhookDelivery) int {
		if d.ID == "msg_retried" && d.Nth == 1 {
			return http.StatusServiceUnavailable
		}
		return 0
	}
	srv := startReceiver(t, r)
	for _, step := range []struct {
		id   string
		want int
	}{
		{"msg_dup", 204}, {"msg_dup", 204}, {"msg_retried", 503}, {"msg_retried", 204},
	} {
		if got := deliver(t, signedRequest(t, srv.URL, hookSecret, step.id, `{}`)); got != step.want {
			t.Errorf("%s: status %d, want %d", step.id, got, step.want)
		}
	}
	if d := r.Duplicates(); len(d) != 1 || d["msg_dup"] != 2 {
		t.Errorf("duplicates %v, want msg_dup twice", d)
	}
	if r.Count("msg_dup") != 2 || r.Count("msg_retried") != 2 || r.IDs() != 2 {
		t.Errorf("counts %d, %d, %d IDs; want 2, 2, 2", r.Count("msg_dup"), r.Count("msg_retried"), r.IDs())
	}
	if ds := r.Deliveries(); ds[1].Nth != 2 || ds[2].Status != 503 || ds[2].Accepted() {
		t.Errorf("deliveries %+v", ds)
	}
}

// WebhookFailFirst refuses the first deliveries of each message.
func TestWebhookFailFirst(t *testing.T) {
	fail := reboundtest.WebhookFailFirst(2, http.StatusTooManyRequests)
	for nth, want := range []int{1: 429, 2: 429, 3: 0, 4: 0} {
		if nth > 0 && fail(reboundtest.WebhookDelivery{Nth: nth}) != want {
			t.Errorf("delivery %d: %d, want %d", nth, fail(reboundtest.WebhookDelivery{Nth: nth}), want)
		}
	}
}

// Wait returns once enough distinct messages were accepted, and with the
// context's error when they were not. The receiver is called directly, so
// the waits take no real time.
func TestWebhookReceiverWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := reboundtest.NewWebhookReceiver(hookSecret)
		r.Fail = reboundtest.WebhookFailFirst(1, http.StatusServiceUnavailable)
		go func() {
			for _, id := range []string{"a", "a", "b", "b", "b"} {
				time.Sleep(time.Second)
				r.ServeHTTP(httptest.NewRecorder(), signedRequest(t, "http://receiver/", hookSecret, id, `{}`))
			}
		}()
		start := time.Now()
		if err := r.Wait(t.Context(), 2); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got != 4*time.Second {
			t.Errorf("Wait(2) returned after %s, want 4s (the second delivery of b)", got)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if err := r.Wait(ctx, 3); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Wait(3): %v, want the deadline", err)
		}
		if got := time.Since(start); got != 14*time.Second {
			t.Errorf("Wait(3) gave up after %s, want 14s", got)
		}
		if d := r.Duplicates(); len(d) != 1 || d["b"] != 2 {
			t.Errorf("duplicates %v, want b twice", d)
		}
	})
}

// NewWebhookReceiver refuses to verify nothing.
func TestWebhookReceiverNeedsSecret(t *testing.T) {
	for _, secrets := range [][]string{nil, {"whsec_short"}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewWebhookReceiver(%q) did not panic", secrets)
				}
			}()
			reboundtest.NewWebhookReceiver(secrets...)
		}()
	}
}

// loopback lets the relay's webhook sender reach httptest's servers.
var loopback = webhook.AddressPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}

// startHookRelay enqueues msgs for destination "hooks" at url, on SQLite,
// and starts a relay that polls and retries every 10 ms.
func startHookRelay(t *testing.T, url string, msgs ...outbox.Message) []string {
	t.Helper()
	db, store := sqlitetest.Outbox(t)
	ids := outboxtest.Enqueue(t, db, msgs...)
	sender, err := outbox.NewWebhookSender(outbox.WebhookConfig{
		Destinations: map[string]outbox.Destination{"hooks": {URL: url, Secrets: []string{hookSecret}}},
		Addresses:    loopback,
	})
	if err != nil {
		t.Fatal(err)
	}
	outboxtest.StartRelay(t, outbox.RelayConfig{
		Store: store, Sender: sender,
		PollInterval: 10 * time.Millisecond, Backoff: rebound.Constant(10 * time.Millisecond),
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	return ids
}

// The outbox relay on SQLite delivers three messages; the receiver refuses
// the first delivery of one with 503, which the relay retries. The
// receiver gets three messages in four deliveries, all verified, none
// accepted twice.
func TestWebhookReceiverOutboxRelay(t *testing.T) {
	r := reboundtest.NewWebhookReceiver(hookSecret)
	var failed string
	r.Fail = func(d reboundtest.WebhookDelivery) int {
		if string(d.Body) == `{"n":2}` && d.Nth == 1 {
			return http.StatusServiceUnavailable
		}
		return 0
	}
	srv := startReceiver(t, r)
	ids := startHookRelay(t, srv.URL,
		outbox.Message{Destination: "hooks", Payload: []byte(`{"n":1}`)},
		outbox.Message{Destination: "hooks", Payload: []byte(`{"n":2}`)},
		outbox.Message{Destination: "hooks", Payload: []byte(`{"n":3}`)},
	)
	failed = ids[1]
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := r.Wait(ctx, 3); err != nil {
		t.Fatal(err)
	}
	ds := r.Deliveries()
	if len(ds) != 4 || r.IDs() != 3 || r.Invalid() != 0 || len(r.Duplicates()) != 0 {
		t.Errorf("%d deliveries, %d IDs, %d invalid, duplicates %v; want 4, 3, 0, none", len(ds), r.IDs(), r.Invalid(), r.Duplicates())
	}
	for _, id := range ids {
		want := 1
		if id == failed {
			want = 2
		}
		if got := r.Count(id); got != want {
			t.Errorf("message %s delivered %d times, want %d", id, got, want)
		}
	}
	for _, d := range ds {
		if d.ID == failed && d.Nth != d.Attempt {
			t.Errorf("delivery %d of %s carries Webhook-Attempt %d", d.Nth, d.ID, d.Attempt)
		}
	}
}

// Behind a Script's Handler, the receiver meets faults on the wire: its
// answer to the first delivery is lost with the connection, the relay
// delivers the message again, and the receiver has accepted it twice.
func TestWebhookReceiverBehindScript(t *testing.T) {
	r := reboundtest.NewWebhookReceiver(hookSecret)
	srv := httptest.NewServer(reboundtest.NewScript(reboundtest.AppliedButLost(), reboundtest.Pass()).Handler(r))
	t.Cleanup(srv.Close)
	ids := startHookRelay(t, srv.URL, outbox.Message{Destination: "hooks", Payload: []byte(`{"n":1}`)})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := r.Wait(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// The first delivery was accepted before its answer was lost; wait for
	// the relay's second.
	if err := r.WaitDeliveries(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if d := r.Duplicates(); d[ids[0]] != 2 || len(d) != 1 {
		t.Errorf("duplicates %v, want %s twice", d, ids[0])
	}
}
