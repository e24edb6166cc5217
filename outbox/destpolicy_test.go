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
)

func TestRelayDestinationPolicyOverridesAttempts(t *testing.T) {
	o := newOutbox(t)
	rc := &receiver{answer: func(int, *http.Request) int { return http.StatusServiceUnavailable }}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	var deaths sync.WaitGroup
	deaths.Add(2)
	short := o.enqueue(t, outbox.Message{Destination: "short", Payload: []byte("{}")})[0]
	long := o.enqueue(t, outbox.Message{Destination: "long", Payload: []byte("{}")})[0]
	startRelay(t, o, outbox.RelayConfig{
		MaxAttempts:  4,
		OnDead:       func(context.Context, outbox.Record) { deaths.Done() },
		Destinations: map[string]outbox.DestinationPolicy{"short": {MaxAttempts: 2}},
	}, map[string]outbox.Destination{"short": {URL: srv.URL}, "long": {URL: srv.URL}})
	deaths.Wait()
	for id, want := range map[string]int{short: 2, long: 4} {
		r, err := o.store.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if r.State != outbox.Dead || r.DeadReason != "exhausted" || r.Attempt != want {
			t.Errorf("%s: state %v reason %q after %d attempts; want dead (exhausted) after %d", r.Destination, r.State, r.DeadReason, r.Attempt, want)
		}
	}
}

func TestRelayDestinationConcurrencyLimit(t *testing.T) {
	o := newOutbox(t)
	var inFlight, peak, otherPeak, otherIn atomic.Int32
	release := make(chan struct{})
	sender := outbox.SenderFunc(func(ctx context.Context, d outbox.Delivery) error {
		cur, pk := &inFlight, &peak
		if d.Destination != "narrow" {
			cur, pk = &otherIn, &otherPeak
		}
		n := cur.Add(1)
		defer cur.Add(-1)
		for {
			p := pk.Load()
			if n <= p || pk.CompareAndSwap(p, n) {
				break
			}
		}
		if d.Destination == "narrow" {
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	var msgs []outbox.Message
	for range 10 {
		msgs = append(msgs, outbox.Message{Destination: "narrow", Payload: []byte("{}")})
	}
	for range 10 {
		msgs = append(msgs, outbox.Message{Destination: "wide", Payload: []byte("{}")})
	}
	o.enqueue(t, msgs...)
	r, err := outbox.NewRelay(outbox.RelayConfig{
		Store: o.store, Sender: sender, Workers: 8, PollInterval: 10e6, Backoff: rebound.Constant(10e6),
		Destinations: map[string]outbox.DestinationPolicy{"narrow": {Concurrency: 2}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r.Stop(ctx)
	}()
	// The wide destination drains while the narrow one is held at two.
	waitFor(t, "the wide destination sent", func() bool { return countState(t, o, "wide", outbox.Sent) == 10 })
	waitFor(t, "two narrow deliveries in flight", func() bool { return inFlight.Load() == 2 })
	close(release)
	waitFor(t, "the narrow destination sent", func() bool { return countState(t, o, "narrow", outbox.Sent) == 10 })
	if p := peak.Load(); p != 2 {
		t.Errorf("narrow destination peaked at %d deliveries in flight; want the limit, 2", p)
	}
}

func TestRelayDestinationPolicyValidated(t *testing.T) {
	_, err := outbox.NewRelay(outbox.RelayConfig{
		Store: newOutbox(t).store, Sender: outbox.SenderFunc(func(context.Context, outbox.Delivery) error { return nil }),
		Destinations: map[string]outbox.DestinationPolicy{"x": {MaxAttempts: -1}},
	})
	var ce *rebound.ConfigError
	if !errors.As(err, &ce) || ce.Field != `outbox.RelayConfig.Destinations["x"].MaxAttempts` {
		t.Fatalf("err = %v; want a ConfigError naming Destinations[\"x\"].MaxAttempts", err)
	}
}
