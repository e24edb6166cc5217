package rebound_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/rebound-go/rebound"
)

func TestExponentialTable(t *testing.T) {
	s := time.Second
	cases := []struct {
		name  string
		b     rebound.Exponential
		retry int
		prev  time.Duration
		u     float64
		want  time.Duration
	}{
		{"default first, no jitter", rebound.Exponential{Jitter: rebound.NoJitter}, 1, 0, 0.7, 1 * s},
		{"default second", rebound.Exponential{Jitter: rebound.NoJitter}, 2, 0, 0.7, 2 * s},
		{"default fourth", rebound.Exponential{Jitter: rebound.NoJitter}, 4, 0, 0.7, 8 * s},
		{"default capped", rebound.Exponential{Jitter: rebound.NoJitter}, 5, 0, 0.7, 10 * s},
		{"huge retry saturates", rebound.Exponential{Jitter: rebound.NoJitter}, 1 << 30, 0, 0.7, 10 * s},
		{"full jitter low", rebound.Exponential{}, 3, 0, 0, 0},
		{"full jitter mid", rebound.Exponential{}, 3, 0, 0.25, 1 * s},
		{"full jitter capped", rebound.Exponential{}, 9, 0, 0.5, 5 * s},
		{"equal jitter low", rebound.Exponential{Jitter: rebound.EqualJitter}, 3, 0, 0, 2 * s},
		{"equal jitter high", rebound.Exponential{Jitter: rebound.EqualJitter}, 3, 0, 0.5, 3 * s},
		{"decorrelated first", rebound.Exponential{Jitter: rebound.DecorrelatedJitter}, 1, 0, 0.5, 2 * s},
		{"decorrelated from prev", rebound.Exponential{Jitter: rebound.DecorrelatedJitter}, 2, 2 * s, 0.5, 3500 * time.Millisecond},
		{"decorrelated capped", rebound.Exponential{Jitter: rebound.DecorrelatedJitter}, 3, 9 * s, 1, 10 * s},
		{"custom multiplier", rebound.Exponential{Initial: 100 * time.Millisecond, Max: time.Minute, Multiplier: 3, Jitter: rebound.NoJitter}, 3, 0, 0, 900 * time.Millisecond},
		{"multiplier one is constant", rebound.Exponential{Initial: s, Multiplier: 1, Jitter: rebound.NoJitter}, 7, 0, 0, s},
		{"max below initial", rebound.Exponential{Initial: 5 * s, Max: s, Jitter: rebound.NoJitter}, 1, 0, 0, 5 * s},
	}
	for _, tc := range cases {
		if got := tc.b.Delay(tc.retry, tc.prev, tc.u); got != tc.want {
			t.Errorf("%s: Delay(%d, %v, %v) = %v, want %v", tc.name, tc.retry, tc.prev, tc.u, got, tc.want)
		}
	}
	if got := rebound.Constant(3*s).Delay(9, 0, 0.9); got != 3*s {
		t.Errorf("Constant = %v", got)
	}
	f := rebound.BackoffFunc(func(retry int, prev time.Duration, u float64) time.Duration { return time.Duration(retry) * s })
	if got := f.Delay(4, 0, 0); got != 4*s {
		t.Errorf("BackoffFunc = %v", got)
	}
}

// Every wait lies within its bounds, whatever the draw and the retry count.
func TestBackoffBoundsProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		initial := time.Duration(1+r.IntN(5000)) * time.Millisecond
		maxD := initial + time.Duration(r.IntN(60000))*time.Millisecond
		j := rebound.Jitter(r.IntN(4))
		b := rebound.Exponential{Initial: initial, Max: maxD, Multiplier: 1 + 3*r.Float64(), Jitter: j}
		retry := 1 + r.IntN(100)
		prev := time.Duration(r.Int64N(int64(2 * maxD)))
		u := r.Float64()
		d := b.Delay(retry, prev, u)
		lo := time.Duration(0)
		if j == rebound.DecorrelatedJitter {
			lo = initial
		}
		if j == rebound.NoJitter {
			lo = min(initial, maxD)
		}
		if d < lo || d > maxD {
			t.Fatalf("%+v.Delay(%d, %v, %v) = %v, outside [%v, %v]", b, retry, prev, u, d, lo, maxD)
		}
		// The undrawn delay bounds the jittered one from above.
		if j == rebound.FullJitter || j == rebound.EqualJitter {
			exact := rebound.Exponential{Initial: initial, Max: maxD, Multiplier: b.Multiplier, Jitter: rebound.NoJitter}.Delay(retry, 0, 0)
			if d > exact {
				t.Fatalf("jittered %v above the exact delay %v", d, exact)
			}
			if j == rebound.EqualJitter && d < exact/2 {
				t.Fatalf("equal jitter %v below half of %v", d, exact)
			}
		}
	}
}

func TestExponentialValidate(t *testing.T) {
	if err := (rebound.Exponential{}).Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (rebound.Exponential{Jitter: 9}).Validate(); err == nil {
		t.Fatal("bad jitter accepted")
	}
	if err := (rebound.Exponential{Max: -1}).Validate(); err == nil {
		t.Fatal("negative max accepted")
	}
}
