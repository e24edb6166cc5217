// Package outbox is a transactional outbox: the guide's "persist as
// pending, mark sent after success, a background task scans and retries",
// made durable, crash-safe and observable.
//
//	tx, _ := db.BeginTx(ctx, nil)
//	// ... the business change ...
//	ids, err := outbox.Enqueue(ctx, tx, outbox.Message{Destination: "orders", Payload: event})
//	err = tx.Commit() // the message exists only if the change committed
//
// A Relay claims due messages from a Store (outbox/sqlite, outbox/postgres)
// and delivers them through a Sender, usually the WebhookSender.
//
// # States
//
// pending → delivering (leased by a relay) → sent; a failed attempt →
// retrying (with its next attempt time) → delivering again; → dead (with a
// reason: permanent, exhausted, deadline) once retrying cannot help or the
// limits are spent; dead → pending by replay; dead → gone by discard. Sent
// messages are pruned after a retention; dead ones are kept.
//
// # Semantics
//
// Claims take a batch in one statement (FOR UPDATE SKIP LOCKED on
// PostgreSQL, so any number of relays share one database) and increment the
// attempt counter. A lease bounds how long a relay holds a message; while
// a delivery runs, the relay's lease keeper (one goroutine for all its
// deliveries) renews it, and a relay that dies loses it, so another relay
// reclaims the message. Every change is fenced by (ID, attempt): a relay that
// lost its lease and wakes up later cannot overwrite the newer outcome
// (ErrStale).
//
// A relay keeps up to a batch (RelayConfig.BatchSize, by default Workers
// and at least 64) of messages claimed ahead of its workers
// (claiming when at least half a batch fits), so that a worker that
// finishes starts the next delivery at once, and a message that waited
// for a third of its lease has it renewed before delivery. When the store
// is a BatchCompleter, successful deliveries are recorded in batches, one
// fenced statement and commit for whatever finished while the previous
// batch was written. A retry the relay scheduled is claimed when it falls
// due rather than at the next poll, and a store that is a Waker wakes the
// relay when messages are enqueued (PostgreSQL by LISTEN/NOTIFY, SQLite by
// watching its commits).
//
// Delivery is at-least-once: a relay that dies after the receiver got the
// message but before it recorded the outcome delivers it again. Every
// delivery carries the message ID as Idempotency-Key and webhook-id, so a
// receiver that records it (idempotency.MarkTx) applies each message exactly
// once.
//
// Retries follow the durable schedule of RelayConfig (5 s doubling to 1 h
// with jitter, honouring Retry-After up to 1 h; dead after 20 attempts or
// 72 h), across restarts. Logic errors (a 4xx, an unknown destination, an
// address refused by the SSRF guard) kill a message at once. A compensation
// hook (RelayConfig.OnDead) runs once each time a message goes dead.
//
// Messages sharing an OrderingKey are delivered one at a time in enqueue
// order; a failing message holds back only its own key. With
// RelayConfig.Breakers, a destination whose breaker is open has its
// messages wait without spending attempts while other destinations flow.
//
// # Webhooks
//
// The WebhookSender signs deliveries with Standard Webhooks signatures
// (Sign, and Verify for receivers) and dials through an SSRF guard
// (AddressPolicy) that refuses loopback, private, link-local, metadata and
// other reserved addresses after DNS resolution, unless allowed.
//
// # Stopping
//
// Relay.Stop stops claiming, lets in-flight deliveries finish until its
// context ends, then cancels them and releases their messages with the
// attempt given back; messages claimed ahead and not started are released
// at once, and the deliveries recorded in batches are written before Stop
// returns. Nothing is lost: a message is only ever marked sent
// after its receiver answered 2xx.
package outbox
