package rebound_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound"
)

// untimedObserver records events and says it reads no durations.
type untimedObserver struct {
	events []rebound.Event
	untime bool
}

func (o *untimedObserver) Observe(_ context.Context, e rebound.Event) { o.events = append(o.events, e) }
func (o *untimedObserver) Untimed() bool                              { return o.untime }

// An Observer that reads no durations spares Do the clock when the first
// attempt succeeds: its events carry 0 where a timed observer's carry the
// attempt's second. Observers of several is untimed only when all are.
func TestUntimedObserverSparesTheClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		run := func(obs rebound.Observer) {
			t.Helper()
			_, err := rebound.Do(context.Background(), rebound.Policy{Observer: obs}, func(context.Context) (int, error) {
				time.Sleep(time.Second)
				return 1, nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		untimed := &untimedObserver{untime: true}
		run(untimed)
		timed := &untimedObserver{untime: false}
		run(timed)
		if len(untimed.events) != 2 || untimed.events[0].Duration != 0 || untimed.events[1].Elapsed != 0 {
			t.Fatalf("untimed observer got %+v, want two events with no durations", untimed.events)
		}
		if len(timed.events) != 2 || timed.events[0].Duration != time.Second || timed.events[1].Elapsed != time.Second {
			t.Fatalf("an observer whose Untimed is false got %+v, want the attempt's second", timed.events)
		}

		both := &untimedObserver{untime: true}
		run(rebound.Observers(both, &untimedObserver{untime: true}))
		if both.events[0].Duration != 0 {
			t.Fatalf("Observers of two untimed observers was timed: %+v", both.events[0])
		}
		mixed := &untimedObserver{untime: true}
		run(rebound.Observers(mixed, rebound.ObserverFunc(func(context.Context, rebound.Event) {})))
		if mixed.events[0].Duration != time.Second {
			t.Fatalf("Observers with a timed observer was untimed: %+v", mixed.events[0])
		}

		// A failing first attempt is timed from the second on, as without
		// an observer: the retry's events have their durations.
		retried := &untimedObserver{untime: true}
		n := 0
		_, _ = rebound.Do(context.Background(), rebound.Policy{Observer: retried, Backoff: rebound.Constant(0)}, func(context.Context) (int, error) {
			time.Sleep(time.Second)
			if n++; n == 1 {
				return 0, rebound.Transient(context.DeadlineExceeded)
			}
			return 1, nil
		})
		last := retried.events[len(retried.events)-2] // the second AttemptFinished
		if last.Kind != rebound.AttemptFinished || last.Duration != time.Second {
			t.Fatalf("the retry's attempt event %+v, want its second", last)
		}
	})
}
