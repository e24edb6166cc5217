package statuspage

import (
	"context"
	"sync"
	"time"

	"github.com/rebound-go/rebound"
)

// Activity's shape: 10-second buckets over the last hour.
const (
	bucketWidth = 10 * time.Second
	numBuckets  = int64(time.Hour / bucketWidth)

	// DefaultActivityDestinations bounds the destinations an Activity
	// tracks one by one; the events of any further destination are
	// counted together under OtherDestination.
	DefaultActivityDestinations = 100
	// OtherDestination names the row of the destinations beyond the bound.
	OtherDestination = "_other"
)

// Activity records deliveries and failed attempts per destination in
// 10-second buckets over the last hour, for the status page's rates and
// chart. It is a rebound.Observer: give it to outbox.RelayConfig.Observer
// (with rebound.Observers to keep other observers).
//
// It tracks at most DefaultActivityDestinations destinations, the first
// ones seen; the events of the others are counted under OtherDestination.
// Memory is bounded by that: about 9 KiB per destination.
//
// An Activity is safe for concurrent use. Observe takes one short lock per
// destination and allocates nothing once the destination is known.
type Activity struct {
	limit int

	mu     sync.RWMutex
	byDest map[string]*series
	other  series
}

// NewActivity returns an empty Activity.
func NewActivity() *Activity { return newActivity(DefaultActivityDestinations) }

func newActivity(limit int) *Activity {
	return &Activity{limit: limit, byDest: make(map[string]*series)}
}

// Observe counts an AttemptFinished event for its Endpoint, the
// destination: without an error it is a delivery, with one a failed
// attempt. Other events are ignored.
//
// The relay reports each delivery attempt twice, as an AttemptFinished
// and then as a CallFinished (success, retrying, gave_up or failure);
// counting the first alone counts every attempt once, the attempts of
// messages that later die included. A message an open breaker holds back
// is a CallFinished with result rejected and no AttemptFinished: it never
// reached its destination, so it is neither a delivery nor a failed
// attempt and stays out of the failure rate. Nor is it counted apart: a
// held message is claimed and held again every few seconds, so a count of
// holds says nothing of how many messages wait. The page reads those from
// the store instead, beside the breaker's state.
func (a *Activity) Observe(_ context.Context, e rebound.Event) {
	if e.Kind != rebound.AttemptFinished {
		return
	}
	a.record(e.Endpoint, e.Err != nil, time.Now())
}

// record counts one attempt of dest that ended at t.
func (a *Activity) record(dest string, failed bool, t time.Time) {
	a.seriesFor(dest).add(slotOf(t), failed)
}

// seriesFor returns dest's series, creating it while there is room.
func (a *Activity) seriesFor(dest string) *series {
	a.mu.RLock()
	s, ok := a.byDest[dest]
	full := len(a.byDest) >= a.limit
	a.mu.RUnlock()
	switch {
	case ok:
		return s
	case full || dest == OtherDestination:
		return &a.other
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if s, ok := a.byDest[dest]; ok {
		return s
	}
	if len(a.byDest) >= a.limit {
		return &a.other
	}
	s = new(series)
	a.byDest[dest] = s
	return s
}

// counts is what happened over a window.
type counts struct {
	Delivered, Failed int64
}

// window sums dest's attempts in the last d before now (whole buckets, the
// current one included). known is false when dest's events, if any, were
// folded into OtherDestination.
func (a *Activity) window(dest string, now time.Time, d time.Duration) (c counts, known bool) {
	a.mu.RLock()
	s, ok := a.byDest[dest]
	full := len(a.byDest) >= a.limit
	a.mu.RUnlock()
	if dest == OtherDestination {
		s, ok = &a.other, true
	}
	if !ok {
		return counts{}, !full
	}
	cur := slotOf(now)
	n := min(max(int64(d/bucketWidth), 1), numBuckets)
	return s.sum(cur-n+1, cur), true
}

// folded reports whether any destination's events were counted under
// OtherDestination in the last hour.
func (a *Activity) folded(now time.Time) bool {
	cur := slotOf(now)
	c := a.other.sum(cur-numBuckets+1, cur)
	return c.Delivered+c.Failed > 0
}

// perMinute returns the attempts of every destination together, minute by
// minute, for the last minutes minutes (at most 60) up to now, oldest
// first. A minute is six buckets; the last one ends with the current
// bucket.
func (a *Activity) perMinute(now time.Time, minutes int) []counts {
	minutes = min(max(minutes, 1), int(numBuckets/6))
	a.mu.RLock()
	all := make([]*series, 0, len(a.byDest)+1)
	for _, s := range a.byDest {
		all = append(all, s)
	}
	a.mu.RUnlock()
	all = append(all, &a.other)
	cur := slotOf(now)
	out := make([]counts, minutes)
	for i := range out {
		to := cur - int64(6*(minutes-1-i))
		for _, s := range all {
			c := s.sum(to-5, to)
			out[i].Delivered += c.Delivered
			out[i].Failed += c.Failed
		}
	}
	return out
}

// slotOf numbers the 10-second bucket holding t.
func slotOf(t time.Time) int64 {
	n := t.UnixNano()
	w := int64(bucketWidth)
	if n < 0 {
		return (n - w + 1) / w
	}
	return n / w
}

// series is one destination's ring of buckets. A bucket is reused for a
// newer slot when its own is more than an hour old.
type series struct {
	mu      sync.Mutex
	buckets [numBuckets]bucket
}

type bucket struct {
	slot              int64
	delivered, failed int64
}

func (s *series) add(slot int64, failed bool) {
	s.mu.Lock()
	b := &s.buckets[ringIndex(slot)]
	if b.slot != slot {
		if slot < b.slot {
			s.mu.Unlock()
			return // older than the hour the ring holds
		}
		*b = bucket{slot: slot}
	}
	if failed {
		b.failed++
	} else {
		b.delivered++
	}
	s.mu.Unlock()
}

// sum adds the buckets of slots from to to, inclusive.
func (s *series) sum(from, to int64) counts {
	var c counts
	s.mu.Lock()
	defer s.mu.Unlock()
	for slot := max(from, to-numBuckets+1); slot <= to; slot++ {
		if b := &s.buckets[ringIndex(slot)]; b.slot == slot {
			c.Delivered += b.delivered
			c.Failed += b.failed
		}
	}
	return c
}

func ringIndex(slot int64) int64 {
	i := slot % numBuckets
	if i < 0 {
		i += numBuckets
	}
	return i
}

// rateWindow is the window of the page's rates.
const rateWindow = 5 * time.Minute

// rate is a destination's activity over rateWindow.
type rate struct {
	// PerMinute counts deliveries per minute.
	PerMinute float64
	// FailureRate is the share of attempts that failed.
	FailureRate float64
	// Attempts reports whether there were any attempts (else FailureRate
	// means nothing).
	Attempts bool
	// Known is false when the destination's events were folded into
	// OtherDestination.
	Known bool
}

func (a *Activity) rates(dest string, now time.Time) rate {
	c, known := a.window(dest, now, rateWindow)
	r := rate{Known: known, PerMinute: float64(c.Delivered) / rateWindow.Minutes()}
	if n := c.Delivered + c.Failed; n > 0 {
		r.Attempts = true
		r.FailureRate = float64(c.Failed) / float64(n)
	}
	return r
}
