package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// Claim's look for an earlier message of the same key must use the partial
// index of unfinished messages: without it, each claim walks the key's
// whole history of sent messages (seconds, not milliseconds, for a few
// hundred thousand). SQLite uses a partial index only when the query says
// its condition in the same words, so a reworded claim could lose it
// silently.
func TestClaimUsesTheOrderingIndex(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "plan.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := New(db, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, skip := range []int{0, 2} {
		args := []any{int64(2), int64(1), 10}
		for range skip {
			args = append(args, "x")
		}
		rows, err := db.Query(`EXPLAIN QUERY PLAN `+claimSQL(skip), args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		p := strings.Join(plan, "\n")
		if !strings.Contains(p, "USING INDEX rebound_outbox_ordering_idx") {
			t.Errorf("skipping %d: the claim's plan does not use rebound_outbox_ordering_idx:\n%s", skip, p)
		}
		// The claim walks the unfinished messages in order and stops at
		// its limit, instead of sorting every due one.
		if !strings.Contains(p, "USING INDEX rebound_outbox_unfinished_idx") || strings.Contains(p, "TEMP B-TREE") {
			t.Errorf("skipping %d: the claim's plan does not walk rebound_outbox_unfinished_idx in order:\n%s", skip, p)
		}
	}
}
