package statuspage

import (
	"context"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/internal/auth"
	"github.com/rebound-go/rebound/outbox"
)

// deadPageSize is how many dead letters one page lists.
const deadPageSize = 50

// Display limits.
const (
	maxErrorShown   = 200
	maxPayloadShown = 4 << 10
)

// stateData is the live part of the page, rendered by the "state"
// template on each refresh.
type stateData struct {
	Now          time.Time
	Instance     string // the relay serving the page, "" when unknown
	Error        string
	Admin        bool
	CSRF         string
	Destinations []destRow
	Chart        chart
	ActivityOn   bool
	Dead         []deadRow
	Filter       string // the destination the dead letters are filtered by
	Cursor       string // the page of dead letters shown ("" for the first)
	Next         string // the next page's query, "" at the end
	ShowPayloads bool
}

type destRow struct {
	Name                                string
	Pending, Retrying, Delivering, Dead int
	Oldest                              string
	Rate, Failures                      string
	Failing                             bool // the failure rate is high enough to flag
	Breaker                             string
	// Waiting counts the destination's messages pending or retrying in
	// the store (all relays), shown while this relay's breaker for it is
	// open or half-open (Held): none of them goes out through this relay
	// until it lets them.
	Waiting int
	Held    bool
	// Folded is the row of the destinations Activity did not track one
	// by one: only its rates mean something.
	Folded bool
}

type deadRow struct {
	ID, PathID, Destination string
	Attempts                int
	Reason                  string
	Status                  string
	Error, FullError        string
	Created                 time.Time
	OrderingKey             string
	Payload                 string
	PayloadShown            bool
	Headers                 []header
}

type header struct{ Name, Value string }

