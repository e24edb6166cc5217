package redis

import (
	"encoding/binary"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/rebound-go/rebound/idempotency"
)

// Hash field values of the two states.
const (
	stateInFlight  = "in_flight"
	stateCompleted = "completed"
)

var errCorrupt = errors.New("idempotency/redis: malformed record")

// formatTime encodes an instant as decimal Unix nanoseconds.
func formatTime(t time.Time) string { return strconv.FormatInt(t.UnixNano(), 10) }

func parseTime(s string) (time.Time, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(0, n), nil
}

// expiryMillis is the native expiry, in whole milliseconds, of a record
// whose logical life is ttl: ttl plus slack, at least 1.
func expiryMillis(ttl time.Duration) int64 {
	ms := (ttl + slack).Milliseconds()
	return max(ms, 1)
}

// encodeHeader writes h as a count of names then, for each name in sorted
// order, the name, a count of values and the values, every string preceded
// by its length, all as unsigned varints. Unlike JSON it keeps bytes that
// are not UTF-8. A nil or empty header encodes as "".
func encodeHeader(h http.Header) string {
	if len(h) == 0 {
		return ""
	}
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, name)
	}
	sort.Strings(names)
	b := binary.AppendUvarint(nil, uint64(len(names)))
	for _, name := range names {
		b = appendString(b, name)
		b = binary.AppendUvarint(b, uint64(len(h[name])))
		for _, v := range h[name] {
			b = appendString(b, v)
		}
	}
	return string(b)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeHeader reverses encodeHeader; "" decodes as a nil header.
func decodeHeader(s string) (http.Header, error) {
	if s == "" {
		return nil, nil
	}
	d := decoder{s: s}
	n := d.count()
	h := make(http.Header, min(n, 64))
	for i := uint64(0); i < n && d.err == nil; i++ {
		name := d.string()
		m := d.count()
		vs := make([]string, 0, min(m, 64))
		for j := uint64(0); j < m && d.err == nil; j++ {
			vs = append(vs, d.string())
		}
		h[name] = vs
	}
	if d.err == nil && d.s != "" {
		d.err = errCorrupt
	}
	if d.err != nil {
		return nil, d.err
	}
	return h, nil
}

type decoder struct {
	s   string
	err error
}

// count reads a varint that counts items, each at least one byte long,
// so a count above the bytes left is malformed.
func (d *decoder) count() uint64 {
	if d.err != nil {
		return 0
	}
	n, k := binary.Uvarint([]byte(d.s[:min(len(d.s), binary.MaxVarintLen64)]))
	if k <= 0 || n > uint64(len(d.s)-k) {
		d.err = errCorrupt
		return 0
	}
	d.s = d.s[k:]
	return n
}

func (d *decoder) string() string {
	n := d.count()
	if d.err != nil {
		return ""
	}
	s := d.s[:n]
	d.s = d.s[n:]
	return s
}

// decodeRecord builds the record of key from HGETALL's flat list of field
// names and values.
func decodeRecord(key string, list []any) (idempotency.Record, error) {
	if len(list)%2 != 0 {
		return idempotency.Record{}, errCorrupt
	}
	f := make(map[string]string, len(list)/2)
	for i := 0; i < len(list); i += 2 {
		name, ok1 := list[i].(string)
		value, ok2 := list[i+1].(string)
		if !ok1 || !ok2 {
			return idempotency.Record{}, errCorrupt
		}
		f[name] = value
	}
	r := idempotency.Record{Key: key, Fingerprint: f["fingerprint"], Token: f["token"]}
	switch f["state"] {
	case stateInFlight:
		r.State = idempotency.InFlight
	case stateCompleted:
		r.State = idempotency.Completed
	default:
		return idempotency.Record{}, errCorrupt
	}
	var err error
	if r.LockedUntil, err = parseTime(f["locked_until"]); err != nil {
		return idempotency.Record{}, errCorrupt
	}
	if r.ExpiresAt, err = parseTime(f["expires_at"]); err != nil {
		return idempotency.Record{}, errCorrupt
	}
	if r.State == idempotency.Completed {
		if r.Response.Status, err = strconv.Atoi(f["status"]); err != nil {
			return idempotency.Record{}, errCorrupt
		}
		if r.Response.Header, err = decodeHeader(f["header"]); err != nil {
			return idempotency.Record{}, err
		}
		if body, ok := f["body"]; ok && body != "" {
			r.Response.Body = []byte(body)
		}
	}
	return r, nil
}
