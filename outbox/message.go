package outbox

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"sync"
	"time"
)

// Limits on a Message, checked by Enqueue.
const (
	MaxIDLength          = 64
	MaxDestinationLength = 128
	MaxOrderingKeyLength = 255
	MaxPayloadBytes      = 1 << 20
	MaxHeaders           = 32
	MaxHeaderBytes       = 8 << 10 // names and values together
	MaxTraceStateBytes   = 512     // the W3C limit
)

// Message is what the program hands to the outbox.
type Message struct {
	// ID identifies the message everywhere: the receiver's Idempotency-Key
	// and webhook-id. Default: generated, time-ordered (a UUIDv7).
	ID string
	// Destination names where the message goes (a configured destination
	// of the Sender). Required.
	Destination string
	// Payload is the body delivered. At most MaxPayloadBytes.
	Payload []byte
	// Headers are added to the delivery.
	Headers map[string]string
	// OrderingKey, when set, delivers the messages that share it one at a
	// time, in enqueue order; a failing message holds back only its own
	// key. A dead message no longer holds its key back.
	OrderingKey string
	// NotBefore, when set, delays the first attempt.
	NotBefore time.Time
	// TraceParent and TraceState are the W3C trace context (the
	// traceparent and tracestate header values) that the relay continues
	// when it delivers the message, so that one trace runs from the
	// transaction that enqueued it to the receiver. Enqueue fills them
	// from its context's span when TraceParent is empty; set them to carry
	// a trace context from elsewhere (an incoming request's headers).
	TraceParent string
	TraceState  string
}

// State is where a message is in its life.
type State uint8

const (
	// Pending: waiting for its first attempt.
	Pending State = iota + 1
	// Delivering: leased by a relay, being delivered.
	Delivering
	// Sent: delivered.
	Sent
	// Retrying: an attempt failed; the next is at NextAttemptAt.
	Retrying
	// Dead: given up on; kept until replayed or discarded.
	Dead
)

var stateNames = [...]string{"", "pending", "delivering", "sent", "retrying", "dead"}

