package daemon

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/rebound-go/rebound/internal/config"
)

// The daemon's tracing is off unless the standard OpenTelemetry variables
// name an OTLP endpoint: OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT. OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL
// chooses http/protobuf (the default) or grpc; the exporters read their
// other OTEL_EXPORTER_OTLP_* variables (headers, timeout, certificates,
// compression) themselves. OTEL_SDK_DISABLED=true or
// OTEL_TRACES_EXPORTER=none turn it off; OTEL_SERVICE_NAME (default
// "rebound") and OTEL_RESOURCE_ATTRIBUTES describe the process. The spans:
// one SERVER span per API request, one per claim that leased messages, and
// one PRODUCER span per delivery attempt, continuing the trace its message
// was enqueued in.

// newTracing returns the tracer provider the daemon's variables ask for,
// or nil when tracing is off, or a *config.Error naming the variable that
// is wrong. Nothing is sent until a span ends.
func newTracing(ctx context.Context, getenv func(string) string, log *slog.Logger) (*sdktrace.TracerProvider, error) {
	first := func(names ...string) (string, string) {
		for _, n := range names {
			if v := strings.TrimSpace(getenv(n)); v != "" {
				return n, v
			}
		}
		return names[len(names)-1], ""
	}
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") {
		return nil, nil
	}
	switch v := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); v {
	case "", "otlp":
	case "none":
		return nil, nil
	default:
		return nil, &config.Error{Key: "OTEL_TRACES_EXPORTER", Want: "want otlp or none (the daemon exports traces over OTLP only), got " + v}
	}
	if _, endpoint := first("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"); endpoint == "" {
		return nil, nil
	}
	var exp sdktrace.SpanExporter
	var err error
	switch name, proto := first("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"); proto {
	case "", "http/protobuf":
		exp, err = otlptracehttp.New(ctx)
	case "grpc":
		exp, err = otlptracegrpc.New(ctx)
	default:
		return nil, &config.Error{Key: name, Want: "want http/protobuf or grpc, got " + proto}
	}
	if err != nil {
		return nil, &config.Error{Key: "OTEL_EXPORTER_OTLP_ENDPOINT", Want: "an OTLP endpoint the exporter accepts: " + err.Error()}
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "rebound")),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
		resource.WithTelemetrySDK(),
	)
	if err != nil {
		return nil, &config.Error{Key: "OTEL_RESOURCE_ATTRIBUTES", Want: "key=value pairs: " + err.Error()}
	}
	// Export failures (a collector that is down) go to the daemon's log,
	// not to OpenTelemetry's default, the standard log package. Spans that
	// cannot be sent are dropped; delivery goes on.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("tracing: exporting spans failed", "error", err.Error())
	}))
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}

// traceAPI wraps the API in a SERVER span per request, the child of the
// caller's W3C trace context, named by its route.
func traceAPI(h http.Handler, tp *sdktrace.TracerProvider) http.Handler {
	return otelhttp.NewHandler(h, "rebound",
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + apiRoute(r.URL.Path) }),
	)
}

// apiRoute is the route template of an API path, for span names.
func apiRoute(path string) string {
	switch {
	case path == "/v1/messages":
		return path
	case strings.HasPrefix(path, "/v1/messages/"):
		rest := strings.TrimPrefix(path, "/v1/messages/")
		if _, action, ok := strings.Cut(rest, "/"); ok {
			return "/v1/messages/{id}/" + action
		}
		return "/v1/messages/{id}"
	case strings.HasPrefix(path, "/v1/"):
		return "/v1/…"
	}
	return path
}

// shutdownTracing sends the spans still buffered, for at most 5 s.
func shutdownTracing(tp *sdktrace.TracerProvider) {
	if tp == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = tp.Shutdown(ctx)
}
