package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// chromium returns the path of a Chromium or Chrome binary. Without one
// the test is skipped, unless REBOUND_TEST_CHROMIUM=1 (as in CI), where it
// fails.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const why = "no chromium binary on PATH (Debian: apt-get install chromium)"
	if os.Getenv("REBOUND_TEST_CHROMIUM") == "1" {
		t.Fatal(why + ", and REBOUND_TEST_CHROMIUM=1 requires the browser test")
	}
	t.Skip(why + "; set REBOUND_TEST_CHROMIUM=1 to make this a failure")
	return ""
}

// headerID is the Standard Webhooks header that carries a message's ID.
const headerID = "webhook-id"

// switchReceiver is the relay's loopback receiver. At /orders it records
// deliveries and answers 500 until told to accept; at /payments it
// answers 503, always: payments is down.
type switchReceiver struct {
	mu     sync.Mutex
	accept bool
	got    []string // webhook-id of the accepted deliveries
	bodies []string
}

func (rc *switchReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.URL.Path != "/orders" {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if !rc.accept {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	rc.got = append(rc.got, r.Header.Get(headerID))
	rc.bodies = append(rc.bodies, string(body))
	w.WriteHeader(http.StatusNoContent)
}

func (rc *switchReceiver) setAccept() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.accept = true
}

func (rc *switchReceiver) accepted() ([]string, []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.got...), append([]string(nil), rc.bodies...)
}

