// Standard Webhooks signatures.
//
// Every delivery carries three headers defined by the Standard Webhooks
// specification (standard-webhooks/standard-webhooks, spec/standard-webhooks.md):
//
//	webhook-id:        the message ID, the same on every retry (an idempotency key)
//	webhook-timestamp: the attempt's time in Unix seconds, new on every retry
//	webhook-signature: "v1,<base64 HMAC-SHA256>" entries, separated by spaces
//
// The HMAC covers "<webhook-id>.<webhook-timestamp>.<body>", so the ID and
// the timestamp are as authentic as the body, and a captured request cannot
// be replayed once the receiver's tolerance has passed. During a key
// rotation the sender signs with the new and the old secret, one entry per
// secret, and a receiver that knows either accepts the message.
//
// Secrets are shown to users as "whsec_" followed by the standard base64 of
// 24 to 64 random bytes. Asymmetric "v1a" (ed25519) signatures are not
// produced; Verify skips their entries.

package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The Standard Webhooks header names. net/http canonicalises them on the
// wire (Webhook-Id); header names are case-insensitive.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// HeaderAttempt carries the attempt number of a delivery (1 for the first)
// as outbox.WebhookSender sends it. It is not part of Standard Webhooks and
// not signed: read it for logs, never for decisions.
const HeaderAttempt = "Webhook-Attempt"

// SecretPrefix marks a serialised Standard Webhooks signing secret.
const SecretPrefix = "whsec_"

// Bounds on secrets and on what Verify reads.
const (
	// MinSecretLen and MaxSecretLen bound a decoded secret in bytes: the
	// specification asks for at least 192 bits and at most 512.
	MinSecretLen = 24
	MaxSecretLen = 64

	// DefaultTolerance is how far a webhook-timestamp may lie from the
	// receiver's clock, in either direction, when Verify is given a
	// tolerance of zero.
	DefaultTolerance = 5 * time.Minute

	// MaxIDLen bounds the webhook-id header in bytes.
	MaxIDLen = 256
	// MaxSignatureHeaderLen bounds the webhook-signature header in bytes.
	MaxSignatureHeaderLen = 8 << 10
	// MaxSignatures bounds the number of entries in the webhook-signature
	// header, of any version.
	MaxSignatures = 16
)

// newSecretLen is the key size NewSecret draws: 256 bits, as for the
// HMAC-SHA256 block it keys.
const newSecretLen = 32

// ErrInvalidSecret is returned, wrapped, by ParseSecret.
var ErrInvalidSecret = errors.New("webhook: invalid secret")

// The verification sentinels. Verify returns a *VerifyError that unwraps to
// exactly one of them, so errors.Is(err, ErrTimestampTooOld) works.
var (
	// ErrMissingHeaders: webhook-id, webhook-timestamp or webhook-signature
	// is absent or empty.
	ErrMissingHeaders = errors.New("webhook: missing header")
	// ErrMalformedHeader: a header is present but repeated, too long,
	// unparsable or otherwise not what the specification allows.
	ErrMalformedHeader = errors.New("webhook: malformed header")
	// ErrInvalidSignature: no v1 entry matches any of the secrets. The body,
	// the ID or the timestamp was altered, or the secret is wrong.
	ErrInvalidSignature = errors.New("webhook: invalid signature")
	// ErrTimestampTooOld: the signature is valid but webhook-timestamp is
	// further in the past than the tolerance: a replay, or a late delivery.
	ErrTimestampTooOld = errors.New("webhook: timestamp too old")
	// ErrTimestampTooNew: the signature is valid but webhook-timestamp is
	// further in the future than the tolerance: a clock is wrong.
	ErrTimestampTooNew = errors.New("webhook: timestamp too new")
)

