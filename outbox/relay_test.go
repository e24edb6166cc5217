package outbox_test

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rebound-go/rebound/outbox/outboxtest"

	_ "modernc.org/sqlite"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/internal/sqlitetest"
	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/sqlite"
	"github.com/rebound-go/rebound/reboundtest"
	"github.com/rebound-go/rebound/webhook"
)

// loopback allows the tests' own receivers.
var loopback = webhook.AddressPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}

type testOutbox struct {
	db    *sql.DB
	store *sqlite.Store
}

func newOutbox(t *testing.T) testOutbox {
	t.Helper()
	db, s := sqlitetest.Outbox(t)
	return testOutbox{db: db, store: s}
}

func (o testOutbox) enqueue(t *testing.T, msgs ...outbox.Message) []string {
	t.Helper()
	return outboxtest.Enqueue(t, o.db, msgs...)
}

// receiver records deliveries and answers what answer says.
type receiver struct {
	mu     sync.Mutex
	got    []*http.Request
	bodies []string
	answer func(n int, r *http.Request) int // n counts deliveries of this message ID
	byID   map[string]int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	if rc.byID == nil {
		rc.byID = map[string]int{}
	}
	id := r.Header.Get(webhook.HeaderID)
	rc.byID[id]++
	n := rc.byID[id]
	rc.got = append(rc.got, r)
	rc.bodies = append(rc.bodies, string(body))
	answer := rc.answer
	rc.mu.Unlock()
	code := http.StatusNoContent
	if answer != nil {
		code = answer(n, r)
	}
	w.WriteHeader(code)
}

func (rc *receiver) deliveries() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got)
}

func startRelay(t *testing.T, o testOutbox, cfg outbox.RelayConfig, dests map[string]outbox.Destination) *outbox.Relay {
	t.Helper()
	sender, err := outbox.NewWebhookSender(outbox.WebhookConfig{Destinations: dests, Addresses: loopback})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store, cfg.Sender = o.store, sender
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 10 * time.Millisecond
	}
	if cfg.Backoff == nil {
		cfg.Backoff = rebound.Constant(20 * time.Millisecond)
	}
	return outboxtest.StartRelay(t, cfg)
}

// waitFor polls cond every 10 ms for at most 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 2000; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func countState(t *testing.T, o testOutbox, dest string, s outbox.State) int {
	t.Helper()
	st, err := o.store.Stats(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range st {
		if d.Destination != dest {
			continue
		}
		switch s {
		case outbox.Sent:
			return d.Sent
		case outbox.Dead:
			return d.Dead
		case outbox.Pending:
			return d.Pending
		case outbox.Retrying:
			return d.Retrying
		case outbox.Delivering:
			return d.Delivering
		}
	}
	return 0
}

func TestRelayDeliversSignedWebhooksOnce(t *testing.T) {
	o := newOutbox(t)
	secret := webhook.NewSecret()
	rc := reboundtest.NewWebhookReceiver(secret)
	srv := httptest.NewServer(rc)
	defer srv.Close()
	var msgs []outbox.Message
	for i := 0; i < 50; i++ {
		msgs = append(msgs, outbox.Message{Destination: "orders", Payload: []byte(`{"order":1}`)})
	}
	ids := o.enqueue(t, msgs...)
	startRelay(t, o, outbox.RelayConfig{}, map[string]outbox.Destination{"orders": {URL: srv.URL + "/hooks", Secrets: []string{secret}}})
	waitFor(t, "50 messages sent", func() bool { return countState(t, o, "orders", outbox.Sent) == 50 })

	ds := rc.Deliveries()
	if len(ds) != 50 {
		t.Fatalf("%d deliveries for 50 messages", len(ds))
	}
	for i, d := range ds {
		if d.Err != nil {
			t.Fatalf("delivery %d does not verify: %v", i, d.Err)
		}
		if d.Nth != 1 || d.Header.Get("Idempotency-Key") != d.ID || d.Header.Get(webhook.HeaderAttempt) != "1" {
			t.Fatalf("delivery %d: id %q, headers %v", i, d.ID, d.Header)
		}
	}
	for _, id := range ids {
		if rc.Count(id) == 0 {
			t.Fatalf("message %s never arrived", id)
		}
	}
}

