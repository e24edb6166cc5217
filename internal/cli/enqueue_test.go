package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/idempotency"
	"github.com/rebound-go/rebound/internal/api"
	"github.com/rebound-go/rebound/internal/auth"
	"github.com/rebound-go/rebound/internal/daemon"
	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/reboundtest"
)

const (
	adminToken = "admin-token-0123456789"
	readToken  = "read-token-0123456789"
)

// relayAPI is the daemon's real JSON API over a SQLite store in a
// temporary directory, on a loopback server. It knows every destination
// but "nowhere".
type relayAPI struct {
	*httptest.Server
	be *daemon.Backend
}

func newRelayAPI(t *testing.T) *relayAPI {
	t.Helper()
	ctx := t.Context()
	be, err := daemon.Open(ctx, "sqlite", filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(be.Close)
	if err := be.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	tokens := &auth.Tokens{}
	if err := errors.Join(tokens.Add(adminToken, auth.Admin), tokens.Add(readToken, auth.Read)); err != nil {
		t.Fatal(err)
	}
	h, err := api.New(api.Config{
		Store:       be.Outbox,
		Enqueue:     be.Enqueue,
		Idempotency: &idempotency.MemoryStore{},
		Tokens:      tokens,
		Destination: func(dest string) bool { return dest != "nowhere" },
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return &relayAPI{Server: s, be: be}
}

// messages returns every stored message.
func (a *relayAPI) messages(t *testing.T) []outbox.Record {
	t.Helper()
	recs, _, err := a.be.Outbox.List(t.Context(), outbox.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func (a *relayAPI) get(t *testing.T, id string) outbox.Record {
	t.Helper()
	rec, err := a.be.Outbox.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("Get(%q): %v", id, err)
	}
	return rec
}

// testEnv reads no environment and retries at once, so that tests never
// sleep.
var testEnv = apiEnv{getenv: func(string) string { return "" }, backoff: rebound.Constant(0)}

type command func(ctx context.Context, args []string, stdio IO, env apiEnv) int

func runAPI(t *testing.T, cmd command, env apiEnv, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cmd(t.Context(), args, IO{Stdin: strings.NewReader(stdin), Stdout: &stdout, Stderr: &stderr}, env)
	return result{code, stdout.String(), stderr.String()}
}

// as is the flags that point a command at a and authenticate with token.
func (a *relayAPI) as(token string, args ...string) []string {
	return append([]string{"--server", a.URL, "--token", token}, args...)
}

func TestEnqueuePrintsTheIDOfTheStoredMessage(t *testing.T) {
	a := newRelayAPI(t)
	r := runAPI(t, enqueue, testEnv, "", a.as(adminToken,
		"--destination", "orders", "--data", `{"order": 1, "items": ["a"]}`,
		"-H", "X-Trace: abc", "-H", "Content-Type: application/json", "--ordering-key", "customer-7")...)
	wantCode(t, r, 0)
	if r.stderr != "" {
		t.Errorf("stderr %q, want nothing", r.stderr)
	}
	id := strings.TrimSuffix(r.stdout, "\n")
	if id == "" || strings.Contains(id, "\n") {
		t.Fatalf("stdout %q, want one ID", r.stdout)
	}
	rec := a.get(t, id)
	if rec.Destination != "orders" || string(rec.Payload) != `{"order":1,"items":["a"]}` || rec.OrderingKey != "customer-7" || rec.State != outbox.Pending {
		t.Errorf("stored %+v", rec)
	}
	if rec.Headers["X-Trace"] != "abc" || rec.Headers["Content-Type"] != "application/json" || len(rec.Headers) != 2 {
		t.Errorf("headers %v, want X-Trace and Content-Type", rec.Headers)
	}
	if n := len(a.messages(t)); n != 1 {
		t.Errorf("%d messages stored, want 1", n)
	}
}

func TestEnqueueTakesThePayloadFromAFileOrStdin(t *testing.T) {
	a := newRelayAPI(t)
	dir := t.TempDir()
	binary := "\x00\xff not JSON\r\n"
	if err := os.WriteFile(filepath.Join(dir, "body.bin"), []byte(binary), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "body.json"), []byte("{\"from\": \"file\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		stdin   string
		args    []string
		payload string
	}{
		{"--data @file", "", []string{"--data", "@" + filepath.Join(dir, "body.json")}, `{"from":"file"}`},
		{"-d @-", `[1, 2]`, []string{"-d", "@-"}, `[1,2]`},
		{"--data-binary @file", "", []string{"--data-binary", "@" + filepath.Join(dir, "body.bin")}, binary},
		{"--data-binary @-", "raw\n", []string{"--data-binary", "@-"}, "raw\n"},
		{"--data-binary text", "", []string{"--data-binary", "plain text"}, "plain text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runAPI(t, enqueue, testEnv, tc.stdin, a.as(adminToken, append([]string{"--destination", "d"}, tc.args...)...)...)
			wantCode(t, r, 0)
			if got := string(a.get(t, strings.TrimSpace(r.stdout)).Payload); got != tc.payload {
				t.Errorf("payload %q, want %q", got, tc.payload)
			}
		})
	}
}

func TestEnqueueWithOptionalFields(t *testing.T) {
	a := newRelayAPI(t)
	r := runAPI(t, enqueue, testEnv, "", a.as(adminToken, "--json", "--destination", "d", "--data", "1",
		"--id", "order-42", "--not-before", "2099-01-02T03:04:05Z")...)
	wantCode(t, r, 0)
	var resp api.EnqueueResponse
	if err := json.Unmarshal([]byte(r.stdout), &resp); err != nil {
		t.Fatalf("stdout %q: %v", r.stdout, err)
	}
	if resp != (api.EnqueueResponse{ID: "order-42", Destination: "d", State: "pending"}) {
		t.Errorf("answer %+v", resp)
	}
	rec := a.get(t, "order-42")
	if want := time.Date(2099, 1, 2, 3, 4, 5, 0, time.UTC); !rec.NextAttemptAt.Equal(want) {
		t.Errorf("next attempt at %v, want %v", rec.NextAttemptAt, want)
	}
}

func TestEnqueueWithTheSameIdempotencyKeyEnqueuesOnce(t *testing.T) {
	a := newRelayAPI(t)
	args := a.as(adminToken, "--destination", "d", "--data", `{"n": 1}`, "--idempotency-key", "batch-7-item-1")
	first := runAPI(t, enqueue, testEnv, "", args...)
	wantCode(t, first, 0)
	second := runAPI(t, enqueue, testEnv, "", args...)
	wantCode(t, second, 0)
	if first.stdout != second.stdout {
		t.Errorf("IDs %q and %q, want the same", first.stdout, second.stdout)
	}
	if n := len(a.messages(t)); n != 1 {
		t.Errorf("%d messages stored, want 1", n)
	}

	// The same key with another payload is refused.
	r := runAPI(t, enqueue, testEnv, "", a.as(adminToken, "--destination", "d", "--data", `{"n": 2}`, "--idempotency-key", "batch-7-item-1")...)
	wantCode(t, r, 3)
	if !strings.HasPrefix(r.stderr, "rebound enqueue: 422 Idempotency-Key reused") {
		t.Errorf("stderr %q", r.stderr)
	}
}

func TestEnqueueRetriedAfterALostAnswerEnqueuesOnce(t *testing.T) {
	a := newRelayAPI(t)
	// The server does the work of the first request, and the client sees
	// its connection reset instead of the answer.
	lossy := reboundtest.NewScript(reboundtest.AppliedButLost(), reboundtest.Pass())
	env := testEnv
	env.base = lossy.RoundTripper(http.DefaultTransport)
	r := runAPI(t, enqueue, env, "", a.as(adminToken, "--destination", "d", "--data", `{"n": 1}`)...)
	wantCode(t, r, 0)
	var keys []string
	for _, req := range lossy.Requests() {
		keys = append(keys, req.IdempotencyKey)
	}
	if len(keys) != 2 || keys[0] == "" || keys[0] != keys[1] {
		t.Fatalf("Idempotency-Keys sent %q, want the same generated key twice", keys)
	}
	if !strings.Contains(r.stderr, "rebound enqueue: attempt 1/3 POST /v1/messages: read tcp "+a.Listener.Addr().String()+": read: connection reset by peer; retrying in 0s") {
		t.Errorf("stderr %q, want the retry", r.stderr)
	}
	msgs := a.messages(t)
	if len(msgs) != 1 || msgs[0].ID != strings.TrimSpace(r.stdout) {
		t.Errorf("stored %d messages, stdout %q; want 1 message with the ID printed", len(msgs), r.stdout)
	}
}

func TestEnqueueUnknownDestinationIsALogicError(t *testing.T) {
	a := newRelayAPI(t)
	r := runAPI(t, enqueue, testEnv, "", a.as(adminToken, "--destination", "nowhere", "--data", "{}")...)
	wantCode(t, r, 3)
	want := `rebound enqueue: 422 Unknown destination (field destination): No destination is configured as "nowhere", and it is not a URL the raw-URL allow-list permits.` + "\n"
	if r.stderr != want || r.stdout != "" {
		t.Errorf("stdout %q, stderr:\n%s\nwant nothing and:\n%s", r.stdout, r.stderr, want)
	}
	if n := len(a.messages(t)); n != 0 {
		t.Errorf("%d messages stored, want none", n)
	}
}

func TestEnqueueWithABadTokenIsRefused(t *testing.T) {
	a := newRelayAPI(t)
	for _, tc := range []struct {
		name, token, want string
	}{
		{"unknown", "wrong-token-0123456789", "rebound enqueue: 401 Unauthorized: Send Authorization: Bearer TOKEN with a valid token.\n"},
		{"none", "", "rebound enqueue: 401 Unauthorized: Send Authorization: Bearer TOKEN with a valid token. (no token given: use --token or set REBOUND_TOKEN)\n"},
		{"read only", readToken, "rebound enqueue: 403 Forbidden: This route needs an admin token.\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runAPI(t, enqueue, testEnv, "", a.as(tc.token, "--destination", "d", "--data", "{}")...)
			wantCode(t, r, 3)
			if r.stderr != tc.want {
				t.Errorf("stderr:\n%s\nwant:\n%s", r.stderr, tc.want)
			}
			if tc.token != "" && strings.Contains(r.stderr, tc.token) {
				t.Error("stderr shows the token")
			}
		})
	}
	if n := len(a.messages(t)); n != 0 {
		t.Errorf("%d messages stored, want none", n)
	}
}

func TestEnqueueTakesServerAndTokenFromTheEnvironment(t *testing.T) {
	a := newRelayAPI(t)
	env := testEnv
	env.getenv = func(name string) string {
		return map[string]string{"REBOUND_SERVER": a.URL + "/", "REBOUND_TOKEN": adminToken}[name]
	}
	r := runAPI(t, enqueue, env, "", "--destination", "d", "--data", "{}")
	wantCode(t, r, 0)
	a.get(t, strings.TrimSpace(r.stdout))

	// Flags win over the environment.
	r = runAPI(t, enqueue, env, "", "--token", readToken, "--destination", "d", "--data", "{}")
	wantCode(t, r, 3)
}

func TestEnqueueRefusesAPayloadThatIsNotJSON(t *testing.T) {
	a := newRelayAPI(t)
	for _, tc := range []struct{ data, want string }{
		{"{oops}", "rebound enqueue: --data: the payload is not JSON: invalid character 'o' looking for beginning of object key string (at byte 2); send bytes that are not JSON with --data-binary\n"},
		{`{"a": 1} {"b": 2}`, "rebound enqueue: --data: the payload is not JSON: invalid character '{' after top-level value (at byte 10); send bytes that are not JSON with --data-binary\n"},
		{"  ", "rebound enqueue: --data: the payload is empty; want a JSON value\n"},
	} {
		r := runAPI(t, enqueue, testEnv, "", a.as(adminToken, "--destination", "d", "--data", tc.data)...)
		wantCode(t, r, 2)
		if r.stderr != tc.want {
			t.Errorf("--data %q: stderr:\n%s\nwant:\n%s", tc.data, r.stderr, tc.want)
		}
	}
	if n := len(a.messages(t)); n != 0 {
		t.Errorf("%d messages stored, want none", n)
	}
}

func TestEnqueueUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--data", "{}"}, "missing --destination"},
		{[]string{"--destination", "d"}, "missing the payload"},
		{[]string{"--destination", "d", "--data", "{}", "extra"}, `unexpected argument "extra"`},
		{[]string{"--destination", "d", "--data", "{}", "--data-binary", "x"}, "want one body, already given by --data"},
		{[]string{"--destination", "d", "--data", "{}", "--not-before", "tomorrow"}, "--not-before: want an RFC 3339 time"},
		{[]string{"--destination", "d", "--data", "{}", "-H", "X-A: 1", "-H", "x-a: 2"}, "header x-a given twice"},
		{[]string{"--destination", "d", "--data", "{}", "-H", "no colon"}, `want "Name: value"`},
		{[]string{"--destination", "d", "--data", "{}", "--server", "ftp://host"}, "--server: bad URL"},
		{[]string{"--destination", "d", "--data", "{}", "--token", "two words"}, "--token: want printable ASCII"},
		{[]string{"--destination", "d", "--data", "{}", "--nope"}, "flag provided but not defined: -nope"},
	} {
		r := runAPI(t, enqueue, testEnv, "", tc.args...)
		if r.code != 2 || !strings.HasPrefix(r.stderr, "rebound enqueue: ") || !strings.Contains(r.stderr, tc.want) ||
			!strings.Contains(r.stderr, "usage: rebound enqueue") {
			t.Errorf("%q: exit %d, stderr:\n%s\nwant 2, %q and the usage", tc.args, r.code, r.stderr, tc.want)
		}
	}
	r := runAPI(t, enqueue, testEnv, "", "-h")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "usage: rebound enqueue") {
		t.Errorf("-h: exit %d, stdout %q; want 0 and the usage", r.code, r.stdout)
	}
}

func TestEnqueueUnreachableAPI(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := runAPI(t, enqueue, testEnv, "", "--server", "http://"+addr, "--token", adminToken, "--destination", "d", "--data", "{}")
	wantCode(t, r, 5)
	if !strings.HasSuffix(r.stderr, "\nrebound enqueue: cannot reach the API at http://"+addr+": "+
		"dial tcp "+addr+": connect: connection refused (after 3 attempts)\n") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, adminToken) {
		t.Error("stderr shows the token")
	}
}

func TestEnqueueCanceled(t *testing.T) {
	a := newRelayAPI(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var stderr bytes.Buffer
	code := enqueue(ctx, a.as(adminToken, "--destination", "d", "--data", "{}"), IO{Stderr: &stderr}, testEnv)
	if code != 6 || stderr.Len() != 0 {
		t.Errorf("exit %d, stderr %q; want 6 and nothing", code, stderr.String())
	}
}
