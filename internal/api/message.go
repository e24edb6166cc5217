package api

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/rebound-go/rebound/outbox"
)

// EnqueueRequest is the body of POST /v1/messages.
type EnqueueRequest struct {
	// Destination is a configured destination's name, or a URL that the
	// raw-URL allow-list permits. Required.
	Destination string `json:"destination"`
	// Payload is the body delivered, as JSON; or PayloadBase64 for any
	// bytes. Exactly one of them.
	Payload       json.RawMessage   `json:"payload,omitempty"`
	PayloadBase64 string            `json:"payload_base64,omitempty"`
	Headers       map[string]string `json:"headers,omitempty"`
	OrderingKey   string            `json:"ordering_key,omitempty"`
	// ID is the message ID; default a new UUIDv7.
	ID string `json:"id,omitempty"`
	// NotBefore delays the first attempt (RFC 3339).
	NotBefore *time.Time `json:"not_before,omitempty"`
}

// EnqueueResponse is the 202 answer to POST /v1/messages.
type EnqueueResponse struct {
	ID          string `json:"id"`
	Destination string `json:"destination"`
	State       string `json:"state"`
}

// Message is a stored message as the API shows it.
type Message struct {
	ID            string            `json:"id"`
	Destination   string            `json:"destination"`
	State         string            `json:"state"`
	Attempt       int               `json:"attempt"`
	OrderingKey   string            `json:"ordering_key,omitempty"`
	Headers       map[string]string `json:"headers,omitempty"`
	Payload       json.RawMessage   `json:"payload,omitempty"`
	PayloadBase64 string            `json:"payload_base64,omitempty"`
	CreatedAt     time.Time         `json:"created_at"`
	NextAttemptAt *time.Time        `json:"next_attempt_at,omitempty"`
	LeaseUntil    *time.Time        `json:"lease_until,omitempty"`
	SentAt        *time.Time        `json:"sent_at,omitempty"`
	DeadReason    string            `json:"dead_reason,omitempty"`
	LastError     string            `json:"last_error,omitempty"`
	LastStatus    int               `json:"last_status,omitempty"`
}

// List is the answer to GET /v1/messages.
type List struct {
	Messages   []Message `json:"messages"`
	NextCursor string    `json:"next_cursor,omitempty"`
}

// ReplayRequest is the body of POST /v1/replay: the dead messages of one
// destination, or all of them with All.
type ReplayRequest struct {
	Destination string `json:"destination,omitempty"`
	All         bool   `json:"all,omitempty"`
}

// ReplayResponse answers POST /v1/replay.
type ReplayResponse struct {
	Replayed int `json:"replayed"`
}

// Redacted replaces the values of headers that carry credentials.
const Redacted = "[redacted]"

// SensitiveHeader reports whether a header's value is a credential:
// Authorization, Cookie, and names containing token, secret, key,
// password or signature.
func SensitiveHeader(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "authorization", "proxy-authorization", "cookie", "set-cookie":
		return true
	}
	for _, s := range []string{"token", "secret", "key", "password", "signature", "auth"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

func fromRecord(r outbox.Record) Message {
	m := Message{
		ID:          r.ID,
		Destination: r.Destination,
		State:       r.State.String(),
		Attempt:     r.Attempt,
		OrderingKey: r.OrderingKey,
		CreatedAt:   r.CreatedAt,
		DeadReason:  r.DeadReason,
		LastError:   r.LastError,
		LastStatus:  r.LastStatus,
	}
	if len(r.Headers) > 0 {
		m.Headers = make(map[string]string, len(r.Headers))
		for k, v := range r.Headers {
			if SensitiveHeader(k) {
				v = Redacted
			}
			m.Headers[k] = v
		}
	}
	if json.Valid(r.Payload) {
		m.Payload = json.RawMessage(r.Payload)
	} else {
		m.PayloadBase64 = base64.StdEncoding.EncodeToString(r.Payload)
	}
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	if r.State == outbox.Pending || r.State == outbox.Retrying {
		m.NextAttemptAt = opt(r.NextAttemptAt)
	}
	if r.State == outbox.Delivering {
		m.LeaseUntil = opt(r.LeaseUntil)
	}
	m.SentAt = opt(r.SentAt)
	return m
}

// jsonField maps outbox.FieldError fields to the API's names.
var jsonField = map[string]string{
	"ID":          "id",
	"Destination": "destination",
	"Payload":     "payload",
	"Headers":     "headers",
	"OrderingKey": "ordering_key",
	"NotBefore":   "not_before",
}
