package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/internal/outboxsql"
)

// MaxSkip bounds the destinations that one Claim may skip.
const MaxSkip = 1000

// MaxErrorBytes bounds the last error that MarkRetry and MarkDead keep; a
// longer one is cut to at most this many bytes, at a UTF-8 boundary.
const MaxErrorBytes = 1 << 10

// Table is the table Migrate creates and outbox.Enqueue writes to, one
// row per message; the package doc lists its columns.
const Table = outboxsql.Table

// Store is an outbox.Store in the table Table of a SQLite database.
// It is safe for concurrent use by any number of goroutines, and by the
// processes that share the database file. Make one with New; the zero
// Store is not usable.
type Store struct {
	db *sql.DB
	// write is held by the Store's writes, one at a time: SQLite lets one
	// connection write at a time, and writers that queue here, in
	// order, waste no time in SQLite's busy handler, which sleeps between
	// tries even once the lock is free.
	write     chan struct{}
	watch     watcher       // Wait's
	claimPace pace          // the last claim's timing, for Wait
	closed    chan struct{} // closed by Close
	closeOnce sync.Once
}

var (
	_ outbox.Store          = (*Store)(nil)
	_ outbox.BatchCompleter = (*Store)(nil)
	_ outbox.Waker          = (*Store)(nil)
)

// New returns a Store that keeps the outbox in db, a SQLite database opened
// in WAL mode with a busy timeout: use Open, or see the package doc. New
// checks both on one connection and returns a *PragmaError naming the
// first that is wrong and what it expected (journal_mode "wal",
// busy_timeout at least MinBusyTimeout ms). Call Migrate once before use to
// create the table. The Store does not own db: Close leaves it open; close
// it after the Store's last use.
func New(db *sql.DB, cfg Config) (*Store, error) {
	if db == nil {
		return nil, errors.New("outbox/sqlite: New needs a database")
	}
	if err := checkPragmas(context.Background(), db); err != nil {
		return nil, err
	}
	return &Store{db: db, write: make(chan struct{}, 1), watch: watcher{turn: make(chan struct{}, 1)}, closed: make(chan struct{})}, nil
}

// Config configures a Store. Its zero value means the defaults, and it has
// no fields yet: the table is always Table, since outbox.Enqueue writes to
// it by that name, and the database's settings are Open's. It is there so
// that every store is made the same way, New(db, Config{}).
type Config struct{}

// lock waits for the Store's turn to write, or for ctx to end; unlock
// gives the turn back.
func (s *Store) lock(ctx context.Context) error {
	select {
	case s.write <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) unlock() { <-s.write }

// columns are the columns of a record, in the order scanRecord reads them.
const columns = `seq, id, destination, payload, headers, ordering_key, state, attempt, created_at, next_attempt_at, lease_until, sent_at, dead_reason, last_error, last_status, trace_parent, trace_state`

// claimSQL is Claim's statement for n skipped destinations: ?1 is the new
// lease_until, ?2 now, ?3 the limit, ?4… the destinations skipped.
//
// A message is due when pending or retrying and its time has come, or when
// delivering and its lease has ended. A message with an ordering key is
// held back by any earlier message of its key that is pending, retrying or
// delivering, and by any message of its key that is delivering (a replayed
// old message must not run beside a newer one): "o.seq <> m.seq" keeps a
// delivering message whose lease ended from holding back itself. The term "o.state IN (1,2,4)" is also the
// condition of the partial index rebound_outbox_ordering_idx, which SQLite
// uses only because the query says so in the same words.
//
// SQLite runs one writer at a time and the statement is a single UPDATE,
// so the select and the update are one atomic step: concurrent claimers
// never share a message, and no SKIP LOCKED is needed.
func claimSQL(n int) string {
	var b strings.Builder
	b.WriteString(`UPDATE ` + Table + ` SET state = 2, attempt = attempt + 1, lease_until = ?1
WHERE seq IN (
	SELECT seq FROM ` + Table + ` m INDEXED BY rebound_outbox_unfinished_idx
	WHERE m.state IN (1,2,4) AND (CASE WHEN m.state = 2 THEN m.lease_until ELSE m.next_attempt_at END) <= ?2`)
	if n > 0 {
		b.WriteString("\n\tAND m.destination NOT IN (")
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "?%d", i+4)
		}
		b.WriteString(")")
	}
	b.WriteString(`
	AND (m.ordering_key = '' OR NOT EXISTS (
		SELECT 1 FROM ` + Table + ` o
		WHERE o.ordering_key = m.ordering_key AND o.state IN (1,2,4) AND o.seq <> m.seq
			AND (o.seq < m.seq OR o.state = 2)))
	ORDER BY m.seq LIMIT ?3)
RETURNING ` + columns)
	return b.String()
}

