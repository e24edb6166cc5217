package token

import (
	"regexp"
	"testing"
)

func TestNew(t *testing.T) {
	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	seen := map[string]bool{}
	for range 1000 {
		tok := New()
		if !hex32.MatchString(tok) {
			t.Fatalf("token %q: want 32 lower-case hex digits", tok)
		}
		if seen[tok] {
			t.Fatalf("token %q drawn twice", tok)
		}
		seen[tok] = true
	}
}
