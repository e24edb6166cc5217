package bench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rebound-go/rebound/outbox"
)

// The per-message timeline of rebound's relay in a benchmark: when each
// message's claim began and returned, when its worker started and ended
// the send, and the last notification before its claim. A steady run
// splits every message's commit → arrival latency into these stages and
// reports, for the messages over 100 ms, which stage took the time.

// timelineSize bounds the messages a timeline records (by messageIndex).
const timelineSize = 1 << 17

// stamps are one message's moments, in Unix nanoseconds (0: not seen).
type stamps struct {
	wake, claimStart, claimEnd, sendStart, sendEnd atomic.Int64
}

// timeline records stamps by message index, and the notifications. A nil
// timeline records nothing.
type timeline struct {
	msgs     []stamps
	lastWake atomic.Int64 // the last Wait that returned
}

func newTimeline() *timeline { return &timeline{msgs: make([]stamps, timelineSize)} }

func (t *timeline) of(id string) *stamps {
	if i := messageIndex(id); i >= 0 && i < len(t.msgs) {
		return &t.msgs[i]
	}
	return nil
}

// claimed stamps the messages of one claim.
func (t *timeline) claimed(ds []outbox.Delivery, start, end time.Time) {
	if t == nil {
		return
	}
	wake := t.lastWake.Load()
	for _, d := range ds {
		if s := t.of(d.ID); s != nil && s.claimStart.Load() == 0 {
			s.wake.Store(wake)
			s.claimStart.Store(start.UnixNano())
			s.claimEnd.Store(end.UnixNano())
		}
	}
}

// timedSender stamps the start and end of every first send.
type timedSender struct {
	outbox.Sender
	tl *timeline
}

func (s timedSender) Send(ctx context.Context, d outbox.Delivery) error {
	st := s.tl.of(d.ID)
	if st != nil {
		st.sendStart.CompareAndSwap(0, time.Now().UnixNano())
	}
	err := s.Sender.Send(ctx, d)
	if st != nil {
		st.sendEnd.CompareAndSwap(0, time.Now().UnixNano())
	}
	return err
}

// stage names, in the order a message passes them.
var stageNames = []string{
	"commit→claim", // waiting to be claimed: notification, claim loop
	"claim",        // the claim statement
	"queue",        // claimed, waiting for a worker
	"send→arrival", // the worker's HTTP request until the receiver has it
}

// stageReport splits the latency of the messages of one steady run from
// the first-th on, whose i-th committed at commits[i] and arrived at
// arrivals[i] (zero when unknown), into stages: the distribution of each over all messages,
// and for those over slow, the stage that took the most of it.
func (t *timeline) stageReport(commits, arrivals []time.Time, first int, slow time.Duration) string {
	n := min(len(commits), len(t.msgs)-first)
	per := make([][]time.Duration, len(stageNames))
	blame := make([]int, len(stageNames))
	noWake, slowN := 0, 0
	bySecond := map[int]int{} // slow messages by the second of the run they committed in
	var worst []string
	for i := range n {
		s := &t.msgs[first+i]
		c, a := commits[i], arrivals[i]
		if c.IsZero() || a.IsZero() || s.claimStart.Load() == 0 || s.sendStart.Load() == 0 {
			continue
		}
		at := func(v *atomic.Int64) time.Time { return time.Unix(0, v.Load()) }
		d := []time.Duration{
			at(&s.claimStart).Sub(c),
			at(&s.claimEnd).Sub(at(&s.claimStart)),
			at(&s.sendStart).Sub(at(&s.claimEnd)),
			a.Sub(at(&s.sendStart)),
		}
		for k := range d {
			per[k] = append(per[k], d[k])
		}
		if a.Sub(c) <= slow {
			continue
		}
		slowN++
		bySecond[int(c.Sub(commits[0]).Seconds())]++
		k := 0
		for j := range d {
			if d[j] > d[k] {
				k = j
			}
		}
		blame[k]++
		if w := s.wake.Load(); w == 0 || time.Unix(0, w).Before(c) {
			noWake++ // claimed without a notification after its commit
		}
		if len(worst) < 5 {
			var b strings.Builder
			fmt.Fprintf(&b, "%s %.0f ms:", messageID(first+i), ms(a.Sub(c)))
			for j := range d {
				fmt.Fprintf(&b, " %s %.1f", stageNames[j], ms(d[j]))
			}
			worst = append(worst, b.String())
		}
	}
	var b strings.Builder
	for k, name := range stageNames {
		ds := sortedDurations(per[k])
		fmt.Fprintf(&b, "\n\t%-13s p50 %6.2f  p99 %7.2f  max %7.2f ms", name, ms(percentile(ds, .5)), ms(percentile(ds, .99)), ms(percentile(ds, 1)))
	}
	fmt.Fprintf(&b, "\n\tover %v: %d messages; most of the time in:", slow, slowN)
	for k, name := range stageNames {
		fmt.Fprintf(&b, " %s %d,", name, blame[k])
	}
	fmt.Fprintf(&b, " claimed with no notification after their commit: %d; by second of the run:", noWake)
	secs := make([]int, 0, len(bySecond))
	for sec := range bySecond {
		secs = append(secs, sec)
	}
	sort.Ints(secs)
	for _, sec := range secs {
		fmt.Fprintf(&b, " %ds:%d", sec, bySecond[sec])
	}
	if len(worst) > 0 {
		b.WriteString("\n\tfirst slow ones: " + strings.Join(worst, "\n\t                 "))
	}
	return b.String()
}

// distribution is the summary of a latency distribution a recorded table
// gives: p50, p90, p99, p99.9, max, and the count over 100 ms.
type distribution struct {
	p50, p90, p99, p999, max time.Duration
	over100                  int
	n                        int
}

func distributionOf(lat []time.Duration) distribution {
	s := sortedDurations(lat)
	d := distribution{n: len(s),
		p50: percentile(s, .50), p90: percentile(s, .90), p99: percentile(s, .99),
		p999: percentile(s, .999), max: percentile(s, 1)}
	d.over100 = len(s) - sort.Search(len(s), func(i int) bool { return s[i] > 100*time.Millisecond })
	return d
}

func (d distribution) String() string {
	return fmt.Sprintf("p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, p99.9 %.1f ms, max %.1f ms, %d of %d over 100 ms",
		ms(d.p50), ms(d.p90), ms(d.p99), ms(d.p999), ms(d.max), d.over100, d.n)
}

// machine names the machine a result was measured on: its CPU count and
// model, as /proc/cpuinfo gives it (where there is one).
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%d × %s", runtime.NumCPU(), model)
}
