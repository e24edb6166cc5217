package main

import (
	"slices"
	"testing"
	"time"
)

// d builds a delivery: arrived and answered are the receiver's event
// counter at arrival and answer.
func d(id string, seq, attempt int, arrived, answered int64, o Outcome) Delivery {
	return Delivery{ID: id, Seq: seq, Attempt: attempt, Arrived: arrived, Answered: answered, Outcome: o}
}

func sent(attempt int) StoreState { return StoreState{State: "sent", Attempt: attempt} }

func TestReckon(t *testing.T) {
	tests := []struct {
		name       string
		acked      map[int]string
		deliveries []Delivery
		store      map[string]StoreState
		want       Ledger // the counts compared; lists by length
		balanced   bool
	}{
		{
			name:       "one message, delivered once",
			acked:      map[int]string{0: "a"},
			deliveries: []Delivery{d("a", 0, 1, 1, 2, OK)},
			store:      map[string]StoreState{"a": sent(1)},
			want:       Ledger{Enqueued: 1, Delivered: 1, Sent: 1},
			balanced:   true,
		},
		{
			name:  "retried after a 503, a reset and a stall",
			acked: map[int]string{0: "a"},
			deliveries: []Delivery{
				d("a", 0, 1, 1, 0, Failed503),
				d("a", 0, 2, 2, 0, Reset),
				d("a", 0, 2, 3, 0, Reset), // net/http replaying on a new connection
				d("a", 0, 3, 4, 6, Stalled),
				d("a", 0, 4, 5, 7, OK),
			},
			store:    map[string]StoreState{"a": sent(4)},
			want:     Ledger{Enqueued: 1, Delivered: 1, Sent: 1, Stalls: 1, Replays: 1},
			balanced: true,
		},
		{
			name:  "a relay killed after the 204 delivers again: a duplicate",
			acked: map[int]string{0: "a", 1: "b"},
			deliveries: []Delivery{
				d("a", 0, 1, 1, 2, OK),
				d("b", 1, 1, 3, 4, OK),
				d("a", 0, 2, 5, 6, OK),
			},
			store:    map[string]StoreState{"a": sent(2), "b": sent(1)},
			want:     Ledger{Enqueued: 2, Delivered: 2, Sent: 2, Duplicates: 1, DuplicateIDs: 1},
			balanced: true,
		},
		{
			name:  "a paused relay took a late 204: a success, not a loss",
			acked: map[int]string{0: "a"},
			deliveries: []Delivery{
				d("a", 0, 1, 1, 3, Stalled),
			},
			store:    map[string]StoreState{"a": sent(1)},
			want:     Ledger{Enqueued: 1, Delivered: 1, Sent: 1, LateAccepted: 1},
			balanced: true,
		},
		{
			name:  "a stale attempt delivered before the newer one succeeded is only a duplicate",
			acked: map[int]string{0: "a"},
			deliveries: []Delivery{
				d("a", 0, 2, 1, 3, OK), // the newer attempt arrives first
				d("a", 0, 1, 2, 4, OK), // the paused relay's request had arrived before attempt 2's answer
			},
			store:    map[string]StoreState{"a": sent(2)},
			want:     Ledger{Enqueued: 1, Delivered: 1, Sent: 1, Duplicates: 1, DuplicateIDs: 1},
			balanced: true,
		},
		{
			name:  "a stale attempt arriving after a newer attempt succeeded breaks fencing",
			acked: map[int]string{0: "a"},
			deliveries: []Delivery{
				d("a", 0, 2, 1, 2, OK),
				d("a", 0, 1, 3, 4, Failed503),
			},
			store:    map[string]StoreState{"a": sent(2)},
			want:     Ledger{Enqueued: 1, Delivered: 1, Sent: 1, StaleAfterSuccess: make([]Stale, 1)},
			balanced: false,
		},
		{
			name:  "a late 204 the relay gave up on does not count as a newer success",
			acked: map[int]string{0: "a"},
			deliveries: []Delivery{
				d("a", 0, 2, 1, 2, Stalled),
				d("a", 0, 1, 3, 4, OK), // attempt 1 held by a relay that had not lost it
			},
			store:    map[string]StoreState{"a": sent(1)},
			want:     Ledger{Enqueued: 1, Delivered: 1, Sent: 1, Stalls: 1, AttemptAhead: make([]string, 1)},
			balanced: false, // but the store's attempt went back: numbers reused
		},
		{
			name:       "sent in the store without the receiver answering that attempt",
			acked:      map[int]string{0: "a"},
			deliveries: []Delivery{d("a", 0, 1, 1, 2, OK), d("a", 0, 2, 3, 0, Failed503)},
			store:      map[string]StoreState{"a": sent(2)},
			want:       Ledger{Enqueued: 1, Delivered: 1, Sent: 1, SentUnacked: make([]string, 1)},
			balanced:   false,
		},
		{
			name:       "acknowledged, never delivered, marked sent: lost",
			acked:      map[int]string{0: "a"},
			deliveries: nil,
			store:      map[string]StoreState{"a": sent(1)},
			want:       Ledger{Enqueued: 1, Sent: 1, Lost: make([]string, 1), SentUnacked: make([]string, 1)},
			balanced:   false,
		},
		{
			name:       "acknowledged, absent from the store: lost",
			acked:      map[int]string{0: "a"},
			deliveries: nil,
			store:      map[string]StoreState{},
			want:       Ledger{Enqueued: 1, Lost: make([]string, 1)},
			balanced:   false,
		},
		{
			name:       "still retrying after the drain",
			acked:      map[int]string{0: "a"},
			deliveries: []Delivery{d("a", 0, 1, 1, 0, Failed503)},
			store:      map[string]StoreState{"a": {State: "retrying", Attempt: 1}},
			want:       Ledger{Enqueued: 1, Pending: 1},
			balanced:   false,
		},
		{
			name:       "dead",
			acked:      map[int]string{0: "a"},
			deliveries: []Delivery{d("a", 0, 1, 1, 0, Failed503)},
			store:      map[string]StoreState{"a": {State: "dead", Attempt: 1}},
			want:       Ledger{Enqueued: 1, Dead: 1},
			balanced:   false,
		},
		{
			name:  "an enqueue written twice: an unknown ID",
			acked: map[int]string{0: "a"},
			deliveries: []Delivery{
				d("x", 0, 1, 1, 2, OK),
				d("a", 0, 1, 3, 4, OK),
			},
			store:    map[string]StoreState{"a": sent(1), "x": sent(1)},
			want:     Ledger{Enqueued: 1, Delivered: 1, Sent: 1, Unknown: make([]Unknown, 1)},
			balanced: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := Reckon(tt.acked, tt.deliveries, tt.store)
			got := []int{l.Enqueued, l.Delivered, l.Dead, l.Pending, l.Sent, l.Duplicates, l.DuplicateIDs, l.Stalls, l.LateAccepted, l.Replays,
				len(l.Lost), len(l.SentUnacked), len(l.AttemptAhead), len(l.Unknown), len(l.StaleAfterSuccess)}
			w := tt.want
			want := []int{w.Enqueued, w.Delivered, w.Dead, w.Pending, w.Sent, w.Duplicates, w.DuplicateIDs, w.Stalls, w.LateAccepted, w.Replays,
				len(w.Lost), len(w.SentUnacked), len(w.AttemptAhead), len(w.Unknown), len(w.StaleAfterSuccess)}
			if !slices.Equal(got, want) {
				t.Errorf("enqueued, delivered, dead, pending, sent, duplicates, duplicate IDs, stalls, late accepted, replays, lost, sent unacked, attempt ahead, unknown, stale:\n got %v\nwant %v", got, want)
			}
			if l.Balanced() != tt.balanced {
				t.Errorf("Balanced() = %v, want %v; problems: %q", l.Balanced(), tt.balanced, l.Problems())
			}
		})
	}
}

