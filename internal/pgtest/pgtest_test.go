package pgtest

import (
	"strings"
	"testing"
)

func TestSuffix(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		s := suffix()
		if len(s) != 12 || strings.Trim(s, "0123456789abcdef") != "" {
			t.Fatalf("suffix() = %q; want 12 lowercase hex digits", s)
		}
		if seen[s] {
			t.Fatalf("suffix() repeated %q", s)
		}
		seen[s] = true
	}
}
