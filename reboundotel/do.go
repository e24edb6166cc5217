package reboundotel

import (
	"context"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/rebound-go/rebound"
)

// logicalKey marks the context of a logical span started by Do; its value
// is the span's ID.
type logicalKey struct{}

// isLogical reports whether span is a logical span started by Do with ctx
// (or a context derived from it).
func isLogical(ctx context.Context, span trace.Span) bool {
	id, ok := ctx.Value(logicalKey{}).(trace.SpanID)
	return ok && id == span.SpanContext().SpanID()
}

// Do runs rebound.Do(ctx, p, fn) inside an INTERNAL span named name (the
// endpoint, or "rebound.Do", when name is empty): the logical call, whose
// attempts, retries and outcome the Observer o records on it as events
// (see the package documentation). o is added to p.Observer, so the call's
// metrics are recorded too. The span ends when Do returns, with status
// Error when the call failed.
//
// Under a recording span, the attempts' own spans (those of NewTransport
// through reboundhttp, say) are children of the logical span.
func Do[T any](ctx context.Context, o *Observer, name string, p rebound.Policy, fn func(context.Context) (T, error)) (T, error) {
	if name == "" {
		name = p.Endpoint
		if name == "" {
			name = "rebound.Do"
		}
	}
	var opts [2]trace.SpanStartOption
	opts[0] = trace.WithSpanKind(trace.SpanKindInternal)
	n := 1
	if p.Endpoint != "" {
		opts[1] = trace.WithAttributes(keyEndpoint.String(p.Endpoint))
		n = 2
	}
	ctx, span := o.tracer.Start(ctx, name, opts[:n]...)
	if span.IsRecording() {
		ctx = context.WithValue(ctx, logicalKey{}, span.SpanContext().SpanID())
	}
	if p.Observer != rebound.Observer(o) {
		p.Observer = rebound.Observers(p.Observer, o)
	}
	v, err := rebound.Do(ctx, p, fn)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
	return v, err
}
