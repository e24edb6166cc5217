// Package api is the rebound daemon's JSON API over an outbox.Store.
//
//	POST   /v1/messages              enqueue (admin); honours Idempotency-Key
//	GET    /v1/messages/{id}         one message (read)
//	GET    /v1/messages              list: ?state=&destination=&cursor=&limit= (read)
//	POST   /v1/messages/{id}/replay  replay a dead message (admin)
//	POST   /v1/replay                replay dead messages by filter (admin)
//	DELETE /v1/messages/{id}         discard a dead message (admin)
//
// Requests carry "Authorization: Bearer TOKEN" (see internal/auth): no or
// an unknown token gets 401, a read token on an admin route 403. Errors are
// RFC 9457 application/problem+json, naming the offending field where there
// is one. Request bodies are limited (413 beyond Config.MaxBodyBytes) and
// unknown fields are refused (400).
//
// POST /v1/messages with an Idempotency-Key header is deduplicated by the
// idempotency middleware: a retried enqueue returns the first answer, with
// the same message ID, and never enqueues twice. Such a message's ID, unless
// the request names one, is derived from the caller and the key, so that
// even a retry after the first answer was lost (a relay killed between the
// commit and recording the answer) meets the message already written.
// Sending a message again under its own ID is likewise done once: the
// same message gets 202 with Idempotent-Replayed: true, another message
// with a taken ID 409.
//
// While Config.NotReady says the store is not ready (a relay waiting for
// its database at start), every route answers an authenticated caller 503
// with Retry-After and a problem+json body of type store-unavailable.
package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rebound-go/rebound/idempotency"
	"github.com/rebound-go/rebound/internal/auth"
	"github.com/rebound-go/rebound/outbox"
)

// Config configures the API handler. Store and Enqueue are required.
type Config struct {
	Store outbox.Store
	// Enqueue writes messages in one transaction and returns their IDs.
	Enqueue func(ctx context.Context, msgs []outbox.Message) ([]string, error)
	// Destination reports whether a message may name dest. Default: any.
	Destination func(dest string) bool
	// Check, when set, refuses a message its destination cannot take
	// (a NATS subject built from the ordering key, say) with a
	// *outbox.FieldError, answered 422 naming the field, before it is
	// stored.
	Check func(m outbox.Message) error
	// Tokens authenticates callers. Nil or empty turns authentication off:
	// every caller is admin (the daemon allows that on loopback only).
	Tokens *auth.Tokens
	// Idempotency keeps Idempotency-Key records for POST /v1/messages.
	// Nil: the header is ignored.
	Idempotency idempotency.Store
	// KeyTTL is how long Idempotency remembers a completed key. Default
	// 24 h. The message's ID, derived from the key, deduplicates as long as
	// the message is kept, whatever KeyTTL.
	KeyTTL time.Duration
	// MaxBodyBytes bounds a request body. Default 1 MiB + 64 KiB.
	MaxBodyBytes int64
	// Logger receives server-side failures. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// NotReady, when set, is asked at every request after its caller is
	// authenticated: while it returns a positive duration the store cannot
	// be used yet, and the request is answered 503 with that Retry-After
	// (see Unavailable). Default: always ready.
	NotReady func() time.Duration
}

// EnqueueTimeout bounds one enqueue, whether or not its caller waits.
const EnqueueTimeout = 30 * time.Second

// ErrDuplicateID is what Config.Enqueue returns (wrapped) when a message's
// ID is already taken; the API answers 409.
var ErrDuplicateID = errors.New("api: a message with this ID exists")

type handler struct {
	cfg Config
}

// New returns the API handler, with routes under /v1/.
func New(cfg Config) (http.Handler, error) {
	if cfg.Store == nil || cfg.Enqueue == nil {
		return nil, errors.New("api: Config.Store and Config.Enqueue are required")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = outbox.MaxPayloadBytes + 64<<10
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Destination == nil {
		cfg.Destination = func(string) bool { return true }
	}
	h := &handler{cfg: cfg}
	var enqueue http.Handler = http.HandlerFunc(h.enqueue)
	if cfg.Idempotency != nil {
		mw, err := idempotency.Middleware(idempotency.Config{
			Store:          cfg.Idempotency,
			MaxRequestBody: cfg.MaxBodyBytes,
			// A running enqueue renews its key every 3 s; a relay that
			// dies holding one blocks its retries for at most 10 s.
			Lease:  10 * time.Second,
			TTL:    cfg.KeyTTL,
			Logger: cfg.Logger,
		})
		if err != nil {
			return nil, err
		}
		enqueue = mw(enqueue)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /v1/messages", h.require(auth.Admin, enqueue))
	mux.Handle("GET /v1/messages/{id}", h.require(auth.Read, http.HandlerFunc(h.get)))
	mux.Handle("GET /v1/messages", h.require(auth.Read, http.HandlerFunc(h.list)))
	mux.Handle("POST /v1/messages/{id}/replay", h.require(auth.Admin, http.HandlerFunc(h.replay)))
	mux.Handle("POST /v1/replay", h.require(auth.Admin, http.HandlerFunc(h.replayDead)))
	mux.Handle("DELETE /v1/messages/{id}", h.require(auth.Admin, http.HandlerFunc(h.discard)))
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusNotFound, "not-found", "No such route", r.Method+" "+r.URL.Path+" is not part of the API", "")
	})
	return mux, nil
}

