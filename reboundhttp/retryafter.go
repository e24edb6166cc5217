package reboundhttp

import (
	"net/http"
	"strings"
	"time"
)

// maxRetryAfterSeconds bounds delay-seconds before conversion so that huge
// values saturate instead of overflowing a time.Duration. Anything this large
// is far above any sane cap and gives up with reason wait_too_long.
const maxRetryAfterSeconds = 1 << 30

// ParseRetryAfter parses a Retry-After header value (RFC 9110 §10.2.3):
// either delay-seconds (a non-negative decimal integer) or an HTTP-date in
// any of its three forms (IMF-fixdate, obsolete RFC 850, asctime). A date is
// taken relative to date, the response's Date header, when that parses, so
// that a skewed server clock does not distort the wait; otherwise relative
// to now. A date in the past means no wait. ok is false for an empty or
// malformed value, which callers ignore.
func ParseRetryAfter(value, date string, now time.Time) (wait time.Duration, ok bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0, false
	}
	if value[0] >= '0' && value[0] <= '9' {
		var secs int64
		for i := 0; i < len(value); i++ {
			c := value[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			if secs < maxRetryAfterSeconds {
				secs = secs*10 + int64(c-'0')
			}
		}
		if secs > maxRetryAfterSeconds {
			secs = maxRetryAfterSeconds
		}
		return time.Duration(secs) * time.Second, true
	}
	at, err := http.ParseTime(value)
	if err != nil {
		return 0, false
	}
	base := now
	if d, err := http.ParseTime(strings.TrimSpace(date)); err == nil {
		base = d
	}
	wait = at.Sub(base)
	if wait < 0 {
		wait = 0
	}
	return wait, true
}
