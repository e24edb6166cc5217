// Package alert evaluates rebound's alert rules inside the process, for
// programs without Prometheus: the same five alerts as
// deploy/prometheus/rebound_rules.yml, computed from the event stream.
//
//	alerter, err := alert.New(alert.Config{
//		Notifiers: []alert.Notifier{
//			alert.SlogNotifier{Logger: logger},
//			alert.AlertmanagerNotifier{URL: "http://127.0.0.1:9093"},
//		},
//	})
//	err = alerter.Start(ctx)
//	defer alerter.Stop(ctx)
//	policy := rebound.Policy{Endpoint: "api/v1/user", Observer: alerter}
//
// # Rules
//
//   - ReboundEndpointHighFailureRate: more than 20% of calls did not
//     succeed over 5 minutes, with at least 30 calls in the window; for
//     2 minutes; kept firing 5 minutes after it clears.
//   - ReboundEndpointConsecutiveFailures: 5 calls in a row did not succeed;
//     for 1 minute; a success resolves it.
//   - ReboundRetryStorm: more than 1 retry per call and more than 1 retry
//     per second over 5 minutes; for 5 minutes.
//   - ReboundRetryBudgetExhausted: a retry budget refused retries over the
//     last 5 minutes; for 5 minutes.
//   - ReboundCircuitOpen: a breaker has not been closed for 5 minutes (give
//     the breakers' BreakerConfig.Observer the Alerter).
//
// Canceled calls count neither way. Thresholds, For and KeepFiringFor are
// tunable per rule (Rules).
//
// # Windows and cost
//
// Counts live in fixed buckets of Config.Interval (10 s) across
// Config.Window (5 minutes): counting an event is O(1), takes no lock once
// its endpoint is known and allocates nothing; memory per endpoint is fixed,
// and at most Config.MaxEndpoints endpoints (100) are tracked, the rest
// counted as "_other". Rules are evaluated every Interval by the goroutine
// Start begins; an evaluation only sees whole buckets.
//
// Buckets and evaluations are aligned on the time New ran. The evaluation at
// an instant T reads the events observed in [T−Window, T), and the
// consecutive failures and breaker states as they were just before T: an
// event observed at T itself, even while that evaluation runs, counts from
// the next evaluation. What an evaluation sees therefore depends on when
// events happened, never on whether the evaluator or the caller ran first.
//
// # Notifications
//
// Each alert is notified once when it fires and once when it resolves
// (hysteresis: Rule.For before firing, Rule.KeepFiringFor before
// resolving). Notifiers run one after another on one goroutine, fed by a
// queue of 256; a full queue drops the notification and logs it. Notifiers:
// SlogNotifier, WebhookNotifier (JSON, retried through reboundhttp) and
// AlertmanagerNotifier (Alertmanager's v2 API; it also receives a refresh of
// each firing alert every Config.RepeatInterval, since Alertmanager resolves
// alerts that are not refreshed).
package alert
