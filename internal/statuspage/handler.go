package statuspage

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/internal/auth"
	"github.com/rebound-go/rebound/outbox"
)

// Config configures the status page. Store is required; every other zero
// field means its default.
type Config struct {
	// Store is read on every page view and refresh. Required.
	Store outbox.Store
	// Activity supplies the delivery and failure rates and the chart.
	// Default nil: rates are shown as unknown and the chart is empty.
	Activity *Activity
	// Breakers supplies each destination's breaker state. Default nil:
	// the breaker column shows "—".
	Breakers *rebound.Breakers
	// Destinations are the configured destination names, listed even when
	// they have no messages.
	Destinations []string
	// Instance names the relay serving the page, where the page says which
	// of its numbers are this relay's own (rates, breakers, chart) and
	// which are the whole outbox's (backlog, dead letters). Default: the
	// host name, or none when it cannot be read.
	Instance string
	// Tokens authenticates: a Read token may view, an Admin token may also
	// replay and discard. When Tokens is nil or empty, authentication is
	// off and everyone is Admin; the daemon allows that only on a loopback
	// listener.
	Tokens *auth.Tokens
	// ShowPayloads shows dead letters' payloads. Default false: a payload
	// is redacted to its size and content type.
	ShowPayloads bool
	// Logger receives replays, discards, refused logins and store errors.
	// Default slog.Default().
	Logger *slog.Logger
	// Now tells the time. Default time.Now.
	Now func() time.Time
}

// Routes of the handler.
const (
	pathLogin  = "/login"
	pathState  = "/ui/state"
	pathStatic = "/ui/static/"
)

// storeTimeout bounds the store queries of one request.
const storeTimeout = 10 * time.Second

//go:embed assets
var assets embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"time":  formatTime,
	"stamp": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
}).ParseFS(assets, "assets/*.html"))

type server struct {
	cfg    Config
	open   bool // authentication is off
	csrf   csrfKey
	cop    *http.CrossOriginProtection
	static http.Handler
}

// New returns the status page's handler, to be mounted at "/". It serves:
//
//	GET  /                           the page
//	GET  /login, POST /login         the login form, which sets the cookie
//	POST /logout                     clears the cookie
//	GET  /ui/state                   the page's live part, polled by the page
//	GET  /ui/static/…                its script and style sheet
//	POST /ui/messages/{id}/replay    replays a dead letter (Admin)
//	POST /ui/messages/{id}/discard   discards a dead letter (Admin)
//
// It returns a *rebound.ConfigError naming an invalid field of cfg.
func New(cfg Config) (http.Handler, error) {
	if cfg.Store == nil {
		return nil, &rebound.ConfigError{Field: "statuspage.Config.Store", Problem: "required"}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Instance == "" {
		cfg.Instance, _ = os.Hostname()
	}
	s := &server{
		cfg:  cfg,
		open: cfg.Tokens == nil || cfg.Tokens.Len() == 0,
		cop:  http.NewCrossOriginProtection(),
	}
	if _, err := rand.Read(s.csrf[:]); err != nil {
		return nil, err
	}
	static, _ := fs.Sub(assets, "assets/static")
	s.static = http.StripPrefix(pathStatic, http.FileServerFS(static))

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.page)
	mux.HandleFunc("GET "+pathLogin, s.loginForm)
	mux.HandleFunc("POST "+pathLogin, s.login)
	mux.HandleFunc("POST /logout", s.logout)
	mux.HandleFunc("GET "+pathState, s.state)
	mux.Handle("GET "+pathStatic, s.static)
	mux.HandleFunc("POST /ui/messages/{id}/replay", s.act(replay))
	mux.HandleFunc("POST /ui/messages/{id}/discard", s.act(discard))
	return secureHeaders(mux), nil
}

// secureHeaders forbids framing, sniffing, caching and any resource but the
// page's own.
func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// session returns the request's role and the credential it came with
// (empty when authentication is off), to which its CSRF token is bound.
func (s *server) session(r *http.Request) (auth.Role, string) {
	if s.open {
		return auth.Admin, ""
	}
	role := s.cfg.Tokens.FromRequest(r)
	if role == auth.None {
		return auth.None, ""
	}
	if h := r.Header.Get("Authorization"); h != "" {
		_, tok, _ := strings.Cut(h, " ")
		return role, "bearer " + strings.TrimSpace(tok)
	}
	c, _ := r.Cookie(auth.CookieName)
	return role, "cookie " + c.Value
}

type pageData struct {
	Role   string
	Admin  bool
	Auth   bool
	CSRF   string
	Filter string
	State  stateData
}

