package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/internal/outboxsql"
)

// Pages of List.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// pruneBatch bounds the rows one statement of Prune deletes, so that Prune
// never holds SQLite's write lock for long: the writers it makes wait
// (Enqueue's transactions, claims) wait at most their busy timeout.
const pruneBatch = 1000

// Get implements outbox.Store.
func (s *Store) Get(ctx context.Context, id string) (outbox.Record, error) {
	_, r, err := scanRecord(s.db.QueryRowContext(ctx, `SELECT `+columns+` FROM `+Table+` WHERE id = ?1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return outbox.Record{}, outbox.ErrNotFound
	}
	if err != nil {
		return outbox.Record{}, fmt.Errorf("outbox/sqlite: get: %w", err)
	}
	return r, nil
}

// List implements outbox.Store. A cursor is the last seq of the page
// before, as a decimal number; f.Limit is 100 when zero and at most 1000
// (more is read as 1000). An invalid cursor, state or negative limit is an
// error.
func (s *Store) List(ctx context.Context, f outbox.Filter) ([]outbox.Record, string, error) {
	if err := checkState(f.State); err != nil {
		return nil, "", err
	}
	var after int64
	if f.Cursor != "" {
		n, err := strconv.ParseInt(f.Cursor, 10, 64)
		if err != nil || n < 0 || strconv.FormatInt(n, 10) != f.Cursor {
			return nil, "", fmt.Errorf("outbox/sqlite: list: Filter.Cursor %q is not a cursor that List returned", f.Cursor)
		}
		after = n
	}
	limit := f.Limit
	switch {
	case limit < 0:
		return nil, "", fmt.Errorf("outbox/sqlite: list: Filter.Limit %d, want 0 (the default, %d) up to %d", limit, DefaultListLimit, MaxListLimit)
	case limit == 0:
		limit = DefaultListLimit
	case limit > MaxListLimit:
		limit = MaxListLimit
	}
	query := `SELECT ` + columns + ` FROM ` + Table + ` WHERE seq > ?`
	args := []any{after}
	if f.State != 0 {
		query += ` AND state = ?`
		args = append(args, int(f.State))
	}
	if f.Destination != "" {
		query += ` AND destination = ?`
		args = append(args, f.Destination)
	}
	// One row more than the page tells whether there is a next page.
	query += ` ORDER BY seq LIMIT ?`
	args = append(args, limit+1)
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("outbox/sqlite: list: %w", err)
	}
	defer rows.Close()
	var (
		recs []outbox.Record
		last int64
		more bool
	)
	for rows.Next() {
		if len(recs) == limit {
			more = true
			break
		}
		seq, r, err := scanRecord(rows)
		if err != nil {
			return nil, "", fmt.Errorf("outbox/sqlite: list: %w", err)
		}
		recs, last = append(recs, r), seq
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("outbox/sqlite: list: %w", err)
	}
	if !more {
		return recs, "", nil
	}
	return recs, strconv.FormatInt(last, 10), nil
}

func checkState(s outbox.State) error {
	if s > outbox.Dead {
		return fmt.Errorf("outbox/sqlite: Filter.State %v is not a state", s)
	}
	return nil
}

// replaySet makes a dead message pending again, due at ?1, as if new.
const replaySet = `UPDATE ` + Table + ` SET state = 1, attempt = 0, next_attempt_at = ?1, lease_until = 0, dead_reason = '', last_error = '', last_status = 0 WHERE state = 5`

// Replay implements outbox.Store. It clears the message's dead reason,
// last error and last status.
func (s *Store) Replay(ctx context.Context, id string, now time.Time) error {
	return s.ifDead(ctx, "replay", replaySet+` AND id = ?2`, id, nanos(now), id)
}

// ReplayDead implements outbox.Store. It replays the dead messages of
// f.Destination, or all of them when it is empty, in one statement; the
// other fields of f are ignored.
func (s *Store) ReplayDead(ctx context.Context, f outbox.Filter, now time.Time) (int, error) {
	query, args := replaySet, []any{nanos(now)}
	if f.Destination != "" {
		query += ` AND destination = ?2`
		args = append(args, f.Destination)
	}
	if err := s.lock(ctx); err != nil {
		return 0, fmt.Errorf("outbox/sqlite: replay dead: %w", err)
	}
	res, err := s.db.ExecContext(ctx, query, args...)
	s.unlock()
	if err != nil {
		return 0, fmt.Errorf("outbox/sqlite: replay dead: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("outbox/sqlite: replay dead: %w", err)
	}
	return int(n), nil
}

// Discard implements outbox.Store.
func (s *Store) Discard(ctx context.Context, id string) error {
	return s.ifDead(ctx, "discard", `DELETE FROM `+Table+` WHERE state = 5 AND id = ?1`, id, id)
}

// ifDead runs a statement that changes message id only if it is dead;
// when it changes nothing, a second look tells ErrNotDead from
// ErrNotFound.
func (s *Store) ifDead(ctx context.Context, op, query, id string, args ...any) error {
	if err := s.lock(ctx); err != nil {
		return fmt.Errorf("outbox/sqlite: %s: %w", op, err)
	}
	res, err := s.db.ExecContext(ctx, query, args...)
	s.unlock()
	if err != nil {
		return fmt.Errorf("outbox/sqlite: %s: %w", op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("outbox/sqlite: %s: %w", op, err)
	}
	if n > 0 {
		return nil
	}
	var one int
	err = s.db.QueryRowContext(ctx, `SELECT 1 FROM `+Table+` WHERE id = ?1`, id).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return outbox.ErrNotFound
	case err != nil:
		return fmt.Errorf("outbox/sqlite: %s: %w", op, err)
	}
	return outbox.ErrNotDead
}

// Prune implements outbox.Store. It deletes in statements of at most a
// thousand rows, so that it never keeps other writers waiting long; if ctx
// ends between two, it reports what it deleted so far with ctx's error.
func (s *Store) Prune(ctx context.Context, before time.Time) (int, error) {
	const query = `DELETE FROM ` + Table + ` WHERE seq IN (SELECT seq FROM ` + Table + ` WHERE state = 3 AND sent_at < ?1 LIMIT ?2)`
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		if err := s.lock(ctx); err != nil {
			return total, err
		}
		res, err := s.db.ExecContext(ctx, query, nanos(before), pruneBatch)
		s.unlock()
		if err != nil {
			return total, fmt.Errorf("outbox/sqlite: prune: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("outbox/sqlite: prune: %w", err)
		}
		total += int(n)
		if n < pruneBatch {
			return total, nil
		}
	}
}

// Stats implements outbox.Store, in one scan of the table; now is not
// used. Destinations come in name order.
func (s *Store) Stats(ctx context.Context, now time.Time) ([]outbox.DestinationStats, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT destination, state, count(*), min(created_at) FROM `+Table+` GROUP BY destination, state ORDER BY destination, state`)
	if err != nil {
		return nil, fmt.Errorf("outbox/sqlite: stats: %w", err)
	}
	defer rows.Close()
	var rs []outboxsql.Stats
	for rows.Next() {
		var (
			dest          string
			state, oldest int64
			count         int
		)
		if err := rows.Scan(&dest, &state, &count, &oldest); err != nil {
			return nil, fmt.Errorf("outbox/sqlite: stats: %w", err)
		}
		rs = outboxsql.AppendStats(rs, dest, int(state), count, fromNanos(oldest))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("outbox/sqlite: stats: %w", err)
	}
	return destinationStats(rs), nil
}

// destinationStats converts the rows that outboxsql.AppendStats built.
func destinationStats(rs []outboxsql.Stats) []outbox.DestinationStats {
	if rs == nil {
		return nil
	}
	out := make([]outbox.DestinationStats, len(rs))
	for i, r := range rs {
		out[i] = outbox.DestinationStats(r)
	}
	return out
}
