// Verifying a received webhook in one call.

package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// MaxBodyBytes bounds the body VerifyRequest and VerifyMiddleware read: 1
// MiB, the largest payload an outbox message may carry
// (outbox.MaxPayloadBytes), so no delivery of a relay is larger.
const MaxBodyBytes = 1 << 20

// ErrBodyTooLarge is returned, wrapped, by VerifyRequest for a body above
// MaxBodyBytes.
var ErrBodyTooLarge = errors.New("webhook: body too large")

// VerifyRequest reads the body of a received webhook and verifies it: it
// returns the body when the request's Standard Webhooks signature matches
// one of secrets and its timestamp lies within DefaultTolerance (5
// minutes) of now, in either direction. secrets are the strings a sender
// signs with ("whsec_…", such as an outbox.Destination's Secrets); during a
// key rotation pass the old and the new one.
//
// It reads at most MaxBodyBytes; a larger body is refused with
// ErrBodyTooLarge without being read further. It consumes r.Body and
// leaves it empty.
//
// A refused request gets a nil body and an error that says why: a
// *VerifyError unwrapping to ErrMissingHeaders, ErrMalformedHeader,
// ErrInvalidSignature, ErrTimestampTooOld or ErrTimestampTooNew (see
// Verify); ErrBodyTooLarge; or the error that reading the body met. A
// secret that ParseSecret refuses, or no secret at all, is an error of the
// program, not of the request: it wraps ErrInvalidSecret, naming which
// secret, or says that a secret is needed.
//
// The message ID is r.Header.Get(HeaderID): record it to apply each
// message once (idempotency.MarkTx). VerifyMiddleware does the same for a
// whole handler.
func VerifyRequest(r *http.Request, secrets ...string) ([]byte, error) {
	keys, err := parseSecrets("VerifyRequest", secrets)
	if err != nil {
		return nil, err
	}
	return verifyRequest(r, keys, time.Now())
}

func verifyRequest(r *http.Request, keys [][]byte, now time.Time) ([]byte, error) {
	var body []byte
	if r.Body != nil {
		var err error
		body, err = io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
		if err != nil {
			return nil, fmt.Errorf("webhook: reading the body: %w", err)
		}
	}
	if len(body) > MaxBodyBytes {
		return nil, fmt.Errorf("%w: more than %d bytes (MaxBodyBytes)", ErrBodyTooLarge, MaxBodyBytes)
	}
	if err := Verify(keys, r.Header, body, now, DefaultTolerance); err != nil {
		return nil, err
	}
	return body, nil
}

// parseSecrets decodes the secrets given to fn, naming a bad one by its
// position.
func parseSecrets(fn string, secrets []string) ([][]byte, error) {
	if len(secrets) == 0 {
		return nil, errors.New("webhook: " + fn + " needs at least one secret (\"whsec_…\", as the sender signs with)")
	}
	keys := make([][]byte, len(secrets))
	for i, s := range secrets {
		k, err := ParseSecret(s)
		if err != nil {
			return nil, fmt.Errorf("webhook: %s: secret %d of %d: %w", fn, i+1, len(secrets), err)
		}
		keys[i] = k
	}
	return keys, nil
}

// VerifyMiddleware returns HTTP middleware that lets through only the
// requests VerifyRequest accepts with secrets, their body replaced by the
// verified bytes, so the handler reads exactly what was signed. It answers
// the others itself with application/problem+json whose detail is the
// error (which never contains a secret): 413 for a body above
// MaxBodyBytes, 400 for missing or malformed webhook headers or an
// unreadable body, 401 for a signature that matches no secret or a
// timestamp outside the tolerance. A sender that follows the HTTP
// classification (such as an outbox Relay) treats these as final, not to be
// retried.
//
// The secrets are decoded once, here: an invalid one is an error wrapping
// ErrInvalidSecret and naming which.
func VerifyMiddleware(secrets ...string) (func(http.Handler) http.Handler, error) {
	keys, err := parseSecrets("VerifyMiddleware", secrets)
	if err != nil {
		return nil, err
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := verifyRequest(r, keys, time.Now())
			if err != nil {
				status := http.StatusBadRequest
				switch {
				case errors.Is(err, ErrBodyTooLarge):
					status = http.StatusRequestEntityTooLarge
				case errors.Is(err, ErrInvalidSignature), errors.Is(err, ErrTimestampTooOld), errors.Is(err, ErrTimestampTooNew):
					status = http.StatusUnauthorized
				}
				verifyProblem(w, status, err)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
			next.ServeHTTP(w, r)
		})
	}, nil
}

// verifyProblem answers an RFC 9457 problem.
func verifyProblem(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}{"about:blank", http.StatusText(status), status, err.Error()})
}
