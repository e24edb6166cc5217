package outboxprom_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/outboxprom"
	"github.com/rebound-go/rebound/outbox/sqlite"
)

// The collector registers on the caller's registry and reads the store at
// each scrape.
func ExampleNewCollector() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "outboxprom")
	defer os.RemoveAll(dir)
	db, _ := sqlite.Open(filepath.Join(dir, "outbox.db"))
	defer db.Close()
	store, _ := sqlite.New(db, sqlite.Config{})
	_ = store.Migrate(ctx)
	tx, _ := db.BeginTx(ctx, nil)
	_, _ = outbox.Enqueue(ctx, tx, outbox.Message{Destination: "orders", Payload: []byte(`{}`)})
	_ = tx.Commit()

	reg := prometheus.NewRegistry() // yours; never the global one
	col, err := outboxprom.NewCollector(outboxprom.Config{Store: store})
	if err != nil {
		panic(err)
	}
	reg.MustRegister(col)

	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "rebound_outbox_messages" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if v := m.GetGauge().GetValue(); v > 0 {
				fmt.Println(mf.GetName(), m.GetLabel()[0].GetValue(), m.GetLabel()[1].GetValue(), v)
			}
		}
	}
	// Output:
	// rebound_outbox_messages orders pending 1
}
