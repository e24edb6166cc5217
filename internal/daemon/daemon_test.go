package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rebound-go/rebound/internal/config"
	"github.com/rebound-go/rebound/internal/daemon"
)

const (
	adminToken = "admin-token-0123456789"
	readToken  = "read-token-0123456789"
	secret     = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

// syncBuffer collects the daemon's logs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type running struct {
	url  string
	db   string // the SQLite file
	logs *syncBuffer
	stop func() error
}

// start runs the daemon on a fresh SQLite file with the YAML configuration
// given (listen, db and a fast poll are filled in) and the two tokens.
func start(t *testing.T, yaml string, tokens bool) *running {
	t.Helper()
	env := map[string]string{}
	if tokens {
		env["REBOUND_ADMIN_TOKENS"] = adminToken
		env["REBOUND_READ_TOKENS"] = readToken
	}
	return startEnv(t, yaml, env)
}

// startEnv runs the daemon as start does, its Getenv reading env.
func startEnv(t *testing.T, yaml string, env map[string]string) *running {
	t.Helper()
	cfg, err := config.Parse("test.yaml", strings.NewReader(yaml))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DB == "" {
		cfg.DB = "sqlite:" + filepath.Join(t.TempDir(), "rebound.db")
	}
	cfg.Listen = "127.0.0.1:0"
	cfg.Relay.PollInterval = config.Duration(20 * time.Millisecond)
	if err := cfg.Finish(); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, cfg, daemon.Options{
			Logger:          slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			Getenv:          func(k string) string { return env[k] },
			Listening:       func(a string) { addr <- a },
			ShutdownTimeout: 2 * time.Second,
		})
	}()
	r := &running{logs: logs, db: strings.TrimPrefix(cfg.DB, "sqlite:")}
	select {
	case a := <-addr:
		r.url = "http://" + a
	case err := <-done:
		cancel()
		t.Fatalf("daemon did not start: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("daemon did not start within 30 s")
	}
	var once sync.Once
	var stopErr error
	r.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(30 * time.Second):
				stopErr = errors.New("daemon did not stop within 30 s")
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := r.stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return r
}

func (r *running) do(t *testing.T, method, path, token, body string, hdr ...string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, r.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp, m
}

// receiver records deliveries.
type receiver struct {
	mu     sync.Mutex
	bodies map[string]string
	status int
}

func newReceiver(t *testing.T) (*receiver, *httptest.Server) {
	rc := &receiver{bodies: map[string]string{}, status: http.StatusNoContent}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.bodies[r.Header.Get("webhook-id")] = string(b)
		code := rc.status
		rc.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	return rc, srv
}

func (rc *receiver) got(id string) (string, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	b, ok := rc.bodies[id]
	return b, ok
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.bodies)
}

