package amqpsender

import (
	"context"
	"testing"

	"github.com/rebound-go/rebound/outbox"
)

// The relay's delivery span's W3C trace context goes with the message as
// traceparent and tracestate headers; without one, neither is set.
func TestPublishingCarriesTheTraceContext(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	d := outbox.Delivery{Record: outbox.Record{Message: outbox.Message{ID: "m1", Destination: "orders"}, Attempt: 1}}
	p := publishing(outbox.WithTraceContext(context.Background(), tp, "rojo=1"), d)
	if p.Headers["traceparent"] != tp || p.Headers["tracestate"] != "rojo=1" {
		t.Fatalf("headers %v", p.Headers)
	}
	p = publishing(context.Background(), d)
	if _, ok := p.Headers["traceparent"]; ok {
		t.Fatalf("an untraced delivery has a traceparent: %v", p.Headers)
	}
}
