package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/internal/api"
	"github.com/rebound-go/rebound/outbox"
)

// MaxNotReadyRetryAfter caps the Retry-After that a relay waiting for its
// store answers: the store's next attempt is at most StoreBackoff.Max away.
const MaxNotReadyRetryAfter = 5 * time.Second

// readiness says whether the relay's store is ready, and while not, the
// last error met reaching it and when the next attempt starts. It observes
// Migrate's events; it is safe for concurrent use.
type readiness struct {
	mu    sync.Mutex
	ready bool
	last  string    // the last error, without the store's password
	next  time.Time // when the next attempt starts
}

var _ rebound.Observer = (*readiness)(nil)

// Observe records a failed attempt and when the next one starts.
func (r *readiness) Observe(_ context.Context, e rebound.Event) {
	if e.Err == nil {
		return
	}
	switch e.Kind {
	case rebound.AttemptFinished, rebound.RetryScheduled:
		r.mu.Lock()
		r.last = e.Err.Error()
		if e.Kind == rebound.RetryScheduled {
			r.next = time.Now().Add(e.Wait)
		}
		r.mu.Unlock()
	}
}

// setReady marks the store ready.
func (r *readiness) setReady() {
	r.mu.Lock()
	r.ready = true
	r.mu.Unlock()
}

// notReady returns 0 once the store is ready; until then, the wait to
// suggest to a client, from 1 s to MaxNotReadyRetryAfter.
func (r *readiness) notReady() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ready {
		return 0
	}
	return min(max(time.Until(r.next), time.Second), MaxNotReadyRetryAfter)
}

// reason says why the store is not ready, or "" once it is.
func (r *readiness) reason() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.ready:
		return ""
	case r.last == "":
		return "connecting to the store"
	}
	return r.last
}

// gate answers 503 with Retry-After and a problem+json body until the store
// is ready, and passes requests to next after.
func (r *readiness) gate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if wait := r.notReady(); wait > 0 {
			api.Unavailable(w, wait)
			return
		}
		next.ServeHTTP(w, req)
	})
}

var errStopping = errors.New("daemon: stopping")

// startWhenReady migrates the store, waiting while it cannot be reached
// (Migrate with no bound; events to obs), then starts the relay under
// runCtx, marks the store ready and calls started. It returns nil once
// the relay runs or when ctx ends first, and a *StoreError if the store
// fails in a way that cannot heal.
func startWhenReady(ctx, runCtx context.Context, be *Backend, relay *outbox.Relay, ready *readiness, obs rebound.Observer, log *slog.Logger, started func()) error {
	start := time.Now()
	if err := Migrate(ctx, be, Wait{For: -1, Observer: obs}); err != nil {
		if ctx.Err() != nil {
			return nil // stopping before the store answered
		}
		return err
	}
	if err := relay.Start(runCtx); err != nil {
		return err
	}
	ready.setReady()
	log.Info("rebound relay ready: store migrated, delivering", "store", be.Kind, rebound.KeyElapsed, time.Since(start).Round(time.Millisecond))
	started()
	return nil
}
