package alert

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rebound-go/rebound"
)

// Defaults of Config.
const (
	DefaultInterval     = 10 * time.Second
	DefaultWindow       = 5 * time.Minute
	DefaultMaxEndpoints = 100
	// OtherEndpoint is where endpoints past MaxEndpoints are counted.
	OtherEndpoint = "_other"
	// queueSize bounds the notifications waiting to be sent.
	queueSize = 256
)

// Config configures an Alerter. The zero value means every default (and no
// notifier, which is valid but silent).
type Config struct {
	// Rules tunes the alerts.
	Rules Rules
	// Notifiers receive every firing and resolved alert, in order, from
	// one goroutine owned by the Alerter.
	Notifiers []Notifier
	// Window is the sliding window of the rate rules. Default 5 m.
	Window time.Duration
	// Interval is how often rules are evaluated, and the width of the
	// window's buckets. Default 10 s; at most Window.
	Interval time.Duration
	// RepeatInterval is how often a firing alert is sent again to
	// notifiers that implement Repeater (Alertmanager, which forgets
	// alerts that are not refreshed). Others hear of each alert once when
	// it fires and once when it resolves. Default 1 m.
	RepeatInterval time.Duration
	// MaxEndpoints bounds the endpoints tracked; later ones are counted as
	// "_other". Default 100.
	MaxEndpoints int
	// Labels are added to every alert (such as job or instance).
	Labels map[string]string
	// Logger receives notifier failures and dropped notifications.
	// Default slog.Default().
	Logger *slog.Logger
}

// Alerter evaluates the alert rules inside the process from rebound's
// events. It is a rebound.Observer: add it to policies (and to breakers'
// configs, for CircuitOpen). Counting an event is O(1), takes no lock on a
// known endpoint and allocates nothing; memory is fixed per endpoint.
// Rules are evaluated every Interval by a goroutine that Start begins and
// Stop ends.
type Alerter struct {
	cfg     Config
	rules   [5]resolved
	buckets int

	cur atomic.Int64 // the current bucket's sequence number

	mu        sync.Mutex                           // serialises writers of endpoints
	endpoints atomic.Pointer[map[string]*endpoint] // copied on write
	otherFast atomic.Pointer[endpoint]             // "_other", once MaxEndpoints is reached
	last      atomic.Pointer[endpoint]             // the endpoint of the last event

	queue    chan Alert
	runMu    sync.Mutex
	cancel   context.CancelCauseFunc
	done     chan struct{}
	started  bool
	stopping bool
}

type endpoint struct {
	name    string
	buckets []bucket // ring, indexed by sequence % len
	consec  atomic.Int64

	// breaker state, from BreakerStateChanged events
	breakerOpen  atomic.Bool  // open or half-open
	breakerSince atomic.Int64 // UnixNano of the change away from closed

	// evaluation state, touched only by the evaluator
	state [5]ruleState
}

type bucket struct {
	seq      atomic.Int64
	calls    atomic.Int64
	failures atomic.Int64
	retries  atomic.Int64
	rejected atomic.Int64
}

type ruleState struct {
	since    time.Time // when the condition started holding (pending)
	clearAt  time.Time // when the condition stopped holding while firing
	firing   bool
	startsAt time.Time
	value    float64
	lastSent time.Time
}

