package reboundotel

import (
	"context"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/internal/endpoints"
)

// Attribute keys of the metrics and span events. There is no semantic
// convention for retries and circuit breakers yet, so they carry the
// rebound. prefix; status is the label of the guide's retry counter.
const (
	keyEndpoint    = attribute.Key("rebound.endpoint")
	keyStatus      = attribute.Key("status")
	keyResult      = attribute.Key("rebound.result")
	keyReason      = attribute.Key("rebound.reason")
	keyClass       = attribute.Key("rebound.class")
	keyAttempt     = attribute.Key("rebound.attempt")
	keyAttempts    = attribute.Key("rebound.attempts")
	keyWait        = attribute.Key("rebound.retry.wait")
	keyDuration    = attribute.Key("rebound.attempt.duration")
	keyBreakerFrom = attribute.Key("rebound.breaker.from")
	keyBreakerTo   = attribute.Key("rebound.breaker.to")
	keyErrMessage  = attribute.Key("error.message")
	keyHedge       = attribute.Key("rebound.hedge")
)

// Names of the span events.
const (
	EventRetry               = "rebound.retry"
	EventBudgetRejected      = "rebound.budget_rejected"
	EventBreakerRejected     = "rebound.breaker_rejected"
	EventCallFinished        = "rebound.call_finished"
	EventBreakerStateChanged = "rebound.breaker_state_changed"
	EventAttempt             = "rebound.attempt"
	EventHedge               = "rebound.hedge"
)

// Observer is a rebound.Observer that records rebound's events as
// OpenTelemetry metrics, and as events on the span current in the context
// each event comes with. Combine it with other observers through
// rebound.Observers. It is safe for concurrent use; when the span is not
// recording, an event allocates nothing.
type Observer struct {
	tracer trace.Tracer

	retries      metric.Int64Counter
	calls        metric.Int64Counter
	attempts     metric.Int64Counter
	callDur      metric.Float64Histogram
	attemptDur   metric.Float64Histogram
	retryWait    metric.Float64Histogram
	budgetRej    metric.Int64Counter
	hedges       metric.Int64Counter
	consecutive  metric.Int64Gauge
	transitions  metric.Int64Counter
	breakerState metric.Int64ObservableGauge

	// noMetrics: the MeterProvider is the no-op one, so measurements are
	// skipped before the endpoint is even looked up.
	noMetrics bool
	// untimed: noMetrics, and the TracerProvider is the no-op one too.
	untimed bool

	endpoints *endpoints.Cache[*endpoint] // at most Config.MaxEndpoints, then _other

	mu       sync.Mutex // guards breakers and groups
	breakers []*rebound.Breaker
	groups   []*rebound.Breakers
}

// endpoint holds an endpoint's measurement options, built once, so that
// recording a measurement builds no attribute set and allocates nothing.
type endpoint struct {
	endpoint    attribute.KeyValue
	retries     [2][]metric.AddOption    // succeeded, failed
	calls       [6][]metric.AddOption    // by rebound.Result
	callDur     [6][]metric.RecordOption // by rebound.Result
	attempts    [6][]metric.AddOption    // by class, then "none" for success
	plain       []metric.AddOption       // the endpoint alone
	plainRecord []metric.RecordOption    // the endpoint alone
	transitions [3][]metric.AddOption    // by the state entered
	hedges      [4][]metric.AddOption    // won, lost, failure, rejected
	failures    atomic.Int64
}

var (
	resultNames = [6]string{"", "success", "failure", "gave_up", "rejected", "retrying"}
	stateNames  = [3]string{"closed", "half_open", "open"}
	hedgeNames  = [4]string{"won", "lost", "failure", "rejected"}
)

