package daemon

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rebound-go/rebound/internal/pgtest"
	"github.com/rebound-go/rebound/internal/sqlitetest"
	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/postgres"
	"github.com/rebound-go/rebound/outbox/sqlite"
)

// fakeStore is a WriteFunc that records each transaction's IDs; gate, when
// set, holds every write until it is closed, and fail decides a write's
// error.
type fakeStore struct {
	mu      sync.Mutex
	batches [][]string
	rows    map[string]bool
	started chan struct{} // one value per write started
	gate    chan struct{}
	fail    func(ids []string) error
}

func newFakeStore() *fakeStore {
	return &fakeStore{rows: map[string]bool{}, started: make(chan struct{}, 1000)}
}

func (f *fakeStore) write(ctx context.Context, msgs []outbox.Message) ([]string, error) {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	f.started <- struct{}{}
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches = append(f.batches, ids)
	if f.fail != nil {
		if err := f.fail(ids); err != nil {
			return nil, err
		}
	}
	for _, id := range ids {
		f.rows[id] = true
	}
	return ids, nil
}

func (f *fakeStore) sizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var n []int
	for _, b := range f.batches {
		n = append(n, len(b))
	}
	return n
}

func msg(id string) outbox.Message {
	return outbox.Message{ID: id, Destination: "orders", Payload: []byte(`{"n":1}`)}
}

// waitQueued waits until g holds n requests not yet taken.
func waitQueued(t *testing.T, g *GroupEnqueuer, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		g.mu.Lock()
		q := 0
		for _, r := range g.queue {
			if !r.canceled {
				q++
			}
		}
		g.mu.Unlock()
		if q == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests queued, want %d", q, n)
		}
		time.Sleep(time.Millisecond)
	}
}

type result struct {
	ids []string
	err error
}

func enqueueAsync(g *GroupEnqueuer, ctx context.Context, msgs ...outbox.Message) <-chan result {
	ch := make(chan result, 1)
	go func() {
		ids, err := g.Enqueue(ctx, msgs)
		ch <- result{ids, err}
	}()
	return ch
}

// TestGroupEnqueuerBatches: calls that arrive while a transaction is being
// written share the next one, each getting its own IDs, in its own order.
func TestGroupEnqueuerBatches(t *testing.T) {
	f := newFakeStore()
	f.gate = make(chan struct{})
	g := NewGroupEnqueuer(f.write, GroupConfig{MaxBatch: 5})
	defer g.Close()
	ctx := context.Background()

	first := enqueueAsync(g, ctx, msg("a0"))
	<-f.started // a0 is being written alone
	var rest []<-chan result
	for i := range 6 {
		rest = append(rest, enqueueAsync(g, ctx, msg(fmt.Sprintf("b%d", i)), msg(fmt.Sprintf("c%d", i))))
		waitQueued(t, g, i+1) // in order
	}
	// One call too big for any batch: written alone, in one transaction.
	var big []outbox.Message
	for i := range 7 {
		big = append(big, msg(fmt.Sprintf("big%d", i)))
	}
	bigRes := enqueueAsync(g, ctx, big...)
	waitQueued(t, g, 7)
	close(f.gate)

	if r := <-first; r.err != nil || !slices.Equal(r.ids, []string{"a0"}) {
		t.Fatalf("first = %v, %v", r.ids, r.err)
	}
	for i, ch := range rest {
		r := <-ch
		want := []string{fmt.Sprintf("b%d", i), fmt.Sprintf("c%d", i)}
		if r.err != nil || !slices.Equal(r.ids, want) {
			t.Errorf("call %d = %v, %v; want %v", i, r.ids, r.err, want)
		}
	}
	if r := <-bigRes; r.err != nil || len(r.ids) != 7 || r.ids[6] != "big6" {
		t.Errorf("big call = %v, %v", r.ids, r.err)
	}
	// a0; then 2+2 (a third call would pass 5 messages) three times; then 7.
	if got, want := f.sizes(), []int{1, 4, 4, 4, 7}; !slices.Equal(got, want) {
		t.Errorf("transactions of %v messages, want %v", got, want)
	}
}

