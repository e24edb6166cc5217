package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/idempotency"
	"github.com/rebound-go/rebound/internal/api"
	"github.com/rebound-go/rebound/internal/auth"
	"github.com/rebound-go/rebound/internal/config"
	"github.com/rebound-go/rebound/internal/statuspage"
	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/outboxprom"
	"github.com/rebound-go/rebound/reboundprom"
	"github.com/rebound-go/rebound/webhook"
)

// relayd is a relay built from its configuration and not yet serving:
// build makes it, serve runs it, close releases its store.
type relayd struct {
	cfg    *config.Config
	opts   Options
	log    *slog.Logger
	tokens *auth.Tokens
	be     *Backend
	ready  *readiness // the store is reached and migrated after the listener opens

	relay   *outbox.Relay
	reaper  *idempotency.Reaper
	brokers map[string]*broker // the broker destinations' senders
	// storeObs receives the events of the wait for the store: metrics,
	// logs and ready.
	storeObs rebound.Observer
	handler  http.Handler             // the API, the status page, /metrics, /livez, /readyz
	pprof    http.Handler             // nil unless cfg.Pprof is set
	tracer   *sdktrace.TracerProvider // nil unless the OTEL_* variables turn tracing on
}

// build wires the relay from cfg and validates everything it can without
// serving: the tokens, the listen address against them, the store's
// address, the destinations, the breakers and the handlers. It opens no
// listener and starts none of the relay's goroutines. It opens the store
// (a SQLite file at once, so that one that cannot be opened ends Run
// before it listens; PostgreSQL on first use), which close releases.
func build(ctx context.Context, cfg *config.Config, opts Options) (*relayd, error) {
	d := &relayd{cfg: cfg, opts: opts, log: opts.Logger, ready: &readiness{}}
	if d.log == nil {
		d.log = slog.Default()
	}
	tokens, err := loadTokens(cfg, opts.Getenv)
	if err != nil {
		return nil, err
	}
	if tokens.Len() == 0 && !loopback(cfg.Listen) {
		return nil, &config.Error{Key: "listen", Want: "want a loopback address when no tokens are configured (auth.tokens_file, REBOUND_ADMIN_TOKENS): the API would be open to anyone, got " + cfg.Listen}
	}
	d.tokens = tokens
	getenv := opts.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	if d.tracer, err = newTracing(ctx, getenv, d.log); err != nil {
		return nil, err
	}
	kind, addr, _ := cfg.Store()
	if d.be, err = Open(ctx, kind, addr); err != nil {
		shutdownTracing(d.tracer)
		return nil, err
	}
	if err := d.wire(); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

// wire makes the relay's parts on its opened store: the sender, the
// metrics, the breakers, the relay, the Idempotency-Key memory and the
// handlers.
func (d *relayd) wire() error {
	cfg, log := d.cfg, d.log
	var err error
	if d.brokers, err = openBrokers(cfg, redeliveryGap(cfg), log); err != nil {
		return err
	}
	rt, err := newRouter(cfg, webhook.AddressPolicy{Allow: cfg.Prefixes()}, d.brokers)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := reboundprom.New(reboundprom.Config{Registerer: reg, Logger: log})
	if err != nil {
		return err
	}
	logged := rebound.NewSlogObserver(log) // every retry, give-up and breaker change
	breakers, err := newBreakers(cfg.Relay.Breaker, rebound.Observers(metrics, logged))
	if err != nil {
		return err
	}
	if breakers != nil {
		metrics.WatchBreakers(breakers)
	}

	activity := statuspage.NewActivity()
	var tp trace.TracerProvider
	if d.tracer != nil {
		tp = d.tracer
	}
	d.relay, err = outbox.NewRelay(relayConfig(cfg, d.be.Outbox, rt, breakers, rebound.Observers(metrics, activity), log, tp))
	if err != nil {
		return err
	}
	col, err := outboxprom.NewCollector(outboxprom.Config{Store: d.be.Outbox, Relays: []*outbox.Relay{d.relay}})
	if err != nil {
		return err
	}
	reg.MustRegister(col)
	d.storeObs = rebound.Observers(metrics, logged, d.ready)

	// Idempotency-Key answers live in memory for KeyTTL: a repeat later,
	// or at another relay, meets the message whose ID derives from the key,
	// so a key costs the enqueue no write.
	keys := &idempotency.MemoryStore{}
	if d.reaper, err = idempotency.NewReaper(keys, idempotency.ReaperConfig{Interval: KeyTTL / 4, Logger: log}); err != nil {
		return err
	}
	apiHandler, err := api.New(api.Config{
		Store:        d.be.Outbox,
		Enqueue:      EnqueueFor(d.be),
		Destination:  rt.Allowed,
		Check:        rt.Check,
		Tokens:       d.tokens,
		Idempotency:  keys,
		KeyTTL:       KeyTTL,
		MaxBodyBytes: cfg.API.MaxBodyBytes,
		Logger:       log,
		NotReady:     d.ready.notReady,
	})
	if err != nil {
		return err
	}
	page, err := statusPage(cfg, d.be, breakers, activity, d.tokens, log)
	if err != nil {
		return err
	}
	if d.tracer != nil {
		apiHandler = traceAPI(apiHandler, d.tracer)
	}
	d.handler = d.routes(apiHandler, page, reg)
	if cfg.Pprof != "" {
		d.pprof = pprofHandler()
	}
	return nil
}

// newBreakers makes the destinations' breakers as br says, or returns nil
// when br disables them.
func newBreakers(br config.Breaker, obs rebound.Observer) (*rebound.Breakers, error) {
	if br.Disabled {
		return nil, nil
	}
	if br.ConsecutiveFailures == 0 {
		br.ConsecutiveFailures = config.DefaultConsecutiveFailures
	}
	breakers, err := rebound.NewBreakers(rebound.BreakerConfig{
		ConsecutiveFailures: br.ConsecutiveFailures,
		FailureRate:         br.FailureRate,
		MinCalls:            br.MinCalls,
		OpenFor:             time.Duration(br.OpenFor),
		Observer:            obs,
	}, config.MaxDestinations+100)
	if err != nil {
		return nil, &config.Error{Key: "relay.breaker", Want: err.Error()}
	}
	return breakers, nil
}

// routes serves the API under /v1/, /metrics from reg, the probes, and the
// status page at / once the store is ready.
func (d *relayd) routes(apiHandler, page http.Handler, reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/v1/", apiHandler)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, ErrorLog: slog.NewLogLogger(d.log.Handler(), slog.LevelWarn)}))
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok", d.opts.Version)
	})
	mux.HandleFunc("GET /readyz", d.readyz)
	mux.Handle("/", d.ready.gate(page))
	return mux
}

// readyz answers 200 once the store is migrated, answers and is at this
// build's schema; 503 with the reason until then.
func (d *relayd) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if reason := d.ready.reason(); reason != "" {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "store not ready:", reason)
		return
	}
	if err := d.be.Ping(ctx); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "store unreachable:", err)
		return
	}
	if err := d.be.Current(ctx); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "schema not current:", err)
		return
	}
	fmt.Fprintln(w, "ok")
	// A broker that is down does not make the relay unready: the API
	// still enqueues, and the messages wait for it. Its state is listed.
	for _, line := range brokerStatus(ctx, d.brokers) {
		fmt.Fprintln(w, line)
	}
}

// pprofHandler serves net/http/pprof under /debug/pprof/.
func pprofHandler() http.Handler {
	pm := http.NewServeMux()
	pm.HandleFunc("/debug/pprof/", pprof.Index)
	pm.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	pm.HandleFunc("/debug/pprof/profile", pprof.Profile)
	pm.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	pm.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return pm
}

// close releases the brokers' connections and the store. The relay and
// the reaper must have stopped.
func (d *relayd) close() {
	for _, b := range d.brokers {
		b.close()
	}
	d.be.Close()
	shutdownTracing(d.tracer)
}
