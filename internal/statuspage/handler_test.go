package statuspage

import (
	"context"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/internal/auth"
	"github.com/rebound-go/rebound/outbox"
)

func TestNewRequiresStore(t *testing.T) {
	_, err := New(Config{})
	var ce *rebound.ConfigError
	if !errors.As(err, &ce) || ce.Field != "statuspage.Config.Store" {
		t.Fatalf("New(Config{}) = %v, want a ConfigError naming Store", err)
	}
}

func TestUnauthenticatedRequests(t *testing.T) {
	o := newOutbox(t)
	p := newPage(t, Config{Store: o.store, Tokens: testTokens(t)})
	for _, tt := range []struct {
		name, method, path, token string
		want                      int
		location                  string
	}{
		{"page without a cookie", "GET", "/", "", http.StatusSeeOther, "/login"},
		{"page with a bad cookie", "GET", "/", "not-a-token-0123456789", http.StatusSeeOther, "/login"},
		{"state without a cookie", "GET", "/ui/state", "", http.StatusUnauthorized, ""},
		{"replay without a cookie", "POST", "/ui/messages/x/replay", "", http.StatusUnauthorized, ""},
		{"login form", "GET", "/login", "", http.StatusOK, ""},
		{"style sheet", "GET", "/ui/static/style.css", "", http.StatusOK, ""},
		{"not ours", "GET", "/v1/messages", adminToken, http.StatusNotFound, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := p.do(tt.method, tt.path, tt.token, url.Values{})
			if r.StatusCode != tt.want {
				t.Fatalf("%s %s = %d, want %d", tt.method, tt.path, r.StatusCode, tt.want)
			}
			if loc := r.Header.Get("Location"); loc != tt.location {
				t.Errorf("Location = %q, want %q", loc, tt.location)
			}
			if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("Content-Security-Policy = %q", csp)
			}
		})
	}
}

func TestLogin(t *testing.T) {
	o := newOutbox(t)
	p := newPage(t, Config{Store: o.store, Tokens: testTokens(t), Destinations: []string{"orders"}})

	bad := p.do("POST", "/login", "", url.Values{"token": {"wrong-token-0123456789abcdef"}})
	if bad.StatusCode != http.StatusUnauthorized || len(bad.Cookies()) != 0 {
		t.Fatalf("login with a bad token = %d with cookies %v, want 401 and none", bad.StatusCode, bad.Cookies())
	}
	if !strings.Contains(bad.body, "not valid") {
		t.Error("the login form does not say the token is not valid")
	}
	if strings.Contains(p.logs.String(), "wrong-token") {
		t.Error("the log holds the refused token")
	}

	for _, token := range []string{readToken, adminToken} {
		r := p.do("POST", "/login", "", url.Values{"token": {token}})
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/" {
			t.Fatalf("login = %d to %q, want 303 to /", r.StatusCode, r.Header.Get("Location"))
		}
		cookies := r.Cookies()
		if len(cookies) != 1 {
			t.Fatalf("login set %d cookies, want 1", len(cookies))
		}
		c := cookies[0]
		if c.Name != auth.CookieName || c.Value != token || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure {
			t.Errorf("cookie = %+v, want %s, HttpOnly, SameSite=Strict, Path=/, not Secure over http", c, auth.CookieName)
		}
		page := p.do("GET", "/", c.Value, nil)
		if page.StatusCode != http.StatusOK || !strings.Contains(page.body, `data-destination="orders"`) {
			t.Errorf("GET / after login = %d, or without the destination", page.StatusCode)
		}
		if strings.Contains(page.body, token) {
			t.Error("the page holds the token")
		}
	}

	// A valid token that a cookie cannot carry is refused with a reason,
	// not set and then lost.
	var odd auth.Tokens
	if err := odd.Add(`semi;colon-0123456789abcdef`, auth.Read); err != nil {
		t.Fatal(err)
	}
	po := newPage(t, Config{Store: o.store, Tokens: &odd})
	if r := po.do("POST", "/login", "", url.Values{"token": {`semi;colon-0123456789abcdef`}}); r.StatusCode != http.StatusBadRequest || len(r.Cookies()) != 0 || !strings.Contains(r.body, "cannot be kept in a cookie") {
		t.Errorf("login with a token holding ';' = %d with cookies %v", r.StatusCode, r.Cookies())
	}

	out := p.do("POST", "/logout", adminToken, url.Values{})
	if out.StatusCode != http.StatusSeeOther || len(out.Cookies()) != 1 || out.Cookies()[0].MaxAge >= 0 {
		t.Errorf("logout = %d with cookies %v, want 303 clearing the cookie", out.StatusCode, out.Cookies())
	}
}