func (s *server) page(w http.ResponseWriter, r *http.Request) {
	role, cred := s.session(r)
	if role == auth.None {
		http.Redirect(w, r, pathLogin, http.StatusSeeOther)
		return
	}
	st := s.load(r.Context(), role, cred, r.URL.Query())
	s.render(w, http.StatusOK, "page.html", pageData{
		Role:   role.String(),
		Admin:  role == auth.Admin,
		Auth:   !s.open,
		CSRF:   st.CSRF,
		Filter: st.Filter,
		State:  st,
	})
}

func (s *server) state(w http.ResponseWriter, r *http.Request) {
	role, cred := s.session(r)
	if role == auth.None {
		http.Error(w, "authentication required", http.StatusUnauthorized)
		return
	}
	s.render(w, http.StatusOK, "state", s.load(r.Context(), role, cred, r.URL.Query()))
}

// render executes a template into a buffer first, so that a failure is a
// clean 500.
func (s *server) render(w http.ResponseWriter, code int, name string, data any) {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, data); err != nil {
		s.cfg.Logger.Error("status page: rendering failed", "template", name, "error", err.Error())
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

type loginData struct {
	Error string
}

func (s *server) loginForm(w http.ResponseWriter, r *http.Request) {
	if role, _ := s.session(r); role != auth.None {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.render(w, http.StatusOK, "login.html", loginData{})
}

func (s *server) login(w http.ResponseWriter, r *http.Request) {
	if err := s.cop.Check(r); err != nil {
		s.fail(w, r, http.StatusForbidden, "cross-origin request refused")
		return
	}
	if s.open {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	token := strings.TrimSpace(r.PostFormValue("token"))
	if s.cfg.Tokens.Lookup(token) == auth.None {
		s.cfg.Logger.Warn("status page: login refused", "remote", r.RemoteAddr)
		s.render(w, http.StatusUnauthorized, "login.html", loginData{Error: "That token is not valid."})
		return
	}
	if strings.ContainsAny(token, "\";\\") {
		// A cookie cannot carry these bytes; the browser would come back
		// with a different token.
		s.render(w, http.StatusBadRequest, "login.html", loginData{Error: `That token cannot be kept in a cookie (it holds ", ; or \). Use another token, or send it as a bearer Authorization header.`})
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     auth.CookieName,
		Value:    token,
		Path:     "/",
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *server) logout(w http.ResponseWriter, r *http.Request) {
	if err := s.cop.Check(r); err != nil {
		s.fail(w, r, http.StatusForbidden, "cross-origin request refused")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     auth.CookieName,
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, pathLogin, http.StatusSeeOther)
}

type action uint8

const (
	replay action = iota
	discard
)

// act replays or discards a dead letter. It checks, in order: a valid
// token (401), a same-origin request (403), the CSRF token (403), the
// Admin role (403).
func (s *server) act(a action) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		role, cred := s.session(r)
		if role == auth.None {
			s.fail(w, r, http.StatusUnauthorized, "authentication required")
			return
		}
		if err := s.cop.Check(r); err != nil {
			s.fail(w, r, http.StatusForbidden, "cross-origin request refused")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
		token := r.Header.Get(csrfHeader)
		if token == "" {
			token = r.PostFormValue(csrfField)
		}
		if !s.csrf.valid(cred, token) {
			s.fail(w, r, http.StatusForbidden, "missing or invalid CSRF token; reload the page")
			return
		}
		if role != auth.Admin {
			s.fail(w, r, http.StatusForbidden, "replay and discard need an admin token")
			return
		}
		id := r.PathValue("id")
		ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
		defer cancel()
		var err error
		op, verb := "replay", "replayed"
		if a == replay {
			err = s.cfg.Store.Replay(ctx, id, s.cfg.Now())
		} else {
			op, verb = "discard", "discarded"
			err = s.cfg.Store.Discard(ctx, id)
		}
		switch {
		case errors.Is(err, outbox.ErrNotFound):
			s.fail(w, r, http.StatusNotFound, "no message "+id)
		case errors.Is(err, outbox.ErrNotDead):
			s.fail(w, r, http.StatusConflict, "message "+id+" is not dead (already replayed?)")
		case err != nil:
			s.cfg.Logger.Error("status page: "+op+" failed", "id", id, "error", err.Error())
			s.fail(w, r, http.StatusInternalServerError, "the store failed; see the log")
		default:
			s.cfg.Logger.Info("status page: dead letter "+verb, "id", id, "role", role.String(), "remote", r.RemoteAddr)
			s.done(w, r, "message "+id+" "+verb)
		}
	}
}

// wantsJSON reports whether the page's script made the request (it asks
// for JSON); a plain form post gets a redirect or a text error instead.
func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

func (s *server) done(w http.ResponseWriter, r *http.Request, msg string) {
	if !wantsJSON(r) {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"message": msg})
}

func (s *server) fail(w http.ResponseWriter, r *http.Request, code int, msg string) {
	if !wantsJSON(r) {
		http.Error(w, msg, code)
		return
	}
	writeJSON(w, code, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