// claimNoSkip is the statement of the common claim, skipping nothing.
var claimNoSkip = claimSQL(0)

// Claim implements outbox.Store with one UPDATE … RETURNING statement. It
// returns the claimed messages in enqueue order. limit must be positive,
// and skip at most MaxSkip destinations long.
func (s *Store) Claim(ctx context.Context, now time.Time, lease time.Duration, limit int, skip []string) ([]outbox.Delivery, error) {
	if limit < 1 {
		return nil, fmt.Errorf("outbox/sqlite: claim: limit %d, want at least 1", limit)
	}
	if len(skip) > MaxSkip {
		return nil, fmt.Errorf("outbox/sqlite: claim: %d destinations to skip, want at most %d", len(skip), MaxSkip)
	}
	query := claimNoSkip
	if len(skip) > 0 {
		query = claimSQL(len(skip))
	}
	args := make([]any, 0, 3+len(skip))
	args = append(args, nanos(now.Add(lease)), nanos(now), limit)
	for _, d := range skip {
		args = append(args, d)
	}
	if err := s.lock(ctx); err != nil {
		return nil, fmt.Errorf("outbox/sqlite: claim: %w", err)
	}
	defer s.unlock()
	start := time.Now()
	defer func() { s.claimPace.record(start, time.Now()) }()
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("outbox/sqlite: claim: %w", err)
	}
	defer rows.Close()
	type claimed struct {
		seq int64
		d   outbox.Delivery
	}
	var got []claimed
	for rows.Next() {
		seq, r, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("outbox/sqlite: claim: %w", err)
		}
		got = append(got, claimed{seq, outbox.Delivery{Record: r}})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("outbox/sqlite: claim: %w", err)
	}
	// SQLite returns the rows of RETURNING in no promised order.
	slices.SortFunc(got, func(a, b claimed) int { return cmp.Compare(a.seq, b.seq) })
	ds := make([]outbox.Delivery, len(got))
	for i, c := range got {
		ds[i] = c.d
	}
	return ds, nil
}

// The statements of a delivery's outcome: ?1 is the ID, ?2 the attempt
// that claimed it. Each changes the message only while that attempt holds
// it, delivering; it ends the lease.
const (
	extendSQL  = `UPDATE ` + Table + ` SET lease_until = ?3 WHERE id = ?1 AND attempt = ?2 AND state = 2`
	sentSQL    = `UPDATE ` + Table + ` SET state = 3, sent_at = ?3, lease_until = 0 WHERE id = ?1 AND attempt = ?2 AND state = 2`
	retrySQL   = `UPDATE ` + Table + ` SET state = 4, next_attempt_at = ?3, last_error = ?4, last_status = ?5, lease_until = 0 WHERE id = ?1 AND attempt = ?2 AND state = 2`
	deadSQL    = `UPDATE ` + Table + ` SET state = 5, dead_reason = ?3, last_error = ?4, last_status = ?5, lease_until = 0 WHERE id = ?1 AND attempt = ?2 AND state = 2`
	releaseSQL = `UPDATE ` + Table + ` SET state = CASE WHEN attempt = 1 THEN 1 ELSE 4 END, attempt = attempt - 1, next_attempt_at = ?3, lease_until = 0 WHERE id = ?1 AND attempt = ?2 AND state = 2`
)

// Extend implements outbox.Store.
func (s *Store) Extend(ctx context.Context, id string, attempt int, until time.Time) error {
	return s.fenced(ctx, "extend", extendSQL, id, attempt, nanos(until))
}

// MarkSent implements outbox.Store.
func (s *Store) MarkSent(ctx context.Context, id string, attempt int, now time.Time) error {
	return s.fenced(ctx, "mark sent", sentSQL, id, attempt, nanos(now))
}