// New creates the Observer's instruments with cfg's MeterProvider, or
// returns an error naming the invalid field or the instrument that could
// not be created.
func New(cfg Config) (*Observer, error) {
	cfg, err := cfg.check()
	if err != nil {
		return nil, err
	}
	m := cfg.MeterProvider.Meter(ScopeName)
	o := &Observer{tracer: cfg.tracer()}
	switch cfg.MeterProvider.(type) {
	case metricnoop.MeterProvider, *metricnoop.MeterProvider:
		o.noMetrics = true
	}
	switch cfg.TracerProvider.(type) {
	case tracenoop.TracerProvider, *tracenoop.TracerProvider:
		o.untimed = o.noMetrics
	}
	var errs [11]error
	o.retries, errs[0] = m.Int64Counter("http.request.retries", metric.WithUnit("{retry}"),
		metric.WithDescription("Retries (attempts after the first), counted when their call ends; status is the call's final outcome: succeeded or failed."))
	o.calls, errs[1] = m.Int64Counter("rebound.calls", metric.WithUnit("{call}"),
		metric.WithDescription("Logical calls by how they ended: success, failure (not retryable), gave_up (a limit stopped retries), rejected (open circuit breaker)."))
	o.attempts, errs[2] = m.Int64Counter("rebound.attempts", metric.WithUnit("{attempt}"),
		metric.WithDescription("Attempts by the class of their failure (none for a successful attempt)."))
	o.callDur, errs[3] = m.Float64Histogram("rebound.call.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of logical calls, waits between attempts included."),
		metric.WithExplicitBucketBoundaries(DefaultBuckets...))
	o.attemptDur, errs[4] = m.Float64Histogram("rebound.attempt.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of single attempts."),
		metric.WithExplicitBucketBoundaries(DefaultBuckets...))
	o.retryWait, errs[5] = m.Float64Histogram("rebound.retry.wait", metric.WithUnit("s"),
		metric.WithDescription("Waits scheduled before retries."),
		metric.WithExplicitBucketBoundaries(DefaultBuckets...))
	o.budgetRej, errs[6] = m.Int64Counter("rebound.budget.rejections", metric.WithUnit("{retry}"),
		metric.WithDescription("Retries refused by a retry budget."))
	o.consecutive, errs[7] = m.Int64Gauge("rebound.consecutive_failures", metric.WithUnit("{call}"),
		metric.WithDescription("Logical calls that did not succeed in a row (canceled calls aside), reset by a success."))
	o.transitions, errs[8] = m.Int64Counter("rebound.breaker.transitions", metric.WithUnit("{transition}"),
		metric.WithDescription("Circuit breaker state changes by the state entered."))
	o.breakerState, errs[9] = m.Int64ObservableGauge("rebound.breaker.state", metric.WithUnit("1"),
		metric.WithDescription("Circuit breaker state, read at collection time: 0 closed, 1 half-open, 2 open."),
		metric.WithInt64Callback(o.observeBreakers))
	o.hedges, errs[10] = m.Int64Counter("rebound.hedges", metric.WithUnit("{hedge}"),
		metric.WithDescription("Hedged requests by how they ended: won (answered first), lost (canceled or dropped: another run answered), failure, rejected (refused by the hedge budget, not sent)."))
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	o.endpoints = endpoints.New(cfg.MaxEndpoints, func(name string) *endpoint {
		ep := newEndpoint(name)
		o.startAtZero(ep)
		return ep
	}, func(name string) {
		cfg.Logger.Warn("reboundotel: too many endpoints; further ones are recorded as "+OtherEndpoint, "limit", cfg.MaxEndpoints, "endpoint", name)
	})
	return o, nil
}

func addOpts(kvs ...attribute.KeyValue) []metric.AddOption {
	return []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(kvs...))}
}

func recordOpts(kvs ...attribute.KeyValue) []metric.RecordOption {
	return []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(kvs...))}
}

// newEndpoint builds the measurement options of an endpoint.
func newEndpoint(name string) *endpoint {
	e := keyEndpoint.String(name)
	ep := &endpoint{endpoint: e}
	ep.retries[0] = addOpts(e, keyStatus.String("succeeded"))
	ep.retries[1] = addOpts(e, keyStatus.String("failed"))
	for r := rebound.ResultSuccess; r <= rebound.ResultRetrying; r++ {
		ep.calls[r] = addOpts(e, keyResult.String(resultNames[r]))
		ep.callDur[r] = recordOpts(e, keyResult.String(resultNames[r]))
	}
	for c := rebound.Unknown; c <= rebound.Canceled; c++ {
		ep.attempts[c] = addOpts(e, keyClass.String(c.String()))
	}
	ep.attempts[5] = addOpts(e, keyClass.String("none"))
	ep.plain = addOpts(e)
	ep.plainRecord = recordOpts(e)
	for i, r := range hedgeNames {
		ep.hedges[i] = addOpts(e, keyResult.String(r))
	}
	for s := rebound.Closed; s <= rebound.Open; s++ {
		ep.transitions[s] = addOpts(e, keyBreakerTo.String(stateNames[s]))
	}
	return ep
}

