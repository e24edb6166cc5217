package daemon

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/internal/daemon/pgfault"
	"github.com/rebound-go/rebound/internal/pgtest"
)

// connectErr connects to a pgfault proxy put in a mode by set, and returns
// pgx's error: the error a relay meets, built by pgx from a real
// connection.
func connectErr(t *testing.T, set func(p *pgfault.Proxy)) error {
	t.Helper()
	p := pgfault.New(t, "127.0.0.1:1")
	set(p)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	conn, err := pgx.Connect(ctx, "postgres://rebound:pw@"+p.Addr()+"/rebound?sslmode=disable")
	if err == nil {
		conn.Close(ctx)
		t.Fatal("connected; want an error")
	}
	return err
}

func sqliteBusy(t *testing.T) error {
	t.Helper()
	path := filepath.Join(t.TempDir(), "busy.db")
	open := func(timeout int) *sql.DB {
		db, err := sql.Open("sqlite", fmt.Sprintf("file:%s?_pragma=busy_timeout(%d)&_txlock=immediate", path, timeout))
		if err != nil {
			t.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		t.Cleanup(func() { db.Close() })
		return db
	}
	a, b := open(10000), open(0)
	if _, err := a.Exec("CREATE TABLE t (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	tx, err := a.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	_, err = b.Exec("INSERT INTO t VALUES (1)")
	if err == nil {
		t.Fatal("a second writer got the lock; want SQLITE_BUSY")
	}
	return err
}

// Healable tells the failures that go away by themselves from those that
// need someone to act, on the errors pgx and the SQLite driver really
// return.
func TestHealable(t *testing.T) {
	reject := func(code, msg string) func(*pgfault.Proxy) {
		return func(p *pgfault.Proxy) { p.Reject(code, msg) }
	}
	_, parseErr := pgconn.ParseConfig("postgres://u:pw@h/db?sslmode=bogus")
	_, sqliteOpenErr := Open(context.Background(), "sqlite", filepath.Join(t.TempDir(), "missing", "x.db"))
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"refused", connectErr(t, func(*pgfault.Proxy) {}), true},
		{"no answer (connect timeout)", connectErr(t, (*pgfault.Proxy).Hang), true},
		{"starting up 57P03", connectErr(t, reject("57P03", "the database system is starting up")), true},
		{"shutting down 57P03", connectErr(t, reject("57P03", "the database system is shutting down")), true},
		{"too many connections 53300", connectErr(t, reject("53300", "sorry, too many clients already")), true},
		{"admin shutdown 57P01", connectErr(t, reject("57P01", "terminating connection due to administrator command")), true},
		{"crash shutdown 57P02", connectErr(t, reject("57P02", "terminating connection because of crash of another server process")), true},
		{"connection failure 08006", connectErr(t, reject("08006", "connection failure")), true},
		{"out of memory 53200", connectErr(t, reject("53200", "out of memory")), true},
		{"read-only standby 25006", connectErr(t, reject("25006", "cannot execute CREATE TABLE in a read-only transaction")), true},
		{"password authentication 28P01", connectErr(t, reject("28P01", `password authentication failed for user "rebound"`)), false},
		{"no pg_hba entry 28000", connectErr(t, reject("28000", `no pg_hba.conf entry for host "127.0.0.1"`)), false},
		{"unknown database 3D000", connectErr(t, reject("3D000", `database "rebound" does not exist`)), false},
		{"permission 42501", connectErr(t, reject("42501", "permission denied for schema public")), false},
		{"protocol violation 08P01", connectErr(t, reject("08P01", "invalid startup packet layout")), false},
		{"configuration limit 53400", connectErr(t, reject("53400", "configuration limit exceeded")), false},
		{"malformed connection string", parseErr, false},
		{"schema newer than the build", errors.New("outbox/postgres: migrate: the outbox is at schema version 9, newer than this package's 3"), false},
		{"sqlite file cannot be opened", sqliteOpenErr, false},
		{"sqlite busy", sqliteBusy(t), true},
		{"DNS not found", fmt.Errorf("dial: %w", &net.DNSError{Err: "no such host", Name: "db", IsNotFound: true}), true},
		{"DNS timeout", &net.DNSError{Err: "i/o timeout", Name: "db", IsTimeout: true}, true},
		{"refused, wrapped", fmt.Errorf("ping: %w", refused), true},
		{"ping deadline", fmt.Errorf("ping: %w", context.DeadlineExceeded), true},
		{"dropped mid-startup", io.ErrUnexpectedEOF, true},
		{"redacted refused", (&Backend{password: "pw"}).redact(fmt.Errorf("pw %w", refused)), true},
		{"unknown", errors.New("something else"), false},
		{"nil", nil, false},
	} {
		if got := Healable(c.err); got != c.want {
			t.Errorf("%s: Healable(%v) = %v; want %v", c.name, c.err, got, c.want)
		}
	}
}

