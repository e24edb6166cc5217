// Package kafkasender produces outbox messages to Kafka with franz-go
// (github.com/twmb/franz-go/pkg/kgo): an outbox.Sender, so a relay moves
// what a business transaction enqueued onto a topic, with the relay's
// leases, fencing, per-key order, retries by class, dead letters and
// replay.
//
//	cl, err := kgo.NewClient(kgo.SeedBrokers("kafka-1:9092", "kafka-2:9092"))
//	…
//	defer cl.Close() // the caller's: the Sender does not close it
//	sender, err := kafkasender.New(kafkasender.Config{
//		Client:       cl,
//		Destinations: map[string]kafkasender.Destination{"orders": {Topic: "orders.v1"}},
//	})
//	…
//	relay, err := outbox.NewRelay(outbox.RelayConfig{Store: store, Sender: sender})
//
// Each message becomes one record: its payload the value, its ordering
// key the key (none for a message without one), and as headers
// Rebound-Message-Id, Rebound-Attempt and Rebound-Destination, then the
// message's own headers (a Content-Type in any case is written
// "Content-Type"; one named like the sender's own is dropped), and the
// relay's delivery span's W3C traceparent and tracestate when it traces.
// Send returns once every in-sync replica has the record
// (acks=all), or with an error.
//
// # Order
//
// franz-go's default partitioner hashes the key as Kafka's Java client
// does, so the messages of an ordering key share a partition, and the
// relay sends them one at a time in enqueue order: a consumer reads them
// in that order. Messages without an ordering key are spread over the
// partitions. Adding partitions to a topic moves keys to other
// partitions; order holds only for records produced after the change.
//
// # Effectively once
//
// The client must be an idempotent producer (franz-go's default, which
// New insists on): the broker remembers the sequence numbers of the
// producer's last batches, so when an answer is lost (REQUEST_TIMED_OUT
// from a broker that wrote the record, a connection cut after the write)
// the client's own retry of the batch is dropped as a duplicate and the
// record lands once. That holds within one producer session only. Two
// things make a second record of one message:
//
//   - a relay that stops or dies after the write and before it records
//     the message as sent: the next relay, with a new producer session,
//     produces it again;
//   - a Send that gives up (Config.Timeout, or the relay's context) while
//     the client does not yet know whether its produce was written: the
//     client keeps the record and may still write it, and the relay's
//     retry of the message is a new record.
//
// So a consumer that must apply each message once dedupes by the
// Rebound-Message-Id header: with idempotency.MarkTx in the same database
// transaction as its effect, committing the offset after it (see
// Example_consumer). Kafka transactions (transactional.id) would not
// help here: the outbox row and the record are in different systems.
//
// # Errors
//
// Send returns *Error values, which implement rebound.Classified and
// unwrap to the client's error (a *kerr.Error, kgo.ErrRecordTimeout,
// context.DeadlineExceeded); the relay acts on their class:
//
//	what happened                                   class       the relay
//	no destination of that name                     logic       dead at once
//	UNKNOWN_TOPIC_OR_PARTITION after the client's   logic       dead at once
//	  retries (the topic does not exist)
//	MESSAGE_TOO_LARGE, and a record too large for   logic       dead at once
//	  the client's ProducerBatchMaxBytes
//	RECORD_LIST_TOO_LARGE                           logic       dead at once
//	TOPIC_AUTHORIZATION_FAILED (and cluster)        logic       dead at once
//	INVALID_RECORD (and CORRUPT_MESSAGE,            logic       dead at once
//	  INVALID_TIMESTAMP, POLICY_VIOLATION)
//	a retriable broker error (kerr.IsRetriable:     response    retried
//	  LEADER_NOT_AVAILABLE, NOT_LEADER_FOR_PARTITION,
//	  NOT_ENOUGH_REPLICAS, …) that the client
//	  stopped retrying (kgo.RecordRetries)
//	another broker error (UNKNOWN_SERVER_ERROR)     response    retried; may be in the topic
//	REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS_AFTER_   connection  retried; may be in the topic
//	  APPEND (written, maybe, and answered so)
//	kgo.ErrRecordTimeout (RecordDeliveryTimeout)    connection  retried; may be in the topic
//	no ack by Config.Timeout or the caller's        connection  retried; may be in the topic
//	  deadline: the cluster unreachable or gone,
//	  a broker that does not answer
//	the client closed, the Sender closed            connection  retried
//
// With franz-go's defaults the client retries retriable broker errors,
// and connection failures, itself, with no limit: a Send then ends at
// Config.Timeout with a Connection error. Set kgo.RecordRetries to see
// them sooner, as Response errors. The client gives up on a missing
// topic after kgo.UnknownTopicRetries metadata loads (4, spaced by
// kgo.MetadataMinAge, 5 s by default): keep Config.Timeout (30 s) longer
// than that, or a missing topic shows as a Connection error, retried,
// instead of a Logic error.
//
// Connection errors count toward the destination's breaker; a message
// refused for good does not hold its ordering key back once dead.
//
// # Shutdown
//
// Stop the relay, Close the Sender, then close the Client. The Sender
// never closes the Client. A Send that gave up leaves its record with the
// client, and a goroutine waiting for the client's answer: closing the
// Client fails the records it still holds and ends those goroutines.
package kafkasender
