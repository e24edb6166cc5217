package kafkasender

import (
	"context"
	"testing"

	"github.com/rebound-go/rebound/outbox"
)

// The relay's delivery span's W3C trace context goes with the record as
// traceparent and tracestate headers; without one, neither is set.
func TestRecordCarriesTheTraceContext(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	d := outbox.Delivery{Record: outbox.Record{Message: outbox.Message{ID: "m1", Destination: "orders"}, Attempt: 1}}
	headers := func(ctx context.Context) map[string]string {
		m := map[string]string{}
		for _, h := range record(ctx, "t", d).Headers {
			m[h.Key] = string(h.Value)
		}
		return m
	}
	if h := headers(outbox.WithTraceContext(context.Background(), tp, "rojo=1")); h["traceparent"] != tp || h["tracestate"] != "rojo=1" {
		t.Fatalf("headers %v", h)
	}
	if h := headers(context.Background()); h["traceparent"] != "" {
		t.Fatalf("an untraced delivery has a traceparent: %v", h)
	}
}
