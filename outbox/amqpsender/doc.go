// Package amqpsender publishes outbox messages to RabbitMQ (or another
// AMQP 0-9-1 broker): an outbox.Sender, so a relay moves what a business
// transaction enqueued onto an exchange, with the relay's leases,
// fencing, per-key order, retries by class, dead letters and replay.
//
//	sender, err := amqpsender.New(amqpsender.Config{
//		URL:          "amqp://user:password@rabbitmq:5672/",
//		Destinations: map[string]amqpsender.Destination{"orders": {Exchange: "orders", RoutingKey: "order.created"}},
//	})
//	…
//	defer sender.Close()
//	relay, err := outbox.NewRelay(outbox.RelayConfig{Store: store, Sender: sender})
//
// New does not connect. The first Send (or Ping, for a readiness check)
// opens one connection, which every Send shares; each publish takes a
// channel of its own in confirm mode (up to Config.MaxChannels, reused),
// so that concurrent relay workers do not wait on each other's confirms.
// A connection that fails or dies is replaced on a later Send, no sooner
// than Config.MinReconnect after the failure, doubling with each failure
// in a row up to Config.MaxReconnect; a Send in the wait fails at once
// with a Connection error that says when the next attempt is. The Sender's
// own goroutines watch the connection, open channels (the client's calls
// take no context, so a Send waits for them only until its deadline) and
// close channels; Close waits for them.
//
// # What is published
//
// Each message goes to its destination's exchange with its routing key,
// mandatory and persistent (delivery mode 2), with MessageId set to its
// ID, Timestamp, ContentType from its Content-Type header (unset when it
// has none: AMQP has no default), and a header table holding its other
// headers (strings) and Rebound-Message-Id, Rebound-Attempt (an int32)
// and Rebound-Destination, and the relay's delivery span's W3C
// traceparent and tracestate when it traces. Send returns nil only once the broker has
// confirmed the publish (basic.ack) and not returned it: for a durable
// queue, RabbitMQ confirms once the message is written to disk, and for a
// quorum queue once a majority of its replicas has it.
//
// # Effectively once
//
// RabbitMQ's classic and quorum queues do not deduplicate. When a
// confirm is lost (the connection drops after the publish was written,
// the confirm comes after the deadline, the relay dies mid-publish), the
// relay publishes the message again, and the queue may hold it twice.
// Such errors say so: their classification has MaybeProcessed set. A
// consumer applies each message once by deduplicating on its message_id
// property (or the Rebound-Message-Id header, the same ID): mark the ID
// in the transaction of the message's effect, with idempotency.MarkTx,
// and ack after the commit (see the Example). A message is redelivered to
// the consumer anyway when the consumer's own ack is lost, so the
// consumer needs this either way.
//
// # Errors
//
// Send returns *Error values, which implement rebound.Classified; the
// relay acts on their class:
//
//	what happened                                   class        the relay
//	no destination of that name                     logic        dead at once
//	no queue bound for the routing key (a           logic        dead at once, "unroutable:
//	  basic.return, NO_ROUTE, 312)                                 exchange …, routing key … (NO_ROUTE)"
//	exchange not found (404 NOT_FOUND)              logic        dead at once
//	access refused to the exchange (403)            logic        dead at once
//	message too large (406 PRECONDITION_FAILED,     logic        dead at once
//	  501 frame too large) and other refusals
//	  of the publish (311, 405, 502, 503, 505,
//	  530, 540)
//	basic.nack (a queue full with overflow          response     retried; may be in a queue
//	  reject-publish, an internal error)
//	resource or internal error (506, 541)           response     retried
//	connection refused, reset or closed;            connection   retried; may be in a queue
//	  channel closed; a broker shutting down                       if the publish was written
//	  (320); login refused
//	no confirm before the deadline                  connection   retried; may be in a queue
//	no channel opened before the deadline           connection   retried
//	waiting out the reconnection backoff            connection   retried
//
// A refused login (403 at connect) is a Connection error, not a Logic
// one: it is the sender's configuration, not the message, that is wrong,
// so the messages wait for the fix instead of dying. A message cannot
// exceed RabbitMQ's max_message_size (128 MiB by default) through the
// outbox, whose payloads are at most outbox.MaxPayloadBytes; a broker
// configured with a smaller limit refuses larger ones with a 406.
// Connection failures count toward the destination's breaker, if the
// relay has breakers.
package amqpsender
