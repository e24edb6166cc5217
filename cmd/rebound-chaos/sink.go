package main

import (
	"context"
	"fmt"
	"time"
)

// Sink is where the relays deliver, and what records every delivery for
// the ledger: the loopback webhook receiver, a NATS JetStream stream read
// by a consumer, or a RabbitMQ queue read by a consumer.
type Sink interface {
	// Describe names the sink in the run's log.
	Describe() string
	// RelayYAML is the relay configuration's part that routes the "chaos"
	// destination to the sink (and sets what the destination needs).
	RelayYAML(timeout time.Duration) string
	// Delivered reports how many of ids the sink has received.
	Delivered(ids []string) int
	// Progress is a line for the progress log.
	Progress() string
	// Settle is called after the drain, while the sink still runs: it
	// waits until the sink has recorded everything it will (NATS: the
	// consumer has read the whole stream) and adds the sink's own
	// figures to res.
	Settle(ctx context.Context, res *Result) error
	// Close stops the sink (and any process it started).
	Close()
	// Deliveries returns the record, once closed.
	Deliveries() []Delivery
	// Reckon computes the run's ledger from the sink's record.
	Reckon(acked map[int]string, deliveries []Delivery, store map[string]StoreState) *Ledger
}

// webhookSink is the loopback webhook receiver as a Sink.
type webhookSink struct{ *Receiver }

func startWebhook(o Options) (Sink, error) {
	rcv, err := StartReceiver(o.Faults, o.Seed)
	if err != nil {
		return nil, err
	}
	return webhookSink{rcv}, nil
}

func (w webhookSink) Describe() string { return "receiver at " + w.URL() }

func (w webhookSink) RelayYAML(timeout time.Duration) string {
	return fmt.Sprintf(`destinations:
  chaos:
    url: %s
    timeout: %s
    retry: {backoff: {initial: 50ms, max: 1s}}
`, w.URL(), timeout)
}

func (w webhookSink) Progress() string {
	c := w.Count()
	return fmt.Sprintf("deliveries: %d ok, %d 503, %d reset, %d stall", c[OK], c[Failed503], c[Reset], c[Stalled])
}

func (w webhookSink) Settle(context.Context, *Result) error { return nil }

func (w webhookSink) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = w.Receiver.Close(ctx)
}

func (w webhookSink) Reckon(acked map[int]string, deliveries []Delivery, store map[string]StoreState) *Ledger {
	return Reckon(acked, deliveries, store)
}
