package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/idempotency"
	"github.com/rebound-go/rebound/idempotency/internal/token"
)

// DefaultTable is the table a Store uses when Config.Table is empty.
const DefaultTable = "rebound_idempotency"

// Config configures a Store. Its zero value means the defaults.
type Config struct {
	// Table names the table of keys: a lower-case SQL identifier of at
	// most 48 bytes. Migrate also creates Table+"_schema_version" and an
	// index named Table+"_expires_at_idx". Default DefaultTable,
	// "rebound_idempotency".
	Table string
}

// Store is an idempotency.Store in a SQLite table. It is safe for
// concurrent use by any number of goroutines, and by the processes that
// share the database file.
type Store struct {
	db       *sql.DB
	name     string // bare table name, for derived names
	table    string // quoted
	versions string // quoted

	claim, get, extend, complete, release, reap string
}

var _ idempotency.Store = (*Store)(nil)

var identRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,47}$`)

// New returns a Store that keeps its keys in db, a SQLite database opened
// in WAL mode with a busy timeout (see the package doc). It checks cfg,
// without touching the database: an invalid field is a
// *rebound.ConfigError that names it. Call Migrate once before use to
// create the table.
//
// The database stays the caller's: the Store does not close it, and Close
// leaves it open. Close db after the Store's last use.
func New(db *sql.DB, cfg Config) (*Store, error) {
	if db == nil {
		return nil, errors.New("idempotency/sqlite: New needs a database")
	}
	if cfg.Table == "" {
		cfg.Table = DefaultTable
	}
	if !identRE.MatchString(cfg.Table) {
		return nil, &rebound.ConfigError{Field: "idempotency/sqlite.Config.Table", Problem: "want a lower-case SQL identifier of at most 48 bytes, got " + strconv.Quote(cfg.Table)}
	}
	t := `"` + cfg.Table + `"`
	s := &Store{db: db, name: cfg.Table, table: t, versions: `"` + cfg.Table + `_schema_version"`}
	// A returned row means the key was claimed; the WHERE of DO UPDATE lets
	// a claim take over only an expired key or an in-flight key past its
	// lease. SQLite runs one writer at a time, so the statement is atomic
	// and exactly one of concurrent claimers wins.
	s.claim = `INSERT INTO ` + t + ` (key, fingerprint, state, token, locked_until, expires_at)
VALUES (?1, ?2, 1, ?3, ?4, ?5)
ON CONFLICT (key) DO UPDATE SET
	fingerprint = excluded.fingerprint, state = 1, token = excluded.token,
	locked_until = excluded.locked_until, expires_at = excluded.expires_at,
	status = 0, header = NULL, body = NULL
