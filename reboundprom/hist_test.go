package reboundprom

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// The durations histogram exposes what client_golang's classic histogram
// does for the same observations: bucket counts (bounds inclusive), sum
// and count.
func TestDurationsMatchClientGolang(t *testing.T) {
	ours := newDurations("d_seconds", "help", []string{"endpoint"}, DefaultBuckets)
	s := ours.with("e")
	theirs := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "d_seconds", Help: "help", Buckets: DefaultBuckets})
	for _, v := range []time.Duration{
		0, -time.Second, time.Nanosecond, 5 * time.Millisecond, 5*time.Millisecond + 1,
		75 * time.Millisecond, 75*time.Millisecond + 1, time.Second, 119 * time.Second, 120 * time.Second, time.Hour,
	} {
		ours.observe(s, v)
		theirs.Observe(max(v, 0).Seconds())
	}
	var want dto.Metric
	if err := theirs.Write(&want); err != nil {
		t.Fatal(err)
	}
	ch := make(chan prometheus.Metric, 1)
	ours.Collect(ch)
	var got dto.Metric
	if err := (<-ch).Write(&got); err != nil {
		t.Fatal(err)
	}
	g, w := got.GetHistogram(), want.GetHistogram()
	if g.GetSampleCount() != w.GetSampleCount() || g.GetSampleSum() != w.GetSampleSum() {
		t.Fatalf("count %d sum %g; want %d %g", g.GetSampleCount(), g.GetSampleSum(), w.GetSampleCount(), w.GetSampleSum())
	}
	for i, b := range w.GetBucket() {
		if gb := g.GetBucket()[i]; gb.GetUpperBound() != b.GetUpperBound() || gb.GetCumulativeCount() != b.GetCumulativeCount() {
			t.Errorf("bucket le=%g: %d; want %d", b.GetUpperBound(), gb.GetCumulativeCount(), b.GetCumulativeCount())
		}
	}
	if l := got.GetLabel(); len(l) != 1 || l[0].GetValue() != "e" {
		t.Errorf("labels %v", l)
	}
}

func TestBucketsValidated(t *testing.T) {
	for _, b := range [][]float64{{1, 1}, {2, 1}, {0, 1}, {-1}} {
		if _, err := New(Config{Registerer: prometheus.NewRegistry(), Buckets: b}); err == nil {
			t.Errorf("buckets %v accepted", b)
		}
	}
}
