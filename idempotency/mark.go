package idempotency

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// MarkTableDDL creates the table MarkTx writes to. It is portable between
// PostgreSQL and SQLite; CreateMarkTable runs it.
const MarkTableDDL = `CREATE TABLE IF NOT EXISTS rebound_processed (
	scope        TEXT NOT NULL,
	id           TEXT NOT NULL,
	processed_at TIMESTAMP NOT NULL,
	PRIMARY KEY (scope, id)
)`

// CreateMarkTable creates the table of processed message IDs if needed.
func CreateMarkTable(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, MarkTableDDL)
	return err
}

// MaxMarkIDLength bounds scope and id in MarkTx.
const MaxMarkIDLength = 255

// MarkTx records that the message id of scope (a consumer, a webhook
// source) was processed, inside tx, the same transaction as the handler's
// effect. It reports whether the id is new: false means the message was
// already processed and the caller should skip its effect. If tx rolls
// back, the mark goes with it, so a message is marked exactly when its
// effect committed.
//
// It works on PostgreSQL and SQLite (the INSERT … ON CONFLICT DO NOTHING
// both speak). Two concurrent transactions marking the same id: one wins,
// the other blocks until the first ends, then sees false (or fails to
// commit, under SERIALIZABLE). On SQLite the waiting holds when the
// transaction starts with a write lock: open the database with
// _txlock=immediate, or make MarkTx the transaction's first statement.
func MarkTx(ctx context.Context, tx *sql.Tx, scope, id string) (bool, error) {
	switch {
	case scope == "" || id == "":
		return false, errors.New("idempotency: MarkTx needs a scope and an id")
	case len(scope) > MaxMarkIDLength || len(id) > MaxMarkIDLength:
		return false, errors.New("idempotency: MarkTx scope or id longer than 255 bytes")
	}
	res, err := tx.ExecContext(ctx,
		`INSERT INTO rebound_processed (scope, id, processed_at) VALUES ($1, $2, $3) ON CONFLICT (scope, id) DO NOTHING`,
		scope, id, time.Now().UTC())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

// ReapMarks deletes marks processed before before, and reports how many.
// Keep marks at least as long as a sender may redeliver (the outbox gives
// up after 3 days by default).
func ReapMarks(ctx context.Context, db *sql.DB, before time.Time) (int64, error) {
	res, err := db.ExecContext(ctx, `DELETE FROM rebound_processed WHERE processed_at < $1`, before.UTC())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
