package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/internal/outboxsql"
)

// Enqueue adds messages to the outbox inside tx, the caller's own pgx
// transaction: they exist only if tx commits, together with the business
// change they announce, and the relays listening are notified at the
// commit. It is outbox.Enqueue for pgx: the same statement
// (the INSERT of outbox.Enqueue), sent as one batch, in one round trip. It returns the
// messages' IDs (generated where empty), or the first invalid field, in
// which case nothing is written.
func Enqueue(ctx context.Context, tx pgx.Tx, msgs ...outbox.Message) ([]string, error) {
	now := time.Now()
	ids := make([]string, len(msgs))
	var b pgx.Batch
	for i := range msgs {
		m := msgs[i]
		if m.ID == "" {
			m.ID = outbox.NewID(now)
		}
		if err := m.Validate(); err != nil {
			return nil, err
		}
		args, err := outboxsql.InsertArgs(outboxsql.Message(m), now)
		if err != nil {
			return nil, err
		}
		ids[i] = m.ID
		b.Queue(outboxsql.InsertSQL, args...)
	}
	if len(msgs) == 0 {
		return ids, nil
	}
	br := tx.SendBatch(ctx, &b)
	for _, id := range ids {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			var pg *pgconn.PgError
			if errors.As(err, &pg) && pg.Code == "42P01" { // undefined_table
				err = fmt.Errorf("%w: %w", outbox.ErrNoTable, err)
			}
			return nil, fmt.Errorf("outbox/postgres: enqueue %q: %w", id, err)
		}
	}
	if err := br.Close(); err != nil {
		return nil, fmt.Errorf("outbox/postgres: enqueue: %w", err)
	}
	return ids, nil
}
