package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/internal/outboxsql"
)

// Pages of List.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// Get implements outbox.Store.
func (s *Store) Get(ctx context.Context, id string) (outbox.Record, error) {
	_, r, err := scanRecord(s.pool.QueryRow(ctx, `SELECT `+columns+` FROM `+Table+` WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return outbox.Record{}, outbox.ErrNotFound
	}
	if err != nil {
		return outbox.Record{}, fmt.Errorf("outbox/postgres: get %q: %w", id, err)
	}
	return r, nil
}

// List implements outbox.Store. The cursor is the seq of the page's last
// message, in decimal. Filter.Limit defaults to DefaultListLimit and is
// capped at MaxListLimit; a negative Limit, an unknown State or a cursor
// that List did not return is an error naming the field.
func (s *Store) List(ctx context.Context, f outbox.Filter) ([]outbox.Record, string, error) {
	var after int64
	if f.Cursor != "" {
		n, err := strconv.ParseInt(f.Cursor, 10, 64)
		if err != nil || n < 0 {
			return nil, "", fmt.Errorf("outbox/postgres: list: Filter.Cursor %q is not a cursor that List returned", f.Cursor)
		}
		after = n
	}
	limit := f.Limit
	switch {
	case limit < 0:
		return nil, "", fmt.Errorf("outbox/postgres: list: Filter.Limit %d is negative", f.Limit)
	case limit == 0:
		limit = DefaultListLimit
	case limit > MaxListLimit:
		limit = MaxListLimit
	}
	if f.State > outbox.Dead {
		return nil, "", fmt.Errorf("outbox/postgres: list: Filter.State %v is not a state", f.State)
	}
	where, args := filterSQL(f)
	args = append(args, after, limit+1)
	sql := `SELECT ` + columns + ` FROM ` + Table + ` WHERE ` + where +
		` AND seq > $` + strconv.Itoa(len(args)-1) + ` ORDER BY seq LIMIT $` + strconv.Itoa(len(args))
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, "", fmt.Errorf("outbox/postgres: list: %w", err)
	}
	defer rows.Close()
	var (
		recs []outbox.Record
		last int64
		more bool
	)
	for rows.Next() {
		if len(recs) == limit {
			more = true // the one row past the page
			break
		}
		seq, r, err := scanRecord(rows)
		if err != nil {
			return nil, "", fmt.Errorf("outbox/postgres: list: %w", err)
		}
		recs, last = append(recs, r), seq
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("outbox/postgres: list: %w", err)
	}
	if !more {
		return recs, "", nil
	}
	return recs, strconv.FormatInt(last, 10), nil
}

// filterSQL returns the condition of f's State and Destination, and its
// arguments, numbered from $1.
func filterSQL(f outbox.Filter) (string, []any) {
	conds := []string{"TRUE"}
	var args []any
	if f.State != 0 {
		args = append(args, int16(f.State))
		conds = append(conds, "state = $"+strconv.Itoa(len(args)))
		if f.State != outbox.Sent && f.State != outbox.Dead {
			conds = append(conds, "NOT done") // lets List walk the index of unfinished messages
		}
	}
	if f.Destination != "" {
		args = append(args, f.Destination)
		conds = append(conds, "destination = $"+strconv.Itoa(len(args)))
	}
	return strings.Join(conds, " AND "), args
}

// replaySet makes a dead message pending again, due at $1.
const replaySet = `SET state = 1, attempt = 0, next_attempt_at = $1, lease_until = 0, dead_reason = '', last_error = '', last_status = 0`

// Replay implements outbox.Store in one statement: the message becomes
// pending, due at now, with no attempts and no last error.
func (s *Store) Replay(ctx context.Context, id string, now time.Time) error {
	// The EXISTS reads the statement's snapshot, from before the update:
	// it tells a message that is not dead from one that is not there.
	var replayed, found bool
	err := s.pool.QueryRow(ctx, `WITH u AS (
	UPDATE `+Table+` `+replaySet+` WHERE id = $2 AND state = 5 RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM u), EXISTS (SELECT 1 FROM `+Table+` WHERE id = $2)`, nanos(now), id).Scan(&replayed, &found)
	switch {
	case err != nil:
		return fmt.Errorf("outbox/postgres: replay %q: %w", id, err)
	case replayed:
		return nil
	case found:
		return outbox.ErrNotDead
	}
	return outbox.ErrNotFound
}

// ReplayDead implements outbox.Store in one statement. Only f.Destination
// selects: State, Cursor and Limit are ignored.
func (s *Store) ReplayDead(ctx context.Context, f outbox.Filter, now time.Time) (int, error) {
	sql := `UPDATE ` + Table + ` ` + replaySet + ` WHERE state = 5`
	args := []any{nanos(now)}
	if f.Destination != "" {
		sql += ` AND destination = $2`
		args = append(args, f.Destination)
	}
	tag, err := s.pool.Exec(ctx, sql, args...)
	if err != nil {
		return 0, fmt.Errorf("outbox/postgres: replay dead: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// Discard implements outbox.Store in one statement.
func (s *Store) Discard(ctx context.Context, id string) error {
	var deleted, found bool
	err := s.pool.QueryRow(ctx, `WITH d AS (
	DELETE FROM `+Table+` WHERE id = $1 AND state = 5 RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM d), EXISTS (SELECT 1 FROM `+Table+` WHERE id = $1)`, id).Scan(&deleted, &found)
	switch {
	case err != nil:
		return fmt.Errorf("outbox/postgres: discard %q: %w", id, err)
	case deleted:
		return nil
	case found:
		return outbox.ErrNotDead
	}
	return outbox.ErrNotFound
}

// Prune implements outbox.Store: it deletes the messages sent before
// before, in one statement.
func (s *Store) Prune(ctx context.Context, before time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM `+Table+` WHERE state = 3 AND sent_at <> 0 AND sent_at < $1`, nanos(before))
	if err != nil {
		return 0, fmt.Errorf("outbox/postgres: prune: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// Stats implements outbox.Store, sorted by destination. It counts every
// row of the table, sent ones included: run Prune to keep it cheap.
func (s *Store) Stats(ctx context.Context, now time.Time) ([]outbox.DestinationStats, error) {
	rows, err := s.pool.Query(ctx, `SELECT destination, state, count(*), min(created_at)
FROM `+Table+` GROUP BY destination, state ORDER BY destination, state`)
	if err != nil {
		return nil, fmt.Errorf("outbox/postgres: stats: %w", err)
	}
	defer rows.Close()
	var rs []outboxsql.Stats
	for rows.Next() {
		var (
			dest   string
			state  int16
			n      int64
			oldest int64
		)
		if err := rows.Scan(&dest, &state, &n, &oldest); err != nil {
			return nil, fmt.Errorf("outbox/postgres: stats: %w", err)
		}
		rs = outboxsql.AppendStats(rs, dest, int(state), int(n), fromNanos(oldest))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("outbox/postgres: stats: %w", err)
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
