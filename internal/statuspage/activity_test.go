package statuspage

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rebound-go/rebound"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestActivityWindows(t *testing.T) {
	type event struct {
		at     time.Duration // after t0
		dest   string
		failed bool
	}
	tests := []struct {
		name   string
		events []event
		now    time.Duration
		dest   string
		window time.Duration
		want   counts
	}{
		{"empty", nil, 0, "a", 5 * time.Minute, counts{}},
		{"one delivery now", []event{{0, "a", false}}, 0, "a", 5 * time.Minute, counts{Delivered: 1}},
		{"deliveries and failures", []event{{0, "a", false}, {time.Second, "a", true}, {2 * time.Second, "a", false}}, 3 * time.Second, "a", 5 * time.Minute, counts{Delivered: 2, Failed: 1}},
		{"other destination not counted", []event{{0, "a", false}, {0, "b", true}}, 0, "a", 5 * time.Minute, counts{Delivered: 1}},
		{"inside 5 minutes", []event{{0, "a", false}}, 4*time.Minute + 59*time.Second, "a", 5 * time.Minute, counts{Delivered: 1}},
		// The window is 30 whole buckets, the current one included: at
		// t0+5m the bucket of t0 is the 31st.
		{"out of 5 minutes", []event{{0, "a", false}}, 5 * time.Minute, "a", 5 * time.Minute, counts{}},
		{"bucket edges", []event{{9 * time.Second, "a", false}, {10 * time.Second, "a", true}}, 10 * time.Second, "a", 10 * time.Second, counts{Failed: 1}},
		{"an hour back", []event{{0, "a", false}, {30 * time.Minute, "a", false}}, time.Hour - time.Second, "a", time.Hour, counts{Delivered: 2}},
		// After an hour the ring reuses the bucket of t0.
		{"rollover", []event{{0, "a", true}, {time.Hour, "a", false}}, time.Hour, "a", time.Hour, counts{Delivered: 1}},
		{"rollover without a new event", []event{{0, "a", true}}, time.Hour, "a", time.Hour, counts{}},
		{"late event older than the ring is dropped", []event{{time.Hour, "a", false}, {0, "a", true}}, time.Hour, "a", time.Hour, counts{Delivered: 1}},
		{"window longer than the ring", []event{{time.Minute, "a", false}}, time.Hour, "a", 3 * time.Hour, counts{Delivered: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewActivity()
			for _, e := range tt.events {
				a.record(e.dest, e.failed, t0.Add(e.at))
			}
			got, known := a.window(tt.dest, t0.Add(tt.now), tt.window)
			if got != tt.want || !known {
				t.Errorf("window = %+v, known %v; want %+v, known", got, known, tt.want)
			}
		})
	}
}

func TestActivityRates(t *testing.T) {
	a := NewActivity()
	// 50 deliveries and 10 failures over the last five minutes, one every
	// 5 s, and older ones that fall outside.
	for i := range 60 {
		a.record("orders", i%6 == 0, t0.Add(time.Duration(i)*5*time.Second))
	}
	a.record("orders", true, t0.Add(-time.Minute))
	r := a.rates("orders", t0.Add(299*time.Second))
	if r.PerMinute != 10 || r.FailureRate != 10.0/60 || !r.Known || !r.Attempts {
		t.Errorf("rates = %+v, want 10/min and 1/6 failing", r)
	}
	if r := a.rates("idle", t0); r.PerMinute != 0 || r.Attempts || !r.Known {
		t.Errorf("idle rates = %+v, want zero and known", r)
	}
}

func TestActivityIsBounded(t *testing.T) {
	a := newActivity(2)
	for _, d := range []string{"a", "b", "c", "d", "a"} {
		a.record(d, false, t0)
	}
	if n := len(a.byDest); n != 2 {
		t.Fatalf("tracked %d destinations, want 2", n)
	}
	for _, tt := range []struct {
		dest  string
		want  counts
		known bool
	}{
		{"a", counts{Delivered: 2}, true},
		{"b", counts{Delivered: 1}, true},
		{"c", counts{}, false},
		{OtherDestination, counts{Delivered: 2}, true},
	} {
		got, known := a.window(tt.dest, t0, time.Minute)
		if got != tt.want || known != tt.known {
			t.Errorf("%s: window = %+v, known %v; want %+v, known %v", tt.dest, got, known, tt.want, tt.known)
		}
	}
	if !a.folded(t0) {
		t.Error("folded = false after folding c and d")
	}
}

