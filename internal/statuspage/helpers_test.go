package statuspage

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rebound-go/rebound/outbox/outboxtest"

	_ "modernc.org/sqlite"

	"github.com/rebound-go/rebound/internal/auth"
	"github.com/rebound-go/rebound/internal/sqlitetest"
	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/sqlite"
)

// Tokens of the tests.
const (
	adminToken = "admin-token-0123456789abcdef"
	readToken  = "read-token-0123456789abcdef"
)

func testTokens(t *testing.T) *auth.Tokens {
	t.Helper()
	var tok auth.Tokens
	if err := tok.Add(adminToken, auth.Admin); err != nil {
		t.Fatal(err)
	}
	if err := tok.Add(readToken, auth.Read); err != nil {
		t.Fatal(err)
	}
	return &tok
}

type testOutbox struct {
	db    *sql.DB
	store *sqlite.Store
}

// newOutbox opens a fresh SQLite outbox in a temporary directory.
func newOutbox(t *testing.T) testOutbox {
	t.Helper()
	db, s := sqlitetest.Outbox(t)
	return testOutbox{db: db, store: s}
}

func (o testOutbox) enqueue(t *testing.T, msgs ...outbox.Message) []string {
	t.Helper()
	return outboxtest.Enqueue(t, o.db, msgs...)
}

// deadLetter enqueues m and kills it as a relay would after one attempt.
func (o testOutbox) deadLetter(t *testing.T, m outbox.Message, lastErr string, lastStatus int) string {
	t.Helper()
	return o.firstAttempt(t, m, func(ctx context.Context, d outbox.Delivery, _ time.Time) error {
		return o.store.MarkDead(ctx, d.ID, d.Attempt, "permanent", lastErr, lastStatus)
	})
}

// retrying enqueues m and fails its first attempt as a relay would, with
// the next attempt an hour away.
func (o testOutbox) retrying(t *testing.T, m outbox.Message) string {
	t.Helper()
	return o.firstAttempt(t, m, func(ctx context.Context, d outbox.Delivery, now time.Time) error {
		return o.store.MarkRetry(ctx, d.ID, d.Attempt, now.Add(time.Hour), "receiver answered 500", 500)
	})
}

// firstAttempt enqueues m, claims it and records outcome for it; other
// messages claimed with it are released untouched.
func (o testOutbox) firstAttempt(t *testing.T, m outbox.Message, outcome func(ctx context.Context, d outbox.Delivery, now time.Time) error) string {
	t.Helper()
	id := o.enqueue(t, m)[0]
	ctx := context.Background()
	now := time.Now()
	claimed, err := o.store.Claim(ctx, now, time.Minute, 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, d := range claimed {
		if d.ID == id {
			found = true
			err = outcome(ctx, d, now)
		} else {
			err = o.store.Release(ctx, d.ID, d.Attempt, now)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !found {
		t.Fatalf("message %s was not claimed", id)
	}
	return id
}

func (o testOutbox) state(t *testing.T, id string) outbox.State {
	t.Helper()
	rec, err := o.store.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return rec.State
}

// logBuffer collects a handler's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// page is a test server of the status page with a client that does not
// follow redirects.
type page struct {
	t    *testing.T
	srv  *httptest.Server
	logs *logBuffer
}

func newPage(t *testing.T, cfg Config) *page {
	t.Helper()
	logs := &logBuffer{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &page{t: t, srv: srv, logs: logs}
}

type response struct {
	*http.Response
	body string
}

// do sends a request with the token as the cookie ("" for none) and the
// headers given as name, value pairs.
func (p *page) do(method, path, token string, form url.Values, headers ...string) response {
	p.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, p.srv.URL+path, body)
	if err != nil {
		p.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if token != "" {
		req.AddCookie(&http.Cookie{Name: auth.CookieName, Value: token})
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	client := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		p.t.Fatal(err)
	}
	return response{resp, string(b)}
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// csrf loads the page as token and returns its CSRF token.
func (p *page) csrf(token string) string {
	p.t.Helper()
	r := p.do("GET", "/", token, nil)
	if r.StatusCode != http.StatusOK {
		p.t.Fatalf("GET / = %d", r.StatusCode)
	}
	m := csrfMeta.FindStringSubmatch(r.body)
	if m == nil {
		p.t.Fatal("the page carries no CSRF token")
	}
	return m[1]
}