// require checks the caller's role before next runs.
func (h *handler) require(want auth.Role, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.cfg.Tokens != nil && h.cfg.Tokens.Len() > 0 {
			role := auth.None
			if v := r.Header.Get("Authorization"); v != "" {
				role = h.cfg.Tokens.FromRequest(r)
			}
			switch {
			case role == auth.None:
				w.Header().Set("WWW-Authenticate", `Bearer realm="rebound"`)
				writeProblem(w, http.StatusUnauthorized, "unauthorized", "Unauthorized", "Send Authorization: Bearer TOKEN with a valid token.", "")
				return
			case role < want:
				writeProblem(w, http.StatusForbidden, "forbidden", "Forbidden", "This route needs an "+want.String()+" token.", "")
				return
			}
		}
		if h.cfg.NotReady != nil {
			if wait := h.cfg.NotReady(); wait > 0 {
				Unavailable(w, wait)
				return
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// decode reads one JSON object into v, refusing unknown fields and
// trailing data; on failure it has written the error.
func (h *handler) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		writeProblem(w, http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type", "Send application/json, not "+ct+".", "")
		return false
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("trailing data after the JSON object")
		}
	}
	if err == nil {
		return true
	}
	var (
		mbe *http.MaxBytesError
		se  *json.SyntaxError
		ute *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mbe):
		writeProblem(w, http.StatusRequestEntityTooLarge, "body-too-large", "Request body too large",
			fmt.Sprintf("The body must be at most %d bytes.", mbe.Limit), "")
	case errors.Is(err, io.EOF):
		writeProblem(w, http.StatusBadRequest, "malformed-json", "Malformed JSON", "The body is empty; want a JSON object.", "")
	case errors.As(err, &se):
		writeProblem(w, http.StatusBadRequest, "malformed-json", "Malformed JSON", fmt.Sprintf("%s (at byte %d).", se.Error(), se.Offset), "")
	case errors.As(err, &ute):
		field := ute.Field
		if field == "" {
			field = "(body)"
		}
		badField(w, field, fmt.Sprintf("want %s, got JSON %s", ute.Type, ute.Value))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		writeProblem(w, http.StatusBadRequest, "unknown-field", "Unknown field", "The field "+strconv.Quote(name)+" is not part of this request.", name)
	default:
		writeProblem(w, http.StatusBadRequest, "malformed-json", "Malformed JSON", err.Error(), "")
	}
	return false
}

func (h *handler) enqueue(w http.ResponseWriter, r *http.Request) {
	var req EnqueueRequest
	if !h.decode(w, r, &req) {
		return
	}
	m, ok := h.message(w, req)
	if !ok {
		return
	}
	m.TraceParent, m.TraceState = requestTrace(r)
	// A request with an Idempotency-Key and no ID gets an ID derived from
	// the caller and the key. The middleware answers retries from its
	// record; the derived ID covers what the record cannot: a relay that
	// dies between writing the message and recording the answer leaves the
	// key unanswered, and the retry, once the key's lease has run out,
	// meets the message already stored instead of writing it again.
	derived := false
	if key := r.Header.Get("Idempotency-Key"); m.ID == "" && key != "" && h.cfg.Idempotency != nil {
		m.ID, derived = keyID(r.Header.Get("Authorization"), key), true
	}
	// The enqueue outlives a caller who hangs up: its outcome is then
	// still known and answered, so that the idempotency middleware stores
	// it and a retry with the same key gets this message's ID instead of
	// enqueueing it again.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), EnqueueTimeout)
	defer cancel()
	ids, err := h.cfg.Enqueue(ctx, []outbox.Message{m})
	var fe *outbox.FieldError
	switch {
	case errors.Is(err, ErrDuplicateID):
		h.duplicate(ctx, w, r, m, derived)
		return
	case errors.As(err, &fe):
		field := jsonField[fe.Field]
		if field == "" {
			field = fe.Field
		}
		badField(w, field, "want "+fe.Expected)
		return
	case err != nil:
		h.storeFailed(w, r, "enqueue", err)
		return
	}
	w.Header().Set("Location", "/v1/messages/"+ids[0])
	writeJSON(w, http.StatusAccepted, EnqueueResponse{ID: ids[0], Destination: m.Destination, State: outbox.Pending.String()})
}

