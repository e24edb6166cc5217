package outbox_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound/outbox"
)

// extendCounter is the real store with its lease renewals counted, and
// refused with ErrStale when stale is set.
type extendCounter struct {
	outbox.Store
	mu      sync.Mutex
	extends int
	stale   bool
}

func (s *extendCounter) Extend(ctx context.Context, id string, attempt int, until time.Time) error {
	s.mu.Lock()
	s.extends++
	stale := s.stale
	s.mu.Unlock()
	if stale {
		return outbox.ErrStale
	}
	return s.Store.Extend(ctx, id, attempt, until)
}

func (s *extendCounter) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.extends
}

// A delivery that takes many leases keeps its message: the relay renews
// the lease while it runs, so a second relay polling the same outbox never
// claims it, and it is delivered once.
func TestRelayRenewsTheLeaseOfALongDelivery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := newOutbox(t)
		id := o.enqueue(t, outbox.Message{Destination: "d", Payload: []byte("{}")})[0]
		const lease, delivery = 9 * time.Second, 100 * time.Second
		var mu sync.Mutex
		var sends []string // which relay sent, per attempt
		sender := func(name string) outbox.Sender {
			return outbox.SenderFunc(func(ctx context.Context, d outbox.Delivery) error {
				mu.Lock()
				sends = append(sends, name)
				mu.Unlock()
				select {
				case <-time.After(delivery):
					return nil
				case <-ctx.Done():
					return context.Cause(ctx)
				}
			})
		}
		storeA := &extendCounter{Store: o.store}
		a, err := outbox.NewRelay(outbox.RelayConfig{Store: storeA, Sender: sender("a"), Lease: lease, PollInterval: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait() // a holds the message
		b, err := outbox.NewRelay(outbox.RelayConfig{Store: o.store, Sender: sender("b"), Lease: lease, PollInterval: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delivery + lease)
		synctest.Wait()
		rec, err := o.store.Get(context.Background(), id)
		mu.Lock()
		got := append([]string(nil), sends...)
		mu.Unlock()
		if err != nil || rec.State != outbox.Sent || rec.Attempt != 1 || len(got) != 1 || got[0] != "a" {
			t.Fatalf("state %v, attempt %d (%v), sent by %v: want sent once, by relay a", rec.State, rec.Attempt, err, got)
		}
		// Renewed when a third to a half of the lease is spent: 22 to 34
		// renewals in 100 s.
		if n := storeA.count(); n < int(delivery/(lease/2)) || n > int(delivery/(lease/3))+1 {
			t.Fatalf("%d renewals in %v with a %v lease, want between %d and %d", n, delivery, lease, int(delivery/(lease/2)), int(delivery/(lease/3))+1)
		}
		_ = a.Stop(context.Background())
		_ = b.Stop(context.Background())
	})
}

// A delivery whose lease turns out to be someone else's is canceled with
// ErrStale, and its outcome is not recorded.
func TestRelayCancelsADeliveryWhoseLeaseIsLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := newOutbox(t)
		id := o.enqueue(t, outbox.Message{Destination: "d", Payload: []byte("{}")})[0]
		const lease = 9 * time.Second
		cause := make(chan error, 1)
		started := make(chan struct{})
		store := &extendCounter{Store: o.store, stale: true}
		r, err := outbox.NewRelay(outbox.RelayConfig{Store: store, Lease: lease, PollInterval: time.Second,
			Sender: outbox.SenderFunc(func(ctx context.Context, d outbox.Delivery) error {
				close(started)
				<-ctx.Done()
				cause <- context.Cause(ctx)
				return ctx.Err()
			})})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		<-started
		start := time.Now()
		err = <-cause
		if !errors.Is(err, outbox.ErrStale) || time.Since(start) > lease/2 {
			t.Fatalf("delivery canceled after %v with %v, want ErrStale within half a lease", time.Since(start), err)
		}
		synctest.Wait()
		rec, _ := o.store.Get(context.Background(), id)
		if rec.State != outbox.Delivering || rec.Attempt != 1 {
			t.Fatalf("state %v, attempt %d: want the lease left to its owner (delivering, attempt 1)", rec.State, rec.Attempt)
		}
		_ = r.Stop(context.Background())
	})
}
