package statuspage

import (
	"testing"
	"time"
)

func TestNiceCeil(t *testing.T) {
	for _, tt := range []struct{ in, want int64 }{
		{0, 1}, {1, 1}, {2, 2}, {3, 5}, {5, 5}, {6, 10}, {11, 20}, {21, 50}, {51, 100}, {999, 1000}, {1001, 2000},
	} {
		if got := niceCeil(tt.in); got != tt.want {
			t.Errorf("niceCeil(%d) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestChart(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC)
	c := newChart([]counts{{}, {Delivered: 5, Failed: 1}, {Delivered: 10, Failed: 2}}, now)
	if c.Max != 10 {
		t.Errorf("Max = %d, want 10", c.Max)
	}
	// x runs from Left (40) to Right (596) in two steps; y from Base (120)
	// up to Top (8).
	if want := "40.0,120.0 318.0,64.0 596.0,8.0"; c.Delivered != want {
		t.Errorf("Delivered = %q, want %q", c.Delivered, want)
	}
	if want := "40.0,120.0 318.0,108.8 596.0,97.6"; c.Failed != want {
		t.Errorf("Failed = %q, want %q", c.Failed, want)
	}
	if len(c.Bars) != 3 || c.Bars[2].Title != "12:29–12:30 UTC: 10 delivered, 2 failed" {
		t.Errorf("bars = %+v", c.Bars)
	}
	if len(c.XLabels) != 1 || c.XLabels[0].Text != "now" {
		t.Errorf("x labels = %+v, want only now", c.XLabels)
	}
	if empty := newChart(nil, now); empty.Delivered != "" || empty.Max != 1 {
		t.Errorf("empty chart = %+v", empty)
	}
}
