// Package outboxprom exports an outbox's backlog to Prometheus, read from
// its Store at scrape time.
//
//	reg := prometheus.NewRegistry()
//	col, err := outboxprom.NewCollector(outboxprom.Config{Store: store, Relays: []*outbox.Relay{relay}})
//	if err != nil {
//		return err
//	}
//	reg.MustRegister(col)
//
// It lives with the outbox rather than in reboundprom so that the observer
// layer imports no state package: reboundprom turns events into metrics,
// this package reads a store.
//
// # Metric catalog
//
//	rebound_outbox_messages{destination,state}               gauge
//	    Messages by state: pending, delivering, retrying, dead, sent.
//	rebound_outbox_oldest_unsent_age_seconds{destination}    gauge
//	    Age of the oldest message not yet sent nor dead; 0 when none.
//	rebound_outbox_relay_last_poll_timestamp_seconds{relay}  gauge
//	    Each relay's heartbeat: when it last claimed successfully.
//	rebound_outbox_collect_errors_total                      counter
//	rebound_outbox_collect_duration_seconds                  gauge
//
// Deliveries by result and end-to-end latency come from the relay's
// events: give outbox.RelayConfig.Observer a reboundprom.Observer, and
// read rebound_calls_total and rebound_call_duration_seconds with the
// destination as endpoint (a delivery's duration there runs from enqueue
// to sent).
//
// # Concurrency
//
// A Collector is safe for concurrent use: concurrent scrapes query the
// store one at a time, each bounded by Config.Timeout. Nothing is
// registered until the caller registers the Collector on its own
// prometheus.Registerer.
package outboxprom
