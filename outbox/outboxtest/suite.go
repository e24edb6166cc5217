// Package outboxtest is the conformance suite every outbox.Store must pass.
package outboxtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rebound-go/rebound/outbox"
)

// Harness gives the suite a fresh, empty outbox: the store, and a database
// whose transactions Enqueue writes through.
type Harness struct {
	Store outbox.Store
	DB    *sql.DB
}

// Enqueue writes msgs in a transaction of their own on db and returns
// their IDs; an error ends t.
func Enqueue(t testing.TB, db *sql.DB, msgs ...outbox.Message) []string {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := outbox.Enqueue(ctx, tx, msgs...)
	if err != nil {
		tx.Rollback()
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return ids
}

// Run runs the suite; newHarness must return an empty outbox each time.
//
// Run is long on purpose, as riverdrivertest is: it is the list of what a
// store promises, one independent subtest per promise, read top to bottom
// as the specification; the few helpers they share sit at its top.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	ctx := context.Background()
	const lease = 30 * time.Second

	enqueue := func(t *testing.T, h Harness, msgs ...outbox.Message) []string {
		t.Helper()
		return Enqueue(t, h.DB, msgs...)
	}
	claimIDs := func(t *testing.T, h Harness, now time.Time, limit int, skip ...string) map[string]outbox.Delivery {
		t.Helper()
		ds, err := h.Store.Claim(ctx, now, lease, limit, skip)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]outbox.Delivery{}
		for _, d := range ds {
			if _, dup := out[d.ID]; dup {
				t.Fatalf("claim returned %s twice", d.ID)
			}
			out[d.ID] = d
		}
		return out
	}
	msg := func(dest, key string) outbox.Message {
		return outbox.Message{Destination: dest, OrderingKey: key, Payload: []byte(`{"n":1}`), Headers: map[string]string{"Content-Type": "application/json"}}
	}

	t.Run("EnqueueJoinsTheTransaction", func(t *testing.T) {
		h := newHarness(t)
		tx, _ := h.DB.BeginTx(ctx, nil)
		if _, err := outbox.Enqueue(ctx, tx, msg("a", "")); err != nil {
			t.Fatal(err)
		}
		tx.Rollback()
		ids := enqueue(t, h, msg("a", ""), msg("b", ""))
		got := claimIDs(t, h, time.Now().Add(time.Second), 10)
		if len(got) != 2 || got[ids[0]].ID == "" || got[ids[1]].ID == "" {
			t.Fatalf("claimed %v, want only the committed %v", keys(got), ids)
		}
		d := got[ids[0]]
		if d.State != outbox.Delivering || d.Attempt != 1 || string(d.Payload) != `{"n":1}` || d.Headers["Content-Type"] != "application/json" || d.Destination != "a" {
			t.Fatalf("delivery %+v", d.Record)
		}
	})

	t.Run("ClaimLeasesAndFences", func(t *testing.T) {
		h := newHarness(t)
		id := enqueue(t, h, msg("a", ""))[0]
		t0 := time.Now().Add(time.Second)
		first := claimIDs(t, h, t0, 10)
		if len(first) != 1 || first[id].Attempt != 1 {
			t.Fatalf("first claim %v", first)
		}
		if again := claimIDs(t, h, t0.Add(lease-time.Second), 10); len(again) != 0 {
			t.Fatalf("a leased message was claimed again: %v", again)
		}
		// The lease ends: another relay claims it with attempt 2.
		second := claimIDs(t, h, t0.Add(lease), 10)
		if second[id].Attempt != 2 {
			t.Fatalf("reclaim %v", second)
		}
		// The first relay wakes up: it can no longer record anything.
		for name, err := range map[string]error{
			"sent":    h.Store.MarkSent(ctx, id, 1, t0),
			"retry":   h.Store.MarkRetry(ctx, id, 1, t0, "x", 503),
			"dead":    h.Store.MarkDead(ctx, id, 1, "permanent", "x", 400),
			"extend":  h.Store.Extend(ctx, id, 1, t0.Add(time.Hour)),
			"release": h.Store.Release(ctx, id, 1, t0),
		} {
			if !errors.Is(err, outbox.ErrStale) {
				t.Errorf("stale %s: %v, want ErrStale", name, err)
			}
		}
		if err := h.Store.MarkSent(ctx, id, 2, t0.Add(lease)); err != nil {
			t.Fatal(err)
		}
		r, err := h.Store.Get(ctx, id)
		if err != nil || r.State != outbox.Sent || r.Attempt != 2 || r.SentAt.IsZero() {
			t.Fatalf("after sending: %+v, %v", r, err)
		}
		if err := h.Store.MarkSent(ctx, id, 2, t0); !errors.Is(err, outbox.ErrStale) {
			t.Fatalf("recording twice: %v", err)
		}
	})

	t.Run("MarkSentBatchIsFenced", func(t *testing.T) {
		h := newHarness(t)
		bc, ok := h.Store.(outbox.BatchCompleter)
		if !ok {
			t.Skip("the store is not an outbox.BatchCompleter")
		}
		if stale, err := bc.MarkSentBatch(ctx, nil); err != nil || len(stale) != 0 {
			t.Fatalf("empty batch: %v, %v", stale, err)
		}
		ids := enqueue(t, h, msg("a", ""), msg("a", ""), msg("b", ""), msg("b", ""))
		t0 := time.Now().Add(time.Second)
		if got := claimIDs(t, h, t0, 10); len(got) != 4 {
			t.Fatalf("claimed %v", keys(got))
		}
		// ids[1]'s lease ends and another relay claims it again; ids[3]
		// goes dead; the others keep their lease.
		for _, id := range []string{ids[0], ids[2], ids[3]} {
			if err := h.Store.Extend(ctx, id, 1, t0.Add(2*lease)); err != nil {
				t.Fatal(err)
			}
		}
		if got := claimIDs(t, h, t0.Add(lease), 10); len(got) != 1 || got[ids[1]].Attempt != 2 {
			t.Fatalf("reclaim %v", got)
		}
		if err := h.Store.MarkDead(ctx, ids[3], 1, "permanent", "400", 400); err != nil {
			t.Fatal(err)
		}
		at := t0.Add(lease + time.Second)
		batch := []outbox.Completion{
			{ID: ids[0], Attempt: 1, At: at},
			{ID: ids[1], Attempt: 1, At: at}, // lost its lease
			{ID: ids[2], Attempt: 1, At: at.Add(time.Millisecond)},
			{ID: ids[3], Attempt: 1, At: at}, // dead
			{ID: "missing", Attempt: 1, At: at},
			{ID: ids[1], Attempt: 2, At: at}, // the new owner
		}
		stale, err := bc.MarkSentBatch(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		if want := []bool{false, true, false, true, true, false}; fmt.Sprint(stale) != fmt.Sprint(want) {
			t.Fatalf("stale %v, want %v", stale, want)
		}
		for i, want := range []struct {
			state   outbox.State
			attempt int
			sentAt  time.Time
		}{{outbox.Sent, 1, at}, {outbox.Sent, 2, at}, {outbox.Sent, 1, at.Add(time.Millisecond)}, {outbox.Dead, 1, time.Time{}}} {
			r, err := h.Store.Get(ctx, ids[i])
			if err != nil || r.State != want.state || r.Attempt != want.attempt || !r.SentAt.Equal(want.sentAt) || !r.LeaseUntil.IsZero() && r.State == outbox.Sent {
				t.Fatalf("message %d after the batch: %+v, %v; want %v at attempt %d, sent at %v", i, r, err, want.state, want.attempt, want.sentAt)
			}
		}
		// Written again, as after a commit whose answer was lost, nothing
		// changes and everything is stale.
		stale, err = bc.MarkSentBatch(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range stale {
			if !s {
				t.Fatalf("writing the batch again recorded %d: %v", i, stale)
			}
		}
		if got := claimIDs(t, h, t0.Add(3*lease), 10); len(got) != 0 {
			t.Fatalf("claimed after the batch: %v", keys(got))
		}
	})

	t.Run("ExtendKeepsTheLease", func(t *testing.T) {
		h := newHarness(t)
		id := enqueue(t, h, msg("a", ""))[0]
		t0 := time.Now().Add(time.Second)
		claimIDs(t, h, t0, 10)
		if err := h.Store.Extend(ctx, id, 1, t0.Add(2*lease)); err != nil {
			t.Fatal(err)
		}
		if got := claimIDs(t, h, t0.Add(lease+time.Second), 10); len(got) != 0 {
			t.Fatal("an extended lease was claimed")
		}
	})

	t.Run("RetryWaitsUntilItsTime", func(t *testing.T) {
		h := newHarness(t)
		id := enqueue(t, h, msg("a", ""))[0]
		t0 := time.Now().Add(time.Second)
		claimIDs(t, h, t0, 10)
		if err := h.Store.MarkRetry(ctx, id, 1, t0.Add(time.Minute), "503 Service Unavailable", 503); err != nil {
			t.Fatal(err)
		}
		r, _ := h.Store.Get(ctx, id)
		if r.State != outbox.Retrying || r.LastStatus != 503 || r.LastError != "503 Service Unavailable" {
			t.Fatalf("after retry: %+v", r)
		}
		if got := claimIDs(t, h, t0.Add(time.Minute-time.Second), 10); len(got) != 0 {
			t.Fatal("claimed before its next attempt")
		}
		got := claimIDs(t, h, t0.Add(time.Minute), 10)
		if got[id].Attempt != 2 {
			t.Fatalf("not claimed at its next attempt: %v", got)
		}
		// A claim carries the last outcome, through a release too: the
		// relay tells a poison message's retry from a probe by it.
		if d := got[id]; d.LastStatus != 503 || d.LastError != "503 Service Unavailable" {
			t.Fatalf("claimed retry carries last status %d, error %q; want 503 and its text", d.LastStatus, d.LastError)
		}
		if err := h.Store.Release(ctx, id, 2, t0.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if d := claimIDs(t, h, t0.Add(2*time.Minute), 10)[id]; d.Attempt != 2 || d.LastStatus != 503 {
			t.Fatalf("after a release, the claim is attempt %d with last status %d; want 2 and 503", d.Attempt, d.LastStatus)
		}
	})

	t.Run("DeadReplayDiscard", func(t *testing.T) {
		h := newHarness(t)
		ids := enqueue(t, h, msg("a", ""), msg("a", ""), msg("b", ""))
		t0 := time.Now().Add(time.Second)
		claimIDs(t, h, t0, 10)
		for _, id := range ids {
			if err := h.Store.MarkDead(ctx, id, 1, "permanent", "400 Bad Request", 400); err != nil {
				t.Fatal(err)
			}
		}
		r, _ := h.Store.Get(ctx, ids[0])
		if r.State != outbox.Dead || r.DeadReason != "permanent" || r.LastStatus != 400 {
			t.Fatalf("dead record %+v", r)
		}
		if got := claimIDs(t, h, t0.Add(time.Hour), 10); len(got) != 0 {
			t.Fatal("a dead message was claimed")
		}
		if err := h.Store.Replay(ctx, ids[0], t0); err != nil {
			t.Fatal(err)
		}
		if err := h.Store.Replay(ctx, ids[0], t0); !errors.Is(err, outbox.ErrNotDead) {
			t.Fatalf("replaying a pending message: %v", err)
		}
		got := claimIDs(t, h, t0.Add(time.Second), 10)
		if len(got) != 1 || got[ids[0]].Attempt != 1 {
			t.Fatalf("after replay: %v", got)
		}
		n, err := h.Store.ReplayDead(ctx, outbox.Filter{Destination: "b"}, t0)
		if err != nil || n != 1 {
			t.Fatalf("bulk replay of b: %d, %v", n, err)
		}
		if err := h.Store.Discard(ctx, ids[1]); err != nil {
			t.Fatal(err)
		}
		if _, err := h.Store.Get(ctx, ids[1]); !errors.Is(err, outbox.ErrNotFound) {
			t.Fatalf("discarded message: %v", err)
		}
		if err := h.Store.Discard(ctx, ids[2]); !errors.Is(err, outbox.ErrNotDead) {
			t.Fatalf("discarding a pending message: %v", err)
		}
	})

	t.Run("ReleaseGivesTheAttemptBack", func(t *testing.T) {
		h := newHarness(t)
		id := enqueue(t, h, msg("a", ""))[0]
		t0 := time.Now().Add(time.Second)
		claimIDs(t, h, t0, 10)
		if err := h.Store.Release(ctx, id, 1, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if got := claimIDs(t, h, t0.Add(30*time.Second), 10); len(got) != 0 {
			t.Fatal("claimed before its release time")
		}
		if got := claimIDs(t, h, t0.Add(time.Minute), 10); got[id].Attempt != 1 {
			t.Fatalf("a released message spent an attempt: %v", got)
		}
	})

	t.Run("OrderingKeysAreFIFOAndIndependent", func(t *testing.T) {
		h := newHarness(t)
		k := enqueue(t, h, msg("a", "order-1"), msg("a", "order-1"), msg("a", "order-1"))
		other := enqueue(t, h, msg("a", "order-2"), msg("a", ""))
		t0 := time.Now().Add(time.Second)
		got := claimIDs(t, h, t0, 10)
		if len(got) != 3 || got[k[0]].ID == "" || got[other[0]].ID == "" || got[other[1]].ID == "" {
			t.Fatalf("first claim %v: want the head of each key and the unkeyed one", keys(got))
		}
		// The head of order-1 fails: its key waits, others flow.
		_ = h.Store.MarkRetry(ctx, k[0], 1, t0.Add(time.Minute), "503", 503)
		_ = h.Store.MarkSent(ctx, other[0], 1, t0)
		_ = h.Store.MarkSent(ctx, other[1], 1, t0)
		if got := claimIDs(t, h, t0.Add(time.Second), 10); len(got) != 0 {
			t.Fatalf("a message behind a failing head was claimed: %v", keys(got))
		}
		got = claimIDs(t, h, t0.Add(time.Minute), 10)
		if len(got) != 1 || got[k[0]].ID == "" {
			t.Fatalf("retry of the head: %v", keys(got))
		}
		_ = h.Store.MarkSent(ctx, k[0], 2, t0.Add(time.Minute))
		got = claimIDs(t, h, t0.Add(time.Minute), 10)
		if len(got) != 1 || got[k[1]].ID == "" {
			t.Fatalf("after the head: %v, want the second", keys(got))
		}
		// A dead message no longer holds its key.
		_ = h.Store.MarkDead(ctx, k[1], 1, "permanent", "400", 400)
		got = claimIDs(t, h, t0.Add(time.Minute), 10)
		if len(got) != 1 || got[k[2]].ID == "" {
			t.Fatalf("after a dead message: %v, want the third", keys(got))
		}
		// Replayed while the third is in flight, it waits for the third.
		if err := h.Store.Replay(ctx, k[1], t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if got := claimIDs(t, h, t0.Add(time.Minute), 10); len(got) != 0 {
			t.Fatalf("a replayed message ran beside a newer one of its key: %v", keys(got))
		}
		_ = h.Store.MarkSent(ctx, k[2], 1, t0.Add(time.Minute))
		if got := claimIDs(t, h, t0.Add(time.Minute), 10); len(got) != 1 || got[k[1]].ID == "" {
			t.Fatalf("the replayed message after the third: %v", keys(got))
		}
	})

	t.Run("SkipDestinationsAndNotBefore", func(t *testing.T) {
		h := newHarness(t)
		ids := enqueue(t, h, msg("open-breaker", ""), msg("healthy", ""))
		later := msg("healthy", "")
		later.NotBefore = time.Now().Add(time.Hour)
		lid := enqueue(t, h, later)[0]
		t0 := time.Now().Add(time.Second)
		got := claimIDs(t, h, t0, 10, "open-breaker")
		if len(got) != 1 || got[ids[1]].ID == "" {
			t.Fatalf("claimed %v, want only the healthy destination's due message", keys(got))
		}
		if got := claimIDs(t, h, t0.Add(2*time.Hour), 10); got[ids[0]].ID == "" || got[lid].ID == "" {
			t.Fatalf("later claim %v", keys(got))
		}
	})

	t.Run("ListStatsPrune", func(t *testing.T) {
		h := newHarness(t)
		ids := enqueue(t, h, msg("a", ""), msg("a", ""), msg("a", ""), msg("b", ""))
		t0 := time.Now().Add(time.Second)
		claimIDs(t, h, t0, 2)
		_ = h.Store.MarkSent(ctx, ids[0], 1, t0)
		_ = h.Store.MarkDead(ctx, ids[1], 1, "permanent", "400", 400)
		st, err := h.Store.Stats(ctx, t0)
		if err != nil {
			t.Fatal(err)
		}
		byDest := map[string]outbox.DestinationStats{}
		for _, s := range st {
			byDest[s.Destination] = s
		}
		a := byDest["a"]
		if a.Sent != 1 || a.Dead != 1 || a.Pending != 1 || byDest["b"].Pending != 1 || a.OldestUnsent.IsZero() {
			t.Fatalf("stats %+v", st)
		}
		var all []string
		f := outbox.Filter{Destination: "a", Limit: 2}
		for {
			recs, next, err := h.Store.List(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				all = append(all, r.ID)
			}
			if next == "" {
				break
			}
			f.Cursor = next
		}
		if fmt.Sprint(all) != fmt.Sprint(ids[:3]) {
			t.Fatalf("paged list %v, want %v in enqueue order", all, ids[:3])
		}
		dead, _, _ := h.Store.List(ctx, outbox.Filter{State: outbox.Dead})
		if len(dead) != 1 || dead[0].ID != ids[1] {
			t.Fatalf("dead list %v", dead)
		}
		n, err := h.Store.Prune(ctx, t0.Add(time.Second))
		if err != nil || n != 1 {
			t.Fatalf("prune: %d, %v", n, err)
		}
		if _, err := h.Store.Get(ctx, ids[0]); !errors.Is(err, outbox.ErrNotFound) {
			t.Fatal("a pruned message is still there")
		}
		if _, err := h.Store.Get(ctx, ids[1]); err != nil {
			t.Fatal("a dead message was pruned")
		}
	})

	t.Run("ConcurrentClaimsNeverShare", func(t *testing.T) {
		h := newHarness(t)
		var msgs []outbox.Message
		for i := 0; i < 200; i++ {
			msgs = append(msgs, msg(fmt.Sprint("d", i%4), ""))
		}
		enqueue(t, h, msgs...)
		t0 := time.Now().Add(time.Second)
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 10; i++ {
					ds, err := h.Store.Claim(ctx, t0, lease, 5, nil)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					for _, d := range ds {
						seen[d.ID]++
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(seen) != 200 {
			t.Fatalf("%d of 200 messages claimed", len(seen))
		}
		for id, n := range seen {
			if n != 1 {
				t.Fatalf("%s claimed %d times", id, n)
			}
		}
	})

	t.Run("TraceContextIsKept", func(t *testing.T) {
		h := newHarness(t)
		const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		traced := msg("a", "")
		traced.TraceParent, traced.TraceState = parent, "rojo=00f067aa0ba902b7"
		ids := enqueue(t, h, traced, msg("a", ""))
		got := claimIDs(t, h, time.Now().Add(time.Second), 10)
		if d := got[ids[0]]; d.TraceParent != parent || d.TraceState != "rojo=00f067aa0ba902b7" {
			t.Fatalf("traced message claimed with %q, %q", d.TraceParent, d.TraceState)
		}
		if d := got[ids[1]]; d.TraceParent != "" || d.TraceState != "" {
			t.Fatalf("untraced message claimed with %q, %q", d.TraceParent, d.TraceState)
		}
		if r, err := h.Store.Get(ctx, ids[0]); err != nil || r.TraceParent != parent {
			t.Fatalf("Get: %q, %v", r.TraceParent, err)
		}
	})

	t.Run("InvalidMessagesAreRefused", func(t *testing.T) {
		h := newHarness(t)
		tx, _ := h.DB.BeginTx(ctx, nil)
		defer tx.Rollback()
		var fe *outbox.FieldError
		if _, err := outbox.Enqueue(ctx, tx, outbox.Message{}); !errors.As(err, &fe) || fe.Field != "Destination" {
			t.Fatalf("no destination: %v", err)
		}
		if _, err := outbox.Enqueue(ctx, tx, outbox.Message{Destination: "a", Payload: make([]byte, outbox.MaxPayloadBytes+1)}); !errors.As(err, &fe) || fe.Field != "Payload" {
			t.Fatalf("big payload: %v", err)
		}
		for _, tp := range []string{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"} {
			if _, err := outbox.Enqueue(ctx, tx, outbox.Message{Destination: "a", TraceParent: tp}); !errors.As(err, &fe) || fe.Field != "TraceParent" {
				t.Fatalf("traceparent %q: %v", tp, err)
			}
		}
		if _, err := h.Store.Get(ctx, "missing"); !errors.Is(err, outbox.ErrNotFound) {
			t.Fatalf("missing: %v", err)
		}
	})
}

func keys(m map[string]outbox.Delivery) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
