package daemon

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	sqlitedriver "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/rebound-go/rebound"
)

// StoreBackoff is the wait between attempts to reach a store that does not
// answer yet: from 250 ms doubling up to 5 s, with full jitter, so that a
// store that comes back is used within about 5 s.
var StoreBackoff = rebound.Exponential{Initial: 250 * time.Millisecond, Max: 5 * time.Second}

// PingTimeout bounds each attempt to reach the store before it migrates; a
// store that does not answer within it is retried like a refused one.
// Migrating has no such bound: a long migration must not be cut short and
// started again.
const PingTimeout = 5 * time.Second

// A StoreError is a store failure that waiting cannot heal: a malformed
// connection string, an authentication failure, an unknown database,
// missing permission, a schema newer than this build, a SQLite file that
// cannot be opened. Run and Migrate return it; rebound relay and rebound
// migrate exit 2 with its text.
type StoreError struct {
	// Kind is the store's kind, sqlite or postgres.
	Kind string
	// Err is what failed.
	Err error
}

func (e *StoreError) Error() string {
	return "the " + e.Kind + " store cannot be used: " + e.Err.Error()
}

// Unwrap returns Err.
func (e *StoreError) Unwrap() error { return e.Err }

// Healable reports whether err, met while opening, reaching or migrating a
// store, may go away by itself, so that the caller should wait and try
// again:
//
//   - the server cannot be reached: refused, unreachable, reset, a
//     connection closed during its startup, timeouts, any DNS failure (a
//     database's name may appear only once its container runs);
//   - the server answered that it cannot take the connection or the
//     migration now: SQLSTATE class 08 (connection exception, except
//     08P01, a protocol violation), 57P01, 57P02, 57P03 (shutting down,
//     crashed, starting up), class 53 except 53400 (too many connections,
//     out of memory or disk), 40001 and 40P01 (a concurrent migration),
//     55P03 (lock timeout), 25006 (a standby in a failover, not yet
//     promoted), 58030 (an I/O error);
//   - pgx found no server of the wanted kind (target_session_attrs);
//   - SQLite is busy or locked by another process.
//
// Anything else cannot heal by waiting: a malformed connection string, an
// authentication failure (28000, 28P01), an unknown database (3D000),
// missing permission (42501), a schema newer than this build, a TLS
// certificate that is not trusted, a SQLite file that cannot be opened.
// Errors are told apart by type and SQLSTATE, never by their text.
func Healable(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return healableCode(pe.Code)
	}
	var pce *pgconn.ParseConfigError
	if errors.As(err, &pce) {
		return false
	}
	var npe *pgconn.NotPreferredError
	var dns *net.DNSError
	var se *sqlitedriver.Error
	switch {
	case errors.As(err, &npe), errors.As(err, &dns):
		return true
	case errors.As(err, &se):
		code := se.Code() & 0xff // the primary result code
		return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
	case pgconn.Timeout(err), errors.Is(err, context.DeadlineExceeded):
		// A connect or ping timeout of the attempt's own; the caller's
		// deadline ends the wait before errors are classified.
		return true
	}
	return rebound.Classify(err).Class == rebound.Connection
}

func healableCode(code string) bool {
	switch code {
	case "08P01", "53400":
		return false
	case "57P01", "57P02", "57P03", "40001", "40P01", "55P03", "25006", "58030":
		return true
	}
	return strings.HasPrefix(code, "08") || strings.HasPrefix(code, "53")
}

// classifyStore is the store policy's classifier: a healable error is a
// retryable Connection error, anything else a Logic error that ends the
// wait.
func classifyStore(err error) (rebound.Classification, bool) {
	if Healable(err) {
		return rebound.Classification{Class: rebound.Connection, Retryable: true}, true
	}
	return rebound.Classification{Class: rebound.Logic}, true
}

// Wait says how Migrate treats a store that does not answer yet. The zero
// value tries once.
type Wait struct {
	// For bounds the wait: Migrate gives up when the next attempt would
	// start later than For after the first. Zero tries once; negative waits
	// until the store answers or ctx ends.
	For time.Duration
	// Observer receives every attempt, retry and give-up as rebound events
	// (endpoint "store/KIND"); rebound.NewSlogObserver logs each retry with
	// its reason, attempt, wait and elapsed time. Default none.
	Observer rebound.Observer
	// Rand is the jitter's random source, for tests. Default
	// math/rand/v2.Float64.
	Rand func() float64
}

// Policy returns the retry policy Migrate uses for a store of kind.
func (w Wait) Policy(kind string) rebound.Policy {
	p := rebound.Policy{
		Endpoint:    "store/" + kind,
		MaxAttempts: rebound.MaxAttemptsLimit,
		Backoff:     StoreBackoff,
		RetryOn:     rebound.Classes(rebound.Connection),
		Classifiers: []rebound.Classifier{rebound.ClassifierFunc(classifyStore)},
		Observer:    w.Observer,
		Rand:        w.Rand,
	}
	switch {
	case w.For == 0:
		p.MaxAttempts = 1
	case w.For > 0:
		p.MaxElapsed = w.For
	}
	return p
}

// Migrate brings be's schema up to date. While the store cannot be
// reached, or answers that it cannot serve yet (see Healable), it waits
// and tries again as w says, with StoreBackoff; each attempt first pings
// the store, for at most PingTimeout, then migrates. An error that cannot
// heal ends it at once with a *StoreError. When the wait ends first, the
// error is a *rebound.Error saying why (rebound.ErrDeadline when w.For ran
// out, rebound.ErrCanceled when ctx ended) and wrapping the last failure.
// Error texts never carry the store's password.
func Migrate(ctx context.Context, be *Backend, w Wait) error {
	p := w.Policy(be.Kind)
	attempt := func(ctx context.Context) error {
		pctx, cancel := context.WithTimeout(ctx, PingTimeout)
		err := be.Ping(pctx)
		cancel()
		if err == nil {
			err = be.Migrate(ctx)
		}
		return be.redact(err)
	}
	for {
		err := rebound.Run(ctx, p, attempt)
		var re *rebound.Error
		switch {
		case err == nil:
			return nil
		case !errors.As(err, &re):
			return err // an invalid policy: a bug
		case re.Reason == rebound.ReasonPermanent:
			return &StoreError{Kind: be.Kind, Err: re.Last}
		case re.Reason == rebound.ReasonExhausted && w.For < 0 && ctx.Err() == nil:
			continue // the attempt cap, not the wait, ran out: keep waiting
		}
		return err
	}
}

// redacted keeps a password out of an error's text, unwrapping to the
// error it hides it in.
type redacted struct {
	err      error
	password string
}

func (r *redacted) Error() string { return strings.ReplaceAll(r.err.Error(), r.password, "xxxxx") }
func (r *redacted) Unwrap() error { return r.err }

// redact returns err, its text rid of the store's password.
func (be *Backend) redact(err error) error {
	if err == nil || be.password == "" || !strings.Contains(err.Error(), be.password) {
		return err
	}
	return &redacted{err: err, password: be.password}
}