// TestGroupEnqueuerBatchBytes: a batch stops short of MaxBatchBytes of
// payload.
func TestGroupEnqueuerBatchBytes(t *testing.T) {
	f := newFakeStore()
	f.gate = make(chan struct{})
	g := NewGroupEnqueuer(f.write, GroupConfig{MaxBatchBytes: 25})
	defer g.Close()
	ctx := context.Background()
	first := enqueueAsync(g, ctx, msg("a"))
	<-f.started
	var calls []<-chan result
	for i := range 5 {
		m := msg(fmt.Sprintf("b%d", i))
		m.Payload = []byte("0123456789") // 10 bytes: two per batch
		calls = append(calls, enqueueAsync(g, ctx, m))
		waitQueued(t, g, i+1)
	}
	close(f.gate)
	for _, ch := range append(calls, first) {
		if r := <-ch; r.err != nil {
			t.Fatal(r.err)
		}
	}
	if got, want := f.sizes(), []int{1, 2, 2, 1}; !slices.Equal(got, want) {
		t.Errorf("transactions of %v messages, want %v", got, want)
	}
}

// TestGroupEnqueuerGeneratesIDs: a message without an ID gets one before
// it is queued, and the same one whatever transaction writes it.
func TestGroupEnqueuerGeneratesIDs(t *testing.T) {
	f := newFakeStore()
	g := NewGroupEnqueuer(f.write, GroupConfig{})
	defer g.Close()
	in := []outbox.Message{msg(""), msg("")}
	ids, err := g.Enqueue(context.Background(), in)
	if err != nil || len(ids) != 2 || ids[0] == "" || ids[0] == ids[1] {
		t.Fatalf("Enqueue = %v, %v", ids, err)
	}
	if in[0].ID != "" {
		t.Error("Enqueue changed the caller's messages")
	}
	if !f.rows[ids[0]] || !f.rows[ids[1]] {
		t.Errorf("stored %v, want %v", f.rows, ids)
	}
	if ids, err := g.Enqueue(context.Background(), nil); err != nil || ids == nil || len(ids) != 0 {
		t.Errorf("Enqueue of nothing = %#v, %v", ids, err)
	}
}

// TestGroupEnqueuerInvalidMessage: an invalid message fails its own call,
// before anything is queued, and no other.
func TestGroupEnqueuerInvalidMessage(t *testing.T) {
	f := newFakeStore()
	f.gate = make(chan struct{})
	g := NewGroupEnqueuer(f.write, GroupConfig{})
	defer g.Close()
	ctx := context.Background()
	first := enqueueAsync(g, ctx, msg("a"))
	<-f.started
	good := enqueueAsync(g, ctx, msg("b"))
	waitQueued(t, g, 1)
	_, err := g.Enqueue(ctx, []outbox.Message{msg("c"), {ID: "d", Payload: []byte("x")}})
	var fe *outbox.FieldError
	if !errors.As(err, &fe) || fe.Field != "Destination" {
		t.Fatalf("invalid call: %v, want a FieldError for Destination", err)
	}
	close(f.gate)
	for _, ch := range []<-chan result{first, good} {
		if r := <-ch; r.err != nil {
			t.Errorf("valid call: %v", r.err)
		}
	}
	if f.rows["c"] || f.rows["d"] {
		t.Error("the invalid call's messages were written")
	}
}

