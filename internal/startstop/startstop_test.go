package startstop_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound/internal/startstop"
)

func TestStopWaitsForTheGoroutine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var s startstop.Service
		var ended time.Duration
		start := time.Now()
		if err := s.Start(context.Background(), "svc", func(ctx, work context.Context) {
			<-ctx.Done()
			time.Sleep(2 * time.Second) // winding down
			ended = time.Since(start)
		}); err != nil {
			t.Fatal(err)
		}
		if !s.Running() {
			t.Fatal("not running after Start")
		}
		if err := s.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if ended != 2*time.Second || time.Since(start) != 2*time.Second || s.Running() {
			t.Fatalf("Stop returned at %v, the goroutine ended at %v; want both at 2s", time.Since(start), ended)
		}
		if err := s.Stop(context.Background()); err != nil {
			t.Fatalf("second Stop: %v", err)
		}
	})
}

func TestStopPastItsContextCancelsWorkAndStillWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var s startstop.Service
		start := time.Now()
		var cause error
		_ = s.Start(context.Background(), "svc", func(ctx, work context.Context) {
			<-ctx.Done()
			cause = context.Cause(ctx)
			select {
			case <-work.Done(): // in-flight work canceled
				time.Sleep(time.Second) // releasing it
			case <-time.After(time.Hour):
			}
		})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := s.Stop(ctx)
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 6*time.Second || s.Running() {
			t.Fatalf("Stop: %v after %v; want the deadline's error after 6s (5s, then 1s to release), with the goroutine ended", err, time.Since(start))
		}
		if !errors.Is(cause, startstop.ErrStopping) {
			t.Fatalf("run's context ended with %v, want ErrStopping", cause)
		}
	})
}

func TestStartTwiceAndStartAfterStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var s startstop.Service
		run := func(ctx, _ context.Context) { <-ctx.Done() }
		if err := s.Stop(context.Background()); err != nil {
			t.Fatalf("Stop before Start: %v", err)
		}
		if err := s.Start(context.Background(), "svc", run); err != nil {
			t.Fatalf("Start after a Stop of a service never started: %v", err)
		}
		if err := s.Start(context.Background(), "svc", run); err == nil || !strings.Contains(err.Error(), "svc already started") {
			t.Fatalf("second Start: %v", err)
		}
		_ = s.Stop(context.Background())
		if err := s.Start(context.Background(), "svc", run); err == nil || !strings.Contains(err.Error(), "svc was stopped") {
			t.Fatalf("Start after Stop: %v", err)
		}
	})
}

func TestTheStartContextEndingStopsTheRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var s startstop.Service
		ctx, cancel := context.WithCancel(context.Background())
		_ = s.Start(ctx, "svc", func(ctx, work context.Context) {
			<-ctx.Done()
			if work.Err() != nil {
				t.Error("work canceled with the start context; it ends only when Stop's context does")
			}
		})
		cancel()
		synctest.Wait()
		if s.Running() {
			t.Fatal("still running after its start context ended")
		}
		_ = s.Stop(context.Background())
	})
}
