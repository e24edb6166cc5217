package outbox

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/rebound-go/rebound"
)

// Completion is one delivery to record as sent: the message, the attempt that
// delivered it, and when the receiver acknowledged it.
type Completion struct {
	ID      string
	Attempt int
	At      time.Time
}

// BatchCompleter is implemented by stores that record many deliveries in
// one write (outbox/postgres and outbox/sqlite do). A Relay whose Store is
// one records its deliveries in batches: each delivery hands its outcome
// over and frees its worker at once, and one writer records whatever has
// gathered meanwhile, in one statement and one commit, while the next batch
// gathers. An idle relay records a lone delivery at once; a busy one
// records hundreds per commit. Retries, dead messages and releases are
// recorded one at a time, as without it.
//
// The Store interface is unchanged: a store that is not a BatchCompleter
// gets one MarkSent per delivery.
type BatchCompleter interface {
	// MarkSentBatch records every delivery in sent as MarkSent would,
	// each fenced by its (ID, Attempt) and changed only while delivering,
	// in one transaction. stale[i] reports that sent[i] was not recorded
	// because its attempt no longer holds the message (MarkSent's
	// ErrStale); the others were. On an error nothing was recorded, and
	// the whole batch may be written again: what did land reports stale.
	MarkSentBatch(ctx context.Context, sent []Completion) (stale []bool, err error)
}

// maxCompleteBatch bounds the deliveries recorded by one MarkSentBatch.
const maxCompleteBatch = 1000

// queued is a delivery waiting to be recorded as sent.
type queued struct {
	d  Delivery
	at time.Time
}

// completer records deliveries in batches, on one goroutine: it takes what
// has gathered (up to maxCompleteBatch), writes it, and starts again.
type completer struct {
	r     *Relay
	store BatchCompleter
	in    chan queued
	done  chan struct{}
}

func newCompleter(r *Relay, store BatchCompleter) *completer {
	return &completer{
		r:     r,
		store: store,
		// A full queue makes deliveries wait before freeing their
		// workers: a slow store slows claiming instead of piling up
		// outcomes.
		in:   make(chan queued, maxCompleteBatch),
		done: make(chan struct{}),
	}
}

// add queues a delivery; it waits while the queue is full.
func (c *completer) add(d Delivery, at time.Time) { c.in <- queued{d, at} }

// close records what is queued and returns once it is written.
func (c *completer) close() {
	close(c.in)
	<-c.done
}

func (c *completer) run(ctx context.Context) {
	defer close(c.done)
	batch := make([]queued, 0, maxCompleteBatch)
	sent := make([]Completion, 0, maxCompleteBatch)
	for first := range c.in {
		batch = append(batch[:0], first)
	gather:
		for len(batch) < maxCompleteBatch {
			select {
			case x, ok := <-c.in:
				if !ok {
					break gather
				}
				batch = append(batch, x)
			default:
				break gather
			}
		}
		sent = sent[:0]
		for _, x := range batch {
			sent = append(sent, Completion{ID: x.d.ID, Attempt: x.d.Attempt, At: x.at})
		}
		c.flush(ctx, batch, sent)
	}
}

// flush writes one batch, retrying a failing store as persist does, and
// reports each outcome as the relay reports a MarkSent.
func (c *completer) flush(ctx context.Context, batch []queued, sent []Completion) {
	var stale []bool
	err := c.r.persist(ctx, func(ctx context.Context) error {
		var err error
		stale, err = c.store.MarkSentBatch(ctx, sent)
		if err == nil && len(stale) != len(sent) {
			err = errors.New("outbox: MarkSentBatch reported on " + strconv.Itoa(len(stale)) + " of " + strconv.Itoa(len(sent)) + " deliveries")
		}
		return err
	})
	keyed := false
	for i, x := range batch {
		keyed = keyed || x.d.OrderingKey != ""
		e := err
		if e == nil && stale[i] {
			e = ErrStale
		}
		if c.r.record("sent", x.d, e) {
			c.r.observe(ctx, rebound.Event{Kind: rebound.CallFinished, Endpoint: x.d.Destination, Attempt: callAttempts(x.d), Result: rebound.ResultSuccess, Elapsed: x.at.Sub(x.d.CreatedAt)})
		}
	}
	if keyed {
		c.r.kickClaims() // the next messages of their keys may be due
	}
}
