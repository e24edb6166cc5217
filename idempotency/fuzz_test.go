package idempotency_test

import (
	"strings"
	"testing"

	"github.com/rebound-go/rebound/idempotency"
)

// FuzzParseKey: any header value is either refused or yields a non-empty,
// printable key within the limit; an accepted value is a Structured Field
// String whose unescaped content is the key, or a bare value without
// quotes or backslashes that is the key itself.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{`"order-1"`, "order-1", `""`, `"a\"b"`, `"a\x"`, "caf\xc3\xa9", `"unterminated`, `"`, `"abc`, `abc"`, `a"b`, `a\b`, `"a\\"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		k, err := idempotency.ParseKey([]string{v}, 255)
		if err != nil {
			return
		}
		if k == "" || len(k) > 255 {
			t.Fatalf("ParseKey(%q) = %q", v, k)
		}
		for i := 0; i < len(k); i++ {
			if k[i] < 0x20 || k[i] > 0x7e {
				t.Fatalf("ParseKey(%q) = %q: not printable", v, k)
			}
		}
		quoted := `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(k) + `"`
		if v != k && v != quoted {
			t.Fatalf("ParseKey(%q) = %q: neither the bare value nor the string %s", v, k, quoted)
		}
		if v == k && strings.ContainsAny(k, `"\`) {
			t.Fatalf("ParseKey(%q) accepted a bare value with a quote or a backslash", v)
		}
	})
}
