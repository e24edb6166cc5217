package promtest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestValue(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c_total"}, []string{"a", "b"})
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "h"})
	reg.MustRegister(c, h)
	c.WithLabelValues("1", "2").Add(3)
	c.WithLabelValues("1", "3").Add(5)
	h.Observe(1)
	h.Observe(2)
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
		ok     bool
	}{
		{"c_total", map[string]string{"a": "1", "b": "2"}, 3, true},
		{"c_total", map[string]string{"a": "1", "b": "3"}, 5, true},
		{"c_total", map[string]string{"a": "1"}, 0, false},           // a subset is not a match
		{"c_total", map[string]string{"a": "1", "c": "2"}, 0, false}, // other label names
		{"h", nil, 2, true},
		{"missing", nil, 0, false},
	} {
		got, ok := Value(t, reg, tc.name, tc.labels)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Value(%s%v) = %v, %v; want %v, %v", tc.name, tc.labels, got, ok, tc.want, tc.ok)
		}
	}
}
