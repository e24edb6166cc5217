package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rebound-go/rebound/internal/daemon/pgfault"
	"github.com/rebound-go/rebound/internal/pgtest"
)

// buildRebound builds this command into a temporary directory of t's.
func buildRebound(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rebound")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// process is a rebound command running as a subprocess.
type process struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr bytes.Buffer
	listen chan string   // the relay's address, from its "started" log line
	exited chan struct{} // closed when the process has ended
	err    error         // Wait's error, once exited
}

// startProcess runs the binary with args and no REBOUND_* variables, in
// JSON logs; the process is killed when t ends.
func startProcess(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, append(args, "--log-format", "json")...), listen: make(chan string, 1), exited: make(chan struct{})}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REBOUND_") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.Write(sc.Bytes())
			p.stderr.WriteByte('\n')
			p.mu.Unlock()
			var line struct{ Msg, Listen string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "rebound relay started" {
				p.listen <- line.Listen
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
	})
	return p
}

func (p *process) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// exit waits (at most limit) for the process to end and returns its exit
// code.
func (p *process) exit(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(limit):
		t.Fatalf("still running after %v; logs:\n%s", limit, p.logs())
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		t.Fatal(p.err)
	}
	return 0
}

type answer struct {
	code       int
	retryAfter string
	typ        string
	body       string
}

func call(t *testing.T, method, u, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Content-Type"), string(b)}
}

// poll calls fn every 50 ms, at most n times, until it returns true.
func poll(n int, fn func() bool) bool {
	for range n {
		if fn() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// The relay binary started while PostgreSQL is shutting down, then refusing
// connections (a loopback proxy in front of it): it listens, /livez
// answers 200, /readyz 503 with the reason, POST /v1/messages 503 with
// Retry-After of at most 6 s; once the proxy forwards, the relay migrates
// and a message enqueued after it is ready reaches a loopback receiver
// within 15 s of the store answering, without a restart. Errors that
// cannot heal exit 2 at once.
func TestRelayBinaryRidesOutAPostgresOutage(t *testing.T) {
	pgURL := pgtest.URL(t, "run the relay binary through a PostgreSQL outage")
	bin := buildRebound(t)

	t.Run("cannot heal", func(t *testing.T) {
		u, err := url.Parse(pgURL)
		if err != nil {
			t.Fatal(err)
		}
		u.Path = "/rebound_no_such_database"
		for _, c := range []struct{ name, db, want string }{
			{"malformed", "postgres://rebound:s3cret-pw@127.0.0.1:1/rebound?sslmode=bogus", "sslmode is invalid"},
			{"unknown database", u.String(), "SQLSTATE 3D000"},
		} {
			start := time.Now()
			p := startProcess(t, bin, "relay", "--db", c.db, "--listen", "127.0.0.1:0")
			code := p.exit(t, 30*time.Second)
			logs := p.logs()
			if code != 2 || !strings.Contains(logs, c.want) || strings.Contains(logs, "s3cret-pw") {
				t.Errorf("%s: exit %d; want 2 and %q, without the password, in:\n%s", c.name, code, c.want, logs)
			}
			t.Logf("%s: exit %d after %v", c.name, code, time.Since(start).Round(time.Millisecond))
		}
	})

	t.Run("outage", func(t *testing.T) {
		_, dsn := pgtest.Schema(t, pgURL, "cmd_outage_")
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		proxy := pgfault.New(t, u.Host)
		u.Host = proxy.Addr()
		proxy.Reject("57P03", "the database system is shutting down")

		var mu sync.Mutex
		received := map[string]time.Time{}
		recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			if _, ok := received[r.Header.Get("webhook-id")]; !ok {
				received[r.Header.Get("webhook-id")] = time.Now()
			}
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		}))
		defer recv.Close()

		down := time.Now()
		p := startProcess(t, bin, "relay", "--db", u.String(), "--listen", "127.0.0.1:0",
			"--destination", "orders="+recv.URL+"/hook", "--allow-addresses", "127.0.0.0/8")
		var base string
		select {
		case a := <-p.listen:
			base = "http://" + a
		case <-p.exited:
			t.Fatalf("the relay exited with the store down: %v\n%s", p.err, p.logs())
		case <-time.After(30 * time.Second):
			t.Fatalf("the relay did not listen within 30 s:\n%s", p.logs())
		}

		notReady := func(reason string) {
			t.Helper()
			var a answer
			if !poll(300, func() bool { a = call(t, "GET", base+"/readyz", ""); return strings.Contains(a.body, reason) }) {
				t.Fatalf("/readyz: %d %q; want it to say %q", a.code, a.body, reason)
			}
			if a.code != http.StatusServiceUnavailable {
				t.Errorf("/readyz: %d; want 503", a.code)
			}
			if a := call(t, "GET", base+"/livez", ""); a.code != http.StatusOK {
				t.Errorf("/livez: %d %q; want 200", a.code, a.body)
			}
			a = call(t, "POST", base+"/v1/messages", `{"destination":"orders","payload":{"early":true}}`)
			secs, err := strconv.Atoi(a.retryAfter)
			if a.code != http.StatusServiceUnavailable || err != nil || secs < 1 || secs > 6 ||
				a.typ != "application/problem+json" || !strings.Contains(a.body, "store-unavailable") {
				t.Errorf("POST /v1/messages: %d, Retry-After %q, %s %s; want 503, 1 to 6 s, a store-unavailable problem", a.code, a.retryAfter, a.typ, a.body)
			}
		}
		notReady("SQLSTATE 57P03")
		proxy.Refuse()
		notReady("connection refused")
		// Down long enough for the backoff to reach its cap, as in a real
		// outage: the recovery time measured is then the steady one.
		time.Sleep(time.Until(down.Add(10 * time.Second)))
		notReady("connection refused")
		if !strings.Contains(p.logs(), `"msg":"retrying","endpoint":"store/postgres"`) {
			t.Errorf("no retry logged:\n%s", p.logs())
		}

		proxy.Forward()
		back := time.Now()
		var a answer
		if !poll(300, func() bool { a = call(t, "GET", base+"/readyz", ""); return a.code == http.StatusOK }) {
			t.Fatalf("/readyz still %d %q 15 s after the store answered:\n%s", a.code, a.body, p.logs())
		}
		ready := time.Since(back)
		a = call(t, "POST", base+"/v1/messages", `{"destination":"orders","payload":{"n":1}}`)
		var m struct{ ID string }
		if a.code != http.StatusAccepted || json.Unmarshal([]byte(a.body), &m) != nil || m.ID == "" {
			t.Fatalf("enqueue once ready: %d %s", a.code, a.body)
		}
		var at time.Time
		if !poll(300, func() bool {
			mu.Lock()
			defer mu.Unlock()
			at = received[m.ID]
			return !at.IsZero()
		}) {
			t.Fatalf("message %s not delivered 15 s after it was enqueued:\n%s", m.ID, p.logs())
		}
		delivered := at.Sub(back)
		t.Logf("store down %v; after it answered: ready in %v, message enqueued then delivered in %v",
			back.Sub(down).Round(time.Millisecond), ready.Round(time.Millisecond), delivered.Round(time.Millisecond))
		if delivered > 15*time.Second {
			t.Errorf("delivered %v after the store answered; want within 15 s", delivered)
		}

		// A restart while it runs: connections dropped, the server shutting
		// down, then back. The relay keeps running and delivers again.
		proxy.Refuse()
		proxy.Reject("57P03", "the database system is shutting down")
		if a := call(t, "POST", base+"/v1/messages", `{"destination":"orders","payload":{"n":2}}`); a.code != http.StatusServiceUnavailable || a.retryAfter == "" {
			t.Errorf("enqueue during a restart: %d, Retry-After %q; want 503 with Retry-After", a.code, a.retryAfter)
		}
		proxy.Forward()
		if !poll(300, func() bool {
			a = call(t, "POST", base+"/v1/messages", `{"destination":"orders","payload":{"n":3}}`)
			return a.code == http.StatusAccepted
		}) || json.Unmarshal([]byte(a.body), &m) != nil {
			t.Fatalf("enqueue after a restart: %d %s:\n%s", a.code, a.body, p.logs())
		}
		if !poll(300, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return !received[m.ID].IsZero()
		}) {
			t.Fatalf("message %s not delivered 15 s after a restart:\n%s", m.ID, p.logs())
		}

		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := p.exit(t, 30*time.Second); code != 0 {
			t.Errorf("exit %d after SIGTERM; want 0:\n%s", code, p.logs())
		}
	})
}

