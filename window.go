package rebound

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// window counts two quantities (a and b) over a sliding time window made of
// fixed buckets. Adding is lock-free and spread over padded shards so that
// concurrent callers on different cores rarely touch the same cache line;
// only moving a bucket to a new period takes a lock, once per bucket period.
// Memory is fixed: buckets × shards counters.
type window struct {
	origin  time.Duration // instant (see clock.go) the periods count from
	width   int64         // bucket width in nanoseconds
	buckets []wbucket
	mask    uint32 // shards-1
	mu      sync.Mutex
}

type wbucket struct {
	period atomic.Int64 // which period the counts belong to
	shards []wshard
}

type wshard struct {
	a, b atomic.Int64
	_    [48]byte // keep shards on separate cache lines
}

func newWindow(at, span time.Duration, buckets int) *window {
	shards := 1
	for shards < 4*runtime.GOMAXPROCS(0) && shards < 32 {
		shards *= 2
	}
	w := &window{
		origin:  at,
		width:   int64(span) / int64(buckets),
		buckets: make([]wbucket, buckets),
		mask:    uint32(shards - 1),
	}
	if w.width <= 0 {
		w.width = 1
	}
	for i := range w.buckets {
		w.buckets[i].shards = make([]wshard, shards)
		w.buckets[i].period.Store(-1)
	}
	return w
}

func (w *window) period(at time.Duration) int64 {
	d := at - w.origin
	if d < 0 {
		return 0
	}
	return int64(d) / w.width
}

// add counts da and db at instant at.
func (w *window) add(at time.Duration, da, db int64) {
	p := w.period(at)
	b := &w.buckets[p%int64(len(w.buckets))]
	if cur := b.period.Load(); cur != p {
		if cur > p {
			return // a period that already slid out of the window
		}
		w.rotate(b, p)
	}
	s := &b.shards[rand.Uint32()&w.mask]
	if da != 0 {
		s.a.Add(da)
	}
	if db != 0 {
		s.b.Add(db)
	}
}

func (w *window) rotate(b *wbucket, p int64) {
	w.mu.Lock()
	if b.period.Load() < p {
		for i := range b.shards {
			b.shards[i].a.Store(0)
			b.shards[i].b.Store(0)
		}
		b.period.Store(p)
	}
	w.mu.Unlock()
}

// sum returns the totals over the buckets of the window ending at at.
func (w *window) sum(at time.Duration) (a, b int64) {
	p := w.period(at)
	oldest := p - int64(len(w.buckets)) + 1
	for i := range w.buckets {
		bk := &w.buckets[i]
		if q := bk.period.Load(); q < oldest || q > p {
			continue
		}
		for j := range bk.shards {
			a += bk.shards[j].a.Load()
			b += bk.shards[j].b.Load()
		}
	}
	return a, b
}

// reset forgets every count.
func (w *window) reset() {
	w.mu.Lock()
	for i := range w.buckets {
		w.buckets[i].period.Store(-1)
		for j := range w.buckets[i].shards {
			w.buckets[i].shards[j].a.Store(0)
			w.buckets[i].shards[j].b.Store(0)
		}
	}
	w.mu.Unlock()
}
