package reboundnet

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/internal/startstop"
)

// The defaults of SupervisorConfig.
const (
	// DefaultHealthyAfter is the HealthyAfter a zero value stands for.
	DefaultHealthyAfter = 30 * time.Second
)

// DefaultSupervisorBackoff is the Backoff a nil SupervisorConfig.Backoff
// stands for: 1 s doubling up to 30 s, with full jitter, so that the
// clients of a server that restarts come back spread over a second, and a
// server that stays down is dialled at most twice a minute by each.
var DefaultSupervisorBackoff rebound.Backoff = rebound.Exponential{Initial: time.Second, Max: 30 * time.Second}

// DefaultReconnectOn is the set a zero SupervisorConfig.ReconnectOn stands
// for: Connection, Response and Unknown.
var DefaultReconnectOn = rebound.Classes(rebound.Connection, rebound.Response, rebound.Unknown)

// ErrSessionEnded is the failure the supervisor records for a Session that
// returned nil while the supervisor was running: the connection ended
// cleanly (the peer closed it) and is reconnected. It is a Connection error.
var ErrSessionEnded error = sessionEnded{}

type sessionEnded struct{}

func (sessionEnded) Error() string { return "reboundnet: the session ended" }

func (sessionEnded) Classification() rebound.Classification {
	return rebound.Classification{Class: rebound.Connection, Retryable: true, MaybeProcessed: true}
}

// State is where a Supervisor is in its cycle.
type State uint32

const (
	// Idle: not started yet.
	Idle State = iota
	// Connecting: Dial is running.
	Connecting
	// Up: a connection is established and the Session runs on it.
	Up
	// BackingOff: the last dial or session failed; the supervisor waits
	// before dialling again.
	BackingOff
	// Stopped: the supervisor ended, by Stop, by the end of Start's
	// context, or on an error it does not reconnect on (see Err).
	Stopped
)

var stateNames = [...]string{"idle", "connecting", "up", "backing_off", "stopped"}

// String returns the state's snake_case name.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// SupervisorConfig configures a Supervisor. Dial and Session are required;
// every other field's zero value means its default.
type SupervisorConfig struct {
	// Name labels the connection in events, logs and metrics (the events'
	// Endpoint), such as "quotes feed". Default "".
	Name string
	// Dial opens the connection; ctx ends when the supervisor stops.
	// Typically a Dialer's To(network, address), whose own policy may
	// retry a few times before the supervisor's backoff takes over (a
	// Dialer with Policy.MaxAttempts 1 leaves the pacing to the
	// supervisor). Required.
	Dial func(ctx context.Context) (net.Conn, error)
	// Session runs on each connection: it does the handshake, subscribes
	// and reads until the connection fails or ctx ends, and returns the
	// error that ended it. ctx ends when the supervisor stops, and the
	// supervisor then closes conn, so that a Session blocked in a read
	// returns; it also closes conn when Session returns. A Session that
	// returns nil while ctx is live has seen the connection end cleanly:
	// the supervisor reconnects as for ErrSessionEnded. Required.
	Session func(ctx context.Context, conn net.Conn) error
	// Backoff computes the wait before each redial, from the number of
	// consecutive failures. Default DefaultSupervisorBackoff: 1 s doubling
	// up to 30 s, with full jitter.
	Backoff rebound.Backoff
	// HealthyAfter is how long a session must have run for the failures
	// before it to be forgotten: the wait after it starts again from the
	// backoff's first delay. A connection that drops sooner keeps backing
	// off further, so that a server that accepts and then fails at once is
	// not dialled in a tight loop. Default DefaultHealthyAfter, 30 s.
	HealthyAfter time.Duration
	// ReconnectOn is the set of classes that are reconnected on; an error
	// of another class (or not Retryable, or marked rebound.Permanent)
	// stops the supervisor, and Err returns it. Errors marked
	// rebound.Transient or rebound.RetryAfter always reconnect (after the
	// wait asked for, if any). Default DefaultReconnectOn: Connection,
	// Response and Unknown. Unknown is in it, unlike in a Policy's
	// default, because a long-lived connection that stops on an error
	// nothing recognised (a garbled frame, an open breaker of its Dialer)
	// is an outage that lasts until someone restarts the program.
	ReconnectOn rebound.ClassSet
	// Classifiers run before rebound's built-in rules on each dial or
	// session error, as in a Policy. Default none.
	Classifiers []rebound.Classifier
	// Observer receives the supervisor's events (see "Events" in the
	// package doc). Default none.
	Observer rebound.Observer
	// OnState, when set, is called on the supervisor's goroutine with each
	// new state, in order, Stopped last. It must return quickly.
	OnState func(State)
	// Rand returns uniform draws in [0, 1) for the backoff's jitter.
	// Default math/rand/v2.Float64. Tests set it for exact schedules.
	Rand func() float64
}