// waitState polls the API until the message reaches state (at most 20 s).
func (r *running) waitState(t *testing.T, id, state string) map[string]any {
	t.Helper()
	var m map[string]any
	for range 1000 {
		_, m = r.do(t, "GET", "/v1/messages/"+id, adminToken, "")
		if m["state"] == state {
			return m
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("message %s is %v, not %s, after 20 s", id, m["state"], state)
	return nil
}

func TestEnqueueDeliversSigned(t *testing.T) {
	rc, srv := newReceiver(t)
	d := start(t, fmt.Sprintf("allow_addresses: [127.0.0.0/8]\ndestinations:\n  orders: {url: %s, secrets: [%s]}\n", srv.URL, secret), true)
	resp, m := d.do(t, "POST", "/v1/messages", adminToken, `{"destination":"orders","payload":{"n":1}}`)
	if resp.StatusCode != http.StatusAccepted || m["id"] == nil {
		t.Fatalf("enqueue: %d %v", resp.StatusCode, m)
	}
	id := m["id"].(string)
	if loc := resp.Header.Get("Location"); loc != "/v1/messages/"+id {
		t.Errorf("Location = %q", loc)
	}
	d.waitState(t, id, "sent")
	if body, ok := rc.got(id); !ok || body != `{"n":1}` {
		t.Fatalf("receiver got %q (%v); want the payload", body, ok)
	}
	if strings.Contains(d.logs.String(), secret) || strings.Contains(d.logs.String(), adminToken) {
		t.Fatal("a secret or token appears in the logs")
	}
}

func TestHostileInput(t *testing.T) {
	d := start(t, "api: {max_body_bytes: 2048}\ndestinations:\n  orders: {url: http://127.0.0.1:9/}\n", true)
	big := `{"destination":"orders","payload":"` + strings.Repeat("x", 4096) + `"}`
	for _, c := range []struct {
		name, method, path, token, body string
		status                          int
		field                           string
	}{
		{"no token", "POST", "/v1/messages", "", `{}`, 401, ""},
		{"wrong token", "POST", "/v1/messages", "admin-token-0123456788", `{}`, 401, ""},
		{"token prefix", "GET", "/v1/messages", "admin-token-012345678", "", 401, ""},
		{"read token writes", "POST", "/v1/messages", readToken, `{"destination":"orders","payload":1}`, 403, ""},
		{"read token discards", "DELETE", "/v1/messages/x", readToken, "", 403, ""},
		{"read token replays", "POST", "/v1/replay", readToken, `{"all":true}`, 403, ""},
		{"read token lists", "GET", "/v1/messages", readToken, "", 200, ""},
		{"oversized body", "POST", "/v1/messages", adminToken, big, 413, ""},
		{"malformed JSON", "POST", "/v1/messages", adminToken, `{"destination":`, 400, ""},
		{"empty body", "POST", "/v1/messages", adminToken, ``, 400, ""},
		{"trailing data", "POST", "/v1/messages", adminToken, `{"destination":"orders","payload":1} {}`, 400, ""},
		{"unknown field", "POST", "/v1/messages", adminToken, `{"destination":"orders","payload":1,"priority":9}`, 400, "priority"},
		{"wrong type", "POST", "/v1/messages", adminToken, `{"destination":7,"payload":1}`, 400, "destination"},
		{"no payload", "POST", "/v1/messages", adminToken, `{"destination":"orders"}`, 400, "payload"},
		{"bad base64", "POST", "/v1/messages", adminToken, `{"destination":"orders","payload_base64":"!!"}`, 400, "payload_base64"},
		{"bad header", "POST", "/v1/messages", adminToken, `{"destination":"orders","payload":1,"headers":{"a:b":"c"}}`, 400, "headers"},
		{"bad id", "POST", "/v1/messages", adminToken, `{"destination":"orders","payload":1,"id":"a b"}`, 400, "id"},
		{"unknown destination", "POST", "/v1/messages", adminToken, `{"destination":"nowhere","payload":1}`, 422, "destination"},
		{"raw URL not allowed", "POST", "/v1/messages", adminToken, `{"destination":"http://169.254.169.254/latest/meta-data","payload":1}`, 422, "destination"},
		{"bad state", "GET", "/v1/messages?state=lost", adminToken, "", 400, "state"},
		{"bad limit", "GET", "/v1/messages?limit=100000", adminToken, "", 400, "limit"},
		{"unknown parameter", "GET", "/v1/messages?sort=desc", adminToken, "", 400, "sort"},
		{"bad cursor", "GET", "/v1/messages?cursor=abc", adminToken, "", 400, "cursor"},
		{"missing message", "GET", "/v1/messages/nope", adminToken, "", 404, "id"},
		{"replay a missing message", "POST", "/v1/messages/nope/replay", adminToken, "", 404, "id"},
		{"bulk replay without filter", "POST", "/v1/replay", adminToken, `{}`, 400, "destination"},
		{"unknown route", "GET", "/v1/nothing", adminToken, "", 404, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, m := d.do(t, c.method, c.path, c.token, c.body)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d; want %d (%v)", resp.StatusCode, c.status, m)
			}
			if c.status >= 400 {
				if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
					t.Errorf("Content-Type %q; want application/problem+json", ct)
				}
				if m["status"] != float64(c.status) || m["title"] == "" {
					t.Errorf("problem %v", m)
				}
			}
			if c.field != "" && m["field"] != c.field {
				t.Errorf("field %v; want %q (%v)", m["field"], c.field, m)
			}
			if c.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	// Nothing was accepted along the way, and the daemon still answers.
	resp, m := d.do(t, "GET", "/v1/messages", readToken, "")
	if resp.StatusCode != 200 || len(m["messages"].([]any)) != 0 {
		t.Fatalf("after hostile input: %d %v", resp.StatusCode, m)
	}
	if strings.Contains(d.logs.String(), adminToken) || strings.Contains(d.logs.String(), readToken) {
		t.Fatal("a token appears in the logs")
	}
}

func TestIdempotentEnqueue(t *testing.T) {
	d := start(t, "destinations:\n  orders: {url: http://127.0.0.1:9/}\nrelay: {workers: 1}\n", true)
	body := `{"destination":"orders","payload":{"order":42}}`
	r1, m1 := d.do(t, "POST", "/v1/messages", adminToken, body, "Idempotency-Key", `"order-42"`)
	r2, m2 := d.do(t, "POST", "/v1/messages", adminToken, body, "Idempotency-Key", `"order-42"`)
	if r1.StatusCode != 202 || r2.StatusCode != 202 || m1["id"] != m2["id"] || r2.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("first %d %v, repeat %d %v (replayed %q): want the same 202 and ID", r1.StatusCode, m1, r2.StatusCode, m2, r2.Header.Get("Idempotent-Replayed"))
	}
	r3, _ := d.do(t, "POST", "/v1/messages", adminToken, `{"destination":"orders","payload":{"order":43}}`, "Idempotency-Key", `"order-42"`)
	if r3.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("same key, other body: %d; want 422", r3.StatusCode)
	}
	_, list := d.do(t, "GET", "/v1/messages", adminToken, "")
	if n := len(list["messages"].([]any)); n != 1 {
		t.Fatalf("%d messages stored; want 1", n)
	}
}

