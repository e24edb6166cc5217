package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/idempotency"
	"github.com/rebound-go/rebound/idempotency/internal/token"
)

// DefaultTable is the table a Store uses when Config.Table is empty.
const DefaultTable = "rebound_idempotency"

// Config configures a Store. Its zero value means the defaults.
type Config struct {
	// Table names the table of keys: a lower-case SQL identifier of at
	// most 48 bytes, optionally qualified by a schema ("app.idem").
	// Migrate also creates Table+"_schema_version" and an index named
	// Table+"_expires_at_idx". Default DefaultTable,
	// "rebound_idempotency", in the search_path's first schema.
	Table string
}

// Store is an idempotency.Store in a PostgreSQL table. It is safe for
// concurrent use by any number of goroutines and processes sharing the
// database.
type Store struct {
	pool     *pgxpool.Pool
	name     string // bare table name, for derived names
	table    string // quoted, possibly qualified
	versions string // quoted, possibly qualified
	lockKey  int64  // advisory lock that serialises Migrate

	claim, get, extend, complete, release, reap string
}

var _ idempotency.Store = (*Store)(nil)

var identRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,47}$`)

// New returns a Store that keeps its keys in pool's database. It checks
// cfg, without a round trip: an invalid field is a *rebound.ConfigError
// that names it. Call Migrate once before use to create the table.
//
// The pool stays the caller's: the Store does not close it, and Close
// leaves it open. Close the pool after the Store's last use.
func New(pool *pgxpool.Pool, cfg Config) (*Store, error) {
	if pool == nil {
		return nil, errors.New("idempotency/postgres: New needs a pool")
	}
	if cfg.Table == "" {
		cfg.Table = DefaultTable
	}
	schema, name, qualified := strings.Cut(cfg.Table, ".")
	if !qualified {
		schema, name = "", cfg.Table
	}
	if !identRE.MatchString(name) || (qualified && !identRE.MatchString(schema)) {
		return nil, &rebound.ConfigError{Field: "idempotency/postgres.Config.Table", Problem: "want a lower-case SQL identifier of at most 48 bytes, optionally schema-qualified, got " + strconv.Quote(cfg.Table)}
	}
	ident := func(n string) string {
		if qualified {
			return pgx.Identifier{schema, n}.Sanitize()
		}
		return pgx.Identifier{n}.Sanitize()
	}
	// The seed names the package as it was called when the lock was
	// introduced. It must not change: processes of an older release
	// migrating the same table must take the same lock.
	h := fnv.New64a()
	h.Write([]byte("rebound/idempotency/pgstore:" + cfg.Table))
	s := &Store{
		pool:     pool,
		name:     name,
		table:    ident(name),
		versions: ident(name + "_schema_version"),
		lockKey:  int64(h.Sum64()),
	}
	t := s.table
	// One statement, one round trip, either way. cur reads the key as the
	// statement's snapshot sees it. When it is there and not claimable
	// (completed, or in flight within its lease) the INSERT inserts
	// nothing, so a replay writes nothing: no lock, no WAL, no commit
	// flush, and the existing record is returned. Otherwise the INSERT
	// claims it; the WHERE of DO UPDATE lets a claim take over only an
	// expired key or an in-flight key past its lease. Under READ
	// COMMITTED a conflicting INSERT waits for the concurrent writer and
	// evaluates the WHERE against the committed row, so exactly one of
	// concurrent claimers wins; a loser whose snapshot predates the
	// winner's row gets no row at all and reads the record again.
	s.claim = `WITH cur AS (
	SELECT fingerprint, state, token, locked_until, expires_at, status, header, body
	FROM ` + t + ` WHERE key = $1
), ins AS (
	INSERT INTO ` + t + ` AS r (key, fingerprint, state, token, locked_until, expires_at)
	SELECT $1, $2, 1, $3, $4, $5
	WHERE NOT EXISTS (SELECT 1 FROM cur WHERE cur.expires_at > $6 AND (cur.state = 2 OR cur.locked_until > $6))
	ON CONFLICT (key) DO UPDATE SET
		fingerprint = EXCLUDED.fingerprint, state = 1, token = EXCLUDED.token,
		locked_until = EXCLUDED.locked_until, expires_at = EXCLUDED.expires_at,
		status = 0, header = NULL, body = NULL
	WHERE r.expires_at <= $6 OR (r.state = 1 AND r.locked_until <= $6)
	RETURNING r.token
)
SELECT true, ins.token, '', 0::smallint, $6::timestamptz, $6::timestamptz, 0, NULL::jsonb, NULL::bytea FROM ins
UNION ALL
SELECT false, cur.token, cur.fingerprint, cur.state, cur.locked_until, cur.expires_at, cur.status, cur.header, cur.body
FROM cur
WHERE NOT EXISTS (SELECT 1 FROM ins) AND cur.expires_at > $6 AND (cur.state = 2 OR cur.locked_until > $6)`
	s.get = `SELECT fingerprint, state, token, locked_until, expires_at, status, header, body FROM ` + t + ` WHERE key = $1`
	s.extend = `UPDATE ` + t + ` SET locked_until = $3 WHERE key = $1 AND token = $2 AND state = 1`
	s.complete = `UPDATE ` + t + ` SET state = 2, status = $3, header = $4, body = $5, expires_at = $6 WHERE key = $1 AND token = $2 AND state = 1`
	s.release = `DELETE FROM ` + t + ` WHERE key = $1 AND token = $2 AND state = 1`
	s.reap = `DELETE FROM ` + t + ` WHERE expires_at <= $1`
	return s, nil
}

// Close releases what the Store holds of its own, which today is nothing,
// and returns nil; it is there so that every store closes the same way.
// It does not close the pool, which is the caller's.
func (s *Store) Close() error { return nil }

// claimAttempts bounds Claim's loop: the claim statement returns no row
// only when a concurrent claimer's row appeared after its snapshot, and the
// follow-up read misses only when that row was released or reaped in
// between, which another round resolves.
const claimAttempts = 3

// Claim implements idempotency.Store. It takes one round trip, whether it
// claims the key or returns the existing record.
func (s *Store) Claim(ctx context.Context, key, fingerprint string, now time.Time, lease, ttl time.Duration) (idempotency.Claim, error) {
	for range claimAttempts {
		tok := token.New()
		var (
			claimed bool
			state   int16
			status  int32
			header  []byte
		)
		r := idempotency.Record{Key: key}
		err := s.pool.QueryRow(ctx, s.claim, key, fingerprint, tok, now.Add(lease), now.Add(ttl), now).
			Scan(&claimed, &r.Token, &r.Fingerprint, &state, &r.LockedUntil, &r.ExpiresAt, &status, &header, &r.Response.Body)
		if err == nil {
			if claimed {
				return idempotency.Claim{Claimed: true, Token: r.Token}, nil
			}
			r.State, r.Response.Status = idempotency.State(state), int(status)
			r.LockedUntil, r.ExpiresAt = r.LockedUntil.UTC(), r.ExpiresAt.UTC()
			if len(header) > 0 {
				if err := json.Unmarshal(header, &r.Response.Header); err != nil {
					return idempotency.Claim{}, fmt.Errorf("idempotency/postgres: claim %q: header: %w", key, err)
				}
			}
			return idempotency.Claim{Existing: r}, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return idempotency.Claim{}, fmt.Errorf("idempotency/postgres: claim: %w", err)
		}
		// A concurrent claimer inserted the key after this statement's
		// snapshot: read what it wrote.
		rec, found, err := s.load(ctx, key)
		if err != nil {
			return idempotency.Claim{}, err
		}
		if found && !claimable(rec, now) {
			return idempotency.Claim{Existing: rec}, nil
		}
	}
	return idempotency.Claim{}, fmt.Errorf("idempotency/postgres: claim %q: the key changed under %d attempts", key, claimAttempts)
}

func claimable(r idempotency.Record, now time.Time) bool {
	return !now.Before(r.ExpiresAt) || (r.State == idempotency.InFlight && !now.Before(r.LockedUntil))
}

func (s *Store) load(ctx context.Context, key string) (idempotency.Record, bool, error) {
	r := idempotency.Record{Key: key}
	var state int16
	var status int32
	var header []byte
	err := s.pool.QueryRow(ctx, s.get, key).Scan(&r.Fingerprint, &state, &r.Token, &r.LockedUntil, &r.ExpiresAt, &status, &header, &r.Response.Body)
	if errors.Is(err, pgx.ErrNoRows) {
		return idempotency.Record{}, false, nil
	}
	if err != nil {
		return idempotency.Record{}, false, fmt.Errorf("idempotency/postgres: load: %w", err)
	}
	r.State, r.Response.Status = idempotency.State(state), int(status)
	r.LockedUntil, r.ExpiresAt = r.LockedUntil.UTC(), r.ExpiresAt.UTC()
	if len(header) > 0 {
		if err := json.Unmarshal(header, &r.Response.Header); err != nil {
			return idempotency.Record{}, false, fmt.Errorf("idempotency/postgres: load %q: header: %w", key, err)
		}
	}
	return r, true, nil
}

// Extend implements idempotency.Store.
func (s *Store) Extend(ctx context.Context, key, token string, now time.Time, lease time.Duration) error {
	return s.fenced(ctx, "extend", s.extend, key, token, now.Add(lease))
}

// Complete implements idempotency.Store.
func (s *Store) Complete(ctx context.Context, key, token string, resp idempotency.Response, now time.Time, ttl time.Duration) error {
	header, err := encodeHeader(resp.Header)
	if err != nil {
		return fmt.Errorf("idempotency/postgres: complete %q: header: %w", key, err)
	}
	return s.fenced(ctx, "complete", s.complete, key, token, resp.Status, header, resp.Body, now.Add(ttl))
}

// Release implements idempotency.Store.
func (s *Store) Release(ctx context.Context, key, token string) error {
	return s.fenced(ctx, "release", s.release, key, token)
}

// fenced runs a statement that changes key only while token holds it in
// flight; no row changed means the lease is lost.
func (s *Store) fenced(ctx context.Context, op, sql, key, token string, args ...any) error {
	tag, err := s.pool.Exec(ctx, sql, append([]any{key, token}, args...)...)
	if err != nil {
		return fmt.Errorf("idempotency/postgres: %s: %w", op, err)
	}
	if tag.RowsAffected() == 0 {
		return idempotency.ErrLeaseLost
	}
	return nil
}

// Reap implements idempotency.Store.
func (s *Store) Reap(ctx context.Context, now time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, s.reap, now)
	if err != nil {
		return 0, fmt.Errorf("idempotency/postgres: reap: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// encodeHeader returns h as a JSON object, or nil (SQL NULL) for a nil
// header, so that a nil header reads back nil.
func encodeHeader(h http.Header) ([]byte, error) {
	if h == nil {
		return nil, nil
	}
	return json.Marshal(h)
}
