package outbox_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/rebound-go/rebound/internal/pgtest"
	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/sqlite"
)

// enqueueOne enqueues a message in a transaction of db and rolls it back.
func enqueueOne(t *testing.T, db *sql.DB) error {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	_, err = outbox.Enqueue(ctx, tx, outbox.Message{Destination: "orders", Payload: []byte(`{}`)})
	return err
}

// wantNoTable checks that err says to call Migrate and still carries the
// driver's error, as driverErr.
func wantNoTable(t *testing.T, err error, driverErr any) {
	t.Helper()
	if !errors.Is(err, outbox.ErrNoTable) || !strings.Contains(err.Error(), "Migrate") {
		t.Fatalf("Enqueue before Migrate: %v; want ErrNoTable, saying to call Migrate", err)
	}
	if !errors.As(err, driverErr) {
		t.Fatalf("the driver's error is lost: %v", err)
	}
}

func TestEnqueueBeforeMigrateSaysToMigrateSQLite(t *testing.T) {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "shop.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var code interface{ Code() int }
	wantNoTable(t, enqueueOne(t, db), &code)

	// A table of that name with other columns is another mistake.
	if _, err := db.Exec(`CREATE TABLE ` + sqlite.Table + ` (x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	if err := enqueueOne(t, db); err == nil || errors.Is(err, outbox.ErrNoTable) {
		t.Fatalf("Enqueue into a foreign table: %v; want the driver's error alone", err)
	}
}

func TestEnqueueBeforeMigrateSaysToMigratePostgres(t *testing.T) {
	_, dsn := pgtest.Schema(t, pgtest.URL(t, "test Enqueue before Migrate"), "enqueue_nomigrate")
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var state interface{ SQLState() string }
	wantNoTable(t, enqueueOne(t, db), &state)
}
