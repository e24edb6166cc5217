package reboundotel

import (
	"log/slog"
	"strconv"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/internal/endpoints"
)

// ScopeName is the instrumentation scope of the tracer and meter this
// package gets from the providers.
const ScopeName = "github.com/rebound-go/rebound/reboundotel"

// Defaults of Config.
const (
	// DefaultMaxEndpoints is the number of distinct rebound.endpoint values
	// a zero Config.MaxEndpoints stands for, as in reboundprom.
	DefaultMaxEndpoints = 100
	// OtherEndpoint is the rebound.endpoint value that endpoints past the
	// limit fold into.
	OtherEndpoint = endpoints.Other
)

// DefaultBuckets are the explicit bucket boundaries, in seconds, advised
// for the duration and wait histograms: OpenTelemetry's boundaries for HTTP
// client durations, extended for calls that include backoff (the same as
// reboundprom's). A view in the MeterProvider can replace them.
var DefaultBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60, 120}

// Config configures an Observer and a Transport. The zero value means
// every default: the global providers and propagator of the otel package.
type Config struct {
	// TracerProvider gives the tracer of the attempt spans (NewTransport)
	// and the logical spans (Do). Default otel.GetTracerProvider().
	TracerProvider trace.TracerProvider
	// MeterProvider gives the meter of the Observer's metrics. Default
	// otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
	// Propagator injects the trace context into each attempt's headers
	// (NewTransport). Default otel.GetTextMapPropagator().
	Propagator propagation.TextMapPropagator
	// MaxEndpoints bounds the distinct rebound.endpoint values of the
	// metrics; later endpoints fold into "_other", which is logged once.
	// Default 100.
	MaxEndpoints int
	// Logger receives the one warning about endpoint overflow. Default
	// slog.Default().
	Logger *slog.Logger
}

func (c Config) tracer() trace.Tracer {
	tp := c.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer(ScopeName)
}

func (c Config) propagator() propagation.TextMapPropagator {
	if c.Propagator != nil {
		return c.Propagator
	}
	return otel.GetTextMapPropagator()
}

func (c Config) check() (Config, error) {
	if c.MaxEndpoints < 0 {
		return c, &rebound.ConfigError{Field: "reboundotel.Config.MaxEndpoints", Problem: "want 0 (default " + strconv.Itoa(DefaultMaxEndpoints) + ") or more, got " + strconv.Itoa(c.MaxEndpoints)}
	}
	if c.MaxEndpoints == 0 {
		c.MaxEndpoints = DefaultMaxEndpoints
	}
	if c.MeterProvider == nil {
		c.MeterProvider = otel.GetMeterProvider()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}
