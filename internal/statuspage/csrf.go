package statuspage

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
)

// The page's forms send their CSRF token in this field; its script sends it
// in this header.
const (
	csrfField  = "csrf"
	csrfHeader = "X-CSRF-Token"
)

// csrfKey is drawn at random when the handler is built: CSRF tokens are
// valid for the life of the process.
type csrfKey [32]byte

// token returns the CSRF token of a session: an HMAC of its credential (the
// token it authenticated with, or "" when authentication is off) under the
// process's key. A page from another origin can neither read it nor
// compute it, and it reveals nothing of the credential.
func (k *csrfKey) token(cred string) string {
	m := hmac.New(sha256.New, k[:])
	m.Write([]byte("rebound status page csrf\x00"))
	m.Write([]byte(cred))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// valid compares got with the session's token in constant time.
func (k *csrfKey) valid(cred, got string) bool {
	return got != "" && hmac.Equal([]byte(got), []byte(k.token(cred)))
}