// dialRefused is the error a dial to a closed port returns.
var dialRefused = &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}

// fakeBackend is a store whose Ping fails with fail until up says it is
// back; Migrate counts its calls.
func fakeBackend(up func() bool, fail error, migrated *int) *Backend {
	return &Backend{
		Kind:     "postgres",
		password: "s3cret-pw",
		Ping: func(ctx context.Context) error {
			if up() {
				return nil
			}
			return fmt.Errorf("failed to connect to postgres://rebound:s3cret-pw@db/rebound: %w", fail)
		},
		Migrate: func(ctx context.Context) error { *migrated++; return nil },
	}
}

// A relay waiting for its store: attempts follow StoreBackoff exactly
// (with the jitter's draw fixed at one half: waits of 125 ms, 250 ms,
// 500 ms, 1 s, 2 s, then 2.5 s, half the 5 s cap); meanwhile the API
// answers 503 with a Retry-After of the wait left, and the reason is the
// last error without the password; the first attempt after the store
// comes back migrates, and the gate opens.
func TestMigrateWaitsThenReady(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		backAt := 9 * time.Second
		var attempts []time.Duration
		migrated := 0
		be := fakeBackend(func() bool {
			attempts = append(attempts, time.Since(start))
			return time.Since(start) >= backAt
		}, dialRefused, &migrated)
		r := &readiness{}
		h := r.gate(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }))
		serve := func() *httptest.ResponseRecorder {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
			return w
		}
		if w := serve(); w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "1" || r.reason() != "connecting to the store" {
			t.Fatalf("before the first attempt: %d, Retry-After %q, reason %q", w.Code, w.Header().Get("Retry-After"), r.reason())
		}
		done := make(chan error, 1)
		go func() {
			done <- Migrate(t.Context(), be, Wait{For: -1, Observer: r, Rand: func() float64 { return 0.5 }})
		}()
		time.Sleep(1876 * time.Millisecond) // just after the fifth attempt, 2 s before the sixth
		synctest.Wait()
		if w := serve(); w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "2" {
			t.Errorf("while waiting: %d, Retry-After %q; want 503, 2", w.Code, w.Header().Get("Retry-After"))
		}
		if reason := r.reason(); !strings.Contains(reason, "connection refused") || strings.Contains(reason, "s3cret-pw") {
			t.Errorf("reason %q; want the refusal, without the password", reason)
		}
		if err := <-done; err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		ms := time.Millisecond
		want := []time.Duration{0, 125 * ms, 375 * ms, 875 * ms, 1875 * ms, 3875 * ms, 6375 * ms, 8875 * ms, 11375 * ms}
		if fmt.Sprint(attempts) != fmt.Sprint(want) || migrated != 1 {
			t.Fatalf("attempts at %v, %d migrations; want %v and 1", attempts, migrated, want)
		}
		if w := serve(); w.Code != http.StatusServiceUnavailable {
			t.Fatalf("migrated but not marked ready: %d; want 503 still", w.Code)
		}
		r.setReady()
		if w := serve(); w.Code != http.StatusTeapot || r.notReady() != 0 || r.reason() != "" {
			t.Fatalf("ready: %d, %v, %q; want the handler's answer", w.Code, r.notReady(), r.reason())
		}
	})
}

