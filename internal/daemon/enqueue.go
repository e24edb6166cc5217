package daemon

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/postgres"
)

// Defaults of GroupConfig.
const (
	DefaultGroupMaxBatch      = 500
	DefaultGroupMaxBatchBytes = 4 << 20
	DefaultGroupMaxQueued     = 10_000
	DefaultGroupTimeout       = 30 * time.Second
)

// ErrEnqueuerClosed is returned by GroupEnqueuer.Enqueue after Close.
var ErrEnqueuerClosed = errors.New("daemon: the enqueuer is closed")

// WriteFunc writes msgs, whose IDs are set and which are valid, in one
// transaction and returns their IDs. An error wrapped with NotWritten
// states that nothing was written (the transaction rolled back); any other
// error leaves the outcome unknown (a commit whose answer was lost).
type WriteFunc func(ctx context.Context, msgs []outbox.Message) ([]string, error)

// NotWritten marks err as one after which the transaction is known to
// have written nothing.
func NotWritten(err error) error {
	if err == nil {
		return nil
	}
	return &notWrittenError{err}
}

type notWrittenError struct{ err error }

func (e *notWrittenError) Error() string { return e.err.Error() }
func (e *notWrittenError) Unwrap() error { return e.err }

// GroupConfig configures a GroupEnqueuer. Every zero field means its
// default.
type GroupConfig struct {
	// MaxBatch bounds the messages written in one transaction (a request
	// with more is written alone, still in one transaction). Default 500.
	MaxBatch int
	// MaxBatchBytes bounds the payload bytes written in one transaction,
	// in the same way. Default 4 MiB.
	MaxBatchBytes int
	// MaxQueued bounds the requests waiting or being written; further
	// callers wait for room, or for their context to end. Default 10,000.
	MaxQueued int
	// Timeout bounds one transaction. Default 30 s.
	Timeout time.Duration
}

// A GroupEnqueuer is group commit for enqueues: it collects the messages
// of concurrent Enqueue calls and writes them together, in one transaction
// per batch, instead of one transaction per call. Each call's messages are
// always in the same transaction, and each call gets exactly its own
// outcome:
//
//   - messages are validated before they are queued: an invalid one fails
//     its own call only;
//   - a batch that committed answers every call in it with its IDs;
//   - a batch that is known to have written nothing (an error from a
//     statement, such as a message ID that already exists) is written
//     again one call per transaction, so that one call's failure is not its
//     neighbours';
//   - a batch whose commit has an unknown outcome answers every call in it
//     with the error, as a lone transaction would have.
//
// There is no waiting for company: one goroutine writes whatever has
// queued while the previous batch was being written, so a lone call is
// written at once and batches grow with the load.
//
// A caller whose context ends while its messages are still queued gets
// the context's error and its messages are not written. Once they are in
// a batch being written it stops waiting and gets the context's error all
// the same, but the batch may commit: as with a lone transaction whose
// context ends during COMMIT, that outcome is unknown to the caller. A
// call returns IDs only once its messages are committed.
type GroupEnqueuer struct {
	write   WriteFunc
	cfg     GroupConfig
	slots   chan struct{} // one per request queued or being written
	wake    chan struct{}
	closing chan struct{}
	done    chan struct{}

	mu     sync.Mutex
	queue  []*groupRequest
	closed bool
}

type groupRequest struct {
	msgs  []outbox.Message
	bytes int // payload bytes
	ids   []string
	err   error
	done  chan struct{}
	// taken and canceled are guarded by GroupEnqueuer.mu.
	taken, canceled bool
}

// NewGroupEnqueuer starts a GroupEnqueuer writing through write. Close
// stops it.
func NewGroupEnqueuer(write WriteFunc, cfg GroupConfig) *GroupEnqueuer {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultGroupMaxBatch
	}
	if cfg.MaxQueued <= 0 {
		cfg.MaxQueued = DefaultGroupMaxQueued
	}
	if cfg.MaxBatchBytes <= 0 {
		cfg.MaxBatchBytes = DefaultGroupMaxBatchBytes
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultGroupTimeout
	}
	g := &GroupEnqueuer{
		write:   write,
		cfg:     cfg,
		slots:   make(chan struct{}, cfg.MaxQueued),
		wake:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	go g.run()
	return g
}

// Enqueue writes msgs in one transaction, shared with other calls', and
// returns their IDs (generated where empty) once it has committed; or the
// first invalid field, in which case nothing is written.
func (g *GroupEnqueuer) Enqueue(ctx context.Context, msgs []outbox.Message) ([]string, error) {
	now := time.Now()
	own := make([]outbox.Message, len(msgs))
	size := 0
	for i := range msgs {
		own[i] = msgs[i]
		if own[i].ID == "" {
			own[i].ID = outbox.NewID(now)
		}
		if err := own[i].Validate(); err != nil {
			return nil, err
		}
		size += len(own[i].Payload)
	}
	if len(own) == 0 {
		return []string{}, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case g.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-g.closing:
		return nil, ErrEnqueuerClosed
	}
	r := &groupRequest{msgs: own, bytes: size, done: make(chan struct{})}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		<-g.slots
		return nil, ErrEnqueuerClosed
	}
	g.queue = append(g.queue, r)
	g.mu.Unlock()
	select {
	case g.wake <- struct{}{}:
	default:
	}
	select {
	case <-r.done:
		return r.ids, r.err
	case <-ctx.Done():
	}
	g.mu.Lock()
	taken := r.taken
	if !taken {
		r.canceled = true
		<-g.slots
	}
	g.mu.Unlock()
	if taken {
		select {
		case <-r.done: // answered meanwhile: the answer is exact
			return r.ids, r.err
		default:
		}
	}
	return nil, ctx.Err()
}

