package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/internal/outboxsql"
)

// Table is the table Migrate creates and the Enqueues write to, one row per
// message; the package doc lists its columns.
const Table = outboxsql.Table

// Channel is the PostgreSQL notification channel that every committed
// enqueue notifies and Wait listens on.
const Channel = Table

// Store is an outbox.Store in the PostgreSQL table Table, through a
// pgxpool.Pool. It is safe for concurrent use by any number of goroutines
// and processes sharing the database. It is also an outbox.Waker; Close
// releases the connection Wait listens on.
type Store struct {
	pool   *pgxpool.Pool
	listen listener
	// planned is the query mode of the statements that must be planned
	// for the table as it is now (see planFresh).
	planned pgx.QueryExecMode
}

var (
	_ outbox.Store          = (*Store)(nil)
	_ outbox.Waker          = (*Store)(nil)
	_ outbox.BatchCompleter = (*Store)(nil)
)

// Config configures a Store. Its zero value means the defaults, and it has
// no fields yet: the table is always Table, in the first schema of the
// pool's search_path, since outbox.Enqueue writes to it by that name. It
// is there so that every store is made the same way, New(db, Config{}).
type Config struct{}

// New returns a Store that keeps the outbox in pool's database, in the
// first schema of its search_path, configured by cfg. Call Migrate once
// before use to create the table. The pool stays the caller's: Close does
// not close it.
func New(pool *pgxpool.Pool, cfg Config) (*Store, error) {
	if pool == nil {
		return nil, errors.New("outbox/postgres: New needs a pool")
	}
	return &Store{pool: pool, planned: planFresh(pool.Config().ConnConfig)}, nil
}

// planFresh returns the query mode in which PostgreSQL plans a statement
// at each execution, for the table as it is then, rather than reusing a
// prepared statement's plan. After five executions PostgreSQL may keep a
// generic plan, and one made while the table was small reads every row
// of it to find the claimed ones by seq: a claim then costs time in
// proportion to the table, sent messages included (9 ms at 40,000 rows
// against 1 ms, growing until an ANALYZE replaces the plan). Planning the
// claim costs about 0.1 ms.
//
// The mode is the pool's own when that already plans every time (the
// simple protocol, for PgBouncer users); otherwise it runs the unnamed
// statement with binary values, its description cached, or, when the
// pool has no description cache, with text values.
func planFresh(cfg *pgx.ConnConfig) pgx.QueryExecMode {
	switch {
	case cfg.DefaultQueryExecMode == pgx.QueryExecModeSimpleProtocol || cfg.DefaultQueryExecMode == pgx.QueryExecModeExec:
		return cfg.DefaultQueryExecMode
	case cfg.DescriptionCacheCapacity > 0:
		return pgx.QueryExecModeCacheDescribe
	default:
		return pgx.QueryExecModeExec
	}
}

// columns are the columns of a Record, in scanRecord's order.
const columns = `seq, id, destination, payload, headers, ordering_key, state, attempt, created_at, next_attempt_at, lease_until, sent_at, dead_reason, last_error, last_status, trace_parent, trace_state`

// claimSQL leases due messages in one statement. The subquery picks them,
// oldest first, and locks them with SKIP LOCKED, so that concurrent
// claimers pass over each other's rows instead of waiting for them; a row
// that another claimer changed and committed since this statement's
// snapshot is locked in its new version and checked against the WHERE
// again, so it is taken only if it is still due. A keyed message is due
// only when no earlier message of its key is unfinished.
//
// The rest is for the planner, which must walk the partial index of
// unfinished messages in seq order and stop at the limit, reading no sent
// or dead rows, whatever the table's statistics say:
//
//   - NOT m.done (state 1, 2 or 4) matches that index's predicate;
//     requiring a non-empty o.ordering_key lets it use the partial index
//     of unfinished keyed messages. (The indexes read done rather than
//     state so that a claim, which changes state but not done, is a HOT
//     update: see migration 3.)
//   - The due test is one expression instead of an OR of two: without
//     statistics (a fresh table) the OR made the planner scan and sort
//     every due row.
//   - The limit is a subquery, which the planner cannot read: with a
//     plain $3, a table without statistics (where it expects a few dozen
//     due rows) and a limit above that made it sort every due row too,
//     tens of milliseconds per claim for a backlog of 50,000.
//   - The update finds the rows by seq in an array, so that it goes
//     through the primary key whatever the planner thinks the subquery
//     returns, instead of hashing the whole table.
//   - It is planned at each execution (planFresh): a plan kept from when
//     the table was small scans all of it for those seqs.
//
// $1 now, $2 destinations to skip, $3 limit, $4 lease end.
const claimSQL = `UPDATE ` + Table + ` t SET state = 2, attempt = t.attempt + 1, lease_until = $4
WHERE t.seq = ANY(ARRAY(
	SELECT m.seq FROM ` + Table + ` m
	WHERE NOT m.done
		AND (CASE WHEN m.state = 2 THEN m.lease_until ELSE m.next_attempt_at END) <= $1
		AND NOT (m.destination = ANY($2::text[]))
		AND (m.ordering_key = '' OR NOT EXISTS (
			SELECT 1 FROM ` + Table + ` o
			WHERE o.ordering_key = m.ordering_key AND o.ordering_key <> ''
				AND NOT o.done AND o.seq <> m.seq
				AND (o.seq < m.seq OR o.state = 2)))
	ORDER BY m.seq
	LIMIT (SELECT $3::int)
	FOR UPDATE OF m SKIP LOCKED
))
RETURNING t.seq, t.id, t.destination, t.payload, t.headers, t.ordering_key, t.state, t.attempt, t.created_at, t.next_attempt_at, t.lease_until, t.sent_at, t.dead_reason, t.last_error, t.last_status, t.trace_parent, t.trace_state`