// TestGroupEnqueuerErrors: a batch known to have written nothing is
// written again call by call, so only the guilty call fails; an unknown
// outcome is every call's.
func TestGroupEnqueuerErrors(t *testing.T) {
	errDup := errors.New("duplicate key value violates unique constraint")
	errLost := errors.New("connection reset during COMMIT")
	for _, tc := range []struct {
		name string
		fail func(ids []string) error
		// wantErr per call (b0, b1, b2), nil for success.
		wantErr []error
		sizes   []int
	}{{
		name: "not written: one call's duplicate",
		fail: func(ids []string) error {
			if slices.Contains(ids, "b1") {
				return NotWritten(fmt.Errorf("enqueue %q: %w", "b1", errDup))
			}
			return nil
		},
		wantErr: []error{nil, errDup, nil},
		sizes:   []int{1, 3, 1, 1, 1},
	}, {
		name:    "unknown outcome",
		fail:    func(ids []string) error { return errLost },
		wantErr: []error{errLost, errLost, errLost},
		sizes:   []int{1, 3},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeStore()
			f.gate = make(chan struct{})
			f.fail = func(ids []string) error {
				if ids[0] == "a" {
					return nil
				}
				return tc.fail(ids)
			}
			g := NewGroupEnqueuer(f.write, GroupConfig{})
			defer g.Close()
			ctx := context.Background()
			first := enqueueAsync(g, ctx, msg("a"))
			<-f.started
			var calls []<-chan result
			for i := range 3 {
				calls = append(calls, enqueueAsync(g, ctx, msg(fmt.Sprintf("b%d", i))))
				waitQueued(t, g, i+1)
			}
			close(f.gate)
			if r := <-first; r.err != nil {
				t.Fatal(r.err)
			}
			for i, ch := range calls {
				r := <-ch
				switch want := tc.wantErr[i]; {
				case want == nil && (r.err != nil || len(r.ids) != 1):
					t.Errorf("call %d = %v, %v; want its ID", i, r.ids, r.err)
				case want != nil && (!errors.Is(r.err, want) || r.ids != nil):
					t.Errorf("call %d = %v, %v; want %v", i, r.ids, r.err, want)
				}
				var nw *notWrittenError
				if errors.As(r.err, &nw) {
					t.Errorf("call %d: the NotWritten marker leaked: %#v", i, r.err)
				}
			}
			if got := f.sizes(); !slices.Equal(got, tc.sizes) {
				t.Errorf("transactions of %v messages, want %v", got, tc.sizes)
			}
		})
	}
}

