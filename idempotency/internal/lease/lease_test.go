package lease

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// The lease is extended once per interval while the holder runs, and not
// after stop has returned.
func TestRenewExtendsEveryIntervalUntilStopped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var ticks []time.Duration
		stop := Renew(20*time.Second, func(now time.Time) error {
			ticks = append(ticks, now.Sub(start))
			return nil
		}, func(err error) bool {
			t.Errorf("failed(%v) called; extend never fails here", err)
			return false
		})
		time.Sleep(70 * time.Second)
		stop()
		want := []time.Duration{20 * time.Second, 40 * time.Second, 60 * time.Second}
		if len(ticks) != len(want) {
			t.Fatalf("extended at %v, want %v", ticks, want)
		}
		for i := range want {
			if ticks[i] != want[i] {
				t.Fatalf("extended at %v, want %v", ticks, want)
			}
		}
		time.Sleep(time.Hour)
		if len(ticks) != len(want) {
			t.Fatalf("extended %d times after stop", len(ticks)-len(want))
		}
	})
}

// A failure that does not lose the lease is reported and retried at the
// next tick; one that loses it ends the renewal.
func TestRenewRetriesUntilTheLeaseIsLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		transient, lost := errors.New("store down"), errors.New("lease lost")
		errs := []error{transient, transient, lost}
		calls := 0
		var reported []error
		stop := Renew(time.Second, func(time.Time) error {
			calls++
			if calls <= len(errs) {
				return errs[calls-1]
			}
			t.Error("extend called after the lease was lost")
			return nil
		}, func(err error) bool {
			reported = append(reported, err)
			return errors.Is(err, lost)
		})
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if calls != 3 || len(reported) != 3 || reported[2] != lost {
			t.Fatalf("extend called %d times, failures reported %v; want 3 and 3 ending with the lost lease", calls, reported)
		}
		stop() // returns although the goroutine has already ended
	})
}
