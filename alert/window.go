package alert

import (
	"sync/atomic"
	"time"
)

// Time is cut into buckets of Interval, numbered from the Alerter's epoch
// (the time New ran): bucket k holds the events observed in
// [epoch+k·Interval, epoch+(k+1)·Interval). The evaluation that runs at the
// instant epoch+k·Interval reads buckets k−n … k−1, n = Window/Interval:
// the events of the Window before that instant. An event observed at that
// very instant belongs to bucket k, whichever of the two runs first, so the
// outcome of an evaluation does not depend on the order in which the
// scheduler runs the evaluator and the callers.

// bucketOf returns the bucket of the instant d after the epoch.
func bucketOf(d, interval time.Duration) int64 {
	if d < 0 {
		return 0
	}
	return int64(d / interval)
}

// untilNext returns how long after the instant d the next bucket starts.
func untilNext(d, interval time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return interval - d%interval
}

// window returns the first and last bucket the evaluation at bucket k
// reads, n buckets in all.
func window(k int64, n int) (first, last int64) {
	return k - int64(n), k - 1
}

// A ring holds n+1 buckets: the n of the window and the one being written,
// so that events at an evaluation's instant never evict the oldest bucket
// that evaluation reads.
func ringLen(n int) int { return n + 1 }

// counter is one count of one bucket of a ring. Its high 32 bits are a tag,
// the low 32 bits of the bucket's number, and its low 32 bits the count. The first write of a newer bucket replaces both in one
// compare-and-swap, so that no write is lost to a concurrent reset and a
// read never returns another bucket's count.
type counter struct{ v atomic.Uint64 }

const (
	countBits = 32
	countMask = 1<<countBits - 1
	// lateLimit is how many buckets behind a slot a write may be before it
	// is dropped rather than counted: a write for bucket j into a slot that
	// holds bucket j+R (the writer stalled for R intervals between reading
	// the clock and counting) must not wipe the newer bucket. A slot that
	// looks newer by more than this is an older slot seen through 32-bit
	// tags, and is reset. (A slot left idle for 2^32 buckets less up to
	// lateLimit looks newer: its writes are dropped until the tags move
	// on, at most lateLimit buckets.)
	lateLimit = 1 << 20
)

func tag(seq int64) uint64 { return uint64(uint32(seq)) << countBits }

// add adds n to the count of bucket seq.
func (c *counter) add(seq int64, n uint64) {
	for {
		old := c.v.Load()
		var next uint64
		switch d := uint32(old>>countBits) - uint32(seq); {
		case d == 0:
			if old&countMask < countMask/2 && n < countMask/2 {
				// The common case, without a compare-and-swap: concurrent
				// adds cannot carry into the tag from below half.
				c.v.Add(n)
				return
			}
			next = tag(seq) | min(old&countMask+min(n, countMask), countMask) // saturated
		case d < lateLimit:
			return // the slot holds a newer bucket: this write is too late
		default:
			next = tag(seq) | min(n, countMask)
		}
		if next == old || c.v.CompareAndSwap(old, next) {
			return
		}
	}
}

// zero sets the count of bucket seq to 0.
func (c *counter) zero(seq int64) {
	for {
		old := c.v.Load()
		if old == tag(seq) {
			return
		}
		if d := uint32(old>>countBits) - uint32(seq); d != 0 && d < lateLimit {
			return
		}
		if c.v.CompareAndSwap(old, tag(seq)) {
			return
		}
	}
}

// get returns the count of bucket seq: 0 when the slot holds another
// bucket.
func (c *counter) get(seq int64) int64 {
	v := c.v.Load()
	if uint32(v>>countBits) != uint32(seq) {
		return 0
	}
	return int64(v & countMask)
}
