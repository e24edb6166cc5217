// Package auth holds the daemon's bearer tokens and their roles.
//
// A token is an opaque string of at least MinTokenLen bytes with a role:
// admin (every route) or read (the read-only routes and the status page).
// Tokens come from a file, one "ROLE TOKEN" pair per line ('#' starts a
// comment), or from the environment (REBOUND_ADMIN_TOKENS and
// REBOUND_READ_TOKENS, comma-separated). Lookups compare every configured
// token in constant time, so that the time taken does not reveal how much
// of a guess was right, nor which token matched.
//
// Browsers send the token once to the status page's login form; it is then
// kept in an HttpOnly, SameSite=Strict cookie (CookieName).
package auth

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

// Role is what a token may do.
type Role uint8

const (
	// None: no valid token.
	None Role = iota
	// Read: the read-only routes and the status page.
	Read
	// Admin: every route.
	Admin
)

// String returns "none", "read" or "admin".
func (r Role) String() string {
	switch r {
	case Read:
		return "read"
	case Admin:
		return "admin"
	}
	return "none"
}

// ParseRole parses "read" or "admin".
func ParseRole(s string) (Role, bool) {
	switch s {
	case "read":
		return Read, true
	case "admin":
		return Admin, true
	}
	return None, false
}

// MinTokenLen is the shortest token accepted: 16 bytes, so that a token
// cannot be guessed.
const MinTokenLen = 16

// MaxTokenLen bounds a token.
const MaxTokenLen = 512

// CookieName holds a browser's token.
const CookieName = "rebound_token"

type entry struct {
	sum  [sha256.Size]byte
	role Role
}

// Tokens is a set of tokens with their roles. The zero value holds none.
// A Tokens is safe for concurrent lookups.
type Tokens struct {
	entries []entry
}

// Add adds a token with a role.
func (t *Tokens) Add(token string, role Role) error {
	switch {
	case role != Read && role != Admin:
		return errors.New("role: want read or admin")
	case len(token) < MinTokenLen:
		return fmt.Errorf("token: want at least %d bytes, got %d", MinTokenLen, len(token))
	case len(token) > MaxTokenLen:
		return fmt.Errorf("token: want at most %d bytes, got %d", MaxTokenLen, len(token))
	case strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' || r > '~' }):
		return errors.New("token: want printable ASCII without spaces")
	}
	t.entries = append(t.entries, entry{sha256.Sum256([]byte(token)), role})
	return nil
}

// Len reports how many tokens there are.
func (t *Tokens) Len() int { return len(t.entries) }

// Lookup returns the role of token, or None. It compares the token's
// SHA-256 with every entry's in constant time and visits every entry.
func (t *Tokens) Lookup(token string) Role {
	if token == "" || len(token) > MaxTokenLen {
		return None
	}
	sum := sha256.Sum256([]byte(token))
	role := None
	for _, e := range t.entries {
		if subtle.ConstantTimeCompare(sum[:], e.sum[:]) == 1 {
			role = max(role, e.role)
		}
	}
	return role
}

// FromRequest returns the role of the request's bearer token (the
// Authorization header) or, failing that, of its CookieName cookie.
func (t *Tokens) FromRequest(r *http.Request) Role {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return None
		}
		return t.Lookup(strings.TrimSpace(tok))
	}
	if c, err := r.Cookie(CookieName); err == nil {
		return t.Lookup(c.Value)
	}
	return None
}

// Load reads "ROLE TOKEN" lines. Errors name the line.
func (t *Tokens) Load(name string, r io.Reader) error {
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return fmt.Errorf("%s:%d: want \"ROLE TOKEN\" (role read or admin)", name, n)
		}
		role, ok := ParseRole(fields[0])
		if !ok {
			return fmt.Errorf("%s:%d: role %q: want read or admin", name, n, fields[0])
		}
		if err := t.Add(fields[1], role); err != nil {
			return fmt.Errorf("%s:%d: %w", name, n, err)
		}
	}
	return sc.Err()
}

// LoadFile reads a tokens file (see Load).
func (t *Tokens) LoadFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return t.Load(path, f)
}

// LoadEnv adds the tokens of REBOUND_ADMIN_TOKENS and REBOUND_READ_TOKENS
// (comma-separated) as getenv reports them.
func (t *Tokens) LoadEnv(getenv func(string) string) error {
	for _, v := range []struct {
		name string
		role Role
	}{{"REBOUND_ADMIN_TOKENS", Admin}, {"REBOUND_READ_TOKENS", Read}} {
		for i, tok := range strings.Split(getenv(v.name), ",") {
			tok = strings.TrimSpace(tok)
			if tok == "" {
				continue
			}
			if err := t.Add(tok, v.role); err != nil {
				return fmt.Errorf("%s (entry %d): %w", v.name, i+1, err)
			}
		}
	}
	return nil
}