// An error that cannot heal ends the wait at once with a *StoreError,
// even after healable ones.
func TestMigrateStopsOnErrorThatCannotHeal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		auth := &pgconn.PgError{Severity: "FATAL", Code: "28P01", Message: `password authentication failed for user "rebound"`}
		n := 0
		be := &Backend{Kind: "postgres", password: "s3cret-pw", Ping: func(context.Context) error {
			n++
			if n < 3 {
				return dialRefused
			}
			return fmt.Errorf("connecting with s3cret-pw: %w", auth)
		}}
		err := Migrate(t.Context(), be, Wait{For: -1, Rand: func() float64 { return 0.5 }})
		var se *StoreError
		var pe *pgconn.PgError
		if !errors.As(err, &se) || !errors.As(err, &pe) || pe.Code != "28P01" || se.Kind != "postgres" {
			t.Fatalf("Migrate: %v; want a StoreError wrapping the 28P01 PgError", err)
		}
		if strings.Contains(err.Error(), "s3cret-pw") {
			t.Errorf("error %q shows the password", err)
		}
		if n != 3 || time.Since(start) != 375*time.Millisecond {
			t.Fatalf("%d attempts in %v; want 3 in 375ms", n, time.Since(start))
		}
	})
}

// rebound migrate --wait: a bounded wait gives up with the last error
// once the next attempt would start after it; no wait tries once; a
// canceled context ends the wait at once.
func TestMigrateBoundedWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := 0
		be := &Backend{Kind: "postgres", Ping: func(context.Context) error { n++; return dialRefused }}
		start := time.Now()
		err := Migrate(t.Context(), be, Wait{For: 3 * time.Second, Rand: func() float64 { return 0.5 }})
		if !errors.Is(err, rebound.ErrDeadline) || !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("bounded wait: %v; want ErrDeadline wrapping the refusal", err)
		}
		// Attempts at 0, 125ms, 375ms, 875ms, 1.875s; the next, at 3.875s, is past 3s.
		if n != 5 || time.Since(start) != 1875*time.Millisecond {
			t.Fatalf("%d attempts in %v; want 5 in 1.875s", n, time.Since(start))
		}

		n = 0
		if err := Migrate(t.Context(), be, Wait{}); !errors.Is(err, rebound.ErrExhausted) || n != 1 {
			t.Fatalf("no wait: %v after %d attempts; want ErrExhausted after 1", err, n)
		}

		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(time.Second, cancel)
		start = time.Now()
		if err := Migrate(ctx, be, Wait{For: -1}); !errors.Is(err, rebound.ErrCanceled) || time.Since(start) != time.Second {
			t.Fatalf("canceled: %v after %v; want ErrCanceled after 1s", err, time.Since(start))
		}
	})
}

// A ping that gets no answer is cut at PingTimeout and retried; the
// migration itself is never cut short.
func TestMigratePingTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var pings []time.Duration
		migrated := 0
		be := &Backend{Kind: "postgres",
			Ping: func(ctx context.Context) error {
				pings = append(pings, time.Since(start))
				if len(pings) == 1 {
					<-ctx.Done() // a server that does not answer
					return ctx.Err()
				}
				return nil
			},
			Migrate: func(ctx context.Context) error {
				time.Sleep(3 * PingTimeout) // a long migration
				migrated++
				return ctx.Err()
			},
		}
		if err := Migrate(t.Context(), be, Wait{For: -1, Rand: func() float64 { return 0.5 }}); err != nil || migrated != 1 {
			t.Fatalf("Migrate: %v, %d migrations; want nil, 1", err, migrated)
		}
		if want := []time.Duration{0, PingTimeout + 125*time.Millisecond}; fmt.Sprint(pings) != fmt.Sprint(want) {
			t.Fatalf("pings at %v; want %v", pings, want)
		}
	})
}

// A real PostgreSQL whose outbox is at a schema version newer than this
// build: Migrate stops at once with a *StoreError.
func TestMigrateSchemaNewerThanBuild(t *testing.T) {
	_, dsn := pgtest.Schema(t, pgtest.URL(t, "migrate a newer schema"), "daemon_newer_")
	be, err := Open(t.Context(), "postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	if err := Migrate(t.Context(), be, Wait{}); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), "INSERT INTO rebound_outbox_schema_version (version) VALUES (99)"); err != nil {
		t.Fatal(err)
	}
	err = Migrate(t.Context(), be, Wait{For: -1})
	var se *StoreError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Migrate: %v; want a StoreError saying the schema is newer", err)
	}
}