// requestTrace is the trace context a message enqueued by r continues:
// that of the request's span when the daemon traces its requests, else
// the W3C traceparent and tracestate headers r carries; an invalid
// traceparent is ignored, as the W3C recommendation says.
func requestTrace(r *http.Request) (traceparent, tracestate string) {
	if p, s := outbox.TraceContext(r.Context()); p != "" {
		return p, s
	}
	return outbox.TraceContext(outbox.WithTraceContext(r.Context(), r.Header.Get("traceparent"), r.Header.Get("tracestate")))
}

// message turns an enqueue request into a message; it answers the request
// itself, and returns false, when a field is missing or malformed or the
// destination is unknown.
func (h *handler) message(w http.ResponseWriter, req EnqueueRequest) (m outbox.Message, ok bool) {
	m = outbox.Message{ID: req.ID, Destination: req.Destination, Headers: req.Headers, OrderingKey: req.OrderingKey}
	switch {
	case len(req.Payload) > 0 && req.PayloadBase64 != "":
		badField(w, "payload", "give payload or payload_base64, not both")
		return m, false
	case req.PayloadBase64 != "":
		b, err := base64.StdEncoding.DecodeString(req.PayloadBase64)
		if err != nil {
			badField(w, "payload_base64", "want standard base64: "+err.Error())
			return m, false
		}
		m.Payload = b
	case len(req.Payload) > 0:
		m.Payload = req.Payload
	default:
		badField(w, "payload", "want a JSON value (or payload_base64)")
		return m, false
	}
	if req.NotBefore != nil {
		m.NotBefore = *req.NotBefore
	}
	if m.Destination == "" {
		badField(w, "destination", "want a destination name")
		return m, false
	}
	if !h.cfg.Destination(m.Destination) {
		writeProblem(w, http.StatusUnprocessableEntity, "unknown-destination", "Unknown destination",
			"No destination is configured as "+strconv.Quote(m.Destination)+", and it is not a URL the raw-URL allow-list permits.", "destination")
		return m, false
	}
	if h.cfg.Check != nil {
		var fe *outbox.FieldError
		if err := h.cfg.Check(m); errors.As(err, &fe) {
			field := jsonField[fe.Field]
			if field == "" {
				field = fe.Field
			}
			writeProblem(w, http.StatusUnprocessableEntity, "destination-refuses", "The destination cannot take this message",
				"Destination "+strconv.Quote(m.Destination)+" wants "+field+" to be "+fe.Expected+".", field)
			return m, false
		}
	}
	return m, true
}

// duplicate answers an enqueue whose ID is taken: a replay when the stored
// message is the same one, else a conflict (or, for an ID derived from an
// Idempotency-Key, the key's reuse).
func (h *handler) duplicate(ctx context.Context, w http.ResponseWriter, r *http.Request, m outbox.Message, derived bool) {
	rec, gerr := h.cfg.Store.Get(ctx, m.ID)
	switch {
	case gerr == nil && sameMessage(rec.Message, m):
		// The same message again: what was asked for is done.
		w.Header().Set("Idempotent-Replayed", "true")
		w.Header().Set("Location", "/v1/messages/"+rec.ID)
		writeJSON(w, http.StatusAccepted, EnqueueResponse{ID: rec.ID, Destination: rec.Destination, State: outbox.Pending.String()})
	case gerr != nil && !errors.Is(gerr, outbox.ErrNotFound):
		h.storeFailed(w, r, "enqueue", gerr)
	case derived:
		writeProblem(w, http.StatusUnprocessableEntity, "key-reused", "Idempotency-Key reused",
			"This Idempotency-Key was used for another request.", "")
	default:
		writeProblem(w, http.StatusConflict, "duplicate-id", "Duplicate message ID",
			"Another message has the ID "+strconv.Quote(m.ID)+"; send a new ID, or none for a generated one.", "id")
	}
}

