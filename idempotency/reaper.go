package idempotency

import (
	"context"
	"log/slog"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/internal/startstop"
)

// DefaultReapInterval is how often a Reaper reaps when
// ReaperConfig.Interval is zero.
const DefaultReapInterval = time.Hour

// ReaperConfig configures a Reaper. Its zero value means the defaults.
type ReaperConfig struct {
	// Interval is the time between reaps: 0 (the default) means
	// DefaultReapInterval, 1 h; a negative value is an error.
	Interval time.Duration
	// Logger receives reap failures, at Warn, and the number of keys each
	// reap deleted, at Debug. Default slog.Default().
	Logger *slog.Logger
}

// Reaper deletes expired keys from a Store every Interval, for the SQL
// stores, whose expired rows stay until reaped. Stores whose keys expire by
// themselves (MemoryStore, Redis) need none.
//
// A Reaper is a background service: Start it once, Stop it once it is no
// longer needed. Its methods are safe for concurrent use.
type Reaper struct {
	store    Store
	interval time.Duration
	logger   *slog.Logger
	svc      startstop.Service
}

// NewReaper returns a Reaper of store, not started. It checks cfg once: an
// invalid field is a *rebound.ConfigError that names it, as is a nil
// store.
func NewReaper(store Store, cfg ReaperConfig) (*Reaper, error) {
	if store == nil {
		return nil, &rebound.ConfigError{Field: "idempotency.NewReaper store", Problem: "required: the Store to reap"}
	}
	if cfg.Interval < 0 {
		return nil, &rebound.ConfigError{Field: "idempotency.ReaperConfig.Interval", Problem: "want 0 (default " + DefaultReapInterval.String() + ") or a positive duration, got " + cfg.Interval.String()}
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultReapInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Reaper{store: store, interval: cfg.Interval, logger: cfg.Logger}, nil
}

// Start reaps once at once, then every Interval, on a goroutine of its own,
// until Stop is called or ctx ends. Starting a started Reaper is an error,
// and so is starting one that was stopped: build a new one.
func (r *Reaper) Start(ctx context.Context) error {
	return r.svc.Start(ctx, "idempotency: Reaper", r.run)
}

// Stop ends the reaper: it cancels a reap in progress and returns once the
// reaper's goroutine has ended. If ctx ends first, Stop still waits for
// that goroutine (a Store's Reap should return when its context is
// canceled), then returns ctx's error. Stopping twice, or a Reaper never
// started, is fine.
func (r *Reaper) Stop(ctx context.Context) error { return r.svc.Stop(ctx) }

// run reaps until ctx ends. A reap in progress gets ctx too, so Stop
// cancels it rather than wait for it: whatever it did not delete, the next
// Reaper deletes.
func (r *Reaper) run(ctx, _ context.Context) {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		n, err := r.store.Reap(ctx, time.Now())
		switch {
		case err != nil && ctx.Err() == nil:
			r.logger.Warn("idempotency: reaping expired keys failed", "error", err.Error())
		case n > 0:
			r.logger.Debug("idempotency: reaped expired keys", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
