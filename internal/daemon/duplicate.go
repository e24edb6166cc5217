package daemon

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/rebound-go/rebound/internal/api"
	"github.com/rebound-go/rebound/outbox"
)

// duplicateID reports whether err is the store refusing a second message
// with an ID already taken: a unique violation, by its error code.
func duplicateID(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505" // unique_violation
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// withDuplicates marks an enqueue refused for a taken ID with
// api.ErrDuplicateID, which the API answers with 409.
func withDuplicates(enqueue func(context.Context, []outbox.Message) ([]string, error)) func(context.Context, []outbox.Message) ([]string, error) {
	return func(ctx context.Context, msgs []outbox.Message) ([]string, error) {
		ids, err := enqueue(ctx, msgs)
		if err != nil && duplicateID(err) {
			return nil, errors.Join(api.ErrDuplicateID, err)
		}
		return ids, err
	}
}

// EnqueueFor is the enqueue function the daemon gives the API for be.
func EnqueueFor(be *Backend) func(context.Context, []outbox.Message) ([]string, error) {
	return withDuplicates(be.Enqueue)
}
