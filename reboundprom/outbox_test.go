package reboundprom_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	_ "modernc.org/sqlite"

	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/sqlite"
	"github.com/rebound-go/rebound/reboundprom"
)

func TestOutboxCollectorReadsTheBacklog(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "o.db")+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store, err := sqlite.New(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	tx, _ := db.BeginTx(ctx, nil)
	ids, err := outbox.Enqueue(ctx, tx, outbox.Message{Destination: "orders"}, outbox.Message{Destination: "orders"}, outbox.Message{Destination: "billing"})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Add(time.Second)
	ds, _ := store.Claim(ctx, now, time.Minute, 1, []string{"billing"})
	if len(ds) != 1 || ds[0].ID != ids[0] {
		t.Fatalf("claimed %v", ds)
	}
	_ = store.MarkDead(ctx, ids[0], 1, "permanent", "400", 400)

	reg := prometheus.NewRegistry()
	c, err := reboundprom.NewOutboxCollector(reboundprom.OutboxConfig{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	reg.MustRegister(c)
	mustGather(t, reg, "rebound_outbox_messages", map[string]string{"destination": "orders", "state": "dead"}, 1)
	mustGather(t, reg, "rebound_outbox_messages", map[string]string{"destination": "orders", "state": "pending"}, 1)
	mustGather(t, reg, "rebound_outbox_messages", map[string]string{"destination": "billing", "state": "pending"}, 1)
	if age, ok := gather(t, reg, "rebound_outbox_oldest_unsent_age_seconds", map[string]string{"destination": "orders"}); !ok || age <= 0 {
		t.Fatalf("oldest unsent age %v (present %v)", age, ok)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	if _, err := reboundprom.NewOutboxCollector(reboundprom.OutboxConfig{}); err == nil {
		t.Fatal("a nil store was accepted")
	}
}