func TestSSRFRefused(t *testing.T) {
	rc, srv := newReceiver(t)
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	targets := map[string]string{
		"loopback":     "http://127.0.0.1:" + port + "/",
		"ipv6loopback": "http://[::1]:" + port + "/",
		"metadata":     "http://169.254.169.254/latest/meta-data/",
		"mapped":       "http://[::ffff:127.0.0.1]:" + port + "/",
		"hexip":        "http://0x7f000001:" + port + "/",
		"localhost":    "http://localhost:" + port + "/",
		"private":      "http://10.1.2.3/",
	}
	var yaml strings.Builder
	yaml.WriteString("relay: {max_attempts: 1}\ndestinations:\n")
	for name, u := range targets {
		fmt.Fprintf(&yaml, "  %s: {url: %q, timeout: 2s}\n", name, u)
	}
	d := start(t, yaml.String(), true)
	for name := range targets {
		_, m := d.do(t, "POST", "/v1/messages", adminToken, `{"destination":"`+name+`","payload":1}`)
		got := d.waitState(t, m["id"].(string), "dead")
		if got["dead_reason"] != "permanent" {
			t.Errorf("%s: dead %v; want permanent", name, got)
		}
	}
	if rc.count() != 0 {
		t.Fatalf("the loopback receiver got %d deliveries; want none", rc.count())
	}
}

func TestSensitiveHeadersRedacted(t *testing.T) {
	d := start(t, "destinations:\n  orders: {url: http://127.0.0.1:9/}\n", true)
	_, m := d.do(t, "POST", "/v1/messages", adminToken, `{"destination":"orders","payload":1,"headers":{"Authorization":"Bearer s3cr3t-value","X-Api-Key":"k3y-value","X-Trace":"t1"}}`)
	_, got := d.do(t, "GET", "/v1/messages/"+m["id"].(string), readToken, "")
	h := got["headers"].(map[string]any)
	if h["Authorization"] != "[redacted]" || h["X-Api-Key"] != "[redacted]" || h["X-Trace"] != "t1" {
		t.Fatalf("headers %v; want credentials redacted", h)
	}
}