func TestReckonNamesTheStaleDelivery(t *testing.T) {
	l := Reckon(map[int]string{0: "a"}, []Delivery{
		d("a", 0, 3, 1, 2, OK),
		d("a", 0, 2, 5, 0, Reset),
	}, map[string]StoreState{"a": sent(3)})
	want := []Stale{{ID: "a", Attempt: 2, OKAfter: 3, Arrived: 5, Answered: 2}}
	if !slices.Equal(l.StaleAfterSuccess, want) {
		t.Fatalf("StaleAfterSuccess = %+v, want %+v", l.StaleAfterSuccess, want)
	}
}

func TestReckonNamesTheDoubledEnqueue(t *testing.T) {
	l := Reckon(map[int]string{7: "a"}, []Delivery{
		d("a", 7, 1, 1, 2, OK),
		d("x", 7, 1, 3, 4, OK),
	}, map[string]StoreState{"a": sent(1), "x": sent(1)})
	want := []Unknown{{ID: "x", Seq: 7, AckedID: "a"}}
	if !slices.Equal(l.Unknown, want) {
		t.Fatalf("Unknown = %+v, want %+v", l.Unknown, want)
	}
}

func TestDecideShares(t *testing.T) {
	f := Faults{Unavailable: 0.20, Reset: 0.05, Stall: 0.05}
	counts := map[Outcome]int{}
	const n = 100_000
	for i := range n {
		counts[f.decide(42, i, 1, 0)]++
	}
	for o, want := range map[Outcome]float64{Failed503: 0.20, Reset: 0.05, Stalled: 0.05, OK: 0.70} {
		if got := float64(counts[o]) / n; got < want-0.01 || got > want+0.01 {
			t.Errorf("%s: share %.3f, want %.2f±0.01", o, got, want)
		}
	}
	if f.decide(42, 5, 2, 0) != f.decide(42, 5, 2, 0) {
		t.Error("the same delivery drew different outcomes")
	}
}

func TestPercentile(t *testing.T) {
	var l []time.Duration
	for i := 1; i <= 100; i++ {
		l = append(l, time.Duration(i)*time.Millisecond)
	}
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{0.50, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := percentile(append([]time.Duration(nil), l...), tt.p); got != tt.want {
			t.Errorf("percentile(%v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("percentile(empty) = %v, want 0", got)
	}
}