// VerifyError says why Verify refused a request: which header, and what was
// wrong with it. It unwraps to one of the verification sentinels.
type VerifyError struct {
	// Header is HeaderID, HeaderTimestamp or HeaderSignature.
	Header string
	// Reason is a short human description, never containing the secret.
	Reason string
	// Err is ErrMissingHeaders, ErrMalformedHeader, ErrInvalidSignature,
	// ErrTimestampTooOld or ErrTimestampTooNew.
	Err error
}

func (e *VerifyError) Error() string {
	return e.Err.Error() + ": " + e.Header + ": " + e.Reason
}

func (e *VerifyError) Unwrap() error { return e.Err }

// ParseSecret decodes a signing secret. It accepts "whsec_" followed by the
// padded standard base64 of the key and, like the reference libraries,
// the bare base64 without the prefix. Other prefixes, such as the
// asymmetric "whsk_" and "whpk_", are refused, as are keys shorter than
// MinSecretLen or longer than MaxSecretLen bytes. Errors wrap
// ErrInvalidSecret and never repeat the secret.
func ParseSecret(s string) ([]byte, error) {
	if strings.HasPrefix(s, "whsk_") || strings.HasPrefix(s, "whpk_") {
		return nil, fmt.Errorf("%w: %s is an asymmetric (ed25519) key; want a %s secret", ErrInvalidSecret, s[:5], SecretPrefix)
	}
	enc := strings.TrimPrefix(s, SecretPrefix)
	if enc == "" {
		return nil, fmt.Errorf("%w: the secret is empty", ErrInvalidSecret)
	}
	if len(enc) > base64.StdEncoding.EncodedLen(MaxSecretLen)+2 {
		return nil, fmt.Errorf("%w: the secret is longer than %d bytes", ErrInvalidSecret, MaxSecretLen)
	}
	key, err := base64.StdEncoding.Strict().DecodeString(enc)
	if err != nil {
		// The base64 error names an offset, never the secret's content.
		return nil, fmt.Errorf("%w: want %s followed by padded standard base64: %v", ErrInvalidSecret, SecretPrefix, err)
	}
	if len(key) < MinSecretLen || len(key) > MaxSecretLen {
		return nil, fmt.Errorf("%w: the secret decodes to %d bytes; want %d to %d", ErrInvalidSecret, len(key), MinSecretLen, MaxSecretLen)
	}
	return key, nil
}

// NewSecret returns a new random 32-byte secret from crypto/rand, serialised
// as "whsec_" + base64. ParseSecret decodes it.
func NewSecret() string {
	key := make([]byte, newSecretLen)
	rand.Read(key) // never fails: it crashes the program instead.
	return SecretPrefix + base64.StdEncoding.EncodeToString(key)
}

// Sign returns the webhook-signature header value for a message: one
// "v1,<base64 HMAC-SHA256 of msgID.timestamp.body>" entry per secret,
// separated by single spaces, in the order of secrets. ts is sent as whole
// Unix seconds (the webhook-timestamp header is
// strconv.FormatInt(ts.Unix(), 10)).
//
// msgID must be the webhook-id header exactly: printable ASCII without
// spaces or '.', at most MaxIDLen bytes, or Verify refuses it. Pass at most
// MaxSignatures secrets. Sign panics if secrets is empty or a secret is
// empty: sending an unsigned webhook is a configuration error that must not
// pass silently. Sign is safe for concurrent use.
func Sign(secrets [][]byte, msgID string, ts time.Time, body []byte) string {
	if len(secrets) == 0 {
		panic("webhook: Sign needs at least one secret")
	}
	const entryLen = len("v1,") + 44 // 44 = base64 length of a SHA-256 sum
	out := make([]byte, 0, len(secrets)*(entryLen+1))
	var sum [sha256.Size]byte
	var tsBuf [20]byte
	tsText := strconv.AppendInt(tsBuf[:0], ts.Unix(), 10)
	for i, key := range secrets {
		if len(key) == 0 {
			panic("webhook: Sign was given an empty secret")
		}
		if i > 0 {
			out = append(out, ' ')
		}
		out = append(out, "v1,"...)
		out = base64.StdEncoding.AppendEncode(out, mac(sum[:0], key, msgID, tsText, body))
	}
	return string(out)
}