// eventually polls cond every 20 ms until it holds or ctx ends.
func eventually(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// relayConfig is the relay's configuration in the browser test. orders
// gets one attempt, so the receiver's first 500 kills its message. Three
// failures in a row open a destination's breaker (orders fails once, so
// its breaker stays closed), and an open breaker stays open for an hour,
// so that no probe gets through while the test looks at it.
const relayConfig = `db: sqlite:%s
listen: 127.0.0.1:0
log: {format: json}
allow_addresses: [127.0.0.0/8]
relay:
  poll_interval: 20ms
  breaker: {consecutive_failures: 3, open_for: 1h}
destinations:
  orders: {url: %[2]s/orders, timeout: 5s, retry: {max_attempts: 1}}
  invoices: {url: %[2]s/invoices}
  payments: {url: %[2]s/payments}
`

// TestBrowserReplaysADeadLetter drives the status page of a running
// `rebound relay` in headless Chromium: a message goes dead at a failing
// receiver, the page (after signing in through the form) shows it, and
// its replay button, once confirmed, delivers it. On the way it checks
// that the page counts the messages waiting on an open breaker and says
// whose numbers are whose.
func TestBrowserReplaysADeadLetter(t *testing.T) {
	bin := chromium(t)
	reboundBinary(t) // built before the test's clock starts
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	rc := &switchReceiver{}
	recv := httptest.NewServer(rc)
	t.Cleanup(recv.Close) // after the relay stops
	r := startRelay(t, fmt.Sprintf(relayConfig, filepath.Join(t.TempDir(), "rebound.db"), recv.URL),
		"REBOUND_ADMIN_TOKENS="+adminToken)

	id := r.enqueue(t, "orders", `{"order":42}`)
	eventually(ctx, t, "the message to go dead", func() bool { return r.state(t, id) == "dead" })

	// payments is down: its three messages fail, which opens its breaker,
	// and the relay holds them back.
	for range 3 {
		r.enqueue(t, "payments", `{}`)
	}

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox cannot start
		chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()

	// The replay button asks for confirmation; accept it, and remember
	// what it asked. The click waits for the dialog, so another goroutine
	// answers it.
	var mu sync.Mutex
	var asked []string
	dialogs := chromedp.Events(browser, cdppage.JavascriptDialogOpening)
	dialogsDone := make(chan struct{})
	defer func() {
		cancelBrowser()
		<-dialogsDone
	}()
	go func() {
		defer close(dialogsDone)
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			mu.Lock()
			asked = append(asked, ev.Message)
			mu.Unlock()
			if _, err := chromedp.Call(browser, cdppage.HandleJavaScriptDialog, cdppage.HandleJavaScriptDialogParams{Accept: true}); err != nil && browser.Err() == nil {
				t.Errorf("accepting the dialog: %v", err)
			}
		}
	}()

	// Unauthenticated, the page sends the browser to the login form.
	if err := chromedp.Do(browser, chromedp.Navigate(r.url+"/")); err != nil {
		t.Fatalf("opening the page: %v", err)
	}
	if loc, err := chromedp.Run(browser, chromedp.Location()); err != nil || loc != r.url+"/login" {
		t.Fatalf("location = %q (%v), want the login form", loc, err)
	}
	if err := chromedp.Do(browser,
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), adminToken),
		chromedp.Submit(chromedp.ID("token")),
	); err != nil {
		t.Fatalf("signing in: %v", err)
	}

	row := chromedp.CSS(`#dead-letters tr[data-id="` + id + `"]`)
	if err := chromedp.Do(browser, chromedp.WaitVisible(row)); err != nil {
		t.Fatalf("waiting for the dead letter: %v", err)
	}
	// The page's script is deferred: until it has run, a click on replay
	// would post the form without the confirmation.
	if _, err := chromedp.Run(browser, chromedp.Poll[bool](`document.readyState === "complete"`, chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
		t.Fatalf("waiting for the page's script: %v", err)
	}
	text, err := chromedp.Run(browser, chromedp.Text(row))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"orders", "exhausted", "500", "[redacted: 12 bytes, application/json]"} {
		if !strings.Contains(text, want) {
			t.Errorf("the dead letter's row %q lacks %q", text, want)
		}
	}
	dests, err := chromedp.Run(browser, chromedp.Text(chromedp.CSS("#destinations")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dests, "invoices") || !strings.Contains(dests, "100.0 %") {
		t.Errorf("the destinations table lacks the idle destination or the failure rate:\n%s", dests)
	}
	// The held messages, counted in the store: at the moment the relay
	// claims them to hold them again they are delivering, so wait for a
	// refresh that shows all three.
	if _, err := chromedp.Run(browser, chromedp.Poll[bool](
		`document.querySelector('#destinations tr[data-destination="payments"]').textContent.includes("3 waiting on the open breaker")`,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(time.Minute))); err != nil {
		text, _ := chromedp.Run(browser, chromedp.Text(chromedp.CSS(`#destinations tr[data-destination="payments"]`)))
		t.Errorf("the payments row does not show 3 messages waiting on the open breaker (%v):\n%s", err, text)
	}
	// The page says whose numbers are whose; the relay names itself by
	// its host name.
	relayName := "this relay"
	if host, err := os.Hostname(); err == nil && host != "" {
		relayName += " (" + host + ")"
	}
	scope, err := chromedp.Run(browser, chromedp.Text(chromedp.ID("scope")))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"whole outbox's, from the store", "failure rates, breakers and the chart are those of " + relayName + " alone"} {
		if !strings.Contains(scope, want) {
			t.Errorf("the page's scope note %q lacks %q", scope, want)
		}
	}

	// A look at the page, for whoever changes it.
	if shot := os.Getenv("REBOUND_TEST_SCREENSHOT"); shot != "" {
		png, err := chromedp.Run(browser, chromedp.FullScreenshot(100))
		if err == nil {
			err = os.WriteFile(shot, png, 0o644)
		}
		if err != nil {
			t.Errorf("screenshot: %v", err)
		}
	}

	rc.setAccept()
	if err := chromedp.Do(browser, chromedp.Click(chromedp.CSS(`#dead-letters tr[data-id="`+id+`"] button.replay`))); err != nil {
		t.Fatalf("clicking replay: %v", err)
	}
	eventually(ctx, t, "the receiver to get the replayed message", func() bool {
		got, _ := rc.accepted()
		return len(got) > 0
	})
	got, bodies := rc.accepted()
	if len(got) != 1 || got[0] != id || bodies[0] != `{"order":42}` {
		t.Errorf("the receiver accepted %v %q, want %s once", got, bodies, id)
	}
	eventually(ctx, t, "the store to record the message sent", func() bool { return r.state(t, id) == "sent" })

	mu.Lock()
	if len(asked) != 1 || !strings.Contains(asked[0], "Replay message "+id) {
		t.Errorf("the dialogs asked %q, want one confirmation of the replay", asked)
	}
	mu.Unlock()

	// The page reports the replay and, refreshed without a reload, no
	// longer lists the message.
	if err := chromedp.Do(browser,
		chromedp.WaitVisible(chromedp.ID("flash")),
		chromedp.WaitNotPresent(row),
	); err != nil {
		t.Fatalf("waiting for the page to refresh: %v", err)
	}
	flash, err := chromedp.Run(browser, chromedp.Text(chromedp.ID("flash")))
	if err != nil || !strings.Contains(flash, "replayed") {
		t.Errorf("the page says %q (%v), want the replay reported", flash, err)
	}
}
