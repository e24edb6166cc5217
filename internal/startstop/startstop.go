// Package startstop is the one lifecycle of rebound's background services
// (outbox.Relay, alert.Alerter, idempotency.Reaper): Start launches the
// service's goroutine; Stop asks it to finish, lets it until Stop's context
// ends, then cancels what it still runs, and returns only once it has
// ended. A service starts once: Start after Stop is an error that says so.
package startstop

import (
	"context"
	"errors"
	"sync"
)

// Service runs one background goroutine. The zero value is ready to use,
// once; it is safe for concurrent use.
type Service struct {
	mu      sync.Mutex
	stopped bool
	stop    context.CancelCauseFunc // asks run to finish
	abort   context.CancelFunc      // cancels what run still does
	done    chan struct{}
}

// ErrStopping is the cause of the context run gets when Stop is called.
var ErrStopping = errors.New("stopping")

// Start runs run on a goroutine of its own, with two contexts: ctx, which
// ends when Stop is called (or the ctx given to Start ends), after which run
// should wind down and return; and work, which ends only when Stop's own
// context ends first, cancelling work still in flight. name prefixes the
// errors ("outbox: Relay").
func (s *Service) Start(ctx context.Context, name string, run func(ctx, work context.Context)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.stopped:
		return errors.New(name + " was stopped; a stopped service cannot start again, create a new one")
	case s.done != nil:
		return errors.New(name + " already started")
	}
	runCtx, stop := context.WithCancelCause(ctx)
	work, abort := context.WithCancel(context.WithoutCancel(ctx))
	s.stop, s.abort, s.done = stop, abort, make(chan struct{})
	go func(done chan struct{}) {
		defer close(done)
		defer abort()
		run(runCtx, work)
	}(s.done)
	return nil
}

// Stop asks run to finish and waits for it until ctx ends; then it cancels
// run's work and still waits for run to return, and reports ctx's error.
// Stopping twice, or a service never started, is fine.
func (s *Service) Stop(ctx context.Context) error {
	s.mu.Lock()
	done, stop, abort := s.done, s.stop, s.abort
	s.stopped = s.stopped || done != nil
	s.mu.Unlock()
	if done == nil {
		return nil
	}
	stop(ErrStopping)
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		abort()
		<-done
		return ctx.Err()
	}
}

// Running reports whether the service was started and has not ended.
func (s *Service) Running() bool {
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}
