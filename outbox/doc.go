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
// # Breakers measure destinations, not messages
//
// A destination's breaker exists to spare a destination that is down, not
// to punish one that rejects some messages. A receiver that answers 500 to
// one kind of event forever is common; if every failed attempt counted,
// the retries of those few messages would pile up, pass the failure-rate
// threshold and open the breaker, and every healthy message would wait
// behind them. So a delivery tells its breaker:
//
//   - a success, and a failure of the destination itself (a connection
//     error, a timeout, 408, 429, 502, 503 or 504), as they are: these open
//     the breaker by a run of failures or by the failure rate;
//   - any other failure (a 500, a malformed answer: the message's own
//     account) only on the message's first attempt, and then toward the
//     failure rate alone (rebound.Isolated), never toward the run of
//     consecutive failures: failures spread over many distinct messages
//     still open the breaker, a few bad messages in a row do not;
//   - nothing, for a retry of a message whose last attempt failed on its
//     own account, unless it now meets a failure of the destination.
//
// While a breaker is open or half-open, every message waits, and a message
// whose last attempt failed on its own account waits too: half-open probes
// are messages never tried, or whose last failure was the destination's,
// so a poison message cannot keep a recovered destination shut. Poison
// messages keep their own durable schedule and go dead after MaxAttempts
// or MaxAge with that reason.
//
// This follows what webhook services learned: Svix disables an endpoint
// only after continuous failure with no success between, and Convoy's
// breaker samples a failure rate over a window of many deliveries with a
// floor of requests; neither lets one message's retries decide.
//
// # Events
//
// For the relay, each delivery attempt is a call of its own: the Observer
// receives AttemptFinished, then CallFinished with result success,
// retrying (the message will be tried again, after a RetryScheduled
// event), gave_up or failure (it went dead). Its Attempt is 1 for a
// message's first delivery and 2 for any later one, so that a redelivery
// counts as one retry in http_request_retries_total. A message an open
// breaker holds back is a CallFinished with result rejected. The endpoint
// is the destination. So the failure-rate alert of rebound's rules sees a
// destination failing half of its deliveries at once, and a destination
// that is down stays visible although few attempts reach it. The relay logs
// each retry (INFO) and each dead message (WARN) itself, with the message
// ID, to RelayConfig.Logger.
//
// # Webhooks
//
// The WebhookSender signs deliveries with Standard Webhooks signatures
// (webhook.Sign; receivers check them with webhook.VerifyRequest) and
// dials through an SSRF guard (webhook.AddressPolicy) that refuses
// loopback, private, link-local, metadata and other reserved addresses
// after DNS resolution, unless allowed. Package webhook holds all of this
// and imports nothing of the outbox, so a receiver needs only it.
//
// # Tracing
//
// Enqueue keeps the W3C trace context of its ctx's span with each message
// (Message.TraceParent, TraceState; see TraceContext), in the store, so
// that it outlives the process. The relay continues it: each delivery
// attempt is a PRODUCER span "deliver DESTINATION", the child of that
// context, linked to the span of the claim that leased the message, with
// the attributes messaging.system (rebound.outbox), messaging.operation.type
// (send), messaging.destination.name, messaging.message.id,
// rebound.outbox.attempt and rebound.outbox.outcome (sent, retry, dead or
// released), and for a failure error.type (its class), rebound.retry.wait
// and http.response.status_code. The webhook sender and the broker senders
// send the attempt's traceparent and tracestate with the message. Spans go
// to RelayConfig.TracerProvider, OpenTelemetry's global provider by
// default, which records nothing until the program installs an SDK.
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