// mac appends HMAC-SHA256(key, msgID "." ts "." body) to dst.
func mac(dst, key []byte, msgID string, ts, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msgID))
	h.Write([]byte{'.'})
	h.Write(ts)
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(dst)
}

// Verify checks a received webhook: the webhook-id, webhook-timestamp and
// webhook-signature headers of h (looked up as http.Header.Values does, by
// canonical key) against body, with any of secrets. It
// returns nil when some v1 entry matches some secret and the timestamp lies
// within tolerance of now in either direction (a tolerance of zero or less
// means DefaultTolerance; the check cannot be turned off). The comparison is
// constant-time.
//
// Otherwise it returns a *VerifyError wrapping ErrMissingHeaders,
// ErrMalformedHeader, ErrInvalidSignature, ErrTimestampTooOld or
// ErrTimestampTooNew. The signature is checked before the timestamp, so the
// timestamp errors are only reported for authentic messages.
//
// Verify is strict where the specification is: each header must appear
// once; webhook-id must be printable ASCII without spaces or '.' (the '.'
// would make the signed string ambiguous) and at most MaxIDLen bytes;
// webhook-timestamp must be plain decimal digits; webhook-signature must be
// at most MaxSignatureHeaderLen bytes with at most MaxSignatures entries,
// and each v1 entry must be the padded base64 of 32 bytes. Entries of other
// versions (such as v1a) are skipped. Bound body before calling Verify (for
// example with http.MaxBytesReader).
//
// Verify returns an error without a sentinel if secrets is empty or holds an
// empty secret. It is safe for concurrent use. An HTTP receiver usually
// calls VerifyRequest, or wraps its handler in VerifyMiddleware, which read
// the body within bounds and call Verify with the current time.
func Verify(secrets [][]byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	if len(secrets) == 0 {
		return errors.New("webhook: Verify needs at least one secret")
	}
	for _, key := range secrets {
		if len(key) == 0 {
			return errors.New("webhook: Verify was given an empty secret")
		}
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}

	id, err := singleHeader(h, HeaderID)
	if err != nil {
		return err
	}
	tsText, err := singleHeader(h, HeaderTimestamp)
	if err != nil {
		return err
	}
	sigHeader, err := singleHeader(h, HeaderSignature)
	if err != nil {
		return err
	}

	if err := checkID(id); err != nil {
		return err
	}
	ts, err := parseTimestamp(tsText)
	if err != nil {
		return err
	}
	sigs, err := parseSignatures(sigHeader)
	if err != nil {
		return err
	}
	if len(sigs) == 0 {
		return &VerifyError{HeaderSignature, "no v1 entry (Verify checks only HMAC-SHA256 v1 signatures)", ErrInvalidSignature}
	}

	var sum [sha256.Size]byte
	matched := false
	for _, key := range secrets {
		want := mac(sum[:0], key, id, []byte(tsText), body)
		for _, got := range sigs {
			if hmac.Equal(got[:], want) {
				matched = true
			}
		}
	}
	if !matched {
		return &VerifyError{HeaderSignature, strconv.Itoa(len(sigs)) + " v1 entries, none matches the body, id and timestamp with the given secrets", ErrInvalidSignature}
	}

	at := time.Unix(ts, 0)
	if age := now.Sub(at); age > tolerance {
		return &VerifyError{HeaderTimestamp, "signed " + age.String() + " before now; tolerance " + tolerance.String(), ErrTimestampTooOld}
	}
	if ahead := at.Sub(now); ahead > tolerance {
		return &VerifyError{HeaderTimestamp, "signed " + ahead.String() + " after now; tolerance " + tolerance.String(), ErrTimestampTooNew}
	}
	return nil
}

