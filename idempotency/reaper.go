package idempotency

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// DefaultReapInterval is how often a zero Reaper.Interval reaps.
const DefaultReapInterval = time.Hour

// Reaper deletes expired keys from a Store every Interval: a start/stop
// service. Stores whose keys expire by themselves (Redis, MemoryStore)
// need none.
type Reaper struct {
	// Store is reaped. Required.
	Store Store
	// Interval between reaps. Default 1 h.
	Interval time.Duration
	// Logger receives reap failures. Default slog.Default().
	Logger *slog.Logger

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// Start reaps once at once, then every Interval, until Stop or until ctx
// ends. Starting a started Reaper is an error.
func (r *Reaper) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Store == nil {
		return errors.New("idempotency: Reaper.Store is required")
	}
	if r.done != nil {
		return errors.New("idempotency: Reaper already started")
	}
	interval, logger := r.Interval, r.Logger
	if interval <= 0 {
		interval = DefaultReapInterval
	}
	if logger == nil {
		logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(ctx)
	r.cancel, r.done = cancel, make(chan struct{})
	go func(done chan struct{}) {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if n, err := r.Store.Reap(ctx, time.Now()); err != nil && ctx.Err() == nil {
				logger.Warn("idempotency: reaping expired keys failed", "error", err.Error())
			} else if n > 0 {
				logger.Debug("idempotency: reaped expired keys", "count", n)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}(r.done)
	return nil
}

// Stop ends the reaper and waits for it, or for ctx. Stopping a stopped or
// never started Reaper is fine.
func (r *Reaper) Stop(ctx context.Context) error {
	r.mu.Lock()
	cancel, done := r.cancel, r.done
	r.mu.Unlock()
	if done == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
