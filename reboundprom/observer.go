package reboundprom

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/internal/endpoints"
)

// Defaults of Config.
const (
	// DefaultMaxEndpoints is the number of distinct endpoint label values a
	// zero Config.MaxEndpoints stands for.
	DefaultMaxEndpoints = 100
	// OtherEndpoint is the label value that endpoints past the limit fold
	// into.
	OtherEndpoint = endpoints.Other
)

// DefaultBuckets are the histogram buckets, in seconds, of attempt and call
// durations and retry waits: OpenTelemetry's boundaries for HTTP client
// durations, extended for calls that include backoff.
var DefaultBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60, 120}

// Config configures an Observer.
type Config struct {
	// Registerer receives the metrics. Required: there is no global
	// default.
	Registerer prometheus.Registerer
	// MaxEndpoints bounds the distinct endpoint label values; later
	// endpoints fold into "_other", which is logged once. Default 100.
	MaxEndpoints int
	// Buckets are the histogram buckets in seconds. Default DefaultBuckets.
	Buckets []float64
	// Logger receives the one warning about endpoint overflow. Default
	// slog.Default().
	Logger *slog.Logger
}

// Observer is a rebound.Observer that feeds Prometheus metrics. Combine it
// with other observers through rebound.Observers. It is safe for concurrent
// use; on the happy path it allocates nothing.
type Observer struct {
	retries      *prometheus.CounterVec
	calls        *prometheus.CounterVec
	attempts     *prometheus.CounterVec
	callDur      *durations
	attemptDur   *durations
	retryWait    *prometheus.HistogramVec
	budgetRej    *prometheus.CounterVec
	hedges       *prometheus.CounterVec
	consecutive  *prometheus.GaugeVec
	transitions  *prometheus.CounterVec
	breakerState *prometheus.Desc

	endpoints *endpoints.Cache[*endpoint] // at most Config.MaxEndpoints, then _other

	mu       sync.Mutex // guards breakers and groups
	breakers []*rebound.Breaker
	groups   []*rebound.Breakers
}

// endpoint caches an endpoint's metric handles, so that an event costs one
// map lookup and no label hashing.
type endpoint struct {
	name        string                // the label value
	retries     [2]prometheus.Counter // succeeded, failed
	calls       [6]prometheus.Counter // by rebound.Result
	callDur     [6]*durSeries
	attempts    [6]prometheus.Counter // by class, then "none" for success
	attemptDur  *durSeries
	retryWait   prometheus.Observer
	budgetRej   prometheus.Counter
	hedges      atomic.Pointer[[4]prometheus.Counter] // by hedgeResult; made at the first hedge
	consecutive prometheus.Gauge
	failures    atomic.Int64
	transitions [3]prometheus.Counter // by rebound.BreakerState
}

