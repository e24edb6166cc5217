package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "modernc.org/sqlite" // the embedded store's driver

	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/postgres"
	"github.com/rebound-go/rebound/outbox/sqlite"
)

// Backend is an opened store: the outbox and how to enqueue.
type Backend struct {
	Kind   string // sqlite or postgres
	Outbox outbox.Store
	// Enqueue writes messages in one transaction.
	Enqueue func(ctx context.Context, msgs []outbox.Message) ([]string, error)
	// Ping checks the database answers.
	Ping func(ctx context.Context) error
	// Migrate brings the outbox's schema up to date.
	Migrate func(ctx context.Context) error
	// Current reports an error unless the outbox's schema is at the
	// version this build knows.
	Current func(ctx context.Context) error
	// Close releases the connections.
	Close func()

	password string // kept out of error texts
}

// Open opens the store of kind ("sqlite" or "postgres") at addr. It opens a
// SQLite file at once; for PostgreSQL it only parses addr, and connects on
// first use (see Migrate). Its errors cannot heal by waiting: they are
// *StoreError.
func Open(ctx context.Context, kind, addr string) (*Backend, error) {
	var be *Backend
	var err error
	switch kind {
	case "sqlite":
		be, err = openSQLite(ctx, addr)
	case "postgres":
		be, err = openPostgres(ctx, addr)
	default:
		err = fmt.Errorf("daemon: unknown store kind %q", kind)
	}
	if err != nil {
		return nil, &StoreError{Kind: kind, Err: err}
	}
	return be, nil
}

func openSQLite(ctx context.Context, path string) (*Backend, error) {
	db, err := sqlite.Open(path)
	if err != nil {
		return nil, err
	}
	// One connection first, so that switching a new file to WAL cannot
	// race another connection.
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening sqlite:%s: %w", path, err)
	}
	ob, err := sqlite.New(db, sqlite.Config{})
	if err != nil {
		db.Close()
		return nil, err
	}
	// SQLite has one writer at a time: concurrent API requests share its
	// transactions instead of queueing for them.
	enq := NewGroupEnqueuer(sqlWrite(db), GroupConfig{})
	return &Backend{
		Kind:    "sqlite",
		Outbox:  ob,
		Enqueue: enq.Enqueue,
		Ping:    db.PingContext,
		Current: func(ctx context.Context) error {
			return current(ctx, sqlite.VersionTable, func(table string) (int, error) {
				var v int
				err := db.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM "+table).Scan(&v)
				return v, err
			}, sqlite.SchemaVersion)
		},
		Migrate: func(ctx context.Context) error {
			return ob.Migrate(ctx)
		},
		Close: func() { enq.Close(); ob.Close(); db.Close() },
	}, nil
}

func openPostgres(ctx context.Context, dsn string) (*Backend, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("db: want a PostgreSQL connection string: %w", err)
	}
	if cfg.MaxConns < 16 {
		cfg.MaxConns = 16
	}
	cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	ob, err := postgres.New(pool, postgres.Config{})
	if err != nil {
		pool.Close()
		return nil, err
	}
	// Concurrent API requests share transactions: every enqueue's commit
	// takes PostgreSQL's notification queue lock, so one commit per
	// request would serialise them.
	enq := NewGroupEnqueuer(postgresWrite(pool), GroupConfig{})
	return &Backend{
		password: cfg.ConnConfig.Password,
		Kind:     "postgres",
		Outbox:   ob,
		Enqueue:  enq.Enqueue,
		Ping:     pool.Ping,
		Current: func(ctx context.Context) error {
			return current(ctx, postgres.VersionTable, func(table string) (int, error) {
				var v int
				err := pool.QueryRow(ctx, "SELECT COALESCE(MAX(version), 0) FROM "+table).Scan(&v)
				return v, err
			}, postgres.SchemaVersion)
		},
		Migrate: func(ctx context.Context) error {
			return ob.Migrate(ctx)
		},
		Close: func() { enq.Close(); ob.Close(); pool.Close() },
	}, nil
}

// current compares the outbox's schema version, recorded in table, with
// the one this build migrates to.
func current(ctx context.Context, table string, version func(table string) (int, error), want int) error {
	v, err := version(table)
	if err != nil {
		return fmt.Errorf("reading %s: %w", table, err)
	}
	if v != want {
		return fmt.Errorf("%s is at version %d; this build needs %d (run rebound migrate)", table, v, want)
	}
	return nil
}