// load reads everything the live part shows. A store error is shown on the
// page and logged; the rest still renders.
func (s *server) load(ctx context.Context, role auth.Role, cred string, q url.Values) stateData {
	now := s.cfg.Now()
	st := stateData{
		Now:          now,
		Admin:        role == auth.Admin,
		CSRF:         s.csrf.token(cred),
		Filter:       q.Get("dest"),
		Cursor:       q.Get("cursor"),
		ShowPayloads: s.cfg.ShowPayloads,
		ActivityOn:   s.cfg.Activity != nil,
		Instance:     s.cfg.Instance,
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	stats, err := s.cfg.Store.Stats(ctx, now)
	if err != nil {
		s.cfg.Logger.Error("status page: reading the backlog failed", "error", err.Error())
		st.Error = "The outbox could not be read; see the daemon's log."
	}
	st.Destinations = s.destinations(stats, now)
	if s.cfg.Activity != nil {
		st.Chart = newChart(s.cfg.Activity.perMinute(now, chartMinutes), now)
	}
	recs, next, err := s.cfg.Store.List(ctx, outbox.Filter{State: outbox.Dead, Destination: st.Filter, Cursor: st.Cursor, Limit: deadPageSize})
	if err != nil {
		s.cfg.Logger.Error("status page: listing dead letters failed", "error", err.Error())
		st.Error = "The outbox could not be read; see the daemon's log."
	}
	for _, r := range recs {
		st.Dead = append(st.Dead, s.deadRow(r))
	}
	if next != "" {
		v := url.Values{"cursor": {next}}
		if st.Filter != "" {
			v.Set("dest", st.Filter)
		}
		st.Next = "?" + v.Encode()
	}
	return st
}

// destinations lists the configured destinations and those in the store,
// by name.
func (s *server) destinations(stats []outbox.DestinationStats, now time.Time) []destRow {
	byName := make(map[string]outbox.DestinationStats, len(stats))
	names := slices.Clone(s.cfg.Destinations)
	for _, st := range stats {
		byName[st.Destination] = st
		names = append(names, st.Destination)
	}
	slices.Sort(names)
	names = slices.Compact(names)

	breakers := map[string]rebound.BreakerState{}
	if s.cfg.Breakers != nil {
		// Each reads the kept breakers without creating any.
		s.cfg.Breakers.Each(func(b *rebound.Breaker) { breakers[b.Name()] = b.State() })
	}
	rows := make([]destRow, 0, len(names)+1)
	for _, name := range names {
		st := byName[name]
		row := destRow{
			Name:    name,
			Pending: st.Pending, Retrying: st.Retrying, Delivering: st.Delivering, Dead: st.Dead,
			Oldest:  "—",
			Breaker: "—",
		}
		if !st.OldestUnsent.IsZero() {
			row.Oldest = formatAge(now.Sub(st.OldestUnsent))
		}
		if s.cfg.Breakers != nil {
			// A destination without a kept breaker has had none open: an
			// open or half-open breaker is never evicted.
			b := breakers[name]
			row.Breaker = breakerName(b)
			row.Held = b == rebound.Open || b == rebound.HalfOpen
			row.Waiting = st.Pending + st.Retrying
		}
		s.fillRates(&row, name, now)
		rows = append(rows, row)
	}
	if s.cfg.Activity != nil && s.cfg.Activity.folded(now) {
		row := destRow{Name: OtherDestination, Folded: true}
		s.fillRates(&row, OtherDestination, now)
		rows = append(rows, row)
	}
	return rows
}

func (s *server) fillRates(row *destRow, name string, now time.Time) {
	row.Rate, row.Failures = "—", "—"
	if s.cfg.Activity == nil {
		return
	}
	r := s.cfg.Activity.rates(name, now)
	if !r.Known {
		return
	}
	row.Rate = strconv.FormatFloat(r.PerMinute, 'f', 1, 64) + "/min"
	if r.Attempts {
		row.Failures = strconv.FormatFloat(100*r.FailureRate, 'f', 1, 64) + " %"
		row.Failing = r.FailureRate >= 0.1
	}
}

func breakerName(b rebound.BreakerState) string {
	switch b {
	case rebound.Closed:
		return "closed"
	case rebound.HalfOpen:
		return "half-open"
	case rebound.Open:
		return "open"
	}
	return b.String()
}

func (s *server) deadRow(r outbox.Record) deadRow {
	row := deadRow{
		ID:          r.ID,
		PathID:      url.PathEscape(r.ID),
		Destination: r.Destination,
		Attempts:    r.Attempt,
		Reason:      r.DeadReason,
		Status:      "—",
		FullError:   redactURLs(r.LastError),
		Created:     r.CreatedAt,
		OrderingKey: r.OrderingKey,
	}
	if r.LastStatus != 0 {
		row.Status = strconv.Itoa(r.LastStatus)
	}
	row.Error = truncate(row.FullError, maxErrorShown)
	contentType := "application/json" // as the WebhookSender sends it
	for name, v := range r.Headers {
		if strings.EqualFold(name, "Content-Type") {
			contentType = v
		}
		if sensitiveHeader(name) {
			v = "[redacted]"
		}
		row.Headers = append(row.Headers, header{name, v})
	}
	slices.SortFunc(row.Headers, func(a, b header) int { return strings.Compare(a.Name, b.Name) })
	switch {
	case !s.cfg.ShowPayloads:
		row.Payload = "[redacted: " + formatBytes(len(r.Payload)) + ", " + truncate(contentType, 100) + "]"
	case !utf8.Valid(r.Payload):
		row.Payload = "[binary: " + formatBytes(len(r.Payload)) + ", " + truncate(contentType, 100) + "]"
	default:
		row.Payload, row.PayloadShown = truncate(string(r.Payload), maxPayloadShown), true
	}
	return row
}

// sensitiveHeader reports whether a header's value is hidden: credentials,
// cookies, and anything named like a secret, token, key or signature.
func sensitiveHeader(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"auth", "cookie", "secret", "token", "key", "pass", "signature", "session", "credential"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// redactURLs replaces the path, query and user information of any URL in
// an error text, where a destination's credentials may hide (a token in a
// webhook's path or query), by "…".
func redactURLs(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		// The scheme: letters before "://".
		start := i
		for start > 0 && isSchemeByte(s[start-1]) {
			start--
		}
		end := i + 3
		for end < len(s) && !strings.ContainsRune(" \t\n\"'<>`", rune(s[end])) {
			end++
		}
		b.WriteString(s[:start])
		if u, err := url.Parse(s[start:end]); err == nil && u.Host != "" && start < i {
			b.WriteString(u.Scheme + "://" + u.Host)
			if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
				b.WriteString("/…")
			}
		} else {
			b.WriteString("[url]")
		}
		s = s[end:]
	}
}

func isSchemeByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func formatBytes(n int) string {
	switch {
	case n == 1:
		return "1 byte"
	case n < 10<<10:
		return strconv.Itoa(n) + " bytes"
	}
	return strconv.FormatFloat(float64(n)/1024, 'f', 1, 64) + " KiB"
}

// formatAge renders an age to the second below an hour, to the minute
// below two days, and in days and hours beyond.
func formatAge(d time.Duration) string {
	d = max(d, 0)
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m" + pad2(int(d%time.Minute/time.Second)) + "s"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h" + pad2(int(d%time.Hour/time.Minute)) + "m"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + "d" + strconv.Itoa(int(d%(24*time.Hour)/time.Hour)) + "h"
}

func pad2(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
}
