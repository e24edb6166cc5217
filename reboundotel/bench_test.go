package reboundotel_test

import (
	"context"
	"testing"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundotel"
)

// BenchmarkNoopObserver: rebound.Do of a function that succeeds, with no
// observer (bare) and with the Observer over no-op providers (noop). The
// difference is what the observer costs a program that has not set up
// OpenTelemetry: two events, each an endpoint lookup, the metric calls and
// a span lookup in the context.
func BenchmarkNoopObserver(b *testing.B) {
	ctx := context.Background()
	ok := func(context.Context) (int, error) { return 1, nil }
	b.Run("bare", func(b *testing.B) {
		p := rebound.Policy{Endpoint: "api/v1/user"}
		b.ReportAllocs()
		for b.Loop() {
			_, _ = rebound.Do(ctx, p, ok)
		}
	})
	b.Run("noop", func(b *testing.B) {
		o, err := reboundotel.New(reboundotel.Config{TracerProvider: tracenoop.NewTracerProvider(), MeterProvider: metricnoop.NewMeterProvider()})
		if err != nil {
			b.Fatal(err)
		}
		p := rebound.Policy{Endpoint: "api/v1/user", Observer: o}
		b.ReportAllocs()
		for b.Loop() {
			_, _ = rebound.Do(ctx, p, ok)
		}
	})
	b.Run("empty-observer", func(b *testing.B) {
		// Any observer makes Do read the clock: the floor of the noop case.
		p := rebound.Policy{Endpoint: "api/v1/user", Observer: rebound.ObserverFunc(func(context.Context, rebound.Event) {})}
		b.ReportAllocs()
		for b.Loop() {
			_, _ = rebound.Do(ctx, p, ok)
		}
	})
}

// BenchmarkObserve: one event through the Observer alone, over no-op
// providers (noop) and over SDK metrics (sdk-metrics, no recording span).
func BenchmarkObserve(b *testing.B) {
	ctx := context.Background()
	ev := rebound.Event{Kind: rebound.CallFinished, Result: rebound.ResultSuccess, Attempt: 1, Endpoint: "api/v1/user"}
	run := func(b *testing.B, o rebound.Observer) {
		o.Observe(ctx, ev)
		b.ReportAllocs()
		for b.Loop() {
			o.Observe(ctx, ev)
		}
	}
	b.Run("noop", func(b *testing.B) {
		o, err := reboundotel.New(reboundotel.Config{TracerProvider: tracenoop.NewTracerProvider(), MeterProvider: metricnoop.NewMeterProvider()})
		if err != nil {
			b.Fatal(err)
		}
		run(b, o)
	})
	b.Run("sdk-metrics", func(b *testing.B) {
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		o, err := reboundotel.New(reboundotel.Config{TracerProvider: tracenoop.NewTracerProvider(), MeterProvider: mp})
		if err != nil {
			b.Fatal(err)
		}
		run(b, o)
	})
}