WHERE ` + t + `.expires_at <= ?6 OR (` + t + `.state = 1 AND ` + t + `.locked_until <= ?6)
RETURNING token`
	s.get = `SELECT fingerprint, state, token, locked_until, expires_at, status, header, body FROM ` + t + ` WHERE key = ?1`
	s.extend = `UPDATE ` + t + ` SET locked_until = ?3 WHERE key = ?1 AND token = ?2 AND state = 1`
	s.complete = `UPDATE ` + t + ` SET state = 2, status = ?3, header = ?4, body = ?5, expires_at = ?6 WHERE key = ?1 AND token = ?2 AND state = 1`
	s.release = `DELETE FROM ` + t + ` WHERE key = ?1 AND token = ?2 AND state = 1`
	s.reap = `DELETE FROM ` + t + ` WHERE expires_at <= ?1`
	return s, nil
}

// Close releases what the Store holds of its own, which today is nothing,
// and returns nil; it is there so that every store closes the same way.
// It does not close the database, which is the caller's.
func (s *Store) Close() error { return nil }

// claimAttempts bounds the INSERT-then-SELECT loop of Claim: the SELECT
// misses only when the key was released or reaped between the two
// statements, which a retry resolves.
const claimAttempts = 3

// Claim implements idempotency.Store.
func (s *Store) Claim(ctx context.Context, key, fingerprint string, now time.Time, lease, ttl time.Duration) (idempotency.Claim, error) {
	for range claimAttempts {
		tok := token.New()
		var got string
		err := s.db.QueryRowContext(ctx, s.claim, key, fingerprint, tok, nanos(now.Add(lease)), nanos(now.Add(ttl)), nanos(now)).Scan(&got)
		if err == nil {
			return idempotency.Claim{Claimed: true, Token: got}, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return idempotency.Claim{}, fmt.Errorf("idempotency/sqlite: claim: %w", err)
		}
		rec, found, err := s.load(ctx, key)
		if err != nil {
			return idempotency.Claim{}, err
		}
		// Gone, or replaced by a record claimable at now (written by a
		// caller with an earlier clock): claim again.
		if found && !claimable(rec, now) {
			return idempotency.Claim{Existing: rec}, nil
		}
	}
	return idempotency.Claim{}, fmt.Errorf("idempotency/sqlite: claim %q: the key changed under %d attempts", key, claimAttempts)
}

func claimable(r idempotency.Record, now time.Time) bool {
	return !now.Before(r.ExpiresAt) || (r.State == idempotency.InFlight && !now.Before(r.LockedUntil))
}

func (s *Store) load(ctx context.Context, key string) (idempotency.Record, bool, error) {
	r := idempotency.Record{Key: key}
	var state, lockedUntil, expiresAt int64
	var header []byte
	err := s.db.QueryRowContext(ctx, s.get, key).Scan(&r.Fingerprint, &state, &r.Token, &lockedUntil, &expiresAt, &r.Response.Status, &header, &r.Response.Body)
	if errors.Is(err, sql.ErrNoRows) {
		return idempotency.Record{}, false, nil
	}
	if err != nil {
		return idempotency.Record{}, false, fmt.Errorf("idempotency/sqlite: load: %w", err)
	}
	r.State = idempotency.State(state)
	r.LockedUntil, r.ExpiresAt = time.Unix(0, lockedUntil).UTC(), time.Unix(0, expiresAt).UTC()
	if header != nil {
		if err := json.Unmarshal(header, &r.Response.Header); err != nil {
			return idempotency.Record{}, false, fmt.Errorf("idempotency/sqlite: load %q: header: %w", key, err)
		}
	}
	return r, true, nil
}

// Extend implements idempotency.Store.
func (s *Store) Extend(ctx context.Context, key, token string, now time.Time, lease time.Duration) error {
	return s.fenced(ctx, "extend", s.extend, key, token, nanos(now.Add(lease)))
}

// Complete implements idempotency.Store.
func (s *Store) Complete(ctx context.Context, key, token string, resp idempotency.Response, now time.Time, ttl time.Duration) error {
	var header any // NULL for a nil header, so that it reads back nil
	if resp.Header != nil {
		b, err := json.Marshal(resp.Header)
		if err != nil {
			return fmt.Errorf("idempotency/sqlite: complete %q: header: %w", key, err)
		}
		header = string(b)
	}
	return s.fenced(ctx, "complete", s.complete, key, token, resp.Status, header, resp.Body, nanos(now.Add(ttl)))
}

// Release implements idempotency.Store.
func (s *Store) Release(ctx context.Context, key, token string) error {
	return s.fenced(ctx, "release", s.release, key, token)
}

// fenced runs a statement that changes key only while token holds it in
// flight; no row changed means the lease is lost.
func (s *Store) fenced(ctx context.Context, op, query, key, token string, args ...any) error {
	res, err := s.db.ExecContext(ctx, query, append([]any{key, token}, args...)...)
	if err != nil {
		return fmt.Errorf("idempotency/sqlite: %s: %w", op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("idempotency/sqlite: %s: %w", op, err)
	}
	if n == 0 {
		return idempotency.ErrLeaseLost
	}
	return nil
}

// Reap implements idempotency.Store.
func (s *Store) Reap(ctx context.Context, now time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, s.reap, nanos(now))
	if err != nil {
		return 0, fmt.Errorf("idempotency/sqlite: reap: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("idempotency/sqlite: reap: %w", err)
	}
	return int(n), nil
}

// nanos is how the store keeps a time: Unix nanoseconds, exact and ordered
// for the years 1678 to 2262.
func nanos(t time.Time) int64 { return t.UnixNano() }
