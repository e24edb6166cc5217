package rebound

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// BreakerState is the state of a circuit breaker. The numbers are the values
// of the rebound_breaker_state gauge.
type BreakerState uint8

const (
	// Closed: calls flow and outcomes are counted.
	Closed BreakerState = 0
	// HalfOpen: a few probe calls test whether the dependency recovered.
	HalfOpen BreakerState = 1
	// Open: calls are refused without touching the dependency.
	Open BreakerState = 2
)

// String returns "closed", "half_open" or "open".
func (s BreakerState) String() string {
	switch s {
	case Closed:
		return "closed"
	case HalfOpen:
		return "half_open"
	case Open:
		return "open"
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// BreakerConfig configures a Breaker. The zero value means every default.
type BreakerConfig struct {
	// Name labels the breaker's events, usually the endpoint it guards.
	Name string
	// ConsecutiveFailures opens the breaker when this many failures follow
	// each other with no success between. Default 5; negative disables the
	// rule.
	ConsecutiveFailures int
	// FailureRate opens the breaker when, over Window, failures make up at
	// least this share of at least MinCalls outcomes. Default 0.5; negative
	// disables the rule; at most 1.
	FailureRate float64
	// MinCalls is the fewest outcomes in Window for FailureRate to apply.
	// Default 20.
	MinCalls int
	// Window is the sliding window of FailureRate, counted in 10 buckets.
	// Default 60 s.
	Window time.Duration
	// OpenFor is how long the breaker stays open before it lets probes
	// through. Default 30 s.
	OpenFor time.Duration
	// HalfOpenProbes is how many probe calls may run at once while half
	// open, and how many must succeed to close the breaker. Any failed probe
	// opens it again, and so does a probe that has not reported within
	// OpenFor (a lost or hung probe). Default 1.
	HalfOpenProbes int
	// Observer receives BreakerStateChanged events, outside any lock.
	Observer Observer
}

const breakerBuckets = 10

func (c BreakerConfig) withDefaults() (BreakerConfig, error) {
	switch {
	case c.FailureRate > 1 || c.FailureRate != c.FailureRate:
		return c, &ConfigError{"BreakerConfig.FailureRate", "want a share in (0, 1], 0 for the default 0.5 or negative to disable, got " + strconv.FormatFloat(c.FailureRate, 'g', -1, 64)}
	case c.MinCalls < 0:
		return c, &ConfigError{"BreakerConfig.MinCalls", "want 0 (default 20) or more, got " + strconv.Itoa(c.MinCalls)}
	case c.Window < 0:
		return c, &ConfigError{"BreakerConfig.Window", "want a duration >= 0, got " + c.Window.String()}
	case c.OpenFor < 0:
		return c, &ConfigError{"BreakerConfig.OpenFor", "want a duration >= 0, got " + c.OpenFor.String()}
	case c.HalfOpenProbes < 0:
		return c, &ConfigError{"BreakerConfig.HalfOpenProbes", "want 0 (default 1) or more, got " + strconv.Itoa(c.HalfOpenProbes)}
	case c.ConsecutiveFailures < 0 && c.FailureRate < 0:
		return c, &ConfigError{"BreakerConfig.ConsecutiveFailures", "both ConsecutiveFailures and FailureRate are disabled; the breaker could never open"}
	}
	if c.ConsecutiveFailures == 0 {
		c.ConsecutiveFailures = 5
	}
	if c.FailureRate == 0 {
		c.FailureRate = 0.5
	}
	if c.MinCalls == 0 {
		c.MinCalls = 20
	}
	if c.Window == 0 {
		c.Window = 60 * time.Second
	}
	if c.Window < breakerBuckets {
		c.Window = breakerBuckets
	}
	if c.OpenFor == 0 {
		c.OpenFor = 30 * time.Second
	}
	if c.HalfOpenProbes == 0 {
		c.HalfOpenProbes = 1
	}
	return c, nil
}

// Breaker is a circuit breaker for one endpoint. It opens on consecutive
// failures or on a failure rate over a sliding window, stays open for
// OpenFor, then lets HalfOpenProbes probes through. Connection, Response and
// Unknown errors count as failures; Logic errors count as successes (the
// dependency answered); Canceled outcomes are not counted.
//
// The state is computed on every read: an open breaker whose OpenFor has
// passed reports HalfOpen even when no call arrived since.
//
// A Breaker is safe for concurrent use. In the closed state, Allow and the
// recording of a success take no lock.
type Breaker struct {
	cfg     BreakerConfig
	state   atomic.Uint32 // BreakerState
	gen     atomic.Uint64 // bumped on every transition
	consec  atomic.Int64  // consecutive failures while closed
	openEnd atomic.Int64  // while open: the instant (clock.go) OpenFor ends
	win     *window       // a: outcomes, b: failures; nil when FailureRate is disabled
	used    atomic.Bool   // for registries: touched since the last sweep

	mu       sync.Mutex
	probes   int   // probes in flight while half open
	probesOK int   // successful probes while half open
	probeEnd int64 // while half open: the instant unreported probes count as failed
}

// NewBreaker returns a closed breaker, or a *ConfigError naming the first
// invalid field of cfg.
func NewBreaker(cfg BreakerConfig) (*Breaker, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	b := &Breaker{cfg: cfg}
	if cfg.FailureRate > 0 {
		b.win = newWindow(now(), cfg.Window, breakerBuckets)
	}
	return b, nil
}

// Name returns BreakerConfig.Name.
func (b *Breaker) Name() string { return b.cfg.Name }

// Config returns the configuration with every default filled in.
func (b *Breaker) Config() BreakerConfig { return b.cfg }

// State returns the current state. An open breaker whose OpenFor has passed
// moves to HalfOpen here, and the change is reported.
func (b *Breaker) State() BreakerState {
	s := BreakerState(b.state.Load())
	if s == Open && int64(now()) >= b.openEnd.Load() {
		b.toHalfOpen()
		return BreakerState(b.state.Load())
	}
	return s
}

// Counts reports the outcomes and failures in the current window (zeros when
// FailureRate is disabled) and the current run of consecutive failures.
func (b *Breaker) Counts() (outcomes, failures, consecutive int64) {
	if b.win != nil {
		outcomes, failures = b.win.sum(now())
	}
	return outcomes, failures, b.consec.Load()
}

// Allow asks to make one call. When the breaker refuses, err is
// ErrCircuitOpen and done is nil. Otherwise the caller makes the call and
// then calls done once with its error (nil for success); the error is
// classified with Classify, and later calls of done are ignored. This two-step form suits transports that cannot
// wrap the call in a function.
func (b *Breaker) Allow() (done func(err error), err error) {
	t, ok := b.allow(now())
	if !ok {
		return nil, ErrCircuitOpen
	}
	var reported atomic.Bool
	return func(err error) {
		if reported.Swap(true) {
			return // only the first report counts
		}
		var class Class
		if err != nil {
			class = Classify(err).Class
		}
		b.record(t, outcomeOf(err, class), now())
	}, nil
}

type outcome uint8

const (
	outcomeSuccess outcome = iota
	outcomeFailure
	outcomeIgnored
	outcomeIsolated // a failure of one request: counts toward the rate only
)

func outcomeOf(err error, c Class) outcome {
	switch {
	case err == nil || c == Logic:
		return outcomeSuccess
	case c == Canceled:
		return outcomeIgnored
	}
	var iso *isolatedError
	if errors.As(err, &iso) {
		return outcomeIsolated
	}
	return outcomeFailure
}

// Isolated marks err as a failure of one request rather than of the
// dependency it was sent to: a payload the receiver rejects, say, while
// other requests succeed. A Breaker counts an isolated failure toward its
// FailureRate, so that failures spread over many requests still open it,
// but not toward ConsecutiveFailures, neither adding to the run nor
// ending it, so that a few bad requests in a row do not. A half-open probe
// that fails isolated fails like any other. Classification looks through
// the mark. Isolated(nil) is nil.
func Isolated(err error) error {
	if err == nil {
		return nil
	}
	return &isolatedError{err}
}

type isolatedError struct{ err error }

func (e *isolatedError) Error() string { return e.err.Error() }
func (e *isolatedError) Unwrap() error { return e.err }

// breakerTicket ties an outcome to the state it was allowed in, so that an
// outcome from an older state is not counted in a newer one.
type breakerTicket struct {
	gen   uint64
	probe bool
}

func (b *Breaker) allow(at time.Duration) (breakerTicket, bool) {
	if !b.used.Load() {
		b.used.Store(true)
	}
	for {
		gen := b.gen.Load()
		switch BreakerState(b.state.Load()) {
		case Closed:
			return breakerTicket{gen: gen}, true
		case Open:
			if int64(at) < b.openEnd.Load() {
				return breakerTicket{}, false
			}
			b.toHalfOpen()
			continue
		}
		b.mu.Lock()
		if BreakerState(b.state.Load()) != HalfOpen {
			b.mu.Unlock()
			continue
		}
		if b.probes >= b.cfg.HalfOpenProbes {
			// A probe that has not reported within OpenFor counts as
			// failed, so a lost or hung probe cannot hold the breaker
			// half open forever.
			stale := int64(at) >= b.probeEnd
			b.mu.Unlock()
			if stale {
				b.transition(gen, HalfOpen, Open, at)
			}
			return breakerTicket{}, false
		}
		b.probes++
		gen = b.gen.Load()
		b.mu.Unlock()
		return breakerTicket{gen: gen, probe: true}, true
	}
}

func (b *Breaker) record(t breakerTicket, o outcome, at time.Duration) {
	if t.probe {
		b.recordProbe(t, o, at)
		return
	}
	if b.gen.Load() != t.gen {
		return // allowed in an earlier state
	}
	switch o {
	case outcomeSuccess:
		if b.consec.Load() != 0 {
			b.consec.Store(0)
		}
		if b.win != nil {
			b.win.add(at, 1, 0)
		}
	case outcomeFailure, outcomeIsolated:
		trip := false
		if o == outcomeFailure {
			n := b.consec.Add(1)
			trip = b.cfg.ConsecutiveFailures > 0 && n >= int64(b.cfg.ConsecutiveFailures)
		}
		if b.win != nil {
			b.win.add(at, 1, 1)
			if !trip {
				calls, fails := b.win.sum(at)
				trip = calls >= int64(b.cfg.MinCalls) && float64(fails) >= b.cfg.FailureRate*float64(calls)
			}
		}
		if trip {
			b.transition(t.gen, Closed, Open, at)
		}
	}
}

func (b *Breaker) recordProbe(t breakerTicket, o outcome, at time.Duration) {
	b.mu.Lock()
	if b.gen.Load() != t.gen || BreakerState(b.state.Load()) != HalfOpen {
		b.mu.Unlock()
		return
	}
	b.probes--
	switch o {
	case outcomeIgnored:
		b.mu.Unlock()
		return
	case outcomeSuccess:
		b.probesOK++
		if b.probesOK < b.cfg.HalfOpenProbes {
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		b.transition(t.gen, HalfOpen, Closed, at)
	case outcomeFailure, outcomeIsolated:
		b.mu.Unlock()
		b.transition(t.gen, HalfOpen, Open, at)
	}
}

func (b *Breaker) toHalfOpen() {
	b.transition(b.gen.Load(), Open, HalfOpen, now())
}

// transition moves the breaker from one state to another if it is still in
// from at generation gen, then reports the change outside the lock.
func (b *Breaker) transition(gen uint64, from, to BreakerState, at time.Duration) {
	b.mu.Lock()
	if b.gen.Load() != gen || BreakerState(b.state.Load()) != from {
		b.mu.Unlock()
		return
	}
	switch to {
	case Open:
		b.openEnd.Store(int64(at + b.cfg.OpenFor))
	case HalfOpen:
		b.probes, b.probesOK = 0, 0
		b.probeEnd = int64(at + b.cfg.OpenFor)
	case Closed:
		b.consec.Store(0)
		if b.win != nil {
			b.win.reset()
		}
	}
	b.gen.Add(1)
	b.state.Store(uint32(to))
	b.mu.Unlock()
	if b.cfg.Observer != nil {
		b.cfg.Observer.Observe(context.Background(), Event{Kind: BreakerStateChanged, Endpoint: b.cfg.Name, From: from, To: to})
	}
}