// rebound migrate --wait waits for a store that cannot be reached yet and
// migrates once it answers; when the wait runs out it exits 1 with the
// last error; an error that cannot heal exits 2 at once; without --wait
// it tries once.
func TestMigrateWait(t *testing.T) {
	pgURL := pgtest.URL(t, "run rebound migrate --wait against PostgreSQL")
	_, dsn := pgtest.Schema(t, pgURL, "cmd_migrate_")
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := pgfault.New(t, u.Host)
	u.Host = proxy.Addr()
	db := u.String()

	if code, _, stderr := runArgs(t, "migrate", "--db", db); code != 1 || !strings.Contains(stderr, "connection refused") {
		t.Errorf("no wait: exit %d; want 1 and the refusal in:\n%s", code, stderr)
	}
	if code, _, stderr := runArgs(t, "migrate", "--db", db, "--wait", "1s"); code != 1 || !strings.Contains(stderr, "gave up (deadline)") || !strings.Contains(stderr, "connection refused") {
		t.Errorf("--wait 1s: exit %d; want 1, the deadline and the refusal in:\n%s", code, stderr)
	}
	proxy.Reject("3D000", `database "rebound" does not exist`)
	if code, _, stderr := runArgs(t, "migrate", "--db", db, "--wait", "60s"); code != 2 || !strings.Contains(stderr, "SQLSTATE 3D000") {
		t.Errorf("unknown database: exit %d; want 2 and the reason in:\n%s", code, stderr)
	}
	proxy.Refuse()
	time.AfterFunc(time.Second, proxy.Forward)
	code, _, stderr := runArgs(t, "migrate", "--db", db, "--wait", "60s")
	if code != 0 || !strings.Contains(stderr, "retrying") || !strings.Contains(stderr, "store schema up to date") {
		t.Errorf("--wait 60s, store back after 1 s: exit %d; want 0 after retries:\n%s", code, stderr)
	}
	if code, _, stderr := runArgs(t, "migrate", "--wait", "-1s"); code != 2 || !strings.Contains(stderr, "--wait") {
		t.Errorf("--wait -1s: exit %d %q; want 2", code, stderr)
	}
}