func TestLoginOverTLSSetsASecureCookie(t *testing.T) {
	o := newOutbox(t)
	h, err := New(Config{Store: o.store, Tokens: testTokens(t)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(h)
	defer srv.Close()
	client := srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.PostForm(srv.URL+"/login", url.Values{"token": {adminToken}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if c := resp.Cookies(); len(c) != 1 || !c[0].Secure {
		t.Errorf("cookies over TLS = %+v, want one Secure cookie", c)
	}
}

func TestLoginFormWithACookieJar(t *testing.T) {
	// The way a browser goes: log in through the form, follow the
	// redirect with the cookie.
	o := newOutbox(t)
	p := newPage(t, Config{Store: o.store, Tokens: testTokens(t), Destinations: []string{"orders"}})
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := client.PostForm(p.srv.URL+"/login", url.Values{"token": {readToken}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/" {
		t.Errorf("after login: %d at %s, want 200 at /", resp.StatusCode, resp.Request.URL.Path)
	}
}

func TestReadViewsButCannotReplay(t *testing.T) {
	o := newOutbox(t)
	id := o.deadLetter(t, outbox.Message{Destination: "orders", Payload: []byte(`{}`)}, "receiver answered 500", 500)
	p := newPage(t, Config{Store: o.store, Tokens: testTokens(t)})

	view := p.do("GET", "/", readToken, nil)
	if view.StatusCode != http.StatusOK || !strings.Contains(view.body, id) {
		t.Fatalf("GET / as read = %d, or without the dead letter", view.StatusCode)
	}
	if strings.Contains(view.body, "/replay") {
		t.Error("the read role is shown a replay button")
	}
	csrf := p.csrf(readToken)
	for _, op := range []string{"replay", "discard"} {
		r := p.do("POST", "/ui/messages/"+id+"/"+op, readToken, url.Values{"csrf": {csrf}})
		if r.StatusCode != http.StatusForbidden {
			t.Errorf("%s as read = %d, want 403", op, r.StatusCode)
		}
	}
	if s := o.state(t, id); s != outbox.Dead {
		t.Errorf("state = %v, want dead", s)
	}
}

func TestAdminReplaysAndDiscards(t *testing.T) {
	o := newOutbox(t)
	replayed := o.deadLetter(t, outbox.Message{ID: "order/42", Destination: "orders"}, "receiver answered 500", 500)
	discarded := o.deadLetter(t, outbox.Message{Destination: "orders"}, "receiver answered 400", 400)
	p := newPage(t, Config{Store: o.store, Tokens: testTokens(t)})
	csrf := p.csrf(adminToken)

	// As the page's script does: JSON, with the token in a header.
	r := p.do("POST", "/ui/messages/"+url.PathEscape(replayed)+"/replay", adminToken, url.Values{}, "Accept", "application/json", csrfHeader, csrf)
	if r.StatusCode != http.StatusOK || !strings.Contains(r.body, `"message"`) {
		t.Fatalf("replay = %d %s, want 200", r.StatusCode, r.body)
	}
	if s := o.state(t, replayed); s != outbox.Pending {
		t.Errorf("after replay: %v, want pending", s)
	}
	again := p.do("POST", "/ui/messages/"+url.PathEscape(replayed)+"/replay", adminToken, url.Values{}, "Accept", "application/json", csrfHeader, csrf)
	if again.StatusCode != http.StatusConflict {
		t.Errorf("replaying a pending message = %d, want 409", again.StatusCode)
	}

	// As a plain form does: the token in a field, then a redirect.
	r = p.do("POST", "/ui/messages/"+discarded+"/discard", adminToken, url.Values{"csrf": {csrf}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("discard = %d %s, want 303", r.StatusCode, r.body)
	}
	if _, err := o.store.Get(context.Background(), discarded); !errors.Is(err, outbox.ErrNotFound) {
		t.Errorf("after discard: Get = %v, want ErrNotFound", err)
	}
	if r := p.do("POST", "/ui/messages/nope/discard", adminToken, url.Values{"csrf": {csrf}}); r.StatusCode != http.StatusNotFound {
		t.Errorf("discarding an unknown message = %d, want 404", r.StatusCode)
	}
	if logs := p.logs.String(); !strings.Contains(logs, "dead letter replayed") || !strings.Contains(logs, "dead letter discarded") {
		t.Errorf("the log does not record the replay and the discard:\n%s", logs)
	}
}

func TestCSRF(t *testing.T) {
	o := newOutbox(t)
	p := newPage(t, Config{Store: o.store, Tokens: testTokens(t)})
	good := p.csrf(adminToken)
	other := p.csrf(readToken) // another session's token
	for _, tt := range []struct {
		name    string
		form    url.Values
		headers []string
		want    int
	}{
		{"missing", url.Values{}, nil, http.StatusForbidden},
		{"empty", url.Values{"csrf": {""}}, nil, http.StatusForbidden},
		{"wrong", url.Values{"csrf": {"AAAA" + good[4:]}}, nil, http.StatusForbidden},
		{"another session's", url.Values{"csrf": {other}}, nil, http.StatusForbidden},
		{"wrong header", url.Values{}, []string{csrfHeader, "x" + good}, http.StatusForbidden},
		{"cross-site origin", url.Values{"csrf": {good}}, []string{"Origin", "https://evil.example"}, http.StatusForbidden},
		{"cross-site fetch", url.Values{"csrf": {good}}, []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"same-site fetch", url.Values{"csrf": {good}}, []string{"Sec-Fetch-Site", "same-site"}, http.StatusForbidden},
		{"good", url.Values{"csrf": {good}}, nil, http.StatusSeeOther},
		{"good, same origin", url.Values{"csrf": {good}}, []string{"Sec-Fetch-Site", "same-origin", "Origin", p.srv.URL}, http.StatusSeeOther},
		{"good header", url.Values{}, []string{csrfHeader, good}, http.StatusSeeOther},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id := o.deadLetter(t, outbox.Message{Destination: "orders"}, "boom", 500)
			r := p.do("POST", "/ui/messages/"+id+"/replay", adminToken, tt.form, tt.headers...)
			if r.StatusCode != tt.want {
				t.Fatalf("replay = %d %q, want %d", r.StatusCode, r.body, tt.want)
			}
			want := outbox.Dead
			if tt.want == http.StatusSeeOther {
				want = outbox.Pending
			}
			if s := o.state(t, id); s != want {
				t.Errorf("state = %v, want %v", s, want)
			}
		})
	}
	// Login and logout refuse cross-site posts too.
	for _, path := range []string{"/login", "/logout"} {
		r := p.do("POST", path, "", url.Values{"token": {adminToken}}, "Sec-Fetch-Site", "cross-site")
		if r.StatusCode != http.StatusForbidden || len(r.Cookies()) != 0 {
			t.Errorf("cross-site POST %s = %d, want 403 without cookies", path, r.StatusCode)
		}
	}
}

func TestAuthenticationOff(t *testing.T) {
	o := newOutbox(t)
	id := o.deadLetter(t, outbox.Message{Destination: "orders"}, "boom", 500)
	p := newPage(t, Config{Store: o.store, Tokens: &auth.Tokens{}})
	r := p.do("GET", "/", "", nil)
	if r.StatusCode != http.StatusOK || !strings.Contains(r.body, "/replay") {
		t.Fatalf("GET / without tokens = %d, or without a replay button", r.StatusCode)
	}
	if r := p.do("GET", "/login", "", nil); r.StatusCode != http.StatusSeeOther {
		t.Errorf("GET /login without tokens = %d, want a redirect to the page", r.StatusCode)
	}
	if r := p.do("POST", "/ui/messages/"+id+"/replay", "", url.Values{}); r.StatusCode != http.StatusForbidden {
		t.Errorf("replay without a CSRF token = %d, want 403 even with authentication off", r.StatusCode)
	}
	if r := p.do("POST", "/ui/messages/"+id+"/replay", "", url.Values{"csrf": {p.csrf("")}}); r.StatusCode != http.StatusSeeOther {
		t.Errorf("replay = %d, want 303", r.StatusCode)
	}
	if s := o.state(t, id); s != outbox.Pending {
		t.Errorf("state = %v, want pending", s)
	}
}

func TestRedaction(t *testing.T) {
	const secret = "sk_live_TOPSECRET"
	payload := `{"card":"` + secret + `-payload"}`
	o := newOutbox(t)
	id := o.deadLetter(t, outbox.Message{
		Destination: "billing",
		Payload:     []byte(payload),
		Headers: map[string]string{
			"Authorization":    "Bearer " + secret + "-auth",
			"Cookie":           "sid=" + secret + "-cookie",
			"X-Api-Key":        secret + "-key",
			"X-Webhook-Secret": secret + "-secret",
			"X-Access-Token":   secret + "-token",
			"Content-Type":     "application/vnd.billing+json",
			"X-Tenant":         "acme",
		},
	}, `Post "https://user:`+secret+`-userinfo@hooks.example.com/services/`+secret+`-path?token=`+secret+`-query": address refused`, 0)

	for _, show := range []bool{false, true} {
		p := newPage(t, Config{Store: o.store, Tokens: testTokens(t), ShowPayloads: show})
		for _, path := range []string{"/", "/ui/state"} {
			r := p.do("GET", path, adminToken, nil)
			if r.StatusCode != http.StatusOK || !strings.Contains(r.body, id) {
				t.Fatalf("GET %s = %d, or without the dead letter", path, r.StatusCode)
			}
			for _, leak := range []string{secret + "-auth", secret + "-cookie", secret + "-key", secret + "-secret", secret + "-token", secret + "-userinfo", secret + "-path", secret + "-query", adminToken} {
				if strings.Contains(r.body, leak) {
					t.Errorf("ShowPayloads %v: GET %s shows %q", show, path, leak)
				}
			}
			if got := strings.Contains(r.body, secret+"-payload"); got != show {
				t.Errorf("ShowPayloads %v: GET %s shows the payload: %v", show, path, got)
			}
			for _, want := range []string{"[redacted]", "acme", "https://hooks.example.com/…"} {
				if !strings.Contains(r.body, want) {
					t.Errorf("ShowPayloads %v: GET %s lacks %q", show, path, want)
				}
			}
			if !show && !strings.Contains(r.body, "[redacted: "+strconv.Itoa(len(payload))+" bytes, application/vnd.billing&#43;json]") {
				t.Errorf("the redacted payload does not give its size and type")
			}
		}
		if strings.Contains(p.logs.String(), secret) {
			t.Errorf("the log holds the secret:\n%s", p.logs.String())
		}
	}
}

func TestEscaping(t *testing.T) {
	const evil = `<script>alert("x")</script>`
	o := newOutbox(t)
	id := o.deadLetter(t, outbox.Message{
		ID:          `<b>id`,
		Destination: "shop" + evil,
		OrderingKey: "k" + evil,
		Headers:     map[string]string{"X-Note": evil},
	}, "receiver answered 500: "+evil, 500)
	p := newPage(t, Config{Store: o.store, Tokens: testTokens(t), Destinations: []string{"conf" + evil}, ShowPayloads: true})
	for _, path := range []string{"/", "/ui/state", "/?dest=" + url.QueryEscape("shop"+evil)} {
		r := p.do("GET", path, adminToken, nil)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d", path, r.StatusCode)
		}
		if strings.Contains(r.body, "<script>alert") || strings.Contains(r.body, "<b>id") {
			t.Errorf("GET %s holds unescaped markup", path)
		}
		if !strings.Contains(r.body, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
			t.Errorf("GET %s lacks the escaped text", path)
		}
	}
	// The escaped ID still makes a working replay URL.
	csrf := p.csrf(adminToken)
	m := regexp.MustCompile(`action="(/ui/messages/[^"]+/replay)"`).FindStringSubmatch(p.do("GET", "/", adminToken, nil).body)
	if m == nil {
		t.Fatal("no replay form")
	}
	if r := p.do("POST", m[1], adminToken, url.Values{"csrf": {csrf}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("replay via %s = %d %s", m[1], r.StatusCode, r.body)
	}
	if s := o.state(t, id); s != outbox.Pending {
		t.Errorf("state = %v, want pending", s)
	}
}

// row returns the destination's table row.
func row(t *testing.T, body, dest string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<tr data-destination="` + regexp.QuoteMeta(dest) + `">(.*?)</tr>`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no row for %s", dest)
	}
	return regexp.MustCompile(`\s+`).ReplaceAllString(m[1], " ")
}

func TestDestinations(t *testing.T) {
	now := time.Now()
	o := newOutbox(t)
	o.enqueue(t, outbox.Message{Destination: "orders"}, outbox.Message{Destination: "orders"})
	o.deadLetter(t, outbox.Message{Destination: "orders"}, "boom", 500)

	act := NewActivity()
	for i := range 40 { // over the last 4 minutes: 30 delivered, 10 failed
		act.record("orders", i%4 == 0, now.Add(-time.Duration(i)*6*time.Second))
	}
	act.record("orders", true, now.Add(-10*time.Minute)) // outside the window
	breakers, err := rebound.NewBreakers(rebound.BreakerConfig{ConsecutiveFailures: 1, FailureRate: -1, OpenFor: time.Hour}, 10)
	if err != nil {
		t.Fatal(err)
	}
	done, _ := breakers.Get("payments").Allow()
	done(errors.New("down"))

	p := newPage(t, Config{
		Store: o.store, Activity: act, Breakers: breakers,
		Destinations: []string{"payments", "idle"},
		Now:          func() time.Time { return now },
	})
	body := p.do("GET", "/", "", nil).body
	for _, tt := range []struct{ dest, want string }{
		// pending 2, retrying 0, delivering 0, dead 1, oldest, 6/min, 25 %, closed
		{"orders", `<td class="num">2</td> <td class="num">0</td> <td class="num">0</td> <td class="num"><a href="?dest=orders#dead">1</a></td> <td class="num">0s</td> <td class="num">6.0/min</td> <td class="num bad">25.0 %</td> <td><span class="breaker breaker-closed">closed</span></td>`},
		{"payments", `<td class="num">—</td> <td class="num">0.0/min</td> <td class="num">—</td> <td><span class="breaker breaker-open">open</span> <span class="waiting"`},
		{"idle", `<td class="num">0</td> <td class="num">0</td> <td class="num">0</td> <td class="num">0</td> <td class="num">—</td>`},
	} {
		if r := row(t, body, tt.dest); !strings.Contains(r, tt.want) {
			t.Errorf("%s row:\n%s\nwant it to contain\n%s", tt.dest, r, tt.want)
		}
	}
	if n := breakers.Len(); n != 1 {
		t.Errorf("the page created breakers: %d kept, want 1", n)
	}
	if !strings.Contains(body, `<polyline class="delivered"`) || !strings.Contains(body, " failed</title>") {
		t.Error("the chart is missing")
	}

	// Without an Activity or Breakers, both are unknown.
	p = newPage(t, Config{Store: o.store, Now: func() time.Time { return now }})
	body = p.do("GET", "/", "", nil).body
	if r := row(t, body, "orders"); !strings.Contains(r, `<td class="num">—</td> <td class="num">—</td> <td><span class="breaker breaker-—">—</span></td>`) {
		t.Errorf("orders row without Activity and Breakers:\n%s", r)
	}
}

// While a destination's breaker is open or half-open, its row says how
// many messages wait on it: those pending or retrying in the store, of
// every relay. A closed breaker shows no count, and neither does a page
// without breakers.
func TestMessagesWaitingOnTheBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := newOutbox(t)
		breakers, err := rebound.NewBreakers(rebound.BreakerConfig{ConsecutiveFailures: 1, FailureRate: -1, OpenFor: time.Minute}, 10)
		if err != nil {
			t.Fatal(err)
		}
		trip := func(dest string) {
			done, err := breakers.Get(dest).Allow()
			if err != nil {
				t.Fatal(err)
			}
			done(errors.New("connection refused"))
		}
		trip("recovering")
		time.Sleep(time.Minute) // its OpenFor passes: half-open
		trip("down")

		for range 3 {
			o.enqueue(t, outbox.Message{Destination: "down"})
		}
		o.retrying(t, outbox.Message{Destination: "down"})
		o.deadLetter(t, outbox.Message{Destination: "down"}, "receiver answered 400", 400)
		o.retrying(t, outbox.Message{Destination: "recovering"})
		o.enqueue(t, outbox.Message{Destination: "healthy"}, outbox.Message{Destination: "healthy"})

		get := func(cfg Config) string {
			h, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			rr := httptest.NewRecorder()
			h.ServeHTTP(rr, httptest.NewRequest("GET", "/", nil))
			if rr.Code != http.StatusOK {
				t.Fatalf("GET / = %d", rr.Code)
			}
			return rr.Body.String()
		}
		body := get(Config{Store: o.store, Breakers: breakers, Destinations: []string{"idle"}})
		for _, tt := range []struct{ dest, breaker, waiting string }{
			// 3 pending and 1 retrying; the dead letter does not wait.
			{"down", "open", "4 waiting on the open breaker"},
			{"recovering", "half-open", "1 waiting on the half-open breaker"},
			{"healthy", "closed", ""},
			{"idle", "closed", ""},
		} {
			r := row(t, body, tt.dest)
			if !strings.Contains(r, `<span class="breaker breaker-`+tt.breaker+`">`+tt.breaker+`</span>`) {
				t.Errorf("%s row: %s\nwant the breaker %s", tt.dest, r, tt.breaker)
			}
			switch {
			case tt.waiting == "" && strings.Contains(r, "waiting"):
				t.Errorf("%s row: %s\nwant no waiting count", tt.dest, r)
			case tt.waiting != "" && !strings.Contains(r, ">"+tt.waiting+"</span>"):
				t.Errorf("%s row: %s\nwant %q", tt.dest, r, tt.waiting)
			}
		}
		if r := row(t, body, "down"); !strings.Contains(r, "pending or retrying in the store (all relays)") {
			t.Errorf("down row: %s\nwant the count explained", r)
		}

		if body := get(Config{Store: o.store}); strings.Contains(body, "waiting on the") {
			t.Error("a page without breakers shows messages waiting on one")
		}
	})
}

// The page says which numbers are this relay's own and which the whole
// outbox's, and names the relay: by default its host name.
func TestPageSaysWhoseNumbers(t *testing.T) {
	o := newOutbox(t)
	host, err := os.Hostname()
	if err != nil {
		t.Skip("no host name:", err)
	}
	for _, tt := range []struct{ instance, name string }{
		{"relay-7", "relay-7"},
		{"", host},
	} {
		p := newPage(t, Config{Store: o.store, Activity: NewActivity(), Instance: tt.instance, Destinations: []string{"orders"}})
		body := regexp.MustCompile(`\s+`).ReplaceAllString(p.do("GET", "/", "", nil).body, " ")
		for _, want := range []string{
			"Backlog, oldest unsent and dead letters are the whole outbox's, from the store: every relay's messages.",
			"Deliveries, failure rates, breakers and the chart are those of this relay (" + tt.name + ") alone, since it started",
			`<th scope="colgroup" colspan="5">All relays (the store)</th> <th scope="colgroup" colspan="3">This relay (` + tt.name + `) only</th>`,
			"<h2>Attempts per minute, this relay (" + tt.name + ") only</h2>",
			"Rates, breakers and the chart: this relay (" + tt.name + ") only",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("instance %q: the page lacks %q", tt.instance, want)
			}
		}
	}
}

func TestDeadLetterPages(t *testing.T) {
	o := newOutbox(t)
	var ids []string
	for range deadPageSize + 3 {
		ids = append(ids, o.deadLetter(t, outbox.Message{Destination: "orders"}, "boom", 500))
	}
	o.deadLetter(t, outbox.Message{Destination: "other"}, "boom", 500)
	p := newPage(t, Config{Store: o.store})
	first := p.do("GET", "/?dest=orders", "", nil).body
	m := regexp.MustCompile(`<a href="(\?[^"]+)#dead">Next page</a>`).FindStringSubmatch(first)
	if m == nil {
		t.Fatal("no next page link")
	}
	next := strings.ReplaceAll(m[1], "&amp;", "&")
	second := p.do("GET", "/"+next, "", nil).body
	for i, id := range ids {
		inFirst, inSecond := strings.Contains(first, `data-id="`+id+`"`), strings.Contains(second, `data-id="`+id+`"`)
		if inFirst == inSecond || inFirst != (i < deadPageSize) {
			t.Errorf("message %d: on the first page %v, on the second %v", i, inFirst, inSecond)
		}
	}
	if strings.Contains(second, "Next page") || strings.Contains(first+second, `<td>other</td>`) {
		t.Error("a third page, or the other destination's dead letter, is listed")
	}
}
