package postgres

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClip(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"short", "503 Service Unavailable", "503 Service Unavailable"},
		{"invalid bytes", "a\xffb\xc3", "a\uFFFDb\uFFFD"},
		{"NUL", "a\x00b", "a\uFFFDb"},
		{"at the limit", strings.Repeat("x", MaxErrorBytes), strings.Repeat("x", MaxErrorBytes)},
		{"over the limit", strings.Repeat("x", MaxErrorBytes+1), strings.Repeat("x", MaxErrorBytes)},
		// 512 two-byte runes fill the limit; a 3-byte one past 1022
		// bytes does not fit and is dropped whole.
		{"on a rune boundary", strings.Repeat("é", 511) + "€", strings.Repeat("é", 511)},
		{"a run of invalid bytes is one replacement", "a\xff\xfe\xfdb", "a\uFFFDb"},
		{"invalid bytes grow", strings.Repeat("\xffa", 2*MaxErrorBytes), strings.Repeat("\uFFFDa", MaxErrorBytes/4)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := clip(tc.in)
			if got != tc.want {
				t.Fatalf("clip: %d bytes %q…, want %d bytes", len(got), got[:min(len(got), 12)], len(tc.want))
			}
			if len(got) > MaxErrorBytes || !utf8.ValidString(got) || strings.IndexByte(got, 0) >= 0 {
				t.Fatalf("clip: %q is not storable", got)
			}
		})
	}
}