// New registers the metrics on cfg.Registerer and returns the observer, or
// an error naming the invalid field or the registration failure.
func New(cfg Config) (*Observer, error) {
	if cfg.Registerer == nil {
		return nil, &rebound.ConfigError{Field: "reboundprom.Config.Registerer", Problem: "required: pass the registry to register on (such as prometheus.NewRegistry())"}
	}
	if cfg.MaxEndpoints < 0 {
		return nil, &rebound.ConfigError{Field: "reboundprom.Config.MaxEndpoints", Problem: "want 0 (default " + strconv.Itoa(DefaultMaxEndpoints) + ") or more, got " + strconv.Itoa(cfg.MaxEndpoints)}
	}
	if cfg.MaxEndpoints == 0 {
		cfg.MaxEndpoints = DefaultMaxEndpoints
	}
	if cfg.Buckets == nil {
		cfg.Buckets = DefaultBuckets
	}
	if err := checkBuckets(cfg.Buckets); err != nil {
		return nil, &rebound.ConfigError{Field: "reboundprom.Config.Buckets", Problem: err.Error()}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	o := &Observer{
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_request_retries_total",
			Help: "Retries (attempts after the first), counted when their call ends; status is the call's final outcome: succeeded or failed.",
		}, []string{"endpoint", "status"}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rebound_calls_total",
			Help: "Logical calls by how they ended: success, failure (not retryable), gave_up (a limit stopped retries), rejected (open circuit breaker).",
		}, []string{"endpoint", "result"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rebound_attempts_total",
			Help: "Attempts by the class of their failure (none for a successful attempt).",
		}, []string{"endpoint", "class"}),
		callDur: newDurations("rebound_call_duration_seconds",
			"Duration of logical calls, waits between attempts included.",
			[]string{"endpoint", "result"}, cfg.Buckets),
		attemptDur: newDurations("rebound_attempt_duration_seconds",
			"Duration of single attempts.",
			[]string{"endpoint"}, cfg.Buckets),
		retryWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rebound_retry_wait_seconds",
			Help:    "Waits scheduled before retries.",
			Buckets: cfg.Buckets,
		}, []string{"endpoint"}),
		budgetRej: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rebound_budget_rejections_total",
			Help: "Retries refused by a retry budget.",
		}, []string{"endpoint"}),
		hedges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rebound_hedges_total",
			Help: "Hedged requests by how they ended: won (answered first), lost (canceled or dropped: another run answered), failure, rejected (refused by the hedge budget, not sent).",
		}, []string{"endpoint", "result"}),
		consecutive: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rebound_consecutive_failures",
			Help: "Logical calls that did not succeed in a row (canceled calls aside), reset by a success.",
		}, []string{"endpoint"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rebound_breaker_transitions_total",
			Help: "Circuit breaker state changes by the state entered.",
		}, []string{"endpoint", "to"}),
		breakerState: prometheus.NewDesc("rebound_breaker_state",
			"Circuit breaker state, read at scrape time: 0 closed, 1 half-open, 2 open.",
			[]string{"endpoint"}, nil),
	}
	o.endpoints = endpoints.New(cfg.MaxEndpoints, o.newEndpoint, func(name string) {
		cfg.Logger.Warn("reboundprom: too many endpoints; further ones are counted as "+OtherEndpoint, "limit", cfg.MaxEndpoints, "endpoint", name)
	})
	for _, c := range []prometheus.Collector{o.retries, o.calls, o.attempts, o.callDur, o.attemptDur, o.retryWait, o.budgetRej, o.hedges, o.consecutive, o.transitions, breakerCollector{o}} {
		if err := cfg.Registerer.Register(c); err != nil {
			return nil, err
		}
	}
	return o, nil
}

var (
	resultLabels = [6]string{"", "success", "failure", "gave_up", "rejected", "retrying"}
	hedgeLabels  = [4]string{"won", "lost", "failure", "rejected"}
	stateLabels  = [3]string{"closed", "half_open", "open"}
)

// newEndpoint creates the series of an endpoint, every result at zero.
func (o *Observer) newEndpoint(label string) *endpoint {
	ep := &endpoint{name: label}
	ep.retries[0] = o.retries.WithLabelValues(label, "succeeded")
	ep.retries[1] = o.retries.WithLabelValues(label, "failed")
	for r := rebound.ResultSuccess; r <= rebound.ResultRetrying; r++ {
		ep.calls[r] = o.calls.WithLabelValues(label, resultLabels[r])
		ep.callDur[r] = o.callDur.with(label, resultLabels[r])
	}
	for c := rebound.Unknown; c <= rebound.Canceled; c++ {
		ep.attempts[c] = o.attempts.WithLabelValues(label, c.String())
	}
	ep.attempts[5] = o.attempts.WithLabelValues(label, "none")
	ep.attemptDur = o.attemptDur.with(label)
	ep.retryWait = o.retryWait.WithLabelValues(label)
	ep.budgetRej = o.budgetRej.WithLabelValues(label)
	ep.consecutive = o.consecutive.WithLabelValues(label)
	for s := rebound.Closed; s <= rebound.Open; s++ {
		ep.transitions[s] = o.transitions.WithLabelValues(label, stateLabels[s])
	}
	return ep
}

