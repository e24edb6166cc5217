package alert

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/internal/startstop"
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
	// window's buckets. Default 10 s; at most Window. Buckets and
	// evaluations are aligned on the time New ran: the evaluation at an
	// instant T reads the events observed in [T−Window, T).
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
	buckets int       // the window's, Window/Interval
	epoch   time.Time // bucket 0 starts here

	mu        sync.Mutex                           // serialises writers of endpoints
	endpoints atomic.Pointer[map[string]*endpoint] // copied on write
	otherFast atomic.Pointer[endpoint]             // "_other", once MaxEndpoints is reached
	last      atomic.Pointer[endpoint]             // the endpoint of the last event

	queue chan Alert
	svc   startstop.Service
}

type endpoint struct {
	name    string
	buckets []bucket // ring of ringLen(Alerter.buckets), indexed by bucket number % len

	// breaker state, from BreakerStateChanged events
	breakerMu sync.Mutex
	breaker   breakerState // as of the last change
	before    breakerState // as of the end of the bucket before the last change's

	// evaluation state, touched only by the evaluator
	state  [5]ruleState
	run    int64 // calls in a row that did not succeed, as of the end of bucket folded
	folded int64
}

// bucket counts the calls of one Interval. The consecutive-failures rule
// reads a run of failures across buckets from successes (calls − failures −
// canceled) and tail.
type bucket struct {
	calls    counter
	failures counter
	canceled counter
	tail     counter // failures since the bucket's last success
	retries  counter
	rejected counter
}

type breakerState struct {
	open  bool          // open or half-open
	since time.Duration // after the epoch: the change away from closed
	seq   int64         // the bucket of the change
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
	a := &Alerter{cfg: cfg, epoch: time.Now(), queue: make(chan Alert, queueSize)}
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
		other := a.newEndpoint(OtherEndpoint)
		a.otherFast.Store(other)
		return other
	}
	next := make(map[string]*endpoint, len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	ep := a.newEndpoint(name)
	next[name] = ep
	a.endpoints.Store(&next)
	return ep
}

func (a *Alerter) newEndpoint(name string) *endpoint {
	return &endpoint{name: name, buckets: make([]bucket, ringLen(a.buckets)), folded: -1}
}

// slot returns the ring's slot for bucket seq.
func (ep *endpoint) slot(seq int64) *bucket {
	return &ep.buckets[seq%int64(len(ep.buckets))]
}

// Observe implements rebound.Observer.
func (a *Alerter) Observe(_ context.Context, e rebound.Event) {
	switch e.Kind {
	case rebound.CallFinished:
		ep := a.endpoint(e.Endpoint)
		seq := bucketOf(time.Since(a.epoch), a.cfg.Interval)
		b := ep.slot(seq)
		b.calls.add(seq, 1)
		if e.Attempt > 1 {
			b.retries.add(seq, uint64(e.Attempt-1))
		}
		switch {
		case e.Result == rebound.ResultSuccess:
			b.tail.zero(seq)
		case e.Class == rebound.Canceled:
			// The caller gave up: says nothing of the endpoint.
			b.canceled.add(seq, 1)
		default:
			// Failure, gave up, rejected, and retrying: the outbox relay's
			// delivery attempts that failed.
			b.failures.add(seq, 1)
			b.tail.add(seq, 1)
		}
	case rebound.BudgetRejected:
		seq := bucketOf(time.Since(a.epoch), a.cfg.Interval)
		a.endpoint(e.Endpoint).slot(seq).rejected.add(seq, 1)
	case rebound.BreakerStateChanged:
		// Open and half-open alike count as not closed: a breaker whose
		// probes keep failing goes open, half-open, open… and never
		// recovers.
		ep := a.endpoint(e.Endpoint)
		at := time.Since(a.epoch)
		seq := bucketOf(at, a.cfg.Interval)
		ep.breakerMu.Lock()
		if ep.breaker.seq < seq {
			ep.before = ep.breaker
		}
		switch {
		case e.To == rebound.Closed:
			ep.breaker.open = false
		case e.From == rebound.Closed:
			ep.breaker.open, ep.breaker.since = true, at
		}
		ep.breaker.seq = seq
		ep.breakerMu.Unlock()
	}
}

