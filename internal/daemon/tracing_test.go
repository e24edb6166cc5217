package daemon_test

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/rebound-go/rebound/internal/config"
	"github.com/rebound-go/rebound/internal/daemon"
)

// otlpReceiver is a loopback OTLP/HTTP trace receiver: it decodes each
// export request and keeps its spans.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []*tracepb.Span
	url   string
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	rc := &otlpReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
			http.NotFound(w, r)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			gz, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = gz
		}
		b, err := io.ReadAll(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var req collectortrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rc.add(&req)
		out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	rc.url = srv.URL
	return rc
}

// grpcReceiver is a loopback OTLP/gRPC trace receiver keeping its spans
// in rc.
type grpcReceiver struct {
	collectortrace.UnimplementedTraceServiceServer
	rc *otlpReceiver
}

func (g grpcReceiver) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	g.rc.add(req)
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func newGRPCReceiver(t *testing.T) *otlpReceiver {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rc := &otlpReceiver{url: "http://" + ln.Addr().String()}
	srv := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(srv, grpcReceiver{rc: rc})
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return rc
}

// add keeps the spans of an export request.
func (rc *otlpReceiver) add(req *collectortrace.ExportTraceServiceRequest) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			rc.spans = append(rc.spans, ss.Spans...)
		}
	}
}

// span returns the first span received named name in trace, or nil.
func (rc *otlpReceiver) span(name string, trace []byte) *tracepb.Span {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, s := range rc.spans {
		if s.Name == name && string(s.TraceId) == string(trace) {
			return s
		}
	}
	return nil
}

// With the OTEL_EXPORTER_OTLP_* variables set, the daemon exports over
// OTLP/HTTP the spans of one trace that the caller of POST /v1/messages
// started: the API request's SERVER span, child of the caller's
// traceparent, and the delivery's PRODUCER span, child of the API span.
func TestDaemonExportsTheDeliveryInTheCallersTraceOverOTLP(t *testing.T) {
	t.Run("http", func(t *testing.T) { testExport(t, newOTLPReceiver(t), "http/protobuf") })
	t.Run("grpc", func(t *testing.T) { testExport(t, newGRPCReceiver(t), "grpc") })
}

func testExport(t *testing.T, otlp *otlpReceiver, protocol string) {
	env := map[string]string{
		"OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
		"OTEL_EXPORTER_OTLP_ENDPOINT": otlp.url,
		"OTEL_BSP_SCHEDULE_DELAY":     "50", // ms: export soon after each span ends
		"OTEL_SERVICE_NAME":           "rebound-test",
	}
	for k, v := range env {
		t.Setenv(k, v) // the exporter reads them from the process
	}
	rc, srv := newReceiver(t)
	r := startEnv(t, fmt.Sprintf("allow_addresses: [127.0.0.0/8]\ndestinations:\n  demo: {url: %s}\n", srv.URL), env)

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	resp, m := r.do(t, "POST", "/v1/messages", "", `{"destination":"demo","payload":{"n":1}}`,
		"traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("enqueue: %d %v", resp.StatusCode, m)
	}
	id := m["id"].(string)
	r.waitState(t, id, "sent")
	if _, ok := rc.got(id); !ok {
		t.Fatal("the receiver did not get the message")
	}
	want := make([]byte, 16)
	fmt.Sscanf(traceID, "%x", &want)
	var api, delivery *tracepb.Span
	for deadline := time.Now().Add(10 * time.Second); api == nil || delivery == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s the OTLP receiver has API span %v and delivery span %v in trace %s", api != nil, delivery != nil, traceID)
		}
		api, delivery = otlp.span("POST /v1/messages", want), otlp.span("deliver demo", want)
	}
	if api.Kind != tracepb.Span_SPAN_KIND_SERVER || fmt.Sprintf("%x", api.ParentSpanId) != "00f067aa0ba902b7" {
		t.Errorf("API span: kind %v, parent %x; want SERVER, child of the caller's span", api.Kind, api.ParentSpanId)
	}
	if delivery.Kind != tracepb.Span_SPAN_KIND_PRODUCER || string(delivery.ParentSpanId) != string(api.SpanId) {
		t.Errorf("delivery span: kind %v, parent %x; want PRODUCER, child of the API span %x", delivery.Kind, delivery.ParentSpanId, api.SpanId)
	}
	var attrs []string
	for _, a := range delivery.Attributes {
		attrs = append(attrs, a.Key+"="+a.Value.String())
	}
	if !strings.Contains(strings.Join(attrs, " "), "messaging.message.id=string_value:\""+id+"\"") {
		t.Errorf("delivery span attributes %v, want messaging.message.id %s", attrs, id)
	}
}

// A wrong OTEL_* variable stops the daemon before it serves, naming it;
// OTEL_TRACES_EXPORTER=none turns tracing off.
func TestDaemonNamesAWrongTracingVariable(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "thrift"}, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"},
		{map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"},
	} {
		cfg, err := config.Parse("test.yaml", strings.NewReader("db: sqlite:"+t.TempDir()+"/r.db\nlisten: 127.0.0.1:0\n"))
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.Finish(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = daemon.Run(ctx, cfg, daemon.Options{Getenv: func(k string) string { return c.env[k] }})
		cancel()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: Run returned %v, want an error naming %s", c.env, err, c.want)
		}
	}
}