// Observe implements rebound.Observer.
func (o *Observer) Observe(_ context.Context, e rebound.Event) {
	ep := o.endpoints.Get(e.Endpoint)
	switch e.Kind {
	case rebound.AttemptFinished:
		if e.Err == nil {
			ep.attempts[5].Inc()
		} else if e.Class <= rebound.Canceled {
			ep.attempts[e.Class].Inc()
		}
		o.attemptDur.observe(ep.attemptDur, e.Duration)
	case rebound.RetryScheduled:
		ep.retryWait.Observe(e.Wait.Seconds())
	case rebound.CallFinished:
		if e.Result < rebound.ResultSuccess || e.Result > rebound.ResultRetrying {
			return
		}
		ep.calls[e.Result].Inc()
		o.callDur.observe(ep.callDur[e.Result], e.Elapsed)
		if e.Attempt > 1 {
			i := 1
			if e.Result == rebound.ResultSuccess {
				i = 0
			}
			ep.retries[i].Add(float64(e.Attempt - 1))
		}
		switch {
		case e.Result == rebound.ResultSuccess:
			if ep.failures.Load() != 0 {
				ep.failures.Store(0)
				ep.consecutive.Set(0)
			}
		case e.Class != rebound.Canceled:
			ep.consecutive.Set(float64(ep.failures.Add(1)))
		}
	case rebound.BudgetRejected:
		ep.budgetRej.Inc()
	case rebound.HedgeFinished:
		switch e.Result {
		case rebound.ResultWon:
			o.hedgeCounters(ep)[0].Inc()
		case rebound.ResultLost:
			o.hedgeCounters(ep)[1].Inc()
		case rebound.ResultFailure:
			o.hedgeCounters(ep)[2].Inc()
		}
	case rebound.HedgeRejected:
		o.hedgeCounters(ep)[3].Inc()
	case rebound.BreakerStateChanged:
		if e.To <= rebound.Open {
			ep.transitions[e.To].Inc()
		}
	}
}

// hedgeCounters returns ep's rebound_hedges_total series, made at the
// first hedge event so that endpoints that are never hedged add no series.
func (o *Observer) hedgeCounters(ep *endpoint) *[4]prometheus.Counter {
	if h := ep.hedges.Load(); h != nil {
		return h
	}
	h := new([4]prometheus.Counter)
	for i, r := range hedgeLabels {
		h[i] = o.hedges.WithLabelValues(ep.name, r)
	}
	if !ep.hedges.CompareAndSwap(nil, h) {
		return ep.hedges.Load()
	}
	return h
}

// WatchBreakers makes the rebound_breaker_state gauge report every breaker
// of g, read at scrape time (an open breaker past its cool-down reports
// half-open). Give the breakers' config this Observer to also count their
// transitions.
func (o *Observer) WatchBreakers(g *rebound.Breakers) {
	o.mu.Lock()
	o.groups = append(o.groups, g)
	o.mu.Unlock()
}

// WatchBreaker is WatchBreakers for a single breaker, labelled with its
// name.
func (o *Observer) WatchBreaker(b *rebound.Breaker) {
	o.mu.Lock()
	o.breakers = append(o.breakers, b)
	o.mu.Unlock()
}

type breakerCollector struct{ o *Observer }

func (c breakerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.o.breakerState }

func (c breakerCollector) Collect(ch chan<- prometheus.Metric) {
	c.o.mu.Lock()
	single := append([]*rebound.Breaker(nil), c.o.breakers...)
	groups := append([]*rebound.Breakers(nil), c.o.groups...)
	c.o.mu.Unlock()
	seen := make(map[string]bool)
	emit := func(b *rebound.Breaker) {
		name := b.Name()
		if seen[name] {
			return
		}
		seen[name] = true
		ch <- prometheus.MustNewConstMetric(c.o.breakerState, prometheus.GaugeValue, float64(b.State()), name)
	}
	for _, b := range single {
		emit(b)
	}
	for _, g := range groups {
		g.Each(emit)
	}
}