// Start begins evaluating the rules every Interval until Stop or until ctx
// ends. An Alerter starts once: starting twice, or after Stop, is an error
// that says so.
func (a *Alerter) Start(ctx context.Context) error {
	return a.svc.Start(ctx, "alert: Alerter", a.run)
}

// run evaluates at each bucket's start until ctx ends; notifiers get work,
// which ends only when Stop's context does.
func (a *Alerter) run(ctx, work context.Context) {
	notified := make(chan struct{})
	go a.notify(work, notified)
	defer func() { close(a.queue); <-notified }()
	// Wake at each bucket's start, so that an evaluation reads whole
	// buckets only, however late the timer fires.
	t := time.NewTimer(untilNext(time.Since(a.epoch), a.cfg.Interval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d := time.Since(a.epoch)
			a.evaluate(bucketOf(d, a.cfg.Interval))
			t.Reset(untilNext(time.Since(a.epoch), a.cfg.Interval))
		}
	}
}

// Stop ends the evaluation and waits for queued notifications to be sent
// until ctx ends; then it cancels the notifications in flight. It returns
// once every goroutine has ended, with ctx's error if ctx ended first.
// Stopping twice, or an Alerter never started, is fine.
func (a *Alerter) Stop(ctx context.Context) error { return a.svc.Stop(ctx) }

func (a *Alerter) notify(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	for al := range a.queue {
		for _, n := range a.cfg.Notifiers {
			if _, ok := n.(Repeater); al.Repeat && !ok {
				continue
			}
			if err := n.Notify(ctx, al); err != nil {
				a.cfg.Logger.Warn("alert: notifier failed", "notifier", n.Name(), "alert", al.Name, "endpoint", al.Endpoint, "state", al.State.String(), "error", err.Error())
			}
		}
	}
}

// evaluate checks every rule of every endpoint once, as of the start of
// bucket k, and queues the changes.
func (a *Alerter) evaluate(k int64) {
	at := time.Duration(k) * a.cfg.Interval
	now := a.epoch.Add(at)
	cur := *a.endpoints.Load()
	eps := make([]*endpoint, 0, len(cur)+1)
	for _, ep := range cur {
		eps = append(eps, ep)
	}
	if other := a.otherFast.Load(); other != nil {
		eps = append(eps, other)
	}
	first, last := window(k, a.buckets)
	seconds := a.cfg.Window.Seconds()
	for _, ep := range eps {
		var calls, failures, retries, rejected int64
		for j := first; j <= last; j++ {
			if j < 0 {
				continue
			}
			b := ep.slot(j)
			calls += b.calls.get(j)
			failures += b.failures.get(j)
			retries += b.retries.get(j)
			rejected += b.rejected.get(j)
		}
		// The run of calls that did not succeed, carried across buckets
		// (it may be longer than the window).
		for j := max(ep.folded+1, first); j <= last; j++ {
			b := ep.slot(j)
			fails := b.failures.get(j)
			if b.calls.get(j)-fails-b.canceled.get(j) > 0 {
				ep.run = b.tail.get(j)
			} else {
				ep.run += fails
			}
		}
		ep.folded = max(ep.folded, last)
		ep.breakerMu.Lock()
		br := ep.breaker
		if br.seq >= k {
			br = ep.before // changed at or after this instant: not yet seen
		}
		ep.breakerMu.Unlock()
		var conds [5]struct {
			holds bool
			value float64
		}
		if calls > 0 {
			ratio := float64(failures) / float64(calls)
			conds[0].holds = calls >= int64(a.cfg.Rules.MinCalls) && ratio > a.rules[0].threshold
			conds[0].value = ratio
			perCall := float64(retries) / float64(calls)
			conds[2].holds = perCall > a.rules[2].threshold && float64(retries)/seconds > a.cfg.Rules.StormRate
			conds[2].value = perCall
		}
		conds[1].holds, conds[1].value = float64(ep.run) >= a.rules[1].threshold, float64(ep.run)
		conds[3].holds, conds[3].value = float64(rejected) >= a.rules[3].threshold, float64(rejected)
		if br.open {
			open := (at - br.since).Seconds()
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