func TestRelayRetriesThenDelivers(t *testing.T) {
	o := newOutbox(t)
	secret := webhook.NewSecret()
	rc := reboundtest.NewWebhookReceiver(secret)
	rc.Fail = reboundtest.WebhookFailFirst(1, http.StatusServiceUnavailable)
	srv := httptest.NewServer(rc)
	defer srv.Close()
	ids := o.enqueue(t, outbox.Message{Destination: "d", Payload: []byte("{}")}, outbox.Message{Destination: "d", Payload: []byte("{}")})
	startRelay(t, o, outbox.RelayConfig{}, map[string]outbox.Destination{"d": {URL: srv.URL, Secrets: []string{secret}}})
	waitFor(t, "both sent", func() bool { return countState(t, o, "d", outbox.Sent) == 2 })
	for _, id := range ids {
		r, err := o.store.Get(context.Background(), id)
		if err != nil || r.Attempt != 2 || r.LastStatus != 503 {
			t.Fatalf("record %+v, %v: want sent on attempt 2 after a 503", r, err)
		}
	}
}

func TestRelayKillsPermanentFailuresAndCompensates(t *testing.T) {
	o := newOutbox(t)
	rc := &receiver{answer: func(int, *http.Request) int { return http.StatusBadRequest }}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	var mu sync.Mutex
	var dead []outbox.Record
	onDead := func(_ context.Context, r outbox.Record) {
		mu.Lock()
		dead = append(dead, r)
		mu.Unlock()
	}
	ids := o.enqueue(t, outbox.Message{Destination: "d", Payload: []byte("{}")}, outbox.Message{Destination: "nowhere", Payload: []byte("{}")})
	startRelay(t, o, outbox.RelayConfig{OnDead: onDead}, map[string]outbox.Destination{"d": {URL: srv.URL}})
	waitFor(t, "two dead letters", func() bool { mu.Lock(); defer mu.Unlock(); return len(dead) == 2 })
	for _, id := range ids {
		r, _ := o.store.Get(context.Background(), id)
		if r.State != outbox.Dead || r.DeadReason != "permanent" || r.Attempt != 1 {
			t.Fatalf("record %+v: want dead (permanent) after one attempt", r)
		}
		if strings.ContainsAny(r.LastError, "\r\n") {
			t.Fatalf("stored error %q has a line break", r.LastError)
		}
	}
	if rc.deliveries() != 1 {
		t.Fatalf("%d deliveries, want 1 (the unknown destination is never sent)", rc.deliveries())
	}
}

