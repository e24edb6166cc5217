package idempotency_test

import (
	"testing"

	"github.com/rebound-go/rebound/idempotency"
)

// FuzzParseKey: any header value is either refused or yields a non-empty,
// printable key within the limit.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{`"order-1"`, "order-1", `""`, `"a\"b"`, `"a\x"`, "caf\xc3\xa9", `"unterminated`, `"`} {
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
	})
}
