package reboundotel_test

import (
	"context"
	"net"
	"syscall"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/rebound-go/rebound/reboundotel"
)

var (
	errReset   = &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	errRefused = &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
)

// telemetry is an SDK tracer provider recording every ended span, and an
// SDK meter provider read on demand.
type telemetry struct {
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
}

func newTelemetry(t *testing.T) *telemetry {
	t.Helper()
	sr := tracetest.NewSpanRecorder()
	reader := sdkmetric.NewManualReader()
	tel := &telemetry{
		spans:  sr,
		tp:     sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr)),
		reader: reader,
		mp:     sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
	}
	t.Cleanup(func() {
		_ = tel.tp.Shutdown(context.Background())
		_ = tel.mp.Shutdown(context.Background())
	})
	return tel
}

func (tel *telemetry) config() reboundotel.Config {
	return reboundotel.Config{TracerProvider: tel.tp, MeterProvider: tel.mp, Propagator: propagation.TraceContext{}}
}

func (tel *telemetry) observer(t *testing.T, cfg reboundotel.Config) *reboundotel.Observer {
	t.Helper()
	o, err := reboundotel.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// metric returns the metric named name, collected now.
func (tel *telemetry) metric(t *testing.T, name string) (metricdata.Metrics, bool) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := tel.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m, true
			}
		}
	}
	return metricdata.Metrics{}, false
}

func matches(set attribute.Set, want map[string]string) bool {
	if set.Len() != len(want) {
		return false
	}
	for k, v := range want {
		got, ok := set.Value(attribute.Key(k))
		if !ok || got.Emit() != v {
			return false
		}
	}
	return true
}

// value returns the value of the series of name with exactly the
// attributes attrs: a sum's or gauge's value, a histogram's count.
func (tel *telemetry) value(t *testing.T, name string, attrs map[string]string) (float64, bool) {
	t.Helper()
	m, ok := tel.metric(t, name)
	if !ok {
		return 0, false
	}
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			if matches(p.Attributes, attrs) {
				return float64(p.Value), true
			}
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			if matches(p.Attributes, attrs) {
				return float64(p.Value), true
			}
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			if matches(p.Attributes, attrs) {
				return float64(p.Count), true
			}
		}
	default:
		t.Fatalf("%s: unexpected data %T", name, m.Data)
	}
	return 0, false
}

func (tel *telemetry) expect(t *testing.T, name string, attrs map[string]string, want float64) {
	t.Helper()
	got, ok := tel.value(t, name, attrs)
	if !ok || got != want {
		t.Errorf("%s%v = %v (present: %v), want %v", name, attrs, got, ok, want)
	}
}

// attr returns the value of a span's or event's attribute.
func attr(kvs []attribute.KeyValue, key string) (attribute.Value, bool) {
	for _, kv := range kvs {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// pointSets returns the attribute sets of m's data points.
func pointSets(m metricdata.Metrics) []attribute.Set {
	var out []attribute.Set
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes)
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes)
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes)
		}
	}
	return out
}