// startAtZero records 0 for the calls of every result and for the retries
// of an endpoint, so that their series exist (and rates read 0) from its
// first event on, as in reboundprom.
func (o *Observer) startAtZero(ep *endpoint) {
	ctx := context.Background()
	for r := rebound.ResultSuccess; r <= rebound.ResultRejected; r++ {
		o.calls.Add(ctx, 0, ep.calls[r]...)
	}
	o.retries.Add(ctx, 0, ep.retries[0]...)
	o.retries.Add(ctx, 0, ep.retries[1]...)
}

// Untimed reports, for rebound.Do, that the Observer reads no durations:
// true when both its providers are OpenTelemetry's no-op ones, so that it
// records no metric and starts no recording span (Do's attempt events
// carry durations).
func (o *Observer) Untimed() bool { return o.untimed }

// Observe implements rebound.Observer.
func (o *Observer) Observe(ctx context.Context, e rebound.Event) {
	if o.untimed && (e.Kind == rebound.AttemptFinished || (e.Kind == rebound.CallFinished && e.Result == rebound.ResultSuccess)) {
		// Nothing to record: these add events only to Do's spans, which
		// the no-op tracer never records, and no metric is kept.
		return
	}
	if !o.noMetrics {
		o.measure(ctx, &e)
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		spanEvent(ctx, span, &e)
	}
}

// measure records e in the metrics.
func (o *Observer) measure(ctx context.Context, e *rebound.Event) {
	ep := o.endpoints.Get(e.Endpoint)
	switch e.Kind {
	case rebound.AttemptFinished:
		if e.Err == nil {
			o.attempts.Add(ctx, 1, ep.attempts[5]...)
		} else if e.Class <= rebound.Canceled {
			o.attempts.Add(ctx, 1, ep.attempts[e.Class]...)
		}
		o.attemptDur.Record(ctx, e.Duration.Seconds(), ep.plainRecord...)
	case rebound.RetryScheduled:
		o.retryWait.Record(ctx, e.Wait.Seconds(), ep.plainRecord...)
	case rebound.CallFinished:
		if e.Result < rebound.ResultSuccess || e.Result > rebound.ResultRetrying {
			return
		}
		o.calls.Add(ctx, 1, ep.calls[e.Result]...)
		o.callDur.Record(ctx, e.Elapsed.Seconds(), ep.callDur[e.Result]...)
		if e.Attempt > 1 {
			i := 1
			if e.Result == rebound.ResultSuccess {
				i = 0
			}
			o.retries.Add(ctx, int64(e.Attempt-1), ep.retries[i]...)
		}
		switch {
		case e.Result == rebound.ResultSuccess:
			if ep.failures.Load() != 0 {
				ep.failures.Store(0)
				o.consecutive.Record(ctx, 0, ep.plainRecord...)
			}
		case e.Class != rebound.Canceled:
			o.consecutive.Record(ctx, ep.failures.Add(1), ep.plainRecord...)
		}
	case rebound.BudgetRejected:
		o.budgetRej.Add(ctx, 1, ep.plain...)
	case rebound.HedgeFinished, rebound.HedgeRejected:
		if i := hedgeIndex(e); i >= 0 {
			o.hedges.Add(ctx, 1, ep.hedges[i]...)
		}
	case rebound.BreakerStateChanged:
		if e.To <= rebound.Open {
			o.transitions.Add(ctx, 1, ep.transitions[e.To]...)
		}
	}
}

// hedgeIndex returns the index in hedgeNames of a hedge event's result, or
// -1.
func hedgeIndex(e *rebound.Event) int {
	switch {
	case e.Kind == rebound.HedgeRejected:
		return 3
	case e.Result == rebound.ResultWon:
		return 0
	case e.Result == rebound.ResultLost:
		return 1
	case e.Result == rebound.ResultFailure:
		return 2
	}
	return -1
}

