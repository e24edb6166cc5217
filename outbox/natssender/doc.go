// Package natssender publishes outbox messages to NATS JetStream: an
// outbox.Sender, so a relay moves what a business transaction enqueued
// onto a stream, with the relay's leases, fencing, per-key order, retries
// by class, dead letters and replay.
//
//	nc, err := nats.Connect(url, nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1))
//	…
//	sender, err := natssender.New(natssender.Config{
//		Conn:         nc,
//		Destinations: map[string]natssender.Destination{"orders": {Subject: "orders.created"}},
//	})
//	…
//	relay, err := outbox.NewRelay(outbox.RelayConfig{Store: store, Sender: sender})
//
// # Effectively once
//
// Each message is published with Nats-Msg-Id set to its ID, and Send
// returns only once JetStream has acknowledged it: stored, on every
// replica the stream asks for. When the ack is lost (a timeout, a server
// restart, a relay killed mid-publish), the relay publishes the message
// again, and the stream drops the copy if it comes within the stream's
// duplicate window (2 minutes unless set). A redelivery can come as late
// as the relay's lease plus its largest backoff (an hour by default), so
// make the window at least that long; CheckWindows reads each
// destination's stream and says which are shorter. The window costs
// server memory, about 150 bytes a message. A consumer that must never
// apply a message twice, even past the window, dedupes by the
// Rebound-Message-Id header (see the Example, with idempotency.MarkTx).
//
// Each message also carries Rebound-Message-Id, Rebound-Attempt and
// Rebound-Destination headers, its own headers (except JetStream's own
// Nats-… headers, which are refused), and the relay's delivery span's W3C
// traceparent and tracestate when it traces.
//
// # Errors
//
// Send returns *Error values, which implement rebound.Classified; the
// relay acts on their class:
//
//	what happened                                    class       the relay
//	no destination of that name                      logic       dead at once
//	ordering key not a subject token (templates)     logic       dead at once
//	a Nats-… header in the message                   logic       dead at once
//	payload over the server's max_payload            logic       dead at once
//	no stream captures the subject                   logic       dead at once
//	over the stream's max message size (10054)       logic       dead at once
//	other 4xx refusals of JetStream                  logic       dead at once
//	JetStream not enabled (10076, 10039)             connection  retried
//	no responders while a stream exists              connection  retried
//	connection closed, draining or reconnecting      connection  retried
//	no ack in time (buffered, lost, or slow)         connection  retried; may be in the stream
//	5xx, 408, 429 (storage failed, limits with       response    retried
//	  discard new, insufficient resources)
//
// Connection failures count toward the destination's breaker; a message
// refused for good does not hold its ordering key back once dead.
package natssender
