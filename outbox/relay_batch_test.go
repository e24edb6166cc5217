package outbox_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/sqlite"
	"github.com/rebound-go/rebound/reboundtest"
)

// batchCounter counts how a relay records its deliveries, and fails the
// first MarkSentBatch calls if told to.
type batchCounter struct {
	*sqlite.Store
	marks, batches, batched, failures atomic.Int64
}

func (c *batchCounter) MarkSent(ctx context.Context, id string, attempt int, now time.Time) error {
	c.marks.Add(1)
	return c.Store.MarkSent(ctx, id, attempt, now)
}

func (c *batchCounter) MarkSentBatch(ctx context.Context, sent []outbox.Completion) ([]bool, error) {
	if c.failures.Add(-1) >= 0 {
		return nil, errors.New("database is locked")
	}
	c.batches.Add(1)
	c.batched.Add(int64(len(sent)))
	return c.Store.MarkSentBatch(ctx, sent)
}

func TestRelayRecordsDeliveriesInBatches(t *testing.T) {
	o := newOutbox(t)
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	msgs := make([]outbox.Message, 300)
	for i := range msgs {
		msgs[i] = outbox.Message{Destination: "d", Payload: []byte("{}")}
	}
	o.enqueue(t, msgs...)
	store := &batchCounter{Store: o.store}
	var finished atomic.Int64
	obs := rebound.ObserverFunc(func(_ context.Context, e rebound.Event) {
		if e.Kind == rebound.CallFinished && e.Result == rebound.ResultSuccess {
			finished.Add(1)
		}
	})
	sender, _ := outbox.NewWebhookSender(outbox.WebhookConfig{Destinations: map[string]outbox.Destination{"d": {URL: srv.URL}}, Addresses: loopback})
	r, err := outbox.NewRelay(outbox.RelayConfig{Store: store, Sender: sender, Observer: obs, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_ = r.Start(context.Background())
	waitFor(t, "every message sent", func() bool { return countState(t, o, "d", outbox.Sent) == len(msgs) })
	if err := r.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if store.marks.Load() != 0 || store.batched.Load() != int64(len(msgs)) || rc.deliveries() != len(msgs) {
		t.Fatalf("%d MarkSent, %d messages in %d batches, %d deliveries: want every one of %d delivered once and recorded in a batch",
			store.marks.Load(), store.batched.Load(), store.batches.Load(), rc.deliveries(), len(msgs))
	}
	if finished.Load() != int64(len(msgs)) {
		t.Fatalf("%d successes observed, want %d", finished.Load(), len(msgs))
	}
}

// A batch that cannot be written at once is written again, and its
// messages are not delivered again.
func TestRelayRetriesRecordingABatch(t *testing.T) {
	o := newOutbox(t)
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	id := o.enqueue(t, outbox.Message{Destination: "d", Payload: []byte("{}")})[0]
	store := &batchCounter{Store: o.store}
	store.failures.Store(2)
	sender, _ := outbox.NewWebhookSender(outbox.WebhookConfig{Destinations: map[string]outbox.Destination{"d": {URL: srv.URL}}, Addresses: loopback})
	r, err := outbox.NewRelay(outbox.RelayConfig{Store: store, Sender: sender, PollInterval: 10 * time.Millisecond, Lease: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_ = r.Start(context.Background())
	defer r.Stop(context.Background())
	waitFor(t, "the message sent", func() bool { return countState(t, o, "d", outbox.Sent) == 1 })
	rec, _ := o.store.Get(context.Background(), id)
	if rec.Attempt != 1 || rc.deliveries() != 1 || store.batches.Load() != 1 {
		t.Fatalf("attempt %d, %d deliveries, %d batches written: want one delivery recorded on the third write", rec.Attempt, rc.deliveries(), store.batches.Load())
	}
}

// A retry the relay scheduled itself is claimed when it falls due, not at
// the next poll.
func TestRelayClaimsItsRetryWhenDue(t *testing.T) {
	o := newOutbox(t)
	srv := httptest.NewServer(reboundtest.NewScript(reboundtest.Fail(1, http.StatusServiceUnavailable)).Handler(&receiver{}))
	defer srv.Close()
	o.enqueue(t, outbox.Message{Destination: "d", Payload: []byte("{}")})
	start := time.Now()
	startRelay(t, o, outbox.RelayConfig{PollInterval: time.Hour, Backoff: rebound.Constant(50 * time.Millisecond)}, map[string]outbox.Destination{"d": {URL: srv.URL}})
	waitFor(t, "the retry sent", func() bool { return countState(t, o, "d", outbox.Sent) == 1 })
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("sent after %v", took)
	}
}

// Messages claimed ahead of the workers and not started when the relay
// stops are released with their attempt given back, as in-flight ones are.
func TestRelayStopReleasesMessagesClaimedAhead(t *testing.T) {
	o := newOutbox(t)
	block := make(chan struct{})
	var once sync.Once
	arrived := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(arrived) })
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	msgs := make([]outbox.Message, 5)
	for i := range msgs {
		msgs[i] = outbox.Message{Destination: "d", Payload: []byte("{}")}
	}
	ids := o.enqueue(t, msgs...)
	sender, _ := outbox.NewWebhookSender(outbox.WebhookConfig{Destinations: map[string]outbox.Destination{"d": {URL: srv.URL, Timeout: time.Minute}}, Addresses: loopback})
	r, _ := outbox.NewRelay(outbox.RelayConfig{Store: o.store, Sender: sender, Workers: 1, BatchSize: 4, PollInterval: 10 * time.Millisecond})
	_ = r.Start(context.Background())
	<-arrived
	waitFor(t, "a batch claimed ahead", func() bool { return countState(t, o, "d", outbox.Delivering) == 4 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := r.Stop(ctx); err == nil {
		t.Fatal("Stop returned before the in-flight delivery ended")
	}
	for _, id := range ids {
		rec, _ := o.store.Get(context.Background(), id)
		if rec.State != outbox.Pending || rec.Attempt != 0 {
			t.Fatalf("after stop: %+v, want pending with the attempt given back", rec)
		}
	}
}
