// Package statuspage is the relay daemon's status page: per destination
// the backlog, the oldest message's age, the delivery and failure rates of
// the last five minutes and the breaker's state; a chart of deliveries and
// failures; and the dead letters, with replay and discard.
//
// # Activity
//
// The store knows the backlog but not the rates. An Activity, given to
// outbox.RelayConfig.Observer, counts each destination's deliveries and
// failed attempts in 10-second buckets over the last hour.
package statuspage
