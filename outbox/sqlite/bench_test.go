package sqlite_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rebound-go/rebound/outbox"
)

// BenchmarkClaim measures a relay's cycle, a claim of 10 and a MarkSent
// for each, with a backlog of up to 1,000 due messages, half of them on
// 100 ordering keys, and a history of 20,000 sent messages on the same
// keys, which Claim's look-up of earlier messages of a key must not walk.
func BenchmarkClaim(b *testing.B) {
	db := openDB(b)
	s := newStore(b, db)
	ctx := context.Background()
	n := 0
	batch := func(size int) {
		msgs := make([]outbox.Message, size)
		for i := range msgs {
			n++
			msgs[i] = outbox.Message{Destination: fmt.Sprint("d", n%4), Payload: []byte(`{"n":1}`)}
			if n%2 == 0 {
				msgs[i].OrderingKey = fmt.Sprint("k", n%100)
			}
		}
		enqueue(b, db, msgs...)
	}
	cycle := func(now time.Time) int {
		ds, err := s.Claim(ctx, now, time.Minute, 10, nil)
		if err != nil {
			b.Fatal(err)
		}
		for _, d := range ds {
			if err := s.MarkSent(ctx, d.ID, d.Attempt, now); err != nil {
				b.Fatal(err)
			}
		}
		return len(ds)
	}
	for range 20 {
		batch(1000)
	}
	now := time.Now().Add(time.Second)
	if _, err := db.Exec(`UPDATE rebound_outbox SET state = 3, attempt = 1, sent_at = ?`, now.UnixNano()); err != nil {
		b.Fatal(err)
	}
	batch(1000)
	for b.Loop() {
		if cycle(now) == 0 {
			b.StopTimer()
			batch(1000)
			b.StartTimer()
		}
	}
}