func TestActivityPerMinute(t *testing.T) {
	a := NewActivity()
	a.record("a", false, t0.Add(-2*time.Minute))              // two minutes back
	a.record("b", true, t0.Add(-2*time.Minute+5*time.Second)) // same minute
	a.record("a", false, t0)                                  // the current minute
	a.record("a", false, t0.Add(-time.Hour))                  // too old
	got := a.perMinute(t0.Add(5*time.Second), 3)
	want := []counts{{Delivered: 1, Failed: 1}, {}, {Delivered: 1}}
	if len(got) != len(want) {
		t.Fatalf("perMinute = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("minute %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestActivityObservesAttempts(t *testing.T) {
	a := NewActivity()
	ctx := context.Background()
	a.Observe(ctx, rebound.Event{Kind: rebound.AttemptFinished, Endpoint: "a"})
	a.Observe(ctx, rebound.Event{Kind: rebound.AttemptFinished, Endpoint: "a", Class: rebound.Response, Err: errors.New("503")})
	a.Observe(ctx, rebound.Event{Kind: rebound.CallFinished, Endpoint: "a", Result: rebound.ResultSuccess})
	a.Observe(ctx, rebound.Event{Kind: rebound.RetryScheduled, Endpoint: "a", Err: errors.New("503")})
	got, _ := a.window("a", time.Now(), time.Minute)
	if got != (counts{Delivered: 1, Failed: 1}) {
		t.Errorf("window = %+v, want one delivery and one failure", got)
	}
}

// The relay reports an attempt as AttemptFinished and then CallFinished,
// and a message its open breaker holds back as a rejected CallFinished
// alone: each attempt counts once, and a held message not at all.
func TestActivityCountsTheRelaysAttemptsOnce(t *testing.T) {
	a := NewActivity()
	ctx := context.Background()
	failed := errors.New("receiver answered 503")
	for _, e := range []rebound.Event{
		// Delivered at the first attempt.
		{Kind: rebound.AttemptFinished, Endpoint: "d", Attempt: 1},
		{Kind: rebound.CallFinished, Endpoint: "d", Attempt: 1, Result: rebound.ResultSuccess},
		// Failed, to be tried again.
		{Kind: rebound.AttemptFinished, Endpoint: "d", Attempt: 1, Class: rebound.Response, Err: failed},
		{Kind: rebound.RetryScheduled, Endpoint: "d", Attempt: 1, Class: rebound.Response, Err: failed},
		{Kind: rebound.CallFinished, Endpoint: "d", Attempt: 1, Class: rebound.Response, Err: failed, Result: rebound.ResultRetrying},
		// Failed at its last attempt, and dead.
		{Kind: rebound.AttemptFinished, Endpoint: "d", Attempt: 5, Class: rebound.Response, Err: failed},
		{Kind: rebound.CallFinished, Endpoint: "d", Attempt: 2, Class: rebound.Response, Err: failed, Result: rebound.ResultGaveUp, Reason: rebound.ReasonExhausted},
		// Held back by the open breaker, twice: no attempt.
		{Kind: rebound.CallFinished, Endpoint: "d", Result: rebound.ResultRejected, Reason: rebound.ReasonCircuitOpen, Err: rebound.ErrCircuitOpen},
		{Kind: rebound.CallFinished, Endpoint: "d", Result: rebound.ResultRejected, Reason: rebound.ReasonCircuitOpen, Err: rebound.ErrCircuitOpen},
	} {
		a.Observe(ctx, e)
	}
	got, _ := a.window("d", time.Now(), time.Minute)
	if got != (counts{Delivered: 1, Failed: 2}) {
		t.Errorf("window = %+v, want one delivery and two failed attempts", got)
	}
	if r := a.rates("d", time.Now()); r.FailureRate != 2.0/3 {
		t.Errorf("failure rate = %v, want 2 of 3 attempts", r.FailureRate)
	}
}

func TestActivityObserveDoesNotAllocate(t *testing.T) {
	a := NewActivity()
	e := rebound.Event{Kind: rebound.AttemptFinished, Endpoint: "orders"}
	a.Observe(context.Background(), e)
	if n := testing.AllocsPerRun(100, func() { a.Observe(context.Background(), e) }); n != 0 {
		t.Errorf("Observe allocates %v times per call", n)
	}
}

func TestActivityConcurrent(t *testing.T) {
	a := newActivity(4)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				a.record("d"+strconv.Itoa((g+i)%6), i%3 == 0, t0.Add(time.Duration(i)*time.Millisecond))
			}
		})
	}
	wg.Wait()
	var total int64
	for _, d := range []string{"d0", "d1", "d2", "d3", "d4", "d5"} {
		if c, known := a.window(d, t0.Add(time.Second), time.Minute); known {
			total += c.Delivered + c.Failed
		}
	}
	c, _ := a.window(OtherDestination, t0.Add(time.Second), time.Minute)
	if total += c.Delivered + c.Failed; total != 8000 {
		t.Errorf("counted %d attempts, want 8000", total)
	}
}

func BenchmarkActivityObserve(b *testing.B) {
	a := NewActivity()
	e := rebound.Event{Kind: rebound.AttemptFinished, Endpoint: "orders"}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			a.Observe(ctx, e)
		}
	})
}
