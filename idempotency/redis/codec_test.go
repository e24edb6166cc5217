package redis

import (
	"errors"
	"net/http"
	"reflect"
	"testing"
	"time"
)

func TestHeaderRoundTrip(t *testing.T) {
	for _, h := range []http.Header{
		{"Content-Type": {"application/json"}},
		{"X-Multi": {"a", "b", ""}, "X-Empty": {}, "": {"no name"}},
		{"X-Raw": {"\x00\xff\xfe", "\r\n"}},
		{"X-Long": {string(make([]byte, 300))}},
	} {
		got, err := decodeHeader(encodeHeader(h))
		if err != nil {
			t.Fatalf("%q: %v", h, err)
		}
		if !reflect.DeepEqual(got, h) {
			t.Fatalf("round trip of %q gave %q", h, got)
		}
	}
	if s := encodeHeader(nil); s != "" {
		t.Fatalf("nil header encodes as %q", s)
	}
	if h, err := decodeHeader(""); h != nil || err != nil {
		t.Fatalf(`decodeHeader(""): %v, %v`, h, err)
	}
}

func TestHeaderMalformed(t *testing.T) {
	good := encodeHeader(http.Header{"A": {"b"}})
	for _, s := range []string{
		"\x80",               // truncated varint
		"\x05",               // five names, none there
		"\x01\x09A",          // name longer than the rest
		"\x01\x01A\x02\x01b", // two values, one there
		good + "x",           // trailing bytes
		good[:len(good)-1],   // cut short
	} {
		if _, err := decodeHeader(s); !errors.Is(err, errCorrupt) {
			t.Errorf("decodeHeader(%q): %v, want errCorrupt", s, err)
		}
	}
}

func TestExpiryMillis(t *testing.T) {
	for _, c := range []struct {
		ttl  time.Duration
		want int64
	}{
		{time.Hour, 61 * 60 * 1000},
		{time.Millisecond, 60_001},
		{-2 * time.Minute, 1},
	} {
		if got := expiryMillis(c.ttl); got != c.want {
			t.Errorf("expiryMillis(%v) = %d, want %d", c.ttl, got, c.want)
		}
	}
}
