package idempotency

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/idempotency/internal/lease"
)

// Defaults and limits of Config.
const (
	DefaultTTL               = 24 * time.Hour
	DefaultLease             = time.Minute
	DefaultMaxKeyLength      = 255
	DefaultMaxRequestBody    = 1 << 20
	DefaultMaxStoredResponse = 1 << 20
	// HeaderKey is the request header carrying the key.
	HeaderKey = "Idempotency-Key"
	// HeaderReplayed marks a replayed response.
	HeaderReplayed = "Idempotent-Replayed"
)

// Config configures Middleware. Store is required; every other zero field
// means its default.
type Config struct {
	// Store keeps the keys. Required.
	Store Store
	// Methods are the methods the middleware applies to. Default POST and
	// PATCH; other methods pass through untouched.
	Methods []string
	// Required reports whether a request must carry a key (400 without
	// one). Default: a key is optional; requests without one pass through.
	Required func(*http.Request) bool
	// Principal returns who is calling, so that two callers' keys never
	// collide. Default: a SHA-256 digest of the Authorization header (the
	// empty string for anonymous callers).
	Principal func(*http.Request) string
	// Fingerprint digests what makes two requests the same; a key reused
	// with another fingerprint is refused with 422. Default: method, path
	// and a SHA-256 digest of the body.
	Fingerprint func(r *http.Request, body []byte) string
	// MaxKeyLength bounds the key; longer keys get 400. Default 255.
	MaxKeyLength int
	// MaxRequestBody bounds the request body read for the fingerprint;
	// larger bodies get 413. Default 1 MiB.
	MaxRequestBody int64
	// MaxStoredResponse bounds the stored response body. A larger response
	// is sent but not stored: the key is released, so a retry runs the
	// handler again. Default 1 MiB.
	MaxStoredResponse int
	// StoreServerErrors stores 5xx responses too. Default false: a 5xx
	// releases the key, so that a retry may succeed.
	StoreServerErrors bool
	// TTL is how long a completed key is remembered. Default 24 h.
	TTL time.Duration
	// Lease bounds how long a crashed request blocks its key; a running
	// request renews it every Lease/3. Default 1 m.
	Lease time.Duration
	// Logger receives store failures after the response was sent. Default
	// slog.Default().
	Logger *slog.Logger
}

