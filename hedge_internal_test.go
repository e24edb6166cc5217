package rebound

import (
	"testing"
	"time"
)

func TestLatencyBucketsBoundEachDurationWithin12Percent(t *testing.T) {
	prev := -1
	for _, d := range []time.Duration{0, time.Microsecond, 7 * time.Microsecond, 8 * time.Microsecond, 15 * time.Microsecond,
		16 * time.Microsecond, 999 * time.Microsecond, time.Millisecond, 1500 * time.Microsecond, 100 * time.Millisecond,
		time.Second, time.Minute, time.Hour} {
		i := latBucket(d)
		if i < prev {
			t.Fatalf("latBucket(%v) = %d, below the bucket of a shorter duration (%d)", d, i, prev)
		}
		prev = i
		up := latUpper(i)
		if up <= d && d < time.Hour {
			t.Fatalf("latUpper(latBucket(%v)) = %v, not above it", d, up)
		}
		if d >= 8*time.Microsecond && d < time.Hour && float64(up) > float64(d)*1.125+float64(time.Microsecond) {
			t.Fatalf("latUpper(latBucket(%v)) = %v, more than 12.5%% above", d, up)
		}
	}
	if latBucket(10000*time.Hour) != latBuckets-1 {
		t.Fatal("a duration beyond the last bucket is not counted in it")
	}
}

func TestLatenciesForgetWhatLeftTheWindow(t *testing.T) {
	var l latencies
	l.init(0, HedgeConfig{Percentile: 0.5, MinSamples: 2, Window: 10 * time.Second})
	l.record(time.Second, 100*time.Millisecond)
	l.record(time.Second, 100*time.Millisecond)
	if d, ok := l.percentile(time.Second); !ok || d < 100*time.Millisecond || d > 113*time.Millisecond {
		t.Fatalf("percentile = %v, %v; want about 100ms", d, ok)
	}
	// 6 s later the samples are in the older half: still counted.
	l.record(7*time.Second, time.Millisecond)
	if d, ok := l.percentile(7 * time.Second); !ok || d < 100*time.Millisecond {
		t.Fatalf("percentile = %v, %v; want the older half still counted (median 100ms)", d, ok)
	}
	// Over a whole window later, every sample is forgotten.
	l.record(30*time.Second, time.Millisecond)
	if d, ok := l.percentile(30 * time.Second); ok {
		t.Fatalf("percentile = %v with 1 sample in the window, want unknown (MinSamples 2)", d)
	}
}