// MarkSentBatch implements outbox.BatchCompleter: MarkSent's statement for
// each message, in one transaction, so one commit.
func (s *Store) MarkSentBatch(ctx context.Context, sent []outbox.Completion) (stale []bool, err error) {
	stale = make([]bool, len(sent))
	if len(sent) == 0 {
		return stale, nil
	}
	if err := s.lock(ctx); err != nil {
		return nil, fmt.Errorf("outbox/sqlite: mark sent: %w", err)
	}
	defer s.unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("outbox/sqlite: mark sent: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	stmt, err := tx.PrepareContext(ctx, sentSQL)
	if err != nil {
		return nil, fmt.Errorf("outbox/sqlite: mark sent: %w", err)
	}
	defer stmt.Close()
	for i, c := range sent {
		res, err := stmt.ExecContext(ctx, c.ID, c.Attempt, nanos(c.At))
		if err != nil {
			return nil, fmt.Errorf("outbox/sqlite: mark sent: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, fmt.Errorf("outbox/sqlite: mark sent: %w", err)
		}
		stale[i] = n == 0
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("outbox/sqlite: mark sent: %w", err)
	}
	return stale, nil
}

// MarkRetry implements outbox.Store. It keeps at most MaxErrorBytes of
// lastErr.
func (s *Store) MarkRetry(ctx context.Context, id string, attempt int, next time.Time, lastErr string, lastStatus int) error {
	return s.fenced(ctx, "mark retry", retrySQL, id, attempt, nanos(next), truncate(lastErr), lastStatus)
}

// MarkDead implements outbox.Store. It keeps at most MaxErrorBytes of
// lastErr.
func (s *Store) MarkDead(ctx context.Context, id string, attempt int, reason, lastErr string, lastStatus int) error {
	return s.fenced(ctx, "mark dead", deadSQL, id, attempt, reason, truncate(lastErr), lastStatus)
}

// Release implements outbox.Store. The message goes back to pending if it
// had no attempt before this one, and to retrying otherwise.
func (s *Store) Release(ctx context.Context, id string, attempt int, next time.Time) error {
	return s.fenced(ctx, "release", releaseSQL, id, attempt, nanos(next))
}

// fenced runs a statement that changes a message only while attempt holds
// it; no row changed means it no longer does.
func (s *Store) fenced(ctx context.Context, op, query, id string, attempt int, args ...any) error {
	if err := s.lock(ctx); err != nil {
		return fmt.Errorf("outbox/sqlite: %s: %w", op, err)
	}
	res, err := s.db.ExecContext(ctx, query, append([]any{id, attempt}, args...)...)
	s.unlock()
	if err != nil {
		return fmt.Errorf("outbox/sqlite: %s: %w", op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("outbox/sqlite: %s: %w", op, err)
	}
	if n == 0 {
		return outbox.ErrStale
	}
	return nil
}

// scanRecord reads the columns of a record.
func scanRecord(sc interface{ Scan(...any) error }) (int64, outbox.Record, error) {
	var (
		r                          outbox.Record
		seq, state                 int64
		created, next, lease, sent int64
		headers                    sql.NullString
	)
	err := sc.Scan(&seq, &r.ID, &r.Destination, &r.Payload, &headers, &r.OrderingKey, &state, &r.Attempt,
		&created, &next, &lease, &sent, &r.DeadReason, &r.LastError, &r.LastStatus, &r.TraceParent, &r.TraceState)
	if err != nil {
		return 0, outbox.Record{}, err
	}
	if headers.Valid {
		if err := json.Unmarshal([]byte(headers.String), &r.Headers); err != nil {
			return 0, outbox.Record{}, fmt.Errorf("message %q: headers: %w", r.ID, err)
		}
	}
	r.State = outbox.State(state)
	r.CreatedAt, r.NextAttemptAt, r.LeaseUntil, r.SentAt = fromNanos(created), fromNanos(next), fromNanos(lease), fromNanos(sent)
	return seq, r, nil
}

// nanos is how the store keeps a time: Unix nanoseconds, exact and ordered
// for the years 1678 to 2262; 0 for the zero time.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNanos reads a time that nanos wrote, in UTC.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// truncate cuts s to at most MaxErrorBytes, at a UTF-8 boundary.
func truncate(s string) string {
	if len(s) <= MaxErrorBytes {
		return s
	}
	n := MaxErrorBytes
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
