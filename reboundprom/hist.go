package reboundprom

import (
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// durations is a histogram vector of durations, made for the per-call path:
// each series is an array of atomic bucket counters and a sum in integer
// nanoseconds, exposed at scrape time as a constant histogram. Observing
// is a search over integer bounds and two atomic adds, no float
// arithmetic and no compare-and-swap loop. The exposition is the same as
// client_golang's classic histogram: _bucket{le}, _sum in seconds, _count.
type durations struct {
	desc   *prometheus.Desc
	bounds []float64 // seconds, ascending
	ns     []int64   // the same bounds in nanoseconds

	mu     sync.Mutex
	series []*durSeries
}

// durSeries is one label combination of a durations vector.
type durSeries struct {
	labels []string
	counts []atomic.Uint64 // per bucket, not cumulative; the last is +Inf
	sum    atomic.Int64    // nanoseconds
}

func checkBuckets(b []float64) error {
	for i, v := range b {
		if math.IsNaN(v) || v <= 0 || (i > 0 && v <= b[i-1]) {
			return errors.New("want positive, strictly increasing bucket bounds")
		}
	}
	return nil
}

func newDurations(name, help string, labels []string, buckets []float64) *durations {
	d := &durations{
		desc:   prometheus.NewDesc(name, help, labels, nil),
		bounds: buckets,
		ns:     make([]int64, len(buckets)),
	}
	for i, b := range buckets {
		if b*1e9 >= math.MaxInt64 {
			d.ns[i] = math.MaxInt64
		} else {
			d.ns[i] = int64(math.Round(b * 1e9))
		}
	}
	return d
}

// with returns a new series for the label values; callers create each
// combination once.
func (d *durations) with(lvs ...string) *durSeries {
	s := &durSeries{labels: lvs, counts: make([]atomic.Uint64, len(d.ns)+1)}
	d.mu.Lock()
	d.series = append(d.series, s)
	d.mu.Unlock()
	return s
}

// observe records one duration of the series of d.
func (d *durations) observe(s *durSeries, v time.Duration) {
	n := max(int64(v), 0)
	i := 0
	for i < len(d.ns) && n > d.ns[i] {
		i++
	}
	s.counts[i].Add(1)
	s.sum.Add(n)
}

// Describe implements prometheus.Collector.
func (d *durations) Describe(ch chan<- *prometheus.Desc) { ch <- d.desc }

// Collect implements prometheus.Collector.
func (d *durations) Collect(ch chan<- prometheus.Metric) {
	d.mu.Lock()
	series := d.series[:len(d.series):len(d.series)]
	d.mu.Unlock()
	for _, s := range series {
		buckets := make(map[float64]uint64, len(d.bounds))
		var cum uint64
		for i, b := range d.bounds {
			cum += s.counts[i].Load()
			buckets[b] = cum
		}
		count := cum + s.counts[len(d.bounds)].Load()
		ch <- prometheus.MustNewConstHistogram(d.desc, count, float64(s.sum.Load())/1e9, buckets, s.labels...)
	}
}
