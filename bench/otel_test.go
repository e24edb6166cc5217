package bench

import (
	"context"
	"net/http"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundhttp"
	"github.com/rebound-go/rebound/reboundotel"
)

// OpenTelemetry benchmarks: what reboundotel costs.
//
// BenchmarkOtelNoop is the cost for a program that has not set up
// OpenTelemetry: rebound.Do of a function that succeeds at once with no
// observer (bare), with an observer that does nothing (empty-observer: any
// observer makes Do read the clock for the events' durations), and with
// reboundotel's Observer over the no-op providers (reboundotel-noop). The
// Observer's own cost is reboundotel-noop minus empty-observer.
//
// BenchmarkOtelHTTPGet is the cost with the SDK: a tracer provider whose
// spans go, synchronously, to an in-memory exporter (reset every 1,024
// requests, so memory stays flat), and a meter provider with a manual
// reader (never collected during the loop). Each iteration is one
// successful GET, one attempt, over the in-memory server of
// BenchmarkHTTPGetMemory, read and closed:
//
//   - net-http: a plain client, no telemetry (the floor);
//   - otelhttp: otelhttp.NewTransport alone, tracer and meter from the SDK;
//   - reboundhttp: reboundhttp with its defaults, no telemetry;
//   - reboundhttp+reboundotel: reboundhttp whose Base is
//     reboundotel.NewTransport and whose policy's observer is reboundotel's
//     Observer: an attempt span, the call's metrics;
//   - otelhttp+reboundhttp+reboundotel: the recommended order with
//     otelhttp, outside reboundhttp: a logical span and an attempt span.

func otelNoopObserver(tb testing.TB) *reboundotel.Observer {
	o, err := reboundotel.New(reboundotel.Config{TracerProvider: tracenoop.NewTracerProvider(), MeterProvider: metricnoop.NewMeterProvider()})
	if err != nil {
		tb.Fatal(err)
	}
	return o
}

func BenchmarkOtelNoop(b *testing.B) {
	ctx := context.Background()
	for _, c := range []struct {
		name string
		obs  func(testing.TB) rebound.Observer
	}{
		{"bare", func(testing.TB) rebound.Observer { return nil }},
		{"empty-observer", func(testing.TB) rebound.Observer {
			return rebound.ObserverFunc(func(context.Context, rebound.Event) {})
		}},
		{"reboundotel-noop", func(tb testing.TB) rebound.Observer { return otelNoopObserver(tb) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			p := rebound.Policy{Endpoint: "api/v1/user", Observer: c.obs(b)}
			b.ReportAllocs()
			for b.Loop() {
				_, _ = rebound.Do(ctx, p, okCtx)
			}
		})
	}
}

// otelSDK is an SDK tracer provider exporting to memory and an SDK meter
// provider with a manual reader.
type otelSDK struct {
	spans *tracetest.InMemoryExporter
	tp    *sdktrace.TracerProvider
	mp    *sdkmetric.MeterProvider
	cfg   reboundotel.Config
}

func newOtelSDK(tb testing.TB) *otelSDK {
	s := &otelSDK{spans: tracetest.NewInMemoryExporter()}
	s.tp = sdktrace.NewTracerProvider(sdktrace.WithSyncer(s.spans))
	s.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	s.cfg = reboundotel.Config{TracerProvider: s.tp, MeterProvider: s.mp, Propagator: propagation.TraceContext{}}
	tb.Cleanup(func() {
		_ = s.tp.Shutdown(context.Background())
		_ = s.mp.Shutdown(context.Background())
	})
	return s
}

func (s *otelSDK) otelhttp(base http.RoundTripper) http.RoundTripper {
	return otelhttp.NewTransport(base, otelhttp.WithTracerProvider(s.tp), otelhttp.WithMeterProvider(s.mp), otelhttp.WithPropagators(propagation.TraceContext{}))
}

func (s *otelSDK) reboundotel(tb testing.TB, base http.RoundTripper) http.RoundTripper {
	obs, err := reboundotel.New(s.cfg)
	if err != nil {
		tb.Fatal(err)
	}
	rt, err := reboundhttp.NewTransport(reboundhttp.Config{
		Base:   reboundotel.NewTransport(base, s.cfg),
		Policy: rebound.Policy{Observer: obs},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return rt
}

// otelConfigs are the configurations of BenchmarkOtelHTTPGet, each with the
// number of spans one successful GET makes.
func otelConfigs() []struct {
	name  string
	spans int
	rt    func(tb testing.TB, s *otelSDK, base http.RoundTripper) http.RoundTripper
} {
	return []struct {
		name  string
		spans int
		rt    func(tb testing.TB, s *otelSDK, base http.RoundTripper) http.RoundTripper
	}{
		{"net-http", 0, func(_ testing.TB, _ *otelSDK, base http.RoundTripper) http.RoundTripper { return base }},
		{"otelhttp", 1, func(_ testing.TB, s *otelSDK, base http.RoundTripper) http.RoundTripper { return s.otelhttp(base) }},
		{"reboundhttp", 0, func(tb testing.TB, _ *otelSDK, base http.RoundTripper) http.RoundTripper {
			rt, err := reboundhttp.NewTransport(reboundhttp.Config{Base: base})
			if err != nil {
				tb.Fatal(err)
			}
			return rt
		}},
		{"reboundhttp+reboundotel", 1, func(tb testing.TB, s *otelSDK, base http.RoundTripper) http.RoundTripper {
			return s.reboundotel(tb, base)
		}},
		{"otelhttp+reboundhttp+reboundotel", 2, func(tb testing.TB, s *otelSDK, base http.RoundTripper) http.RoundTripper {
			return s.otelhttp(s.reboundotel(tb, base))
		}},
	}
}

func BenchmarkOtelHTTPGet(b *testing.B) {
	srv := &memServer{}
	req, err := http.NewRequest(http.MethodGet, "http://api.example.com/v1/item/42", nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range otelConfigs() {
		b.Run(c.name, func(b *testing.B) {
			s := newOtelSDK(b)
			do := (&http.Client{Transport: c.rt(b, s, srv)}).Do
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				getOnce(b, do, req)
				if n++; n%1024 == 0 {
					s.spans.Reset()
				}
			}
		})
	}
}

// Each configuration of BenchmarkOtelHTTPGet makes the spans it says for a
// GET, so that the benchmark cannot silently measure something else.
func TestOtelSameSemantics(t *testing.T) {
	req, err := http.NewRequest(http.MethodGet, "http://api.example.com/v1/item/42", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range otelConfigs() {
		s := newOtelSDK(t)
		getOnce(t, (&http.Client{Transport: c.rt(t, s, &memServer{})}).Do, req)
		if got := len(s.spans.GetSpans()); got != c.spans {
			t.Errorf("%s: %d spans for one GET, want %d", c.name, got, c.spans)
		}
	}
}
