package rebound

import (
	"math"
	"math/bits"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The limits HedgeConfig enforces.
const (
	// MaxHedgesLimit is the largest HedgeConfig.MaxHedges accepted.
	MaxHedgesLimit = 10
	// DefaultHedgePercentile is the percentile a zero
	// HedgeConfig.Percentile stands for.
	DefaultHedgePercentile = 0.90
	// DefaultHedgeRatio is the budget a zero HedgeConfig.Ratio stands
	// for: hedges are at most 10% of calls.
	DefaultHedgeRatio = 0.1
)

// HedgeConfig configures a Hedger. The zero value means every default:
// one hedge, sent when an attempt has run longer than 90% of the
// endpoint's recent successful attempts, within a budget of 10% of calls.
type HedgeConfig struct {
	// Name labels the hedger, usually the endpoint it serves.
	Name string
	// Delay, when positive, is how long an attempt runs before a hedge is
	// sent. Default 0: the delay is the Percentile of the durations of the
	// endpoint's recent successful attempts.
	Delay time.Duration
	// Percentile is the share of recent successful attempts that end
	// before a hedge is sent, when Delay is 0: with 0.9, an attempt
	// slower than 90% of them is hedged. Default 0.9 (as bhope/hedge):
	// with 0.95, a service whose slow answers are near 5% of them puts
	// the delay on the edge between fast and slow. In (0, 1).
	Percentile float64
	// MinSamples is how many attempts must have been measured in Window
	// before the percentile is trusted; until then no hedge is sent (when
	// Delay is 0). Default 20.
	MinSamples int
	// MaxHedges is the number of hedges an attempt may add, each Delay
	// after the one before. Default 1; at most MaxHedgesLimit.
	MaxHedges int
	// Ratio is the budget: over Window, hedges may not exceed Ratio ×
	// attempts, so that a slow dependency is not sent twice its load.
	// Default 0.1; at most MaxHedgesLimit.
	Ratio float64
	// Window is the sliding window over which attempts, hedges and
	// latencies are counted. Default 10 s.
	Window time.Duration
}

func (c HedgeConfig) withDefaults() (HedgeConfig, error) {
	switch {
	case c.Delay < 0:
		return c, &ConfigError{"HedgeConfig.Delay", "want a duration >= 0 (0: from the Percentile of recent latencies), got " + c.Delay.String()}
	case c.Percentile != 0 && !(c.Percentile > 0 && c.Percentile < 1):
		return c, &ConfigError{"HedgeConfig.Percentile", "want 0 (default " + strconv.FormatFloat(DefaultHedgePercentile, 'g', -1, 64) + ") or a share in (0, 1), got " + strconv.FormatFloat(c.Percentile, 'g', -1, 64)}
	case c.MinSamples < 0:
		return c, &ConfigError{"HedgeConfig.MinSamples", "want 0 (default 20) or more, got " + strconv.Itoa(c.MinSamples)}
	case c.MaxHedges < 0 || c.MaxHedges > MaxHedgesLimit:
		return c, &ConfigError{"HedgeConfig.MaxHedges", "want 0 (default 1) or 1.." + strconv.Itoa(MaxHedgesLimit) + ", got " + strconv.Itoa(c.MaxHedges)}
	case c.Ratio != 0 && !(c.Ratio > 0 && c.Ratio <= MaxHedgesLimit):
		return c, &ConfigError{"HedgeConfig.Ratio", "want 0 (default " + strconv.FormatFloat(DefaultHedgeRatio, 'g', -1, 64) + ") or a ratio in (0, " + strconv.Itoa(MaxHedgesLimit) + "], got " + strconv.FormatFloat(c.Ratio, 'g', -1, 64)}
	case c.Window < 0:
		return c, &ConfigError{"HedgeConfig.Window", "want a duration >= 0 (default 10s), got " + c.Window.String()}
	}
	if c.Percentile == 0 {
		c.Percentile = DefaultHedgePercentile
	}
	if c.MinSamples == 0 {
		c.MinSamples = 20
	}
	if c.MaxHedges == 0 {
		c.MaxHedges = 1
	}
	if c.Ratio == 0 {
		c.Ratio = DefaultHedgeRatio
	}
	if c.Window == 0 {
		c.Window = 10 * time.Second
	}
	if c.Window < budgetBuckets {
		c.Window = budgetBuckets
	}
	return c, nil
}

// A Hedger sends hedged requests for one endpoint: when an attempt of an
// idempotent call has run longer than a delay, Do starts the same
// function again beside it, and takes the first success ("The Tail at
// Scale", Dean and Barroso). It keeps what the decisions need across
// calls: the latencies the delay is read from and the budget that keeps
// hedges under a share of attempts. Set it as Policy.Hedger; policies
// that point at the same Hedger share its state.
//
// A Hedger is safe for concurrent use.
type Hedger struct {
	cfg    HedgeConfig
	budget *window // a: attempts, b: hedges
	lat    latencies
	used   atomic.Bool
}

// NewHedger returns a Hedger, or a *ConfigError naming the first invalid
// field of cfg.
func NewHedger(cfg HedgeConfig) (*Hedger, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	at := now()
	h := &Hedger{cfg: cfg, budget: newWindow(at, cfg.Window, budgetBuckets)}
	h.lat.init(at, cfg)
	return h, nil
}

// Name returns HedgeConfig.Name.
func (h *Hedger) Name() string { return h.cfg.Name }

// Config returns the configuration with every default filled in.
func (h *Hedger) Config() HedgeConfig { return h.cfg }

// Delay returns how long an attempt starting now runs before its first
// hedge, and false when no hedge would be sent (too few latencies
// measured yet).
func (h *Hedger) Delay() (time.Duration, bool) { return h.delay(now()) }

// Counts reports the attempts and hedges in the current window.
func (h *Hedger) Counts() (attempts, hedges int64) { return h.budget.sum(now()) }

func (h *Hedger) delay(at time.Duration) (time.Duration, bool) {
	if h.cfg.Delay > 0 {
		return h.cfg.Delay, true
	}
	return h.lat.percentile(at)
}

func (h *Hedger) recordAttempt(at time.Duration) {
	if !h.used.Load() {
		h.used.Store(true)
	}
	h.budget.add(at, 1, 0)
}

// allowHedge reports whether one more hedge fits the budget, and if so
// counts it.
func (h *Hedger) allowHedge(at time.Duration) bool {
	attempts, hedges := h.budget.sum(at)
	if float64(hedges+1) > h.cfg.Ratio*float64(attempts) {
		return false
	}
	h.budget.add(at, 0, 1)
	return true
}

// Hedgers is a registry of hedgers keyed by endpoint, all made from one
// configuration, holding at most a fixed number of keys; when full, a new
// key evicts an idle one (clock algorithm). It is safe for concurrent use.
type Hedgers struct{ k keyed[*Hedger] }

// NewHedgers returns a registry whose hedgers use cfg with Name set to
// their key, keeping at most limit keys (0 means DefaultKeyLimit).
func NewHedgers(cfg HedgeConfig, limit int) (*Hedgers, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if limit, err = checkLimit("Hedgers limit", limit); err != nil {
		return nil, err
	}
	g := &Hedgers{}
	g.k = keyed[*Hedger]{
		limit: limit,
		newV: func(key string) *Hedger {
			c := cfg
			c.Name = key
			h, _ := NewHedger(c) // cfg was validated above
			return h
		},
		used:      func(h *Hedger) *atomic.Bool { return &h.used },
		evictable: func(*Hedger) bool { return true },
	}
	return g, nil
}

// Get returns the hedger for key, creating it if needed.
func (g *Hedgers) Get(key string) *Hedger { return g.k.get(key) }

// Each calls fn for every kept hedger in key order, outside the registry's
// lock.
func (g *Hedgers) Each(fn func(h *Hedger)) { g.k.each(func(_ string, h *Hedger) { fn(h) }) }

// Len returns the number of kept hedgers.
func (g *Hedgers) Len() int { return g.k.len() }

// latencies is a histogram of attempt durations over a sliding window made
// of two halves: samples go to the current half, the percentile is read
// over both, and the older half is cleared when a new one starts. Buckets
// are logarithmic, eight per power of two of microseconds (at most 12.5%
// apart). The percentile is recomputed at most every 16 samples (at each
// new sample while it is unknown) or when the halves turn, and cached.
type latencies struct {
	q          float64
	minSamples int64
	half       time.Duration

	mu       sync.Mutex // turns the halves
	turnedAt atomic.Int64
	cur      atomic.Pointer[latHist]
	prev     atomic.Pointer[latHist]

	fresh  atomic.Int64 // samples since the cached value was computed
	cached atomic.Int64 // the percentile in ns, or -1 when unknown
}

const latBuckets = 8 * 40

type latHist [latBuckets]atomic.Uint32

func (l *latencies) init(at time.Duration, cfg HedgeConfig) {
	l.q = cfg.Percentile
	l.minSamples = int64(cfg.MinSamples)
	l.half = cfg.Window / 2
	l.turnedAt.Store(int64(at))
	l.cur.Store(new(latHist))
	l.prev.Store(new(latHist))
	l.cached.Store(-1)
	l.fresh.Store(math.MaxInt32) // compute on the first read
}

// latBucket returns the bucket of duration d.
func latBucket(d time.Duration) int {
	us := uint64(d / time.Microsecond)
	if us < 8 {
		return int(us)
	}
	e := bits.Len64(us) - 1 // >= 3
	i := (e-2)*8 + int(us>>(e-3)&7)
	if i >= latBuckets {
		return latBuckets - 1
	}
	return i
}

// latUpper returns the upper bound of bucket i.
func latUpper(i int) time.Duration {
	if i < 8 {
		return time.Duration(i+1) * time.Microsecond
	}
	e := i/8 + 2
	return time.Duration(uint64(8+i%8+1)<<(e-3)) * time.Microsecond
}

// record counts one attempt that took d, ending at instant at.
func (l *latencies) record(at, d time.Duration) {
	l.turn(at)
	l.cur.Load()[latBucket(d)].Add(1)
	l.fresh.Add(1)
}

// turn starts a new half when the current one is over.
func (l *latencies) turn(at time.Duration) {
	if at-time.Duration(l.turnedAt.Load()) < l.half {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	started := time.Duration(l.turnedAt.Load())
	if at-started < l.half {
		return
	}
	old := l.prev.Load()
	if at-started >= 2*l.half {
		// Both halves are older than the window.
		clearHist(l.cur.Load())
	}
	clearHist(old)
	l.prev.Store(l.cur.Load())
	l.cur.Store(old)
	l.turnedAt.Store(int64(at))
	l.fresh.Store(math.MaxInt32)
}

func clearHist(h *latHist) {
	for i := range h {
		h[i].Store(0)
	}
}

// percentile returns the cached percentile, recomputing it when stale.
func (l *latencies) percentile(at time.Duration) (time.Duration, bool) {
	l.turn(at)
	if n := l.fresh.Load(); n >= 16 || (n > 0 && l.cached.Load() < 0) {
		l.fresh.Store(0)
		l.cached.Store(int64(l.compute()))
	}
	d := time.Duration(l.cached.Load())
	return d, d >= 0
}

// compute returns the percentile over both halves, or -1 when they hold
// fewer than minSamples samples.
func (l *latencies) compute() time.Duration {
	cur, prev := l.cur.Load(), l.prev.Load()
	var counts [latBuckets]uint32
	var total int64
	for i := range counts {
		counts[i] = cur[i].Load() + prev[i].Load()
		total += int64(counts[i])
	}
	if total < l.minSamples || total == 0 {
		return -1
	}
	rank := int64(math.Ceil(l.q * float64(total)))
	var seen int64
	for i, n := range counts {
		seen += int64(n)
		if seen >= rank {
			return latUpper(i)
		}
	}
	return latUpper(latBuckets - 1)
}
