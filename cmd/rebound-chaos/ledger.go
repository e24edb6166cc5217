package main

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Outcome is what the receiver did with one delivery.
type Outcome uint8

const (
	// OK: answered 204 at once. The relay saw a 2xx unless it died first.
	OK Outcome = iota + 1
	// Failed503: answered 503; the relay retries.
	Failed503
	// Reset: the connection was reset after the request was read.
	Reset
	// Stalled: answered 204 only after the delivery timeout, when the
	// relay had given up: the receiver processed a delivery the relay
	// does not know succeeded (a duplicate risk, never a success).
	Stalled
)

func (o Outcome) String() string {
	switch o {
	case OK:
		return "ok"
	case Failed503:
		return "503"
	case Reset:
		return "reset"
	case Stalled:
		return "stall"
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}

// Delivery is the receiver's record of one request.
type Delivery struct {
	ID      string // webhook-id
	Seq     int    // the enqueue sequence number carried in the payload; -1 if unreadable
	Attempt int    // Webhook-Attempt
	// Arrived and Answered order the receiver's events: one counter
	// shared by all of them, taken when the request's body had been read
	// and when its answer was decided.
	Arrived, Answered int64
	Outcome           Outcome
	At                time.Time // when the answer was decided
	// Redelivered: a broker delivered this copy to the consumer again
	// (AMQP: the consumer's ack was lost).
	Redelivered bool
}

// StoreState is a message's final state in the store, as the API lists it.
type StoreState struct {
	State   string // pending, delivering, retrying, sent, dead
	Attempt int
}

// Ledger is the account of a run: what was enqueued against what the
// receiver acknowledged and what the store holds at the end.
type Ledger struct {
	Enqueued  int // acknowledged by the API
	Delivered int // acknowledged IDs with at least one successful delivery (delivered-unique)
	Dead      int // acknowledged IDs dead in the store
	Pending   int // acknowledged IDs pending, retrying or delivering in the store
	Sent      int // acknowledged IDs sent in the store

	// Lost: acknowledged IDs neither delivered nor dead nor pending (the
	// store does not have them, or has them sent without the receiver
	// having acknowledged them).
	Lost []string
	// SentUnacked: sent in the store at attempt A, but the receiver never
	// answered 204 to attempt A: the recorded outcome is not the one the
	// receiver gave that attempt.
	SentUnacked []string
	// AckedByDedupe (a stream): sent in the store at an attempt whose
	// publish JetStream dropped as a duplicate of an earlier attempt's
	// copy, whose ack had been lost. See ReckonStream.
	AckedByDedupe int
	// AttemptAhead: the receiver saw an attempt above the store's final
	// attempt number, so the number was reused.
	AttemptAhead []string
	// Unknown: IDs the receiver got that the API never acknowledged.
	Unknown []Unknown
	// StaleAfterSuccess: deliveries that arrived after a newer attempt of
	// the same message had succeeded.
	StaleAfterSuccess []Stale

	Duplicates   int // successful deliveries beyond the first per ID
	DuplicateIDs int // IDs with more than one successful delivery
	Stalls       int // late 204s the relay did not take: processed after it gave up (duplicate risk)
	LateAccepted int // late 204s the relay took as the delivery (it was paused or slow)
	Replays      int // deliveries repeating an (ID, attempt) already seen: net/http retrying a request on a reused connection
	Outcomes     map[Outcome]int
	Deliveries   int
}

// Unknown is an ID the receiver got that no acknowledged enqueue returned.
type Unknown struct {
	ID  string
	Seq int // the enqueue it carries, -1 if unreadable
	// AckedID is the ID that enqueue was acknowledged with, "" if none:
	// a second ID for one enqueue means the enqueue was written twice.
	AckedID string
}

// Stale is a delivery of an older attempt that arrived after a newer
// attempt of the same message had succeeded.
type Stale struct {
	ID                string
	Attempt, OKAfter  int   // the stale attempt, and the newer one already answered OK
	Arrived, Answered int64 // the stale delivery's arrival, the OK's answer
}

// Balanced reports whether the ledger holds: enqueued = delivered-unique +
// dead + pending, nothing is lost or unknown, dead and pending are zero
// after the drain, and fencing held.
func (l *Ledger) Balanced() bool { return len(l.Problems()) == 0 }

// Problems lists why the ledger does not balance.
func (l *Ledger) Problems() []string {
	var p []string
	if sum := l.Delivered + l.Dead + l.Pending; sum != l.Enqueued || len(l.Lost) > 0 {
		p = append(p, fmt.Sprintf("enqueued %d != delivered %d + dead %d + pending %d; %d lost: %s",
			l.Enqueued, l.Delivered, l.Dead, l.Pending, len(l.Lost), sample(l.Lost)))
	}
	if l.Dead > 0 {
		p = append(p, fmt.Sprintf("%d dead messages (0 expected)", l.Dead))
	}
	if l.Pending > 0 {
		p = append(p, fmt.Sprintf("%d messages still pending after the drain", l.Pending))
	}
	if l.Sent != l.Delivered {
		p = append(p, fmt.Sprintf("the store has %d sent, the receiver acknowledged %d", l.Sent, l.Delivered))
	}
	if len(l.Unknown) > 0 {
		var s []string
		for _, u := range l.Unknown {
			s = append(s, fmt.Sprintf("%s (enqueue %d, acknowledged as %q)", u.ID, u.Seq, u.AckedID))
		}
		p = append(p, fmt.Sprintf("%d unknown IDs received: %s", len(l.Unknown), sample(s)))
	}
	if len(l.SentUnacked) > 0 {
		p = append(p, fmt.Sprintf("%d messages sent in the store at an attempt the receiver did not answer 204: %s", len(l.SentUnacked), sample(l.SentUnacked)))
	}
	if len(l.AttemptAhead) > 0 {
		p = append(p, fmt.Sprintf("%d messages delivered with an attempt above the store's: %s", len(l.AttemptAhead), sample(l.AttemptAhead)))
	}
	if len(l.StaleAfterSuccess) > 0 {
		var s []string
		for _, x := range l.StaleAfterSuccess {
			s = append(s, fmt.Sprintf("%s attempt %d after attempt %d succeeded", x.ID, x.Attempt, x.OKAfter))
		}
		p = append(p, fmt.Sprintf("%d deliveries with a stale lease after a newer attempt succeeded: %s", len(l.StaleAfterSuccess), sample(s)))
	}
	return p
}

func sample(s []string) string {
	const n = 5
	if len(s) <= n {
		return strings.Join(s, ", ")
	}
	return strings.Join(s[:n], ", ") + fmt.Sprintf(", … (%d more)", len(s)-n)
}

// Succeeded reports whether a delivery succeeded: answered 204 in time,
// or late at the attempt the store recorded as sent.
func Succeeded(d *Delivery, store map[string]StoreState) bool {
	if d.Outcome == OK {
		return true
	}
	st, ok := store[d.ID]
	return d.Outcome == Stalled && ok && st.State == "sent" && st.Attempt == d.Attempt
}

// Reckon computes the ledger of a run: acked maps each acknowledged
// enqueue's sequence number to its ID, deliveries is the receiver's
// record, and store the final state of every message the store lists.
//
// A delivery succeeded if the receiver answered it 204 in time (OK), or
// answered it 204 late (Stalled) and the store recorded that very attempt
// as sent: the relay, slowed or paused, still took the late answer.
//
// Reckon is long because it is one pass over the three records that
// classifies every message once; split, each part would walk them again.
func Reckon(acked map[int]string, deliveries []Delivery, store map[string]StoreState) *Ledger {
	l := &Ledger{Enqueued: len(acked), Outcomes: map[Outcome]int{}, Deliveries: len(deliveries)}
	ackedIDs := make(map[string]int, len(acked))
	for seq, id := range acked {
		ackedIDs[id] = seq
	}
	succeeded := func(d *Delivery) bool { return Succeeded(d, store) }

	type perID struct {
		successes int
		answered  map[int]bool // attempts answered 204, in time or late
		maxSeen   int
	}
	by := map[string]*perID{}
	type delivery struct {
		id      string
		attempt int
	}
	seen := map[delivery]bool{}
	unknown := map[string]Unknown{}
	// The stale check walks the receiver's events in order: arrivals, and
	// the answers of successful deliveries.
	type event struct {
		at  int64
		d   *Delivery
		arr bool // an arrival; otherwise a successful answer
	}
	var events []event
	for i := range deliveries {
		d := &deliveries[i]
		l.Outcomes[d.Outcome]++
		if _, ok := ackedIDs[d.ID]; !ok {
			if _, dup := unknown[d.ID]; !dup {
				unknown[d.ID] = Unknown{ID: d.ID, Seq: d.Seq, AckedID: acked[d.Seq]}
			}
		}
		k := delivery{d.ID, d.Attempt}
		if seen[k] {
			l.Replays++
		}
		seen[k] = true
		p := by[d.ID]
		if p == nil {
			p = &perID{answered: map[int]bool{}}
			by[d.ID] = p
		}
		p.maxSeen = max(p.maxSeen, d.Attempt)
		if d.Outcome == OK || d.Outcome == Stalled {
			p.answered[d.Attempt] = true
		}
		switch {
		case succeeded(d):
			p.successes++
			if d.Outcome == Stalled {
				l.LateAccepted++
			}
			events = append(events, event{d.Answered, d, false})
		case d.Outcome == Stalled:
			l.Stalls++
		}
		events = append(events, event{d.Arrived, d, true})
	}
	sort.SliceStable(events, func(i, j int) bool { return events[i].at < events[j].at })
	type best struct {
		attempt int
		at      int64
	}
	okBest := map[string]best{}
	for _, e := range events {
		b, has := okBest[e.d.ID]
		if e.arr {
			if has && e.d.Attempt < b.attempt {
				l.StaleAfterSuccess = append(l.StaleAfterSuccess, Stale{ID: e.d.ID, Attempt: e.d.Attempt, OKAfter: b.attempt, Arrived: e.d.Arrived, Answered: b.at})
			}
			continue
		}
		if !has || e.d.Attempt > b.attempt {
			okBest[e.d.ID] = best{e.d.Attempt, e.at}
		}
	}

	for _, u := range unknown {
		l.Unknown = append(l.Unknown, u)
	}
	sort.Slice(l.Unknown, func(i, j int) bool { return l.Unknown[i].ID < l.Unknown[j].ID })

	ids := make([]string, 0, len(ackedIDs))
	for id := range ackedIDs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		p := by[id]
		st, inStore := store[id]
		delivered := p != nil && p.successes > 0
		if delivered {
			l.Delivered++
			if p.successes > 1 {
				l.Duplicates += p.successes - 1
				l.DuplicateIDs++
			}
		}
		if inStore {
			switch st.State {
			case "sent":
				l.Sent++
				if p == nil || !p.answered[st.Attempt] {
					l.SentUnacked = append(l.SentUnacked, id)
				}
			case "dead":
				l.Dead++
			case "pending", "retrying", "delivering":
				l.Pending++
			}
			if p != nil && p.maxSeen > st.Attempt {
				l.AttemptAhead = append(l.AttemptAhead, id)
			}
		}
		if !delivered && (!inStore || st.State == "sent") {
			l.Lost = append(l.Lost, id)
		}
	}
	return l
}