// String returns the state's name.
func (s State) String() string {
	if int(s) < len(stateNames) && s > 0 {
		return stateNames[s]
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// ParseState returns the State named name.
func ParseState(name string) (State, bool) {
	for i, n := range stateNames {
		if i > 0 && n == name {
			return State(i), true
		}
	}
	return 0, false
}

// Record is a stored message with its delivery state.
type Record struct {
	Message
	State State
	// Attempt is the number of attempts started (claims).
	Attempt       int
	CreatedAt     time.Time
	NextAttemptAt time.Time
	// LeaseUntil ends a Delivering lease.
	LeaseUntil time.Time
	SentAt     time.Time
	// DeadReason is why it went dead: permanent, exhausted, deadline.
	DeadReason string
	LastError  string
	LastStatus int
}

// Delivery is a claimed message, the unit a Sender delivers.
type Delivery struct {
	Record
}

// validate fills in m's ID, generated at now where empty, and checks m.
func (m *Message) validate(now time.Time) error {
	if m.ID == "" {
		m.ID = NewID(now)
	}
	return m.Validate()
}

// Validate reports the first invalid field of m, as a *FieldError: the
// check Enqueue makes before it writes anything. An empty ID is valid:
// Enqueue generates one.
func (m Message) Validate() error {
	switch {
	case len(m.ID) > MaxIDLength:
		return &FieldError{"ID", "at most " + strconv.Itoa(MaxIDLength) + " bytes"}
	case !printable(m.ID) || containsByte(m.ID, '.') || containsByte(m.ID, ' '):
		return &FieldError{"ID", "printable ASCII without spaces or dots"}
	case m.Destination == "":
		return &FieldError{"Destination", "a destination name"}
	case len(m.Destination) > MaxDestinationLength || !printable(m.Destination):
		return &FieldError{"Destination", "printable ASCII, at most " + strconv.Itoa(MaxDestinationLength) + " bytes"}
	case len(m.Payload) > MaxPayloadBytes:
		return &FieldError{"Payload", "at most " + strconv.Itoa(MaxPayloadBytes) + " bytes, got " + strconv.Itoa(len(m.Payload))}
	case len(m.OrderingKey) > MaxOrderingKeyLength:
		return &FieldError{"OrderingKey", "at most " + strconv.Itoa(MaxOrderingKeyLength) + " bytes"}
	case m.TraceParent != "" && !validTraceParent(m.TraceParent):
		return &FieldError{"TraceParent", "a W3C traceparent such as 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	case len(m.TraceState) > MaxTraceStateBytes || !printable(m.TraceState):
		return &FieldError{"TraceState", "a W3C tracestate, printable ASCII, at most " + strconv.Itoa(MaxTraceStateBytes) + " bytes"}
	case len(m.Headers) > MaxHeaders:
		return &FieldError{"Headers", "at most " + strconv.Itoa(MaxHeaders) + " headers"}
	}
	n := 0
	for k, v := range m.Headers {
		n += len(k) + len(v)
		if k == "" || !printable(k) || containsByte(k, ':') || !printable(v) {
			return &FieldError{"Headers", "printable ASCII names and values; bad header " + strconv.Quote(k)}
		}
	}
	if n > MaxHeaderBytes {
		return &FieldError{"Headers", "at most " + strconv.Itoa(MaxHeaderBytes) + " bytes in all"}
	}
	return nil
}

// FieldError reports an invalid Message field.
type FieldError struct {
	Field    string
	Expected string
}

func (e *FieldError) Error() string {
	return "outbox: invalid Message." + e.Field + ": want " + e.Expected
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func containsByte(s string, b byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return true
		}
	}
	return false
}

var (
	idMu   sync.Mutex
	lastID [16]byte
)

// NewID returns a UUIDv7 (RFC 9562) for now, as 32 lower-case hex digits:
// IDs sort by creation time, and IDs made in the same millisecond by this
// process sort in the order they were made.
func NewID(now time.Time) string {
	var b [16]byte
	ms := uint64(now.UnixMilli())
	b[0], b[1], b[2], b[3], b[4], b[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	_, _ = rand.Read(b[6:])
	b[6] = 0x70 | b[6]&0x0f
	b[8] = 0x80 | b[8]&0x3f
	idMu.Lock()
	// Within one millisecond, count up from the last ID instead of drawing,
	// so that the order holds.
	if [6]byte(b[:6]) == [6]byte(lastID[:6]) {
		b = lastID
		for i := 15; i >= 6; i-- {
			if i == 8 {
				continue
			}
			b[i]++
			if b[i] != 0 {
				break
			}
		}
	}
	lastID = b
	idMu.Unlock()
	return hex.EncodeToString(b[:])
}

// Errors of Store operations.
var (
	// ErrStale: the message is no longer held by this attempt (its lease
	// expired and another relay claimed it, or it was replayed); the
	// outcome was not recorded.
	ErrStale = errors.New("outbox: stale delivery: the message is no longer held by this attempt")
	// ErrNotFound: no message has that ID.
	ErrNotFound = errors.New("outbox: message not found")
	// ErrNotDead: replay and discard apply only to dead messages.
	ErrNotDead = errors.New("outbox: message is not dead")
)

// validTraceParent reports whether s is a W3C traceparent of a version
// this package reads: two hex digits of version (not ff), 32 of trace ID
// and 16 of parent ID (neither all zeros), two of flags, lowercase, joined
// by dashes. Later versions may append fields after a dash.
func validTraceParent(s string) bool {
	if len(s) < 55 || (len(s) > 55 && s[55] != '-') || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return false
	}
	if s[:2] == "ff" || (s[:2] == "00" && len(s) != 55) {
		return false
	}
	for _, f := range []string{s[:2], s[3:35], s[36:52], s[53:55]} {
		for i := 0; i < len(f); i++ {
			if c := f[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return s[3:35] != "00000000000000000000000000000000" && s[36:52] != "0000000000000000"
}