func (h *handler) storeFailed(w http.ResponseWriter, r *http.Request, op string, err error) {
	h.cfg.Logger.Error("api: store failed", "op", op, "error", err.Error())
	w.Header().Set("Retry-After", "1")
	writeProblem(w, http.StatusServiceUnavailable, "store-unavailable", "Store unavailable", "The store did not answer; retry later.", "")
}

func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	rec, err := h.cfg.Store.Get(r.Context(), r.PathValue("id"))
	if h.storeError(w, r, "get", err) {
		return
	}
	writeJSON(w, http.StatusOK, fromRecord(rec))
}

// storeError writes the answer for a failed store operation, reporting
// whether there was one.
func (h *handler) storeError(w http.ResponseWriter, r *http.Request, op string, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, outbox.ErrNotFound):
		writeProblem(w, http.StatusNotFound, "not-found", "Message not found", "No message has the ID "+strconv.Quote(r.PathValue("id"))+".", "id")
	case errors.Is(err, outbox.ErrNotDead):
		writeProblem(w, http.StatusConflict, "not-dead", "Message is not dead", "Only dead messages can be replayed or discarded.", "id")
	default:
		h.storeFailed(w, r, op, err)
	}
	return true
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		switch k {
		case "state", "destination", "cursor", "limit":
		default:
			writeProblem(w, http.StatusBadRequest, "unknown-field", "Unknown query parameter", "The parameter "+strconv.Quote(k)+" is not one of state, destination, cursor, limit.", k)
			return
		}
	}
	var f outbox.Filter
	if s := q.Get("state"); s != "" {
		st, ok := outbox.ParseState(s)
		if !ok {
			badField(w, "state", "want pending, delivering, retrying, sent or dead, got "+strconv.Quote(s))
			return
		}
		f.State = st
	}
	f.Destination, f.Cursor = q.Get("destination"), q.Get("cursor")
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			badField(w, "limit", "want 1 to 1000, got "+strconv.Quote(s))
			return
		}
		f.Limit = n
	}
	recs, next, err := h.cfg.Store.List(r.Context(), f)
	if err != nil {
		if strings.Contains(err.Error(), "cursor") {
			badField(w, "cursor", "want a cursor from a previous page's next_cursor")
			return
		}
		h.storeFailed(w, r, "list", err)
		return
	}
	out := List{Messages: make([]Message, 0, len(recs)), NextCursor: next}
	for _, rec := range recs {
		out.Messages = append(out.Messages, fromRecord(rec))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *handler) replay(w http.ResponseWriter, r *http.Request) {
	if h.storeError(w, r, "replay", h.cfg.Store.Replay(r.Context(), r.PathValue("id"), h.cfg.Now())) {
		return
	}
	writeJSON(w, http.StatusOK, EnqueueResponse{ID: r.PathValue("id"), State: outbox.Pending.String()})
}

func (h *handler) replayDead(w http.ResponseWriter, r *http.Request) {
	var req ReplayRequest
	if !h.decode(w, r, &req) {
		return
	}
	if req.Destination == "" && !req.All {
		badField(w, "destination", `want a destination, or "all": true to replay every dead message`)
		return
	}
	if req.Destination != "" && req.All {
		badField(w, "all", `want a destination or "all": true, not both`)
		return
	}
	n, err := h.cfg.Store.ReplayDead(r.Context(), outbox.Filter{Destination: req.Destination}, h.cfg.Now())
	if err != nil {
		h.storeFailed(w, r, "replay", err)
		return
	}
	writeJSON(w, http.StatusOK, ReplayResponse{Replayed: n})
}

func (h *handler) discard(w http.ResponseWriter, r *http.Request) {
	if h.storeError(w, r, "discard", h.cfg.Store.Discard(r.Context(), r.PathValue("id"))) {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// keyID derives a message ID from the caller's credentials and its
// Idempotency-Key: the same pair always gives the same ID, and two callers'
// keys never collide.
func keyID(authorization, key string) string {
	h := sha256.New()
	h.Write([]byte("rebound/api/idempotency-key\x00"))
	principal := sha256.Sum256([]byte(authorization))
	h.Write(principal[:])
	h.Write([]byte(key))
	return "k" + hex.EncodeToString(h.Sum(nil))[:40]
}

// sameMessage reports whether a stored message is the one m asks for.
func sameMessage(stored, m outbox.Message) bool {
	return stored.Destination == m.Destination && bytes.Equal(stored.Payload, m.Payload) &&
		stored.OrderingKey == m.OrderingKey && maps.Equal(stored.Headers, m.Headers)
}
