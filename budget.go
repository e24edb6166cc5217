package rebound

import (
	"strconv"
	"sync/atomic"
	"time"
)

// BudgetConfig configures a Budget. The zero value means every default.
type BudgetConfig struct {
	// Name labels the budget, usually the endpoint it guards.
	Name string
	// Ratio is the share of calls that may be retried over Window: with
	// 0.2, 100 calls allow 20 retries. Default 0.2; at most 10.
	Ratio float64
	// MinPerSecond is a floor: this many retries per second of Window are
	// always allowed, so that a quiet endpoint can still retry. Default 3;
	// negative means no floor.
	MinPerSecond float64
	// Window is the sliding window over which calls and retries are
	// counted, in 10 buckets. Default 10 s.
	Window time.Duration
}

const budgetBuckets = 10

func (c BudgetConfig) withDefaults() (BudgetConfig, error) {
	switch {
	case c.Ratio < 0 || c.Ratio > 10 || c.Ratio != c.Ratio:
		return c, &ConfigError{"BudgetConfig.Ratio", "want a ratio in [0, 10] (0 for the default 0.2), got " + strconv.FormatFloat(c.Ratio, 'g', -1, 64)}
	case c.MinPerSecond != c.MinPerSecond:
		return c, &ConfigError{"BudgetConfig.MinPerSecond", "want a number, got NaN"}
	case c.Window < 0:
		return c, &ConfigError{"BudgetConfig.Window", "want a duration >= 0, got " + c.Window.String()}
	}
	if c.Ratio == 0 {
		c.Ratio = 0.2
	}
	if c.MinPerSecond == 0 {
		c.MinPerSecond = 3
	}
	if c.MinPerSecond < 0 {
		c.MinPerSecond = 0
	}
	if c.Window == 0 {
		c.Window = 10 * time.Second
	}
	if c.Window < budgetBuckets {
		c.Window = budgetBuckets
	}
	return c, nil
}

// Budget limits retries to a share of calls, shared by every call that uses
// it (typically all calls to one endpoint), so that a failing dependency
// cannot set off a retry storm: over the sliding Window, retries may not
// exceed Ratio × calls + MinPerSecond × Window. A refused retry ends its call
// with ReasonBudget.
//
// A Budget is safe for concurrent use and takes no lock to count a call.
// Concurrent retries may overshoot the limit by at most the number of
// callers deciding at the same instant.
type Budget struct {
	cfg   BudgetConfig
	floor float64
	win   *window // a: calls, b: retries
	used  atomic.Bool
}

// NewBudget returns a budget, or a *ConfigError naming the first invalid
// field of cfg.
func NewBudget(cfg BudgetConfig) (*Budget, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Budget{
		cfg:   cfg,
		floor: cfg.MinPerSecond * cfg.Window.Seconds(),
		win:   newWindow(now(), cfg.Window, budgetBuckets),
	}, nil
}

// Name returns BudgetConfig.Name.
func (b *Budget) Name() string { return b.cfg.Name }

// Config returns the configuration with every default filled in.
func (b *Budget) Config() BudgetConfig { return b.cfg }

// RecordCall counts one call (not a retry). Do calls it once per call;
// code that retries by itself calls it before the first attempt.
func (b *Budget) RecordCall() { b.recordCall(now()) }

// AllowRetry reports whether one more retry fits the budget, and if so
// counts it.
func (b *Budget) AllowRetry() bool { return b.allowRetry(now()) }

// Counts reports the calls and retries in the current window.
func (b *Budget) Counts() (calls, retries int64) { return b.win.sum(now()) }

func (b *Budget) recordCall(at time.Duration) {
	if !b.used.Load() {
		b.used.Store(true)
	}
	b.win.add(at, 1, 0)
}

func (b *Budget) allowRetry(at time.Duration) bool {
	calls, retries := b.win.sum(at)
	if float64(retries+1) > b.cfg.Ratio*float64(calls)+b.floor {
		return false
	}
	b.win.add(at, 0, 1)
	return true
}