// TestGroupEnqueuerCancel: a caller whose context ends while its message
// is queued gets the context's error and its message is never written; one
// whose message is being written stops waiting.
func TestGroupEnqueuerCancel(t *testing.T) {
	f := newFakeStore()
	f.gate = make(chan struct{})
	g := NewGroupEnqueuer(f.write, GroupConfig{})
	defer g.Close()

	writing, cancelWriting := context.WithCancel(context.Background())
	first := enqueueAsync(g, writing, msg("a"))
	<-f.started
	queued, cancelQueued := context.WithCancel(context.Background())
	second := enqueueAsync(g, queued, msg("b"))
	third := enqueueAsync(g, context.Background(), msg("c"))
	waitQueued(t, g, 2)

	cancelQueued()
	if r := <-second; !errors.Is(r.err, context.Canceled) || r.ids != nil {
		t.Fatalf("canceled while queued = %v, %v", r.ids, r.err)
	}
	cancelWriting()
	select {
	case r := <-first:
		if !errors.Is(r.err, context.Canceled) {
			t.Fatalf("canceled while written = %v, %v", r.ids, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a caller whose context ended is still waiting for its transaction")
	}
	close(f.gate)
	if r := <-third; r.err != nil {
		t.Fatal(r.err)
	}
	if f.rows["b"] {
		t.Error("the message of a caller who left while it was queued was written")
	}
	if !f.rows["a"] || !f.rows["c"] {
		t.Errorf("rows %v, want a and c", f.rows)
	}
	if _, err := g.Enqueue(queued, []outbox.Message{msg("d")}); !errors.Is(err, context.Canceled) {
		t.Errorf("Enqueue with an ended context = %v", err)
	}
}

// TestGroupEnqueuerBounded: beyond MaxQueued requests a caller waits for
// room, as long as its context lets it.
func TestGroupEnqueuerBounded(t *testing.T) {
	f := newFakeStore()
	f.gate = make(chan struct{})
	g := NewGroupEnqueuer(f.write, GroupConfig{MaxQueued: 2})
	defer g.Close()
	a := enqueueAsync(g, context.Background(), msg("a"))
	<-f.started
	b := enqueueAsync(g, context.Background(), msg("b"))
	waitQueued(t, g, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := g.Enqueue(ctx, []outbox.Message{msg("c")}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Enqueue beyond MaxQueued = %v, want the deadline", err)
	}
	close(f.gate)
	for _, ch := range []<-chan result{a, b} {
		if r := <-ch; r.err != nil {
			t.Fatal(r.err)
		}
	}
	if _, err := g.Enqueue(context.Background(), []outbox.Message{msg("c")}); err != nil {
		t.Fatalf("Enqueue once there is room: %v", err)
	}
}

// TestGroupEnqueuerClose: Close writes what is queued, then refuses.
func TestGroupEnqueuerClose(t *testing.T) {
	f := newFakeStore()
	f.gate = make(chan struct{})
	g := NewGroupEnqueuer(f.write, GroupConfig{})
	a := enqueueAsync(g, context.Background(), msg("a"))
	<-f.started
	b := enqueueAsync(g, context.Background(), msg("b"))
	waitQueued(t, g, 1)
	closed := make(chan struct{})
	go func() { g.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned with a transaction in flight")
	case <-time.After(20 * time.Millisecond):
	}
	close(f.gate)
	<-closed
	for _, ch := range []<-chan result{a, b} {
		if r := <-ch; r.err != nil {
			t.Fatal(r.err)
		}
	}
	if _, err := g.Enqueue(context.Background(), []outbox.Message{msg("c")}); !errors.Is(err, ErrEnqueuerClosed) {
		t.Errorf("Enqueue after Close = %v", err)
	}
	g.Close() // twice is fine
}

// concurrentEnqueues runs n callers at once through enqueue, caller 7's
// message reusing caller 3's ID, and checks that every other caller got
// its own ID back, and that the reused ID fails only one of the two.
func concurrentEnqueues(t *testing.T, enqueue func(context.Context, []outbox.Message) ([]string, error), n int) map[string]bool {
	t.Helper()
	var wg sync.WaitGroup
	got := make([]result, n)
	prefix := outbox.NewID(time.Now())[20:]
	id := func(i int) string {
		if i == 7 {
			i = 3
		}
		return fmt.Sprintf("%s-%d", prefix, i)
	}
	for i := range n {
		wg.Go(func() {
			ids, err := enqueue(context.Background(), []outbox.Message{msg(id(i)), msg("")})
			got[i] = result{ids, err}
		})
	}
	wg.Wait()
	want := map[string]bool{}
	failed := 0
	for i, r := range got {
		if r.err != nil {
			if i != 3 && i != 7 {
				t.Errorf("caller %d: %v", i, r.err)
			}
			failed++
			continue
		}
		if len(r.ids) != 2 || r.ids[0] != id(i) || r.ids[1] == "" {
			t.Errorf("caller %d got %v", i, r.ids)
			continue
		}
		want[r.ids[0]], want[r.ids[1]] = true, true
	}
	if failed != 1 {
		t.Errorf("%d of the two callers sharing an ID failed, want 1", failed)
	}
	return want
}

func TestGroupEnqueuerSQLite(t *testing.T) {
	ctx := context.Background()
	db, _ := sqlitetest.Outbox(t)
	var mu sync.Mutex
	sizes := map[int]int{}
	write := sqlWrite(db)
	g := NewGroupEnqueuer(func(ctx context.Context, msgs []outbox.Message) ([]string, error) {
		mu.Lock()
		sizes[len(msgs)]++
		mu.Unlock()
		return write(ctx, msgs)
	}, GroupConfig{MaxBatch: 16})
	want := concurrentEnqueues(t, g.Enqueue, 100)
	g.Close()
	t.Logf("transactions by messages written: %v", sizes)
	rows, err := db.QueryContext(ctx, "SELECT id FROM "+sqlite.Table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	stored := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		stored[id] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	checkStored(t, stored, want)
}

// TestGroupEnqueuerPostgres runs the daemon's Backend on PostgreSQL, in a
// schema of the test's own.
func TestGroupEnqueuerPostgres(t *testing.T) {
	schema, dsn := pgtest.Schema(t, pgtest.URL(t, "test grouped enqueues on PostgreSQL"), "daemon_enqueue_test_")
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	be, err := Open(ctx, "postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			be.Close()
		}
	}()
	if err := be.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	want := concurrentEnqueues(t, be.Enqueue, 200)
	if _, err := be.Enqueue(ctx, []outbox.Message{{Destination: "orders", Headers: map[string]string{"a:b": "c"}}}); err == nil {
		t.Error("a message with an invalid header was enqueued")
	}
	be.Close()
	closed = true
	rows, err := admin.Query(ctx, "SELECT id FROM "+schema+"."+postgres.Table)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for _, id := range ids {
		stored[id] = true
	}
	checkStored(t, stored, want)
}

// checkStored compares the IDs a store holds with those acknowledged:
// one shared ID was acknowledged once and stored once.
func checkStored(t *testing.T, stored, want map[string]bool) {
	t.Helper()
	if len(stored) != len(want) {
		t.Errorf("%d messages stored, %d acknowledged", len(stored), len(want))
	}
	for id := range want {
		if !stored[id] {
			t.Errorf("acknowledged %s is not stored", id)
		}
	}
}
