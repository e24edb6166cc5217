package outbox

// Trace context through the outbox: Enqueue keeps the W3C trace context of
// the transaction's span with each message, and the relay's delivery span
// continues it, so one trace runs from the business transaction to the
// receiver, across relay restarts and retries hours later.

import (
	"context"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/rebound-go/rebound"
)

// TracerName is the instrumentation scope of the relay's spans.
const TracerName = "github.com/rebound-go/rebound/outbox"

// w3c reads and writes the traceparent and tracestate headers.
var w3c = propagation.TraceContext{}

// TraceContext returns the W3C trace context (traceparent and tracestate
// header values) of ctx's span, or "" when ctx carries no valid span
// context. Enqueue stores it with each message that has none of its own.
func TraceContext(ctx context.Context) (traceparent, tracestate string) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return "", ""
	}
	c := propagation.MapCarrier{}
	w3c.Inject(ctx, c)
	return c["traceparent"], c["tracestate"]
}

// WithTraceContext returns ctx carrying, as its remote parent, the W3C
// trace context given by traceparent and tracestate; ctx itself when
// traceparent is empty or invalid.
func WithTraceContext(ctx context.Context, traceparent, tracestate string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return w3c.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent, "tracestate": tracestate})
}

// traced fills in the trace context of the messages that have none from
// ctx's span.
func traced(ctx context.Context, msgs []Message) []Message {
	parent, state := TraceContext(ctx)
	if parent == "" {
		return msgs
	}
	var out []Message
	for i := range msgs {
		if msgs[i].TraceParent == "" {
			if out == nil {
				out = append([]Message(nil), msgs...)
			}
			out[i].TraceParent, out[i].TraceState = parent, state
		}
	}
	if out == nil {
		return msgs
	}
	return out
}

// The span attributes of a delivery. The messaging conventions name the
// operation and destination; rebound.outbox.* are this package's own.
var (
	attrSystem    = attribute.String("messaging.system", "rebound.outbox")
	attrOperation = attribute.String("messaging.operation.type", "send")
)

// deliverySpan starts the span of one delivery attempt: a PRODUCER span
// named "deliver DESTINATION", the child of the trace context the message
// was enqueued with (a root span when it has none), linked to the claim
// that leased it.
func (r *Relay) deliverySpan(ctx context.Context, d Delivery, claim trace.SpanContext) (context.Context, trace.Span) {
	parent := WithTraceContext(ctx, d.TraceParent, d.TraceState)
	opts := []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attrSystem, attrOperation,
			attribute.String("messaging.destination.name", d.Destination),
			attribute.String("messaging.message.id", d.ID),
			attribute.Int("rebound.outbox.attempt", d.Attempt),
		),
	}
	if claim.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: claim}))
	}
	return r.tracer.Start(parent, "deliver "+d.Destination, opts...)
}

// endDelivery records an attempt's outcome on its span and ends it.
func endDelivery(span trace.Span, err error, class rebound.Class, v verdict) {
	if !span.IsRecording() {
		span.End()
		return
	}
	outcome := "sent"
	switch v.state {
	case Dead:
		outcome = "dead"
	case Retrying, Pending:
		outcome = "retry"
	}
	span.SetAttributes(attribute.String("rebound.outbox.outcome", outcome))
	if err != nil {
		span.SetAttributes(attribute.String("error.type", class.String()))
		if v.state != Dead {
			span.SetAttributes(attribute.Float64("rebound.retry.wait", v.wait.Seconds()))
		}
		span.SetStatus(codes.Error, err.Error())
		if s := statusOf(err); s != 0 {
			span.SetAttributes(attribute.Int("http.response.status_code", s))
		}
	}
	span.End()
}

// claimSpan records a claim that leased messages, as a span of its own
// (INTERNAL, "claim"), and returns its context for the deliveries to link
// to.
func (r *Relay) claimSpan(ctx context.Context, start, end time.Time, n int) trace.SpanContext {
	_, span := r.tracer.Start(ctx, "claim", trace.WithSpanKind(trace.SpanKindInternal), trace.WithTimestamp(start),
		trace.WithAttributes(attrSystem, attribute.Int("rebound.outbox.claimed", n)))
	sc := span.SpanContext()
	span.End(trace.WithTimestamp(end))
	return sc
}

// injectTrace writes ctx's trace context into h as traceparent and
// tracestate headers, when ctx has one.
func injectTrace(ctx context.Context, h propagation.HeaderCarrier) {
	if trace.SpanContextFromContext(ctx).IsValid() {
		w3c.Inject(ctx, h)
	}
}

// tracerOf returns the relay's tracer from tp, or from the global
// provider when tp is nil.
func tracerOf(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer(TracerName)
}