// Claim implements outbox.Store in one statement. It returns the messages
// in enqueue order. A limit below 1 claims nothing.
func (s *Store) Claim(ctx context.Context, now time.Time, lease time.Duration, limit int, skip []string) ([]outbox.Delivery, error) {
	if limit < 1 {
		return nil, nil
	}
	if skip == nil {
		skip = []string{} // a NULL array would match nothing
	}
	rows, err := s.pool.Query(ctx, claimSQL, s.planned, nanos(now), skip, limit, nanos(now.Add(lease)))
	if err != nil {
		return nil, fmt.Errorf("outbox/postgres: claim: %w", err)
	}
	type claimed struct {
		seq int64
		d   outbox.Delivery
	}
	var got []claimed
	for rows.Next() {
		seq, r, err := scanRecord(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("outbox/postgres: claim: %w", err)
		}
		got = append(got, claimed{seq, outbox.Delivery{Record: r}})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("outbox/postgres: claim: %w", err)
	}
	// RETURNING follows the update, not the subquery's order.
	slices.SortFunc(got, func(a, b claimed) int { return cmp.Compare(a.seq, b.seq) })
	out := make([]outbox.Delivery, len(got))
	for i, c := range got {
		out[i] = c.d
	}
	return out, nil
}

// The fenced statements: $1 id, $2 attempt, and only while delivering.
const (
	extendSQL   = `UPDATE ` + Table + ` SET lease_until = $3 WHERE id = $1 AND attempt = $2 AND state = 2`
	markSentSQL = `UPDATE ` + Table + ` SET state = 3, sent_at = $3, lease_until = 0 WHERE id = $1 AND attempt = $2 AND state = 2`
	retrySQL    = `UPDATE ` + Table + ` SET state = 4, next_attempt_at = $3, last_error = $4, last_status = $5, lease_until = 0 WHERE id = $1 AND attempt = $2 AND state = 2`
	deadSQL     = `UPDATE ` + Table + ` SET state = 5, dead_reason = $3, last_error = $4, last_status = $5, lease_until = 0 WHERE id = $1 AND attempt = $2 AND state = 2`
	releaseSQL  = `UPDATE ` + Table + ` SET state = CASE WHEN attempt - 1 = 0 THEN 1 ELSE 4 END, attempt = attempt - 1, next_attempt_at = $3, lease_until = 0 WHERE id = $1 AND attempt = $2 AND state = 2`
)

// Extend implements outbox.Store.
func (s *Store) Extend(ctx context.Context, id string, attempt int, until time.Time) error {
	return s.fenced(ctx, "extend", extendSQL, id, attempt, nanos(until))
}

// MarkSent implements outbox.Store.
func (s *Store) MarkSent(ctx context.Context, id string, attempt int, now time.Time) error {
	return s.fenced(ctx, "mark sent", markSentSQL, id, attempt, nanos(now))
}

// markSentBatchSQL is MarkSent for many messages in one statement: $1
// their IDs, $2 the attempts that delivered them, $3 when. It returns the
// messages it changed; the others are stale.
//
// The rows are found by ID, one look-up in the unique index each (a
// subquery per ID, which the planner cannot turn into a scan of the
// table), then by seq in an array. Joined on id directly, a table without
// statistics (where the planner expects a few dozen unfinished rows) had
// every unfinished message read and hashed for each batch: 12 ms for 250
// messages with a backlog of 50,000, against 3 ms this way.
const markSentBatchSQL = `UPDATE ` + Table + ` t SET state = 3, sent_at = d.sent_at, lease_until = 0
FROM unnest($1::text[], $2::int[], $3::bigint[]) AS d(id, attempt, sent_at)
WHERE t.seq = ANY(ARRAY(SELECT (SELECT m.seq FROM ` + Table + ` m WHERE m.id = u.id) FROM unnest($1::text[]) AS u(id)))
	AND t.id = d.id AND t.attempt = d.attempt AND t.state = 2
RETURNING t.id, t.attempt`

