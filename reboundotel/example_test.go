package reboundotel_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"

	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundhttp"
	"github.com/rebound-go/rebound/reboundotel"
	"github.com/rebound-go/rebound/reboundtest"
)

// The recommended setup for HTTP: the Observer as the policy's observer
// (metrics, and events on the caller's span), and NewTransport as
// reboundhttp's Base (a CLIENT span per attempt). The server answers 503
// once, then 200: two attempt spans, the second a resend, both children of
// the caller's span, which carries the retry as an event.
func ExampleNewTransport() {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	cfg := reboundotel.Config{TracerProvider: tp, MeterProvider: mp, Propagator: propagation.TraceContext{}}

	flaky := reboundtest.NewScript(reboundtest.Fail(1, http.StatusServiceUnavailable))
	srv := httptest.NewServer(flaky.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})))
	defer srv.Close()

	obs, err := reboundotel.New(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	client, err := reboundhttp.NewClient(reboundhttp.Config{
		Base:   reboundotel.NewTransport(http.DefaultTransport, cfg),
		Policy: rebound.Policy{Observer: obs, Backoff: rebound.Constant(0)},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	ctx, span := tp.Tracer("example").Start(context.Background(), "handle order")
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/item/42", nil)
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	span.End()

	for _, s := range spans.Ended() {
		resend := "-"
		for _, kv := range s.Attributes() {
			if kv.Key == "http.request.resend_count" {
				resend = kv.Value.Emit()
			}
		}
		var code string
		for _, kv := range s.Attributes() {
			if kv.Key == "http.response.status_code" {
				code = kv.Value.Emit()
			}
		}
		var events []string
		for _, e := range s.Events() {
			events = append(events, e.Name)
		}
		fmt.Printf("%s %s status=%s resend_count=%s events=%v\n", s.SpanKind(), s.Name(), code, resend, events)
	}

	var rm metricdata.ResourceMetrics
	_ = reader.Collect(context.Background(), &rm)
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if m.Name != "http.request.retries" {
			continue
		}
		var lines []string
		for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
			status, _ := p.Attributes.Value("status")
			lines = append(lines, fmt.Sprintf("%s{status=%s} %d", m.Name, status.Emit(), p.Value))
		}
		sort.Strings(lines)
		for _, l := range lines {
			fmt.Println(l)
		}
	}
	// Output:
	// client GET status=503 resend_count=- events=[]
	// client GET status=200 resend_count=1 events=[]
	// internal handle order status= resend_count=- events=[rebound.retry]
	// http.request.retries{status=failed} 0
	// http.request.retries{status=succeeded} 1
}

// Do wraps rebound.Do on any code in a logical INTERNAL span: each attempt
// and each retry is an event on it, with the failure's class (unknown for
// an error marked rebound.Transient), and it ends with the call's outcome.
func ExampleDo() {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	obs, err := reboundotel.New(reboundotel.Config{TracerProvider: tp})
	if err != nil {
		fmt.Println(err)
		return
	}
	policy := rebound.Policy{Endpoint: "inventory/reserve", Backoff: rebound.Constant(0)}
	attempts := 0
	n, err := reboundotel.Do(context.Background(), obs, "reserve stock", policy, func(ctx context.Context) (int, error) {
		if attempts++; attempts < 3 {
			return 0, rebound.Transient(errors.New("row locked"))
		}
		return 7, nil
	})
	fmt.Println(n, err)

	s := spans.Ended()[0]
	fmt.Println(s.SpanKind(), s.Name(), s.Status().Code)
	for _, e := range s.Events() {
		var class string
		for _, kv := range e.Attributes {
			if kv.Key == "rebound.class" {
				class = kv.Value.Emit()
			}
		}
		fmt.Println(" ", e.Name, class)
	}
	// Output:
	// 7 <nil>
	// internal reserve stock Unset
	//   rebound.attempt unknown
	//   rebound.retry unknown
	//   rebound.attempt unknown
	//   rebound.retry unknown
	//   rebound.attempt none
}
