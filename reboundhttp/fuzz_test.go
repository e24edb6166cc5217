package reboundhttp_test

import (
	"testing"
	"time"

	"github.com/rebound-go/rebound/reboundhttp"
)

// FuzzParseRetryAfter: any header value parses without panicking, and an
// accepted value never yields a negative wait.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"0", "120", "99999999999999999999", "-1", "1.5", "", " 7 ",
		"Thu, 26 Nov 2026 12:01:00 GMT", "Thursday, 26-Nov-26 12:00:10 GMT", "Thu Nov 26 12:00:10 2026", "garbage"} {
		f.Add(s, "Thu, 26 Nov 2026 12:00:00 GMT")
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, value, date string) {
		wait, ok := reboundhttp.ParseRetryAfter(value, date, now)
		if wait < 0 {
			t.Fatalf("ParseRetryAfter(%q, %q) = %v, negative", value, date, wait)
		}
		if !ok && wait != 0 {
			t.Fatalf("rejected value %q with a wait %v", value, wait)
		}
	})
}