// spanEvent records e on span, which is recording.
func spanEvent(ctx context.Context, span trace.Span, e *rebound.Event) {
	switch e.Kind {
	case rebound.HedgeStarted:
		span.AddEvent(EventHedge, trace.WithAttributes(
			keyAttempt.Int(e.Attempt),
			keyHedge.Int(int(e.Hedge)),
			keyResult.String("started"),
			keyWait.Float64(e.Wait.Seconds()),
		))
	case rebound.HedgeFinished, rebound.HedgeRejected:
		attrs := []attribute.KeyValue{keyAttempt.Int(e.Attempt), keyHedge.Int(int(e.Hedge))}
		if i := hedgeIndex(e); i >= 0 {
			attrs = append(attrs, keyResult.String(hedgeNames[i]))
		}
		if e.Kind == rebound.HedgeFinished {
			attrs = append(attrs, keyDuration.Float64(e.Duration.Seconds()))
		}
		if e.Err != nil {
			attrs = append(attrs, keyClass.String(e.Class.String()), keyErrMessage.String(errText(e.Err)))
		}
		span.AddEvent(EventHedge, trace.WithAttributes(attrs...))
	case rebound.RetryScheduled:
		span.AddEvent(EventRetry, trace.WithAttributes(
			keyAttempt.Int(e.Attempt),
			keyClass.String(e.Class.String()),
			keyWait.Float64(e.Wait.Seconds()),
			keyErrMessage.String(errText(e.Err)),
		))
	case rebound.BudgetRejected:
		span.AddEvent(EventBudgetRejected, trace.WithAttributes(
			keyAttempt.Int(e.Attempt),
			keyClass.String(e.Class.String()),
			keyErrMessage.String(errText(e.Err)),
		))
	case rebound.BreakerStateChanged:
		span.AddEvent(EventBreakerStateChanged, trace.WithAttributes(
			keyEndpoint.String(e.Endpoint),
			keyBreakerFrom.String(stateName(e.From)),
			keyBreakerTo.String(stateName(e.To)),
		))
	case rebound.AttemptFinished:
		if !isLogical(ctx, span) {
			return
		}
		attrs := []attribute.KeyValue{keyAttempt.Int(e.Attempt), keyDuration.Float64(e.Duration.Seconds())}
		if e.Err != nil {
			attrs = append(attrs, keyClass.String(e.Class.String()), keyErrMessage.String(errText(e.Err)))
		} else {
			attrs = append(attrs, keyClass.String("none"))
		}
		span.AddEvent(EventAttempt, trace.WithAttributes(attrs...))
	case rebound.CallFinished:
		logical := isLogical(ctx, span)
		if logical {
			span.SetAttributes(keyResult.String(e.Result.String()), keyAttempts.Int(e.Attempt))
		}
		switch e.Result {
		case rebound.ResultRejected:
			span.AddEvent(EventBreakerRejected, trace.WithAttributes(keyEndpoint.String(e.Endpoint)))
		case rebound.ResultGaveUp, rebound.ResultFailure:
			attrs := []attribute.KeyValue{
				keyResult.String(e.Result.String()),
				keyReason.String(e.Reason.String()),
				keyAttempts.Int(e.Attempt),
			}
			if e.Err != nil {
				attrs = append(attrs, keyClass.String(e.Class.String()), keyErrMessage.String(errText(e.Err)))
			}
			span.AddEvent(EventCallFinished, trace.WithAttributes(attrs...))
			if logical {
				span.SetStatus(codes.Error, e.Reason.String())
			}
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func stateName(s rebound.BreakerState) string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return s.String()
}

// WatchBreakers makes the rebound.breaker.state gauge report every breaker
// of g, read at collection time (an open breaker past its cool-down reports
// half-open). Give the breakers' config this Observer to also count their
// transitions.
func (o *Observer) WatchBreakers(g *rebound.Breakers) {
	o.mu.Lock()
	o.groups = append(o.groups, g)
	o.mu.Unlock()
}

// WatchBreaker is WatchBreakers for a single breaker, recorded under its
// name.
func (o *Observer) WatchBreaker(b *rebound.Breaker) {
	o.mu.Lock()
	o.breakers = append(o.breakers, b)
	o.mu.Unlock()
}

func (o *Observer) observeBreakers(_ context.Context, obs metric.Int64Observer) error {
	o.mu.Lock()
	single := append([]*rebound.Breaker(nil), o.breakers...)
	groups := append([]*rebound.Breakers(nil), o.groups...)
	o.mu.Unlock()
	seen := make(map[string]bool)
	emit := func(b *rebound.Breaker) {
		name := b.Name()
		if seen[name] {
			return
		}
		seen[name] = true
		obs.Observe(int64(b.State()), metric.WithAttributeSet(attribute.NewSet(keyEndpoint.String(name))))
	}
	for _, b := range single {
		emit(b)
	}
	for _, g := range groups {
		g.Each(emit)
	}
	return nil
}
