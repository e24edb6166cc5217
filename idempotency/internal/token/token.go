// Package token draws the lease tokens of idempotency stores: the value a
// Claim hands its winner and that Extend, Complete and Release must
// present, so that a holder whose lease was taken over cannot write.
package token

import (
	"crypto/rand"
	"encoding/hex"
)

// New returns a random token: 16 bytes from crypto/rand, as 32 lower-case
// hexadecimal digits. Two tokens are equal with probability 2⁻¹²⁸.
func New() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24)
	return hex.EncodeToString(b[:])
}