// Middleware returns HTTP middleware with IETF Idempotency-Key semantics
// (draft-ietf-httpapi-idempotency-key-header):
//
//   - a key missing where Required → 400; malformed or too long → 400;
//   - the key is scoped by the caller's Principal;
//   - a key reused with a different fingerprint → 422;
//   - a key whose first request is still running → 409 (the lock lives in
//     the Store, with a lease, so a crashed holder does not block forever);
//   - a completed key → the stored status, headers and body, with
//     Idempotent-Replayed: true;
//   - 5xx and responses above MaxStoredResponse are not stored (the key is
//     released and a retry runs the handler again);
//   - a handler that panics releases its key too, so a retry runs it again;
//     the panic is not recovered: it goes on, unchanged, to net/http (which
//     logs it, unless it is http.ErrAbortHandler, and drops the
//     connection) or to the caller's own recovery middleware;
//   - keys expire after TTL; run a Reaper on a SQL store (MemoryStore and
//     the Redis store forget expired keys by themselves).
//
// Errors are application/problem+json. If the store fails, the request is
// refused with 503 rather than run without protection.
func Middleware(cfg Config) (func(http.Handler) http.Handler, error) {
	if cfg.Store == nil {
		return nil, &rebound.ConfigError{Field: "idempotency.Config.Store", Problem: "required"}
	}
	if cfg.MaxKeyLength < 0 || cfg.MaxRequestBody < 0 || cfg.MaxStoredResponse < 0 || cfg.TTL < 0 || cfg.Lease < 0 {
		return nil, &rebound.ConfigError{Field: "idempotency.Config", Problem: "limits and durations must be 0 (the default) or positive"}
	}
	if len(cfg.Methods) == 0 {
		cfg.Methods = []string{http.MethodPost, http.MethodPatch}
	}
	if cfg.Principal == nil {
		cfg.Principal = authorizationDigest
	}
	if cfg.Fingerprint == nil {
		cfg.Fingerprint = DefaultFingerprint
	}
	if cfg.MaxKeyLength == 0 {
		cfg.MaxKeyLength = DefaultMaxKeyLength
	}
	if cfg.MaxRequestBody == 0 {
		cfg.MaxRequestBody = DefaultMaxRequestBody
	}
	if cfg.MaxStoredResponse == 0 {
		cfg.MaxStoredResponse = DefaultMaxStoredResponse
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Lease == 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return func(next http.Handler) http.Handler {
		return &handler{cfg: cfg, next: next}
	}, nil
}

type handler struct {
	cfg  Config
	next http.Handler
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !slices.Contains(h.cfg.Methods, r.Method) {
		h.next.ServeHTTP(w, r)
		return
	}
	values := r.Header.Values(HeaderKey)
	if len(values) == 0 {
		if h.cfg.Required != nil && h.cfg.Required(r) {
			problem(w, http.StatusBadRequest, "missing-key", "Idempotency-Key is required", "This request must carry an Idempotency-Key header.")
			return
		}
		h.next.ServeHTTP(w, r)
		return
	}
	key, err := ParseKey(values, h.cfg.MaxKeyLength)
	if err != nil {
		problem(w, http.StatusBadRequest, "malformed-key", "Malformed Idempotency-Key", err.Error())
		return
	}

	body, ok := h.readBody(w, r)
	if !ok {
		return
	}
	fp := h.cfg.Fingerprint(r, body)
	scoped := h.cfg.Principal(r) + ":" + key

	ctx := r.Context()
	c, err := h.cfg.Store.Claim(ctx, scoped, fp, time.Now(), h.cfg.Lease, h.cfg.TTL)
	if err != nil {
		problem(w, http.StatusServiceUnavailable, "store-unavailable", "Idempotency store unavailable", "The request was not run; retry it with the same key.")
		return
	}
	if !c.Claimed {
		answerExisting(w, c.Existing, fp)
		return
	}
	h.run(w, r, scoped, c.Token)
}

// readBody reads the request's body, at most MaxRequestBody bytes, and
// puts it back for the handler; it answers the request itself, and
// returns false, when the body cannot be read or is too large.
func (h *handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, h.cfg.MaxRequestBody+1))
	r.Body.Close()
	if err != nil {
		problem(w, http.StatusBadRequest, "unreadable-body", "Unreadable request body", err.Error())
		return nil, false
	}
	if int64(len(body)) > h.cfg.MaxRequestBody {
		problem(w, http.StatusRequestEntityTooLarge, "body-too-large", "Request body too large",
			"Requests with an Idempotency-Key may carry at most "+strconv.FormatInt(h.cfg.MaxRequestBody, 10)+" bytes.")
		return nil, false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, true
}

// answerExisting answers a request whose key another request holds or
// has completed: 422 for another request's key, 409 while the first is
// in flight, else the stored response.
func answerExisting(w http.ResponseWriter, existing Record, fp string) {
	switch {
	case existing.Fingerprint != fp:
		problem(w, http.StatusUnprocessableEntity, "key-reused", "Idempotency-Key reused",
			"This key was already used for a different request.")
	case existing.State == InFlight:
		w.Header().Set("Retry-After", "1")
		problem(w, http.StatusConflict, "request-in-flight", "A request with this Idempotency-Key is in progress",
			"Retry once the first request has completed.")
	default:
		replay(w, existing.Response)
	}
}

// run runs the handler for a request whose key it claimed, renewing the
// lease while it runs, then stores its response, or releases the key
// when the response must not be replayed.
func (h *handler) run(w http.ResponseWriter, r *http.Request, scoped, token string) {
	ctx := r.Context()
	stop := h.renew(ctx, scoped, token)
	rec := &recorder{ResponseWriter: w, limit: h.cfg.MaxStoredResponse}
	func() {
		returned := false
		defer func() {
			stop()
			if !returned {
				// The handler panicked (or called runtime.Goexit): it did
				// not finish, so its key must not stay locked for the
				// rest of the lease. Released, a retry runs the handler
				// again. The panic goes on unrecovered, with its value,
				// to net/http's own handling (http.ErrAbortHandler
				// included).
				h.release(ctx, scoped, token)
			}
		}()
		h.next.ServeHTTP(rec, r)
		returned = true
	}()
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	if rec.overflow || (status >= 500 && !h.cfg.StoreServerErrors) {
		h.release(ctx, scoped, token)
		return
	}
	resp := Response{Status: status, Header: rec.stored, Body: rec.buf.Bytes()}
	if err := h.cfg.Store.Complete(context.WithoutCancel(ctx), scoped, token, resp, time.Now(), h.cfg.TTL); err != nil {
		h.cfg.Logger.Warn("idempotency: storing response failed; a retry will run the handler again", "error", err.Error())
	}
}

