// Package reboundotel records rebound's retries with OpenTelemetry: a
// CLIENT span per HTTP attempt, the metrics of reboundprom through the
// OpenTelemetry metric API, rebound's decisions as events on the current
// span, and an optional logical span around rebound.Do.
//
// # Setup
//
// For HTTP, the Observer is the policy's observer and NewTransport is
// reboundhttp's Base:
//
//	cfg := reboundotel.Config{} // the global providers and propagator
//	obs, err := reboundotel.New(cfg)
//	client, err := reboundhttp.NewClient(reboundhttp.Config{
//		Base:   reboundotel.NewTransport(http.DefaultTransport, cfg),
//		Policy: rebound.Policy{Observer: rebound.Observers(obs, rebound.NewSlogObserver(logger))},
//	})
//
// Each attempt is then a CLIENT span of its own, a child of the span in the
// request's context, whose trace context is injected into that attempt's
// headers (the server sees which attempt it serves); a retry's span has
// http.request.resend_count. The caller's span gets the retries and the
// outcome as events, and the metrics count calls, attempts and retries.
//
// For other code, Do runs rebound.Do inside a logical INTERNAL span:
//
//	user, err := reboundotel.Do(ctx, obs, "load user", policy, func(ctx context.Context) (User, error) {
//		return db.LoadUser(ctx, id)
//	})
//
// # With otelhttp
//
// Put otelhttp outside reboundhttp, if at all:
//
//	otelhttp.NewTransport(reboundhttp transport whose Base is reboundotel.NewTransport(base, cfg))
//
// otelhttp's span is then the logical request (with its metrics, which
// count logical requests), and the attempts are CLIENT spans of this
// package, its children. The other order also works:
//
//	reboundhttp.Config{Base: otelhttp.NewTransport(reboundotel.NewTransport(base, cfg)), Attempts: true}
//
// (Attempts, because reboundhttp cannot see through otelhttp that its base
// reads the attempts, as it sees with NewTransport's transport as Base.
// Without it there are still no duplicate spans, as NewTransport sees
// otelhttp's unfinished CLIENT span for the request, but no resend count.)
// otelhttp then starts each attempt's span, and NewTransport sees it (the
// span in the request's context is not the one of reboundhttp.Attempt's
// Context): it starts no second span and only sets
// http.request.resend_count on otelhttp's span of a retry. Without
// reboundhttp, use otelhttp or NewTransport, not both: both would trace
// the request.
//
// # Spans
//
// There is no semantic convention for retries and circuit breakers yet
// (semantic-conventions#2355): the names below that are not HTTP's carry a
// rebound. prefix.
//
//	span                          kind      started by
//	{method} ("GET"; "HTTP")      CLIENT    NewTransport, per attempt
//	Do's name (or the endpoint)   INTERNAL  Do, around rebound.Do
//
// An attempt span's attributes, from the HTTP client conventions:
//
//	http.request.method           GET, POST, ...; _OTHER for others
//	http.request.method_original  the method, when it is _OTHER
//	url.full                      the URL without user info, query or
//	                              fragment, as reboundhttp's errors show it
//	server.address, server.port   the URL's host and port (80, 443 by
//	                              default)
//	http.response.status_code     when there is a response
//	error.type                    the status code for 400 and above; for
//	                              a transport error: timeout, canceled,
//	                              connection_refused, connection_reset,
//	                              unexpected_eof, dns or _OTHER
//	http.request.resend_count     attempts before this one: 1 on the second
//	                              attempt; absent on the first
//
// Its status is Error for a transport error and a status of 400 and above.
// It ends when the response body reaches its end or is closed (reboundhttp
// closes the bodies of the attempts it retries), or at once on an error.
//
// Do's span has rebound.endpoint, and when the call ends rebound.result
// and rebound.attempts; its status is Error, described by the error, when
// the call did not succeed.
//
// # Span events
//
// The Observer adds events to the span current in the context an event
// comes with, when it is recording: with reboundhttp, the request's span
// (the caller's, or otelhttp's when it is outside); with rebound.Do, the
// span of Do's context.
//
//	event                          when                       attributes
//	rebound.retry                  a retry is scheduled       rebound.attempt, rebound.class,
//	                                                          rebound.retry.wait (s), error.message
//	rebound.budget_rejected        the budget refused a retry rebound.attempt, rebound.class,
//	                                                          error.message
//	rebound.breaker_rejected       an open breaker refused    rebound.endpoint
//	                               the call
//	rebound.call_finished          the call failed or gave up rebound.result, rebound.reason,
//	                                                          rebound.attempts, rebound.class,
//	                                                          error.message
//	rebound.breaker_state_changed  a breaker changed state    rebound.endpoint,
//	                                                          rebound.breaker.from, .to
//	rebound.attempt                an attempt ended (on Do's  rebound.attempt, rebound.class,
//	                               spans only)                rebound.attempt.duration (s),
//	                                                          error.message
//	rebound.hedge                  a hedge started, ended or  rebound.attempt, rebound.hedge,
//	                               was refused by the budget  rebound.result (started, won,
//	                                                          lost, failure, rejected),
//	                                                          rebound.retry.wait (s, started),
//	                                                          rebound.attempt.duration (s),
//	                                                          rebound.class, error.message
//
// rebound.class is none for a successful attempt, else connection,
// response, logic, canceled or unknown; rebound.result is success,
// failure, gave_up or rejected; rebound.reason is exhausted, permanent,
// budget, deadline, circuit_open, wait_too_long or canceled. rebound's
// breakers report their changes with a context of their own, with no span:
// rebound.breaker_state_changed appears only for events that come with one.
//
// # Metrics
//
// The catalogue of reboundprom, with OpenTelemetry's names and units:
//
//	metric                        instrument         unit         attributes
//	http.request.retries          counter            {retry}      rebound.endpoint, status
//	rebound.calls                 counter            {call}       rebound.endpoint, rebound.result
//	rebound.attempts              counter            {attempt}    rebound.endpoint, rebound.class
//	rebound.call.duration         histogram          s            rebound.endpoint, rebound.result
//	rebound.attempt.duration      histogram          s            rebound.endpoint
//	rebound.retry.wait            histogram          s            rebound.endpoint
//	rebound.budget.rejections     counter            {retry}      rebound.endpoint
//	rebound.hedges                counter            {hedge}      rebound.endpoint, rebound.result
//	rebound.consecutive_failures  gauge              {call}       rebound.endpoint
//	rebound.breaker.state         observable gauge   1            rebound.endpoint
//	rebound.breaker.transitions   counter            {transition} rebound.endpoint, rebound.breaker.to
//
// They mean what reboundprom's mean. http.request.retries is the guide's
// metric: one per retry (an attempt after the first), added when its call
// ends, status being the call's outcome, succeeded or failed. An
// OpenTelemetry-to-Prometheus exporter turns it into
// http_request_retries_total, with the label rebound_endpoint (not
// endpoint), and rebound.call.duration into rebound_call_duration_seconds.
// rebound.consecutive_failures counts the calls in a row that did not
// succeed (canceled ones aside), 0 after a success. rebound.breaker.state is
// 0 closed, 1 half-open, 2 open, read at collection time from the breakers
// given to WatchBreakers and WatchBreaker; rebound.breaker.to is closed,
// half_open or open, counted from the breakers' events: give
// BreakerConfig.Observer this Observer. The histograms advise
// DefaultBuckets as their boundaries.
//
// rebound.endpoint is rebound.Policy.Endpoint (or the breaker's name): a
// route template, never a raw URL. At most Config.MaxEndpoints values
// (default 100) are kept; later ones fold into "_other", and the first fold
// is logged once. A new endpoint's rebound.calls (every result) and
// http.request.retries (both statuses) start at 0.
//
// # Cost
//
// The attribute sets of an endpoint are built once, so an event allocates
// nothing unless the current span is recording. Over no-op providers, the
// Observer's own work is a few nanoseconds per event; note that any
// observer makes rebound.Do read the clock for the events' durations,
// which an observer-less policy does not (see BenchmarkNoopObserver).
package reboundotel