// Supervisor keeps one long-lived connection up: it dials, runs the
// Session on the connection, and when the dial or the session fails with
// an error it reconnects on, it waits the backoff and dials again, until
// Stop. It is a background service: Start launches it, Stop ends it and
// returns once its goroutine has ended, and a stopped Supervisor cannot
// start again.
//
// A Supervisor is safe for concurrent use.
type Supervisor struct {
	cfg         SupervisorConfig
	backoff     rebound.Backoff
	healthy     time.Duration
	reconnectOn rebound.ClassSet
	policy      rebound.Policy // carries the Classifiers
	svc         startstop.Service
	state       atomic.Uint32
	done        chan struct{}

	mu  sync.Mutex
	err error
}

// NewSupervisor returns a Supervisor for cfg, or a *rebound.ConfigError
// naming the first invalid field.
func NewSupervisor(cfg SupervisorConfig) (*Supervisor, error) {
	const all = 1<<rebound.Unknown | 1<<rebound.Connection | 1<<rebound.Response | 1<<rebound.Logic | 1<<rebound.Canceled
	switch {
	case cfg.Dial == nil:
		return nil, &rebound.ConfigError{Field: "reboundnet.SupervisorConfig.Dial", Problem: "required: the function that opens the connection"}
	case cfg.Session == nil:
		return nil, &rebound.ConfigError{Field: "reboundnet.SupervisorConfig.Session", Problem: "required: the function that runs on each connection"}
	case cfg.HealthyAfter < 0:
		return nil, &rebound.ConfigError{Field: "reboundnet.SupervisorConfig.HealthyAfter", Problem: "want a duration >= 0, got " + cfg.HealthyAfter.String()}
	case cfg.ReconnectOn&^all != 0:
		return nil, &rebound.ConfigError{Field: "reboundnet.SupervisorConfig.ReconnectOn", Problem: "want a set built with rebound.Classes, got bits " + strconv.Itoa(int(cfg.ReconnectOn))}
	}
	if e, ok := cfg.Backoff.(rebound.Exponential); ok {
		if err := e.Validate(); err != nil {
			var ce *rebound.ConfigError
			if errors.As(err, &ce) {
				return nil, &rebound.ConfigError{Field: "reboundnet.SupervisorConfig.Backoff." + ce.Field, Problem: ce.Problem}
			}
			return nil, err
		}
	}
	s := &Supervisor{
		cfg:         cfg,
		backoff:     cfg.Backoff,
		healthy:     cfg.HealthyAfter,
		reconnectOn: cfg.ReconnectOn,
		policy:      rebound.Policy{Classifiers: cfg.Classifiers},
		done:        make(chan struct{}),
	}
	if s.backoff == nil {
		s.backoff = DefaultSupervisorBackoff
	}
	if s.healthy == 0 {
		s.healthy = DefaultHealthyAfter
	}
	if s.reconnectOn == 0 {
		s.reconnectOn = DefaultReconnectOn
	}
	return s, nil
}

// Start launches the supervisor's goroutine, which dials at once. The
// supervisor stops when Stop is called or ctx ends. Start after Stop is an
// error.
func (s *Supervisor) Start(ctx context.Context) error {
	return s.svc.Start(ctx, "reboundnet: Supervisor "+strconv.Quote(s.cfg.Name), s.run)
}

// Stop cancels the dial, the session's context or the backoff wait,
// closes the connection, and returns once the supervisor's goroutine has
// ended: with nil, or with ctx's error when ctx ended first (Dial or
// Session ignored their context until then). Stopping twice is fine.
func (s *Supervisor) Stop(ctx context.Context) error { return s.svc.Stop(ctx) }