func TestOpenListenerNeedsTokens(t *testing.T) {
	cfg := &config.Config{DB: "sqlite:" + filepath.Join(t.TempDir(), "x.db"), Listen: "0.0.0.0:0"}
	if err := cfg.Finish(); err != nil {
		t.Fatal(err)
	}
	err := daemon.Run(context.Background(), cfg, daemon.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Key != "listen" {
		t.Fatalf("err = %v; want a config error naming listen", err)
	}
}

func TestGracefulStopReleasesInFlight(t *testing.T) {
	arrived := make(chan struct{}, 1)
	hold := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case arrived <- struct{}{}:
		default:
		}
		select { // no answer: the delivery is in flight at shutdown
		case <-r.Context().Done():
		case <-hold:
		}
	}))
	defer srv.Close()
	defer close(hold)
	d := start(t, fmt.Sprintf("allow_addresses: [127.0.0.0/8]\ndestinations:\n  slow: {url: %s, timeout: 1m}\n", srv.URL), true)
	_, m := d.do(t, "POST", "/v1/messages", adminToken, `{"destination":"slow","payload":1}`)
	id := m["id"].(string)
	select {
	case <-arrived:
	case <-time.After(20 * time.Second):
		t.Fatal("the delivery did not start")
	}
	if err := d.stop(); err != nil {
		t.Fatalf("Run returned %v; want nil after a signal", err)
	}
	if !strings.Contains(d.logs.String(), "rebound relay stopped") {
		t.Fatal("no stop in the logs")
	}
	// The message was released with its attempt given back: a restarted
	// relay finds it due.
	be, err := daemon.Open(context.Background(), "sqlite", d.db)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	rec, err := be.Outbox.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if rec.State.String() != "pending" && rec.State.String() != "retrying" || rec.Attempt != 0 {
		t.Fatalf("after shutdown the message is %v at attempt %d; want due again with its attempt given back", rec.State, rec.Attempt)
	}
}

func TestServesPageMetricsAndProbes(t *testing.T) {
	d := start(t, "destinations:\n  orders: {url: http://127.0.0.1:9/}\n", true)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range []struct {
		path, cookie string
		status       int
		contains     string
	}{
		{"/", "", http.StatusSeeOther, ""},
		{"/", readToken, http.StatusOK, "orders"},
		{"/livez", "", http.StatusOK, "ok"},
		{"/readyz", "", http.StatusOK, "ok"},
		{"/metrics", "", http.StatusOK, "rebound_outbox_collect_errors_total 0"},
	} {
		req, _ := http.NewRequest("GET", d.url+c.path, nil)
		if c.cookie != "" {
			req.AddCookie(&http.Cookie{Name: "rebound_token", Value: c.cookie})
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.Contains(string(b), c.contains) {
			t.Errorf("GET %s: %d, body %.200q; want %d containing %q", c.path, resp.StatusCode, b, c.status, c.contains)
		}
		if strings.Contains(string(b), readToken) {
			t.Errorf("GET %s shows the token", c.path)
		}
	}
}

func TestDuplicateIDConflicts(t *testing.T) {
	d := start(t, "relay: {breaker: {disabled: true}}\ndestinations:\n  orders: {url: http://127.0.0.1:9/}\n", true)
	body := `{"destination":"orders","payload":1,"id":"order-7"}`
	if r, m := d.do(t, "POST", "/v1/messages", adminToken, body); r.StatusCode != 202 {
		t.Fatalf("first: %d %v", r.StatusCode, m)
	}
	// The same message again is done already.
	if r, m := d.do(t, "POST", "/v1/messages", adminToken, body); r.StatusCode != 202 || r.Header.Get("Idempotent-Replayed") != "true" || m["id"] != "order-7" {
		t.Fatalf("the same message again: %d %v; want 202 replayed", r.StatusCode, m)
	}
	r, m := d.do(t, "POST", "/v1/messages", adminToken, `{"destination":"orders","payload":2,"id":"order-7"}`)
	if r.StatusCode != http.StatusConflict || m["field"] != "id" {
		t.Fatalf("another message with the same ID: %d %v; want 409 naming id", r.StatusCode, m)
	}
}

// newServer starts a loopback HTTP server and returns its URL.
func newServer(t *testing.T, h http.HandlerFunc) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
