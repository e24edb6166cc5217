package statuspage

import (
	"strconv"
	"strings"
	"time"
)

// chartMinutes is the span of the chart.
const chartMinutes = 30

// The chart's geometry, in SVG user units.
const (
	chartWidth  = 600
	chartHeight = 140
	chartLeft   = 40 // room for the y labels
	chartBottom = 20 // room for the x labels
	chartTop    = 8
)

// chart is an SVG line chart of deliveries and failed attempts per minute,
// rendered on the server: no script draws it.
type chart struct {
	Width, Height   int
	Delivered       string // polyline points
	Failed          string
	Max             int64 // the top of the y axis
	Top, Base, Left int
	Right           int
	XLabels         []axisLabel
	Bars            []chartBar // hover targets, one per minute
}

type axisLabel struct {
	X      int
	Text   string
	Anchor string // text-anchor: the last label ends at the right edge
}

type chartBar struct {
	X, Y, W, H int
	Title      string
}

func newChart(points []counts, now time.Time) chart {
	c := chart{
		Width: chartWidth, Height: chartHeight,
		Top: chartTop, Base: chartHeight - chartBottom, Left: chartLeft, Right: chartWidth - 4,
	}
	var top int64
	for _, p := range points {
		top = max(top, p.Delivered, p.Failed)
	}
	c.Max = niceCeil(top)
	n := len(points)
	if n == 0 {
		return c
	}
	step := float64(c.Right-c.Left) / float64(max(n-1, 1))
	x := func(i int) float64 { return float64(c.Left) + step*float64(i) }
	y := func(v int64) float64 {
		return float64(c.Base) - float64(v)/float64(c.Max)*float64(c.Base-c.Top)
	}
	var d, f strings.Builder
	for i, p := range points {
		if i > 0 {
			d.WriteByte(' ')
			f.WriteByte(' ')
		}
		d.WriteString(coord(x(i)) + "," + coord(y(p.Delivered)))
		f.WriteString(coord(x(i)) + "," + coord(y(p.Failed)))
		start := now.Add(-time.Duration(n-i) * time.Minute).UTC()
		c.Bars = append(c.Bars, chartBar{
			X: int(x(i) - step/2), Y: c.Top, W: int(step + 0.5), H: c.Base - c.Top,
			Title: start.Format("15:04") + "–" + start.Add(time.Minute).Format("15:04") + " UTC: " +
				strconv.FormatInt(p.Delivered, 10) + " delivered, " + strconv.FormatInt(p.Failed, 10) + " failed",
		})
	}
	c.Delivered, c.Failed = d.String(), f.String()
	for _, back := range []int{30, 20, 10, 0} {
		if i := n - 1 - back; i >= 0 {
			l := axisLabel{X: int(x(i)), Text: "now", Anchor: "end"}
			if back > 0 {
				l.Text, l.Anchor = "−"+strconv.Itoa(back)+" min", "middle"
			}
			c.XLabels = append(c.XLabels, l)
		}
	}
	return c
}

// niceCeil rounds a maximum up to 1, 2 or 5 times a power of ten, at least
// 1, so that the axis reads well.
func niceCeil(v int64) int64 {
	for m := int64(1); ; m *= 10 {
		for _, f := range []int64{1, 2, 5} {
			if v <= f*m {
				return f * m
			}
		}
	}
}

func coord(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