// State returns the supervisor's current state.
func (s *Supervisor) State() State { return State(s.state.Load()) }

// Ready reports whether a connection is up and its Session running: a
// readiness check.
func (s *Supervisor) Ready() bool { return s.State() == Up }

// Done returns a channel closed when the supervisor's goroutine has ended,
// whether by Stop or on an error (see Err).
func (s *Supervisor) Done() <-chan struct{} { return s.done }

// Err returns why the supervisor stopped by itself: a *rebound.Error with
// ReasonPermanent whose Last is the dial or session error it does not
// reconnect on (errors.Is(err, rebound.ErrPermanent) holds). It is nil while
// the supervisor runs and after Stop.
func (s *Supervisor) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *Supervisor) set(st State) {
	if State(s.state.Swap(uint32(st))) != st && s.cfg.OnState != nil {
		s.cfg.OnState(st)
	}
}

func (s *Supervisor) observe(ctx context.Context, e rebound.Event) {
	if s.cfg.Observer != nil {
		e.Endpoint = s.cfg.Name
		s.cfg.Observer.Observe(ctx, e)
	}
}

func (s *Supervisor) draw() float64 {
	if s.cfg.Rand == nil {
		return rand.Float64()
	}
	u := s.cfg.Rand()
	if u < 0 || u >= 1 || u != u {
		return 0
	}
	return u
}

// run is the supervisor's loop. fails counts the failures (of dials and
// sessions) since the last healthy session; down is when the connection
// was lost, or the start.
func (s *Supervisor) run(ctx, _ context.Context) {
	defer close(s.done)
	defer s.set(Stopped)
	var (
		fails int
		prev  time.Duration
		down  = time.Now()
	)
	for {
		s.set(Connecting)
		conn, err := s.cfg.Dial(ctx)
		if err == nil {
			s.set(Up)
			s.observe(ctx, rebound.Event{Kind: rebound.CallFinished, Attempt: fails + 1, Result: rebound.ResultSuccess, Elapsed: time.Since(down)})
			began := time.Now()
			err = s.session(ctx, conn)
			down = time.Now()
			if down.Sub(began) >= s.healthy {
				fails, prev = 0, 0
			}
		}
		if ctx.Err() != nil {
			return
		}
		fails++
		cl := s.classify(err)
		if !(cl.Marked || cl.Retryable && s.reconnectOn.Has(cl.Class)) {
			e := &rebound.Error{Endpoint: s.cfg.Name, Reason: rebound.ReasonPermanent, Attempts: fails, Elapsed: time.Since(down), Class: cl.Class, Last: err}
			s.mu.Lock()
			s.err = e
			s.mu.Unlock()
			s.observe(ctx, rebound.Event{Kind: rebound.CallFinished, Attempt: fails, Class: cl.Class, Err: err, Result: rebound.ResultFailure, Reason: rebound.ReasonPermanent, Elapsed: e.Elapsed})
			return
		}
		wait := cl.RetryAfter
		if wait <= 0 {
			wait = max(s.backoff.Delay(fails, prev, s.draw()), 0)
			prev = wait
		}
		s.observe(ctx, rebound.Event{Kind: rebound.RetryScheduled, Attempt: fails, Class: cl.Class, Err: err, Wait: wait, Elapsed: time.Since(down)})
		s.set(BackingOff)
		if !sleep(ctx, wait) {
			return
		}
	}
}

// session runs the Session on conn, closing conn when ctx ends, and closes
// conn when it returns.
func (s *Supervisor) session(ctx context.Context, conn net.Conn) error {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	err := s.cfg.Session(ctx, conn)
	if stop() {
		conn.Close()
	}
	if err == nil {
		err = ErrSessionEnded
	}
	return err
}

// classify classifies a dial or session error while the supervisor runs:
// a context error then comes from below it (a Session's own deadline, a
// dial timeout), so it is a Connection failure, as in rebound.Do.
func (s *Supervisor) classify(err error) rebound.Classification {
	cl := s.policy.Classify(err)
	if cl.Class == rebound.Canceled {
		cl = rebound.Classification{Class: rebound.Connection, Retryable: true, MaybeProcessed: true}
	}
	return cl
}

// sleep waits d or until ctx is done, and reports whether the wait ran out.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