// MarkSentBatch implements outbox.BatchCompleter with one UPDATE … FROM
// unnest(…) statement, fenced like MarkSent; the rows it did not change
// are reported stale. It changes the rows in ID order, so that concurrent
// batches lock them in the same order.
func (s *Store) MarkSentBatch(ctx context.Context, sent []outbox.Completion) ([]bool, error) {
	stale := make([]bool, len(sent))
	if len(sent) == 0 {
		return stale, nil
	}
	order := make([]int, len(sent))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(sent[a].ID, sent[b].ID) })
	ids, attempts, at := make([]string, len(sent)), make([]int32, len(sent)), make([]int64, len(sent))
	for j, i := range order {
		ids[j], attempts[j], at[j] = sent[i].ID, int32(sent[i].Attempt), nanos(sent[i].At)
	}
	// Planned at each execution like the claim: a generic plan cannot
	// know the arrays' length and may join them to the rows in a nested
	// loop (225 ms for 800 messages), or read the whole table.
	rows, err := s.pool.Query(ctx, markSentBatchSQL, s.planned, ids, attempts, at)
	if err != nil {
		return nil, fmt.Errorf("outbox/postgres: mark sent (%d messages): %w", len(sent), err)
	}
	type key struct {
		id      string
		attempt int32
	}
	done := make(map[key]bool, len(sent))
	for rows.Next() {
		var k key
		if err := rows.Scan(&k.id, &k.attempt); err != nil {
			rows.Close()
			return nil, fmt.Errorf("outbox/postgres: mark sent (%d messages): %w", len(sent), err)
		}
		done[k] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("outbox/postgres: mark sent (%d messages): %w", len(sent), err)
	}
	for i, c := range sent {
		stale[i] = !done[key{c.ID, int32(c.Attempt)}]
	}
	return stale, nil
}

// MarkRetry implements outbox.Store. lastErr is kept to its first
// MaxErrorBytes, as valid UTF-8.
func (s *Store) MarkRetry(ctx context.Context, id string, attempt int, next time.Time, lastErr string, lastStatus int) error {
	return s.fenced(ctx, "mark retry", retrySQL, id, attempt, nanos(next), clip(lastErr), lastStatus)
}

// MarkDead implements outbox.Store. reason and lastErr are kept to their
// first MaxErrorBytes, as valid UTF-8.
func (s *Store) MarkDead(ctx context.Context, id string, attempt int, reason, lastErr string, lastStatus int) error {
	return s.fenced(ctx, "mark dead", deadSQL, id, attempt, clip(reason), clip(lastErr), lastStatus)
}

// Release implements outbox.Store: a message released at its first
// attempt is pending again, a later one retrying.
func (s *Store) Release(ctx context.Context, id string, attempt int, next time.Time) error {
	return s.fenced(ctx, "release", releaseSQL, id, attempt, nanos(next))
}

// fenced runs a statement that changes a message only while the attempt
// holds it; no row changed means the attempt is stale.
func (s *Store) fenced(ctx context.Context, op, sql, id string, attempt int, args ...any) error {
	tag, err := s.pool.Exec(ctx, sql, append([]any{id, attempt}, args...)...)
	if err != nil {
		return fmt.Errorf("outbox/postgres: %s %q: %w", op, id, err)
	}
	if tag.RowsAffected() == 0 {
		return outbox.ErrStale
	}
	return nil
}

// MaxErrorBytes bounds the stored last error and dead reason.
const MaxErrorBytes = 1 << 10

// clip returns s as text PostgreSQL accepts (valid UTF-8 without NUL),
// cut to at most MaxErrorBytes on a character boundary.
func clip(s string) string {
	// Invalid bytes grow to 3 when replaced: 4× the limit is always
	// enough to fill it.
	if len(s) > 4*MaxErrorBytes {
		s = s[:4*MaxErrorBytes]
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	if len(s) <= MaxErrorBytes {
		return s
	}
	cut := MaxErrorBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// scanRecord reads the columns of a record.
func scanRecord(row pgx.Row) (int64, outbox.Record, error) {
	var (
		r                          outbox.Record
		seq                        int64
		headers                    *string
		state                      int16
		attempt, status            int32
		created, next, lease, sent int64
	)
	err := row.Scan(&seq, &r.ID, &r.Destination, &r.Payload, &headers, &r.OrderingKey, &state, &attempt,
		&created, &next, &lease, &sent, &r.DeadReason, &r.LastError, &status, &r.TraceParent, &r.TraceState)
	if err != nil {
		return 0, outbox.Record{}, err
	}
	if headers != nil && *headers != "" {
		if err := json.Unmarshal([]byte(*headers), &r.Headers); err != nil {
			return 0, outbox.Record{}, fmt.Errorf("message %q: headers: %w", r.ID, err)
		}
	}
	r.State, r.Attempt, r.LastStatus = outbox.State(state), int(attempt), int(status)
	r.CreatedAt, r.NextAttemptAt, r.LeaseUntil, r.SentAt = fromNanos(created), fromNanos(next), fromNanos(lease), fromNanos(sent)
	return seq, r, nil
}

// nanos is t in Unix nanoseconds, 0 for the zero time.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNanos is the time of Unix nanoseconds n, in UTC; zero for 0.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