// singleHeader returns the one value of header name, refusing absent,
// empty and repeated headers.
func singleHeader(h http.Header, name string) (string, error) {
	vs := h.Values(name)
	switch {
	case len(vs) == 0 || len(vs) == 1 && vs[0] == "":
		return "", &VerifyError{name, "absent or empty", ErrMissingHeaders}
	case len(vs) > 1:
		return "", &VerifyError{name, "appears " + strconv.Itoa(len(vs)) + " times; want once", ErrMalformedHeader}
	}
	return vs[0], nil
}

func checkID(id string) error {
	if len(id) > MaxIDLen {
		return &VerifyError{HeaderID, "longer than " + strconv.Itoa(MaxIDLen) + " bytes", ErrMalformedHeader}
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c == '.':
			return &VerifyError{HeaderID, "contains '.', which makes the signed content ambiguous", ErrMalformedHeader}
		case c <= ' ' || c >= 0x7f:
			return &VerifyError{HeaderID, "contains a byte that is not printable ASCII at offset " + strconv.Itoa(i), ErrMalformedHeader}
		}
	}
	return nil
}

// parseTimestamp accepts only the canonical decimal form of a non-negative
// int64: no sign, no leading zeros, no spaces. The HMAC is computed over
// this text, which then equals what Sign wrote.
func parseTimestamp(s string) (int64, error) {
	if len(s) > 19 {
		return 0, &VerifyError{HeaderTimestamp, "longer than 19 digits", ErrMalformedHeader}
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, &VerifyError{HeaderTimestamp, "not a decimal Unix time in seconds", ErrMalformedHeader}
		}
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, &VerifyError{HeaderTimestamp, "has a leading zero", ErrMalformedHeader}
	}
	ts, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, &VerifyError{HeaderTimestamp, "out of range", ErrMalformedHeader}
	}
	return ts, nil
}

// parseSignatures returns the decoded v1 entries of a webhook-signature
// header, enforcing the bounds.
func parseSignatures(header string) ([][sha256.Size]byte, error) {
	if len(header) > MaxSignatureHeaderLen {
		return nil, &VerifyError{HeaderSignature, "longer than " + strconv.Itoa(MaxSignatureHeaderLen) + " bytes", ErrMalformedHeader}
	}
	var sigs [][sha256.Size]byte
	n := 0
	for entry := range strings.SplitSeq(header, " ") {
		if entry == "" {
			continue // tolerate doubled spaces
		}
		if n++; n > MaxSignatures {
			return nil, &VerifyError{HeaderSignature, "more than " + strconv.Itoa(MaxSignatures) + " entries", ErrMalformedHeader}
		}
		version, sig, ok := strings.Cut(entry, ",")
		if !ok {
			return nil, &VerifyError{HeaderSignature, "entry " + strconv.Itoa(n) + " has no version (want \"v1,<base64>\")", ErrMalformedHeader}
		}
		if version != "v1" {
			continue // another scheme, such as the asymmetric v1a
		}
		// 44 base64 characters decode to at most 33 bytes; exactly 32 when
		// the entry is a padded SHA-256 sum.
		var b [sha256.Size + 1]byte
		if len(sig) != base64.StdEncoding.EncodedLen(sha256.Size) {
			return nil, &VerifyError{HeaderSignature, "v1 entry " + strconv.Itoa(n) + " is not the base64 of 32 bytes", ErrMalformedHeader}
		}
		if m, err := base64.StdEncoding.Strict().Decode(b[:], []byte(sig)); err != nil || m != sha256.Size {
			return nil, &VerifyError{HeaderSignature, "v1 entry " + strconv.Itoa(n) + " is not the padded standard base64 of 32 bytes", ErrMalformedHeader}
		}
		sigs = append(sigs, [sha256.Size]byte(b[:sha256.Size]))
	}
	return sigs, nil
}