// New returns an Alerter, or an error naming the first invalid field.
func New(cfg Config) (*Alerter, error) {
	if cfg.Window < 0 || cfg.Interval < 0 || cfg.MaxEndpoints < 0 || cfg.Rules.MinCalls < 0 || cfg.Rules.StormRate < 0 {
		field := map[bool]string{cfg.Window < 0: "Window", cfg.Interval < 0: "Interval", cfg.MaxEndpoints < 0: "MaxEndpoints", cfg.Rules.MinCalls < 0: "Rules.MinCalls", cfg.Rules.StormRate < 0: "Rules.StormRate"}[true]
		return nil, &rebound.ConfigError{Field: "alert.Config." + field, Problem: "want 0 (the default) or a positive value"}
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Interval > cfg.Window {
		return nil, &rebound.ConfigError{Field: "alert.Config.Interval", Problem: "want at most Window (" + cfg.Window.String() + "), got " + cfg.Interval.String()}
	}
	if cfg.MaxEndpoints == 0 {
		cfg.MaxEndpoints = DefaultMaxEndpoints
	}
	if cfg.RepeatInterval <= 0 {
		cfg.RepeatInterval = time.Minute
	}
	if cfg.Rules.MinCalls == 0 {
		cfg.Rules.MinCalls = 30
	}
	if cfg.Rules.StormRate == 0 {
		cfg.Rules.StormRate = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	a := &Alerter{cfg: cfg, queue: make(chan Alert, queueSize)}
	empty := map[string]*endpoint{}
	a.endpoints.Store(&empty)
	a.buckets = int(cfg.Window / cfg.Interval)
	for i, r := range []struct {
		field, name string
		rule        Rule
	}{
		{"HighFailureRate", HighFailureRate, cfg.Rules.HighFailureRate},
		{"ConsecutiveFailures", ConsecutiveFailures, cfg.Rules.ConsecutiveFailures},
		{"RetryStorm", RetryStorm, cfg.Rules.RetryStorm},
		{"BudgetExhausted", BudgetExhausted, cfg.Rules.BudgetExhausted},
		{"CircuitOpen", CircuitOpen, cfg.Rules.CircuitOpen},
	} {
		rr, err := resolveRule(r.field, r.name, r.rule)
		if err != nil {
			return nil, err
		}
		a.rules[i] = rr
	}
	return a, nil
}

func (a *Alerter) endpoint(name string) *endpoint {
	// The last endpoint first; then the copy-on-write map: a lookup takes
	// no lock and writes nothing.
	if ep := a.last.Load(); ep != nil && ep.name == name {
		return ep
	}
	if ep := (*a.endpoints.Load())[name]; ep != nil {
		a.last.Store(ep)
		return ep
	}
	if other := a.otherFast.Load(); other != nil {
		return other
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	cur := *a.endpoints.Load()
	if ep := cur[name]; ep != nil {
		return ep
	}
	if len(cur) >= a.cfg.MaxEndpoints {
		other := &endpoint{name: OtherEndpoint, buckets: make([]bucket, a.buckets)}
		a.otherFast.Store(other)
		return other
	}
	next := make(map[string]*endpoint, len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	ep := &endpoint{name: name, buckets: make([]bucket, a.buckets)}
	next[name] = ep
	a.endpoints.Store(&next)
	return ep
}

// slot returns the bucket for the current sequence, resetting it if it
// held an older one.
func (ep *endpoint) slot(seq int64) *bucket {
	b := &ep.buckets[seq%int64(len(ep.buckets))]
	if old := b.seq.Load(); old != seq && b.seq.CompareAndSwap(old, seq) {
		b.calls.Store(0)
		b.failures.Store(0)
		b.retries.Store(0)
		b.rejected.Store(0)
	}
	return b
}

// Observe implements rebound.Observer.
func (a *Alerter) Observe(_ context.Context, e rebound.Event) {
	switch e.Kind {
	case rebound.CallFinished:
		ep := a.endpoint(e.Endpoint)
		b := ep.slot(a.cur.Load())
		b.calls.Add(1)
		if e.Attempt > 1 {
			b.retries.Add(int64(e.Attempt - 1))
		}
		switch {
		case e.Result == rebound.ResultSuccess:
			if ep.consec.Load() != 0 {
				ep.consec.Store(0)
			}
		case e.Class == rebound.Canceled:
			// The caller gave up: says nothing of the endpoint.
		default:
			b.failures.Add(1)
			ep.consec.Add(1)
		}
	case rebound.BudgetRejected:
		a.endpoint(e.Endpoint).slot(a.cur.Load()).rejected.Add(1)
	case rebound.BreakerStateChanged:
		// Open and half-open alike count as not closed: a breaker whose
		// probes keep failing goes open, half-open, open… and never
		// recovers.
		ep := a.endpoint(e.Endpoint)
		switch {
		case e.To == rebound.Closed:
			ep.breakerOpen.Store(false)
		case e.From == rebound.Closed:
			ep.breakerSince.Store(time.Now().UnixNano())
			ep.breakerOpen.Store(true)
		}
	}
}

// Start begins evaluating the rules every Interval until Stop or until ctx
// ends. Starting twice is an error.
func (a *Alerter) Start(ctx context.Context) error {
	a.runMu.Lock()
	defer a.runMu.Unlock()
	if a.started {
		return errors.New("alert: Alerter already started")
	}
	a.started = true
	ctx, cancel := context.WithCancelCause(ctx)
	a.cancel = cancel
	a.done = make(chan struct{})
	notified := make(chan struct{})
	go a.notify(notified)
	go func() {
		defer close(a.done)
		defer func() { close(a.queue); <-notified }()
		t := time.NewTicker(a.cfg.Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				a.cur.Add(1)
				a.evaluate(now)
			}
		}
	}()
	return nil
}

// Stop ends the evaluation, waits for queued notifications to be sent or for
// ctx to end, and returns. Stopping twice, or an Alerter never started, is
// fine.
func (a *Alerter) Stop(ctx context.Context) error {
	a.runMu.Lock()
	started, cancel, done := a.started, a.cancel, a.done
	a.runMu.Unlock()
	if !started {
		return nil
	}
	cancel(errors.New("alert: Alerter stopped"))
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *Alerter) notify(done chan<- struct{}) {
	defer close(done)
	for al := range a.queue {
		for _, n := range a.cfg.Notifiers {
			if _, ok := n.(Repeater); al.Repeat && !ok {
				continue
			}
			if err := n.Notify(context.Background(), al); err != nil {
				a.cfg.Logger.Warn("alert: notifier failed", "notifier", n.Name(), "alert", al.Name, "endpoint", al.Endpoint, "state", al.State.String(), "error", err.Error())
			}
		}
	}
}

// evaluate checks every rule of every endpoint once and queues the changes.
func (a *Alerter) evaluate(now time.Time) {
	cur := *a.endpoints.Load()
	eps := make([]*endpoint, 0, len(cur)+1)
	for _, ep := range cur {
		eps = append(eps, ep)
	}
	if other := a.otherFast.Load(); other != nil {
		eps = append(eps, other)
	}
	seq := a.cur.Load()
	window := a.cfg.Window.Seconds()
	for _, ep := range eps {
		var calls, failures, retries, rejected int64
		for i := range ep.buckets {
			b := &ep.buckets[i]
			// Buckets of the last full Window, excluding the one now filling.
			if s := b.seq.Load(); s < seq && s >= seq-int64(a.buckets) {
				calls += b.calls.Load()
				failures += b.failures.Load()
				retries += b.retries.Load()
				rejected += b.rejected.Load()
			}
		}
		var conds [5]struct {
			holds bool
			value float64
		}
		if calls > 0 {
			ratio := float64(failures) / float64(calls)
			conds[0].holds = calls >= int64(a.cfg.Rules.MinCalls) && ratio > a.rules[0].threshold
			conds[0].value = ratio
			perCall := float64(retries) / float64(calls)
			conds[2].holds = perCall > a.rules[2].threshold && float64(retries)/window > a.cfg.Rules.StormRate
			conds[2].value = perCall
		}
		c := ep.consec.Load()
		conds[1].holds, conds[1].value = float64(c) >= a.rules[1].threshold, float64(c)
		conds[3].holds, conds[3].value = float64(rejected) >= a.rules[3].threshold, float64(rejected)
		if ep.breakerOpen.Load() {
			open := now.Sub(time.Unix(0, ep.breakerSince.Load())).Seconds()
			conds[4].holds, conds[4].value = open >= a.rules[4].threshold, open
		}
		for i, r := range a.rules {
			if r.off {
				continue
			}
			s := &ep.state[i]
			st, changed := s.step(r, conds[i].holds, conds[i].value, now)
			switch {
			case changed:
				s.lastSent = now
				a.send(a.alert(r, ep.name, s, st, false, now))
			case st == Firing && now.Sub(s.lastSent) >= a.cfg.RepeatInterval:
				s.lastSent = now
				a.send(a.alert(r, ep.name, s, st, true, now))
			}
		}
	}
}

// step advances one rule's state machine and reports a change of state.
func (s *ruleState) step(r resolved, holds bool, value float64, now time.Time) (State, bool) {
	if holds {
		s.value = value
		s.clearAt = time.Time{}
		if s.firing {
			return Firing, false
		}
		if s.since.IsZero() {
			s.since = now
		}
		if now.Sub(s.since) >= r.forD {
			s.firing, s.startsAt = true, now
			return Firing, true
		}
		return Pending, false
	}
	s.since = time.Time{}
	if !s.firing {
		return Inactive, false
	}
	if s.clearAt.IsZero() {
		s.clearAt = now
	}
	if now.Sub(s.clearAt) >= r.keepD {
		s.firing = false
		return Resolved, true
	}
	return Firing, false
}

func (a *Alerter) alert(r resolved, endpoint string, s *ruleState, st State, repeat bool, now time.Time) Alert {
	al := Alert{
		Name:     r.name,
		Endpoint: endpoint,
		State:    st,
		Value:    s.value,
		StartsAt: s.startsAt,
		Labels:   a.cfg.Labels,
		Repeat:   repeat,
	}
	if st == Resolved {
		al.EndsAt = now
	}
	al.Summary, al.Description = describe(r.name, endpoint, s.value)
	return al
}

func (a *Alerter) send(al Alert) {
	select {
	case a.queue <- al:
	default:
		a.cfg.Logger.Warn("alert: notification queue full; dropping", "alert", al.Name, "endpoint", al.Endpoint, "state", al.State.String())
	}
}

func describe(name, endpoint string, v float64) (summary, description string) {
	switch name {
	case HighFailureRate:
		return endpoint + ": " + strconv.FormatFloat(100*v, 'f', 1, 64) + "% of calls failing",
			"More than the threshold of calls to " + endpoint + " failed, gave up or were rejected over the window."
	case ConsecutiveFailures:
		return endpoint + ": " + strconv.FormatFloat(v, 'f', 0, 64) + " calls in a row did not succeed",
			"The last calls to " + endpoint + " failed or gave up, with no success between them."
	case RetryStorm:
		return "Retry storm towards " + endpoint + " (" + strconv.FormatFloat(v, 'f', 2, 64) + " retries per call)",
			"Calls to " + endpoint + " average more retries each than the threshold, at a high absolute rate."
	case BudgetExhausted:
		return endpoint + ": retry budget exhausted",
			"The retry budget for " + endpoint + " refused " + strconv.FormatFloat(v, 'f', 0, 64) + " retries over the window."
	case CircuitOpen:
		return endpoint + ": circuit breaker open for " + (time.Duration(v) * time.Second).String(),
			"The circuit breaker for " + endpoint + " has stayed open; calls fail fast."
	}
	return name, ""
}