// release gives key back, so that the next request with it runs the
// handler. It runs even when the request's context has ended.
func (h *handler) release(ctx context.Context, key, token string) {
	if err := h.cfg.Store.Release(context.WithoutCancel(ctx), key, token); err != nil {
		h.cfg.Logger.Warn("idempotency: releasing key failed", "error", err.Error())
	}
}

// renew extends the lease every Lease/3 until stop is called.
func (h *handler) renew(ctx context.Context, key, token string) (stop func()) {
	return lease.Renew(h.cfg.Lease/3, func(now time.Time) error {
		return h.cfg.Store.Extend(context.WithoutCancel(ctx), key, token, now, h.cfg.Lease)
	}, func(err error) bool {
		h.cfg.Logger.Warn("idempotency: renewing lease failed", "error", err.Error())
		return errors.Is(err, ErrLeaseLost)
	})
}

// ParseKey validates an Idempotency-Key header. The draft defines it as a
// Structured Field String ("...", with \" and \\ escapes), whose content is
// the key. A bare value is accepted too, leniently: any printable ASCII
// but the quote and the backslash, which belong to strings only (a
// superset of a Structured Field Token, so that UUIDs, which may begin
// with a digit, and base64 keys pass). A value that begins or ends with a
// quote must therefore be a whole string: `"abc` (no closing quote) and
// `abc"` (a quote outside a string) are refused with 400. The
// key must be one value, printable ASCII, non-empty and at most max bytes.
// The errors say which rule the value breaks.
func ParseKey(values []string, max int) (string, error) {
	if len(values) != 1 {
		return "", errors.New("the request carries more than one Idempotency-Key header")
	}
	v := values[0]
	if strings.HasPrefix(v, `"`) {
		if len(v) < 2 || !strings.HasSuffix(v, `"`) {
			return "", errors.New(`Idempotency-Key begins with a quote but does not end with one; want a whole string ("…") or a bare key`)
		}
		var b []byte
		inner := v[1 : len(v)-1]
		for i := 0; i < len(inner); i++ {
			c := inner[i]
			if c == '\\' {
				i++
				if i == len(inner) || (inner[i] != '"' && inner[i] != '\\') {
					return "", errors.New(`Idempotency-Key has an invalid escape; a string escapes only \" and \\`)
				}
				c = inner[i]
			} else if c == '"' {
				return "", errors.New(`Idempotency-Key has an unescaped quote inside its string; write it \"`)
			}
			b = append(b, c)
		}
		v = string(b)
	} else if i := strings.IndexAny(v, `"\`); i >= 0 {
		return "", errors.New(`Idempotency-Key has ` + strconv.QuoteRune(rune(v[i])) + ` in a bare key; quotes and backslashes belong in a whole string ("…", escaped as \" and \\)`)
	}
	if v == "" {
		return "", errors.New("Idempotency-Key is empty")
	}
	if len(v) > max {
		return "", errors.New("Idempotency-Key is longer than " + strconv.Itoa(max) + " bytes")
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return "", errors.New("Idempotency-Key must be printable ASCII")
		}
	}
	return v, nil
}

// DefaultFingerprint digests the method, the path and the body.
func DefaultFingerprint(r *http.Request, body []byte) string {
	h := sha256.New()
	io.WriteString(h, r.Method)
	h.Write([]byte{0})
	io.WriteString(h, r.URL.EscapedPath())
	h.Write([]byte{0})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

func authorizationDigest(r *http.Request) string {
	a := r.Header.Get("Authorization")
	if a == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(a))
	return hex.EncodeToString(sum[:16])
}

// recorder passes the response through and keeps a copy to store.
type recorder struct {
	http.ResponseWriter
	limit    int
	status   int
	stored   http.Header
	buf      bytes.Buffer
	overflow bool
}

func (r *recorder) WriteHeader(code int) {
	if r.status != 0 {
		return
	}
	r.status = code
	r.stored = r.ResponseWriter.Header().Clone()
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	if !r.overflow {
		if r.buf.Len()+len(p) > r.limit {
			r.overflow = true
			r.buf = bytes.Buffer{}
		} else {
			r.buf.Write(p)
		}
	}
	return r.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func replay(w http.ResponseWriter, resp Response) {
	h := w.Header()
	for k, v := range resp.Header {
		h[k] = append([]string(nil), v...)
	}
	h.Set(HeaderReplayed, "true")
	w.WriteHeader(resp.Status)
	_, _ = w.Write(resp.Body)
}

type problemBody struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// problem writes an RFC 9457 problem+json error.
func problem(w http.ResponseWriter, status int, typ, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(problemBody{Type: "tag:github.com/rebound-go/rebound,2026:idempotency/" + typ, Title: title, Status: status, Detail: detail})
}
