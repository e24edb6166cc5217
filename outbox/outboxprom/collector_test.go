package outboxprom_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rebound-go/rebound/internal/sqlitetest"
	"github.com/rebound-go/rebound/outbox/outboxtest"

	"github.com/rebound-go/rebound/internal/promtest"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/outboxprom"
)

func TestCollectorReadsTheBacklog(t *testing.T) {
	ctx := context.Background()
	db, store := sqlitetest.Outbox(t)
	ids := outboxtest.Enqueue(t, db, outbox.Message{Destination: "orders"}, outbox.Message{Destination: "orders"}, outbox.Message{Destination: "billing"})
	now := time.Now().Add(time.Second)
	ds, _ := store.Claim(ctx, now, time.Minute, 1, []string{"billing"})
	if len(ds) != 1 || ds[0].ID != ids[0] {
		t.Fatalf("claimed %v", ds)
	}
	_ = store.MarkDead(ctx, ids[0], 1, "permanent", "400", 400)

	reg := prometheus.NewRegistry()
	c, err := outboxprom.NewCollector(outboxprom.Config{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	reg.MustRegister(c)
	promtest.Expect(t, reg, "rebound_outbox_messages", map[string]string{"destination": "orders", "state": "dead"}, 1)
	promtest.Expect(t, reg, "rebound_outbox_messages", map[string]string{"destination": "orders", "state": "pending"}, 1)
	promtest.Expect(t, reg, "rebound_outbox_messages", map[string]string{"destination": "billing", "state": "pending"}, 1)
	if age, ok := promtest.Value(t, reg, "rebound_outbox_oldest_unsent_age_seconds", map[string]string{"destination": "orders"}); !ok || age <= 0 {
		t.Fatalf("oldest unsent age %v (present %v)", age, ok)
	}
	promtest.Expect(t, reg, "rebound_outbox_collect_errors_total", map[string]string{}, 0)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestNewCollectorNeedsAStore(t *testing.T) {
	if _, err := outboxprom.NewCollector(outboxprom.Config{}); err == nil {
		t.Fatal("a nil store was accepted")
	}
}

// failingStore is a Store whose Stats fails; the collector calls nothing
// else.
type failingStore struct {
	outbox.Store
	mu    sync.Mutex
	calls int
}

func (s *failingStore) Stats(context.Context, time.Time) ([]outbox.DestinationStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	return nil, errors.New("the database is down")
}

// A scrape that cannot read the store counts the failure and still answers,
// and concurrent scrapes are safe.
func TestCollectorCountsStoreErrors(t *testing.T) {
	store := &failingStore{}
	c, err := outboxprom.NewCollector(outboxprom.Config{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := reg.Gather(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	promtest.Expect(t, reg, "rebound_outbox_collect_errors_total", map[string]string{}, 5)
	if _, ok := promtest.Value(t, reg, "rebound_outbox_messages", map[string]string{"destination": "orders", "state": "pending"}); ok {
		t.Fatal("a failed scrape reported messages")
	}
}