// Close stops accepting calls, writes what is queued, and returns once
// the last batch is answered.
func (g *GroupEnqueuer) Close() {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		<-g.done
		return
	}
	g.closed = true
	close(g.closing)
	g.mu.Unlock()
	<-g.done
}

func (g *GroupEnqueuer) run() {
	defer close(g.done)
	for {
		select {
		case <-g.wake:
		case <-g.closing:
			for b := g.take(); len(b) > 0; b = g.take() {
				g.flush(b)
			}
			return
		}
		for b := g.take(); len(b) > 0; b = g.take() {
			g.flush(b)
		}
	}
}

// take removes the next batch from the queue: the requests in order, up
// to MaxBatch messages and MaxBatchBytes, but at least one request.
func (g *GroupEnqueuer) take() []*groupRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	var batch []*groupRequest
	n, size, i := 0, 0, 0
	for ; i < len(g.queue); i++ {
		r := g.queue[i]
		if r.canceled {
			continue
		}
		if len(batch) > 0 && (n+len(r.msgs) > g.cfg.MaxBatch || size+r.bytes > g.cfg.MaxBatchBytes) {
			break
		}
		r.taken = true
		batch = append(batch, r)
		n += len(r.msgs)
		size += r.bytes
	}
	rest := copy(g.queue, g.queue[i:])
	clear(g.queue[rest:])
	g.queue = g.queue[:rest]
	return batch
}

// flush writes batch and answers its requests.
func (g *GroupEnqueuer) flush(batch []*groupRequest) {
	var msgs []outbox.Message
	if len(batch) == 1 {
		msgs = batch[0].msgs
	} else {
		for _, r := range batch {
			msgs = append(msgs, r.msgs...)
		}
	}
	ids, err := g.writeOne(msgs)
	if err == nil && len(ids) != len(msgs) {
		err = fmt.Errorf("daemon: the store returned %d IDs for %d messages", len(ids), len(msgs))
	}
	var nw *notWrittenError
	switch {
	case err == nil:
		for _, r := range batch {
			r.ids, ids = ids[:len(r.msgs):len(r.msgs)], ids[len(r.msgs):]
		}
	case len(batch) > 1 && errors.As(err, &nw):
		// Nothing was written, and one call's message may be the cause:
		// each call gets a transaction, and an answer, of its own.
		for _, r := range batch {
			r.ids, r.err = g.writeOne(r.msgs)
			r.err = unwrapNotWritten(r.err)
		}
	default:
		err = unwrapNotWritten(err)
		for _, r := range batch {
			r.err = err
		}
	}
	for _, r := range batch {
		if r.err != nil {
			r.ids = nil
		}
		close(r.done)
		<-g.slots
	}
}

func (g *GroupEnqueuer) writeOne(msgs []outbox.Message) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.Timeout)
	defer cancel()
	return g.write(ctx, msgs)
}

func unwrapNotWritten(err error) error {
	if nw, ok := err.(*notWrittenError); ok {
		return nw.err
	}
	return err
}

// postgresWrite is a WriteFunc for the outbox in pool: one statement
// with postgres.Enqueue, outside any transaction, so that a batch costs one
// round trip (a BEGIN and a COMMIT of their own cost two more).
func postgresWrite(pool *pgxpool.Pool) WriteFunc {
	return func(ctx context.Context, msgs []outbox.Message) ([]string, error) {
		ids, err := postgres.Enqueue(ctx, pool, msgs...)
		if err != nil {
			var pe *pgconn.PgError
			var fe *outbox.FieldError
			var ce *pgconn.ConnectError
			switch {
			case errors.As(err, &pe):
				// The server answered with an error: the statement's own
				// transaction rolled back.
				return nil, NotWritten(err)
			case errors.As(err, &fe), errors.As(err, &ce), pgconn.SafeToRetry(err):
				// Nothing reached the server.
				return nil, NotWritten(err)
			}
			return nil, err // the answer was lost: the outcome is unknown
		}
		return ids, nil
	}
}

// sqlWrite is a WriteFunc for the outbox in db, through outbox.Enqueue.
func sqlWrite(db *sql.DB) WriteFunc {
	return func(ctx context.Context, msgs []outbox.Message) ([]string, error) {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return nil, NotWritten(err)
		}
		ids, err := outbox.Enqueue(ctx, tx, msgs...)
		if err != nil {
			_ = tx.Rollback()
			return nil, NotWritten(err)
		}
		if err := tx.Commit(); err != nil {
			return nil, err
		}
		return ids, nil
	}
}