func TestRelayGivesUpAfterMaxAttempts(t *testing.T) {
	o := newOutbox(t)
	rc := &receiver{answer: func(int, *http.Request) int { return http.StatusServiceUnavailable }}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	var deaths sync.WaitGroup
	deaths.Add(1)
	id := o.enqueue(t, outbox.Message{Destination: "d", Payload: []byte("{}")})[0]
	startRelay(t, o, outbox.RelayConfig{MaxAttempts: 3, OnDead: func(context.Context, outbox.Record) { deaths.Done() }}, map[string]outbox.Destination{"d": {URL: srv.URL}})
	deaths.Wait()
	r, _ := o.store.Get(context.Background(), id)
	if r.State != outbox.Dead || r.DeadReason != "exhausted" || r.Attempt != 3 || rc.deliveries() != 3 {
		t.Fatalf("record %+v after %d deliveries: want dead (exhausted) after 3", r, rc.deliveries())
	}
	// Replayed, it is delivered again from attempt 1.
	rc.mu.Lock()
	rc.answer = nil
	rc.mu.Unlock()
	if err := o.store.Replay(context.Background(), id, time.Now()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replayed message sent", func() bool { return countState(t, o, "d", outbox.Sent) == 1 })
}

func TestRelayBreakerHoldsOneDestinationOnly(t *testing.T) {
	o := newOutbox(t)
	bad := &receiver{answer: func(int, *http.Request) int { return http.StatusServiceUnavailable }}
	good := &receiver{}
	badSrv, goodSrv := httptest.NewServer(bad), httptest.NewServer(good)
	defer badSrv.Close()
	defer goodSrv.Close()
	var msgs []outbox.Message
	for i := 0; i < 20; i++ {
		msgs = append(msgs, outbox.Message{Destination: "bad", Payload: []byte("{}")}, outbox.Message{Destination: "good", Payload: []byte("{}")})
	}
	o.enqueue(t, msgs...)
	breakers, _ := rebound.NewBreakers(rebound.BreakerConfig{ConsecutiveFailures: 3, FailureRate: -1, OpenFor: time.Hour}, 10)
	startRelay(t, o, outbox.RelayConfig{Breakers: breakers, Workers: 4}, map[string]outbox.Destination{
		"bad": {URL: badSrv.URL}, "good": {URL: goodSrv.URL},
	})
	waitFor(t, "the good destination drained", func() bool { return countState(t, o, "good", outbox.Sent) == 20 })
	// The bad destination's breaker opened after a few failures: its
	// messages wait without spending attempts.
	if n := bad.deliveries(); n > 3+4 {
		t.Fatalf("%d deliveries to the failing destination; the breaker should have stopped them after about 3", n)
	}
	// Messages claimed ahead before the breaker opened are given back,
	// their attempt with them, as the workers reach them.
	waitFor(t, "the failing destination's claimed messages given back", func() bool { return countState(t, o, "bad", outbox.Delivering) == 0 })
	recs, _, _ := o.store.List(context.Background(), outbox.Filter{Destination: "bad", Limit: 100})
	spent := 0
	for _, r := range recs {
		spent += r.Attempt
	}
	if spent > 3+4 {
		t.Fatalf("%d attempts spent on the failing destination while its breaker was open", spent)
	}
}

func TestRelayKeepsKeyOrder(t *testing.T) {
	o := newOutbox(t)
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	var msgs []outbox.Message
	for i := 0; i < 20; i++ {
		msgs = append(msgs, outbox.Message{Destination: "d", OrderingKey: "account-7", Payload: []byte{byte('a' + i)}})
	}
	o.enqueue(t, msgs...)
	startRelay(t, o, outbox.RelayConfig{Workers: 8}, map[string]outbox.Destination{"d": {URL: srv.URL}})
	waitFor(t, "20 sent", func() bool { return countState(t, o, "d", outbox.Sent) == 20 })
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for i, b := range rc.bodies {
		if b != string(rune('a'+i)) {
			t.Fatalf("delivery %d carried %q: out of order", i, b)
		}
	}
}

func TestRelayStopReleasesInFlight(t *testing.T) {
	o := newOutbox(t)
	block := make(chan struct{})
	arrived := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	id := o.enqueue(t, outbox.Message{Destination: "d", Payload: []byte("{}")})[0]
	sender, _ := outbox.NewWebhookSender(outbox.WebhookConfig{Destinations: map[string]outbox.Destination{"d": {URL: srv.URL, Timeout: time.Minute}}, Addresses: loopback})
	r, _ := outbox.NewRelay(outbox.RelayConfig{Store: o.store, Sender: sender, PollInterval: 10 * time.Millisecond})
	_ = r.Start(context.Background())
	<-arrived
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := r.Stop(ctx); err == nil {
		t.Fatal("Stop returned before the in-flight delivery ended")
	}
	rec, _ := o.store.Get(context.Background(), id)
	if rec.State != outbox.Pending || rec.Attempt != 0 {
		t.Fatalf("after stop: %+v, want pending with the attempt given back", rec)
	}
}

func TestRelayRefusesPrivateAddressesByDefault(t *testing.T) {
	o := newOutbox(t)
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	id := o.enqueue(t, outbox.Message{Destination: "d", Payload: []byte("{}")})[0]
	sender, _ := outbox.NewWebhookSender(outbox.WebhookConfig{Destinations: map[string]outbox.Destination{"d": {URL: srv.URL}}})
	r, _ := outbox.NewRelay(outbox.RelayConfig{Store: o.store, Sender: sender, PollInterval: 10 * time.Millisecond})
	_ = r.Start(context.Background())
	defer r.Stop(context.Background())
	waitFor(t, "the message dead", func() bool { return countState(t, o, "d", outbox.Dead) == 1 })
	rec, _ := o.store.Get(context.Background(), id)
	if rec.DeadReason != "permanent" || rc.deliveries() != 0 {
		t.Fatalf("record %+v, %d deliveries: a loopback destination must be refused by default", rec, rc.deliveries())
	}
}

func TestRelayPrunesSentMessages(t *testing.T) {
	o := newOutbox(t)
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	id := o.enqueue(t, outbox.Message{Destination: "d", Payload: []byte("{}")})[0]
	startRelay(t, o, outbox.RelayConfig{Retention: time.Nanosecond, PruneInterval: 20 * time.Millisecond}, map[string]outbox.Destination{"d": {URL: srv.URL}})
	waitFor(t, "the sent message pruned", func() bool {
		_, err := o.store.Get(context.Background(), id)
		return errors.Is(err, outbox.ErrNotFound)
	})
	if rc.deliveries() != 1 {
		t.Fatalf("%d deliveries", rc.deliveries())
	}
}

// flakyStore fails the first MarkSent calls, as a busy SQLite or a dropped
// connection would. It is no outbox.BatchCompleter, so the relay records
// each delivery with MarkSent.
type flakyStore struct {
	outbox.Store
	mu       sync.Mutex
	failures int
}

func (f *flakyStore) MarkSent(ctx context.Context, id string, attempt int, now time.Time) error {
	f.mu.Lock()
	if f.failures > 0 {
		f.failures--
		f.mu.Unlock()
		return errors.New("database is locked")
	}
	f.mu.Unlock()
	return f.Store.MarkSent(ctx, id, attempt, now)
}

// A delivered message whose outcome cannot be written at once is not
// delivered again: the relay retries the write.
func TestRelayRetriesRecordingAnOutcome(t *testing.T) {
	o := newOutbox(t)
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	id := o.enqueue(t, outbox.Message{Destination: "d", Payload: []byte("{}")})[0]
	store := &flakyStore{Store: o.store, failures: 2}
	sender, _ := outbox.NewWebhookSender(outbox.WebhookConfig{Destinations: map[string]outbox.Destination{"d": {URL: srv.URL}}, Addresses: loopback})
	r, err := outbox.NewRelay(outbox.RelayConfig{Store: store, Sender: sender, PollInterval: 10 * time.Millisecond, Lease: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_ = r.Start(context.Background())
	defer r.Stop(context.Background())
	waitFor(t, "the message sent", func() bool { return countState(t, o, "d", outbox.Sent) == 1 })
	rec, _ := o.store.Get(context.Background(), id)
	if rec.Attempt != 1 || rc.deliveries() != 1 {
		t.Fatalf("attempt %d, %d deliveries: want one delivery recorded on the third write", rec.Attempt, rc.deliveries())
	}
}

func TestRelayStartAfterStopSaysItWasStopped(t *testing.T) {
	o := newOutbox(t)
	r := startRelay(t, o, outbox.RelayConfig{}, map[string]outbox.Destination{"d": {URL: "http://127.0.0.1:1/"}})
	if err := r.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "already started") {
		t.Fatalf("second Start: %v, want already started", err)
	}
	if err := r.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "stopped") {
		t.Fatalf("Start after Stop: %v, want an error saying the relay was stopped", err)
	}
}
