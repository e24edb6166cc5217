package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rebound-go/rebound/internal/config"
	"github.com/rebound-go/rebound/internal/daemon"
	"github.com/rebound-go/rebound/internal/daemon/pgfault"
	"github.com/rebound-go/rebound/internal/pgtest"
)

// startServing runs the daemon on the YAML configuration given (listen, a
// fast poll and the tokens filled in) and returns as soon as it listens,
// before its store may be ready; ready is closed once it is, and done once
// Run has returned (r.stop returns its error).
func startServing(t *testing.T, yaml string) (r *running, ready, done <-chan struct{}) {
	t.Helper()
	cfg, err := config.Parse("test.yaml", strings.NewReader(yaml))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen = "127.0.0.1:0"
	cfg.Relay.PollInterval = config.Duration(20 * time.Millisecond)
	if err := cfg.Finish(); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"REBOUND_ADMIN_TOKENS": adminToken, "REBOUND_READ_TOKENS": readToken}
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	readyc, donec := make(chan struct{}), make(chan struct{})
	var runErr error
	go func() {
		defer close(donec)
		runErr = daemon.Run(ctx, cfg, daemon.Options{
			Logger:          slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			Getenv:          func(k string) string { return env[k] },
			Serving:         func(a string) { addr <- a },
			Listening:       func(string) { close(readyc) },
			ShutdownTimeout: 2 * time.Second,
		})
	}()
	r = &running{logs: logs}
	select {
	case a := <-addr:
		r.url = "http://" + a
	case <-donec:
		cancel()
		t.Fatalf("daemon did not start: %v", runErr)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("daemon did not listen within 30 s")
	}
	r.stop = func() error {
		cancel()
		select {
		case <-donec:
			return runErr
		case <-time.After(30 * time.Second):
			return errors.New("daemon did not stop within 30 s")
		}
	}
	t.Cleanup(func() {
		if err := r.stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return r, readyc, donec
}

// get fetches path, returning the status, a header and the body.
func get(t *testing.T, u, header string) (int, string, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get(header), string(b)
}

// checkNotReady asserts what a relay waiting for its store answers: /livez
// 200, /readyz 503 with the reason, the API and the status page 503 with
// Retry-After of at most 6 s and a problem+json body.
func checkNotReady(t *testing.T, r *running, reason string) {
	t.Helper()
	if code, _, body := get(t, r.url+"/livez", ""); code != http.StatusOK {
		t.Errorf("/livez: %d %q; want 200", code, body)
	}
	if code, _, body := get(t, r.url+"/readyz", ""); code != http.StatusServiceUnavailable || !strings.Contains(body, reason) {
		t.Errorf("/readyz: %d %q; want 503 saying %q", code, body, reason)
	}
	resp, m := r.do(t, "POST", "/v1/messages", adminToken, `{"destination":"orders","payload":{"n":1}}`)
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != http.StatusServiceUnavailable || err != nil || secs < 1 || secs > 6 ||
		resp.Header.Get("Content-Type") != "application/problem+json" || !strings.HasSuffix(fmt.Sprint(m["type"]), "store-unavailable") {
		t.Errorf("POST /v1/messages: %d, Retry-After %q, %s %v; want 503, 1 to 6 s, a store-unavailable problem",
			resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Content-Type"), m)
	}
	if resp, _ := r.do(t, "GET", "/v1/messages", readToken, ""); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("GET /v1/messages: %d; want 503", resp.StatusCode)
	}
	if code, ra, _ := get(t, r.url+"/", "Retry-After"); code != http.StatusServiceUnavailable || ra == "" {
		t.Errorf("status page: %d, Retry-After %q; want 503 with Retry-After", code, ra)
	}
}

// waitReadyz polls /readyz (at most 15 s) until its body says want.
func waitReadyz(t *testing.T, r *running, want string) {
	t.Helper()
	var body string
	for range 300 {
		if _, _, body = get(t, r.url+"/readyz", ""); strings.Contains(body, want) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("/readyz says %q after 15 s; want %q", body, want)
}

// A relay whose PostgreSQL is shutting down, then refuses connections:
// it listens, is alive but not ready, answers 503 with Retry-After, logs
// each retry like any rebound call, and keeps waiting.
func TestRelayNotReadyWhileStoreDown(t *testing.T) {
	proxy := pgfault.New(t, "127.0.0.1:1")
	proxy.Reject("57P03", "the database system is shutting down")
	r, ready, done := startServing(t, fmt.Sprintf("db: 'postgres://rebound:s3cret-pw@%s/rebound?sslmode=disable'\ndestinations:\n  orders: {url: http://127.0.0.1:9/}\n", proxy.Addr()))
	waitReadyz(t, r, "SQLSTATE 57P03")
	checkNotReady(t, r, "the database system is shutting down")
	proxy.Refuse()
	waitReadyz(t, r, "connection refused")
	checkNotReady(t, r, "connection refused")
	select {
	case <-ready:
		t.Fatal("ready with the store down")
	case <-done:
		t.Fatalf("Run returned with the store down: %v", r.stop())
	default:
	}
	logs := r.logs.String()
	for _, want := range []string{`"msg":"retrying"`, `"endpoint":"store/postgres"`, `"attempt":`, `"wait":`, `"elapsed":`, `"reason":"connection"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "s3cret-pw") {
		t.Errorf("logs show the password:\n%s", logs)
	}
}

// A relay started while PostgreSQL refuses connections migrates and
// delivers once it answers, without a restart, within 15 s.
func TestRelayRecoversWhenPostgresAnswers(t *testing.T) {
	_, dsn := pgtest.Schema(t, pgtest.URL(t, "run a relay through a PostgreSQL outage"), "daemon_outage_")
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := pgfault.New(t, u.Host)
	u.Host = proxy.Addr()
	rc, srv := newReceiver(t)
	r, ready, done := startServing(t, fmt.Sprintf("db: %q\nallow_addresses: [127.0.0.0/8]\ndestinations:\n  orders: {url: %s}\n", u.String(), srv.URL))
	waitReadyz(t, r, "connection refused")
	checkNotReady(t, r, "connection refused")

	proxy.Forward()
	back := time.Now()
	select {
	case <-ready:
	case <-done:
		t.Fatalf("Run returned: %v", r.stop())
	case <-time.After(15 * time.Second):
		t.Fatalf("not ready 15 s after the store answered; logs:\n%s", r.logs.String())
	}
	t.Logf("ready %v after the store answered", time.Since(back).Round(time.Millisecond))
	if code, _, body := get(t, r.url+"/readyz", ""); code != http.StatusOK {
		t.Fatalf("/readyz once ready: %d %q", code, body)
	}
	resp, m := r.do(t, "POST", "/v1/messages", adminToken, `{"destination":"orders","payload":{"n":1}}`)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("enqueue once ready: %d %v", resp.StatusCode, m)
	}
	id := m["id"].(string)
	r.waitState(t, id, "sent")
	if _, ok := rc.got(id); !ok {
		t.Fatalf("message %s sent but not received", id)
	}
	if took := time.Since(back); took > 15*time.Second {
		t.Fatalf("delivered %v after the store answered; want within 15 s", took)
	}
	t.Logf("delivered %v after the store answered", time.Since(back).Round(time.Millisecond))
}

// Store errors that waiting cannot heal end Run at once with a
// *daemon.StoreError: rebound relay exits 2 with its text.
func TestRelayStopsOnStoreErrorsThatCannotHeal(t *testing.T) {
	for _, c := range []struct {
		name, code, msg string // a PostgreSQL answer, or
		db              string // a db setting
		want            string
	}{
		{name: "authentication", code: "28P01", msg: `password authentication failed for user "rebound"`, want: "SQLSTATE 28P01"},
		{name: "unknown database", code: "3D000", msg: `database "rebound" does not exist`, want: "SQLSTATE 3D000"},
		{name: "malformed", db: "postgres://rebound:s3cret-pw@127.0.0.1:1/rebound?sslmode=bogus", want: "sslmode is invalid"},
		{name: "sqlite directory missing", db: "sqlite:" + filepath.Join(t.TempDir(), "missing", "rebound.db"), want: "unable to open database file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			db := c.db
			if c.code != "" {
				proxy := pgfault.New(t, "127.0.0.1:1")
				proxy.Reject(c.code, c.msg)
				db = "postgres://rebound:s3cret-pw@" + proxy.Addr() + "/rebound?sslmode=disable"
			}
			cfg, err := config.Parse("test.yaml", strings.NewReader(fmt.Sprintf("db: %q\nlisten: 127.0.0.1:0\n", db)))
			if err == nil {
				err = cfg.Finish()
			}
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				done <- daemon.Run(context.Background(), cfg, daemon.Options{Logger: slog.New(slog.DiscardHandler)})
			}()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Run still waiting after 30 s; want it to stop at once")
			}
			var se *daemon.StoreError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "s3cret-pw") {
				t.Fatalf("Run: %v; want a StoreError saying %q, without the password", err, c.want)
			}
		})
	}
}
