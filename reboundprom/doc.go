// Package reboundprom feeds Prometheus from rebound's events.
//
//	reg := prometheus.NewRegistry()
//	metrics, err := reboundprom.New(reboundprom.Config{Registerer: reg})
//	policy := rebound.Policy{
//		Endpoint: "api/v1/user",
//		Observer: rebound.Observers(metrics, rebound.NewSlogObserver(logger)),
//	}
//
// Metrics are registered on the Registerer the caller passes, never on the
// global one, and nothing is registered at import time.
//
// # Metric catalog
//
//	http_request_retries_total{endpoint,status}          counter
//	    The guide's metric: one per retry (an attempt after the first),
//	    added when its call ends. status is the call's final outcome:
//	    succeeded or failed.
//	rebound_calls_total{endpoint,result}                 counter
//	    Logical calls. result: success; failure (an error retrying cannot
//	    fix, or the caller canceled); gave_up (the error was retryable but
//	    the attempt cap, budget, a deadline, a too-long Retry-After or an
//	    open breaker stopped it); rejected (an open breaker refused the
//	    call before any attempt). Every result starts at 0.
//	rebound_attempts_total{endpoint,class}               counter
//	    Attempts. class: none (succeeded), connection, response, logic,
//	    canceled, unknown.
//	rebound_call_duration_seconds{endpoint,result}       histogram
//	    Whole calls, waits included.
//	rebound_attempt_duration_seconds{endpoint}           histogram
//	rebound_retry_wait_seconds{endpoint}                 histogram
//	    Each wait scheduled before a retry.
//	rebound_budget_rejections_total{endpoint}            counter
//	rebound_hedges_total{endpoint,result}                counter
//	    Hedged requests (rebound.Hedger). result: won (its answer was
//	    used), lost (another run answered first; canceled or dropped),
//	    failure, rejected (the hedge budget refused it: not sent). The
//	    series of an endpoint appear at its first hedge.
//	rebound_consecutive_failures{endpoint}               gauge
//	    Calls in a row that did not succeed (canceled ones aside); 0 after
//	    a success.
//	rebound_breaker_state{endpoint}                      gauge
//	    0 closed, 1 half-open, 2 open; read from the watched breakers at
//	    scrape time (WatchBreakers, WatchBreaker).
//	rebound_breaker_transitions_total{endpoint,to}       counter
//	    to: closed, half_open, open. Counted from the breakers' events:
//	    give BreakerConfig.Observer this Observer.
//
// endpoint is rebound.Policy.Endpoint (or the breaker's name): a route
// template, never a raw URL. At most Config.MaxEndpoints values (default
// 100) are kept; later ones fold into "_other", and the first fold is
// logged once. The histogram buckets are DefaultBuckets unless
// Config.Buckets says otherwise.
//
// Alert rules over these metrics, with their promtool tests, are in the
// repository's deploy/prometheus directory.
package reboundprom
