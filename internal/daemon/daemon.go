// Package daemon runs `rebound relay`: the outbox relay over SQLite or
// PostgreSQL, with the JSON API, the status page, /metrics, /livez and
// /readyz on one listener, and pprof on an optional loopback one.
//
// # Startup
//
// Run opens its listener first, then reaches and migrates the store. While
// the store cannot be reached or answers that it cannot serve yet (refused,
// DNS failures, timeouts, a server starting up or shutting down, too many
// connections: see Healable), it retries with StoreBackoff (250 ms doubling
// up to 5 s, with full jitter), logging each retry like any rebound call
// (reason, attempt, elapsed, wait), and meanwhile /livez answers 200,
// /readyz 503 with the last error (never the password), and the API and
// the status page 503 with Retry-After (at most MaxNotReadyRetryAfter) and
// a problem+json body. Once the store answers, Run migrates it and starts
// delivering, without a restart: within a few seconds of the store coming
// back. An error that cannot heal (a malformed connection string, an
// authentication failure, an unknown database, missing permission, a
// schema newer than this build, a SQLite file that cannot be opened) ends
// Run at once with a *StoreError, and rebound relay exits 2 with its text.
// Migrate waits the same way for rebound migrate --wait.
//
// Shutdown (the context passed to Run ending, on SIGINT or SIGTERM): the
// relay stops claiming; in-flight deliveries finish, or after
// ShutdownTimeout are canceled and their messages released with the attempt
// given back; the HTTP server drains; Run returns nil.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"sync"
	"time"

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
	"github.com/rebound-go/rebound/reboundprom"
)

// KeyTTL is how long a relay answers a repeated Idempotency-Key from
// memory; later, and at another relay, the repeat meets the message whose
// ID derives from the key. It bounds the keys' memory: the enqueue rate
// times KeyTTL.
const KeyTTL = 2 * time.Minute

// ShutdownTimeout bounds how long in-flight deliveries may finish after a
// stop signal before they are canceled and released.
const ShutdownTimeout = 20 * time.Second

// Options are what Run needs besides the configuration.
type Options struct {
	Logger *slog.Logger
	// Getenv reads REBOUND_ADMIN_TOKENS and REBOUND_READ_TOKENS. Default:
	// none are read.
	Getenv func(string) string
	// Serving, when set, receives the API address as soon as it listens,
	// before the store may be ready.
	Serving func(addr string)
	// Listening, when set, receives the API address once the relay
	// listens and its store is ready: migrated, and the relay delivering.
	Listening func(addr string)
	// Version is reported by /livez.
	Version string
	// ShutdownTimeout bounds how long in-flight deliveries may finish
	// once ctx ends. Default ShutdownTimeout.
	ShutdownTimeout time.Duration
}

// Run serves until ctx ends. cfg must have passed Finish.
func Run(ctx context.Context, cfg *config.Config, opts Options) error {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	tokens, err := loadTokens(cfg, opts.Getenv)
	if err != nil {
		return err
	}
	if tokens.Len() == 0 && !loopback(cfg.Listen) {
		return &config.Error{Key: "listen", Want: "want a loopback address when no tokens are configured (auth.tokens_file, REBOUND_ADMIN_TOKENS): the API would be open to anyone, got " + cfg.Listen}
	}
	kind, addr, _ := cfg.Store()
	be, err := Open(ctx, kind, addr)
	if err != nil {
		return err
	}
	defer be.Close()
	ready := &readiness{} // the store is reached and migrated after the listener opens

	policy := outbox.AddressPolicy{Allow: cfg.Prefixes()}
	rt, err := newRouter(cfg, policy)
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
	var breakers *rebound.Breakers
	if br := cfg.Relay.Breaker; !br.Disabled {
		if br.ConsecutiveFailures == 0 {
			br.ConsecutiveFailures = config.DefaultConsecutiveFailures
		}
		breakers, err = rebound.NewBreakers(rebound.BreakerConfig{
			ConsecutiveFailures: br.ConsecutiveFailures,
			FailureRate:         br.FailureRate,
			MinCalls:            br.MinCalls,
			OpenFor:             time.Duration(br.OpenFor),
			Observer:            rebound.Observers(metrics, logged),
		}, config.MaxDestinations+100)
		if err != nil {
			return &config.Error{Key: "relay.breaker", Want: err.Error()}
		}
		metrics.WatchBreakers(breakers)
	}

	activity := statuspage.NewActivity()
	relay, err := outbox.NewRelay(relayConfig(cfg, be.Outbox, rt, breakers, rebound.Observers(metrics, activity), log))
	if err != nil {
		return err
	}
	col, err := reboundprom.NewOutboxCollector(reboundprom.OutboxConfig{Store: be.Outbox, Relays: []*outbox.Relay{relay}})
	if err != nil {
		return err
	}
	reg.MustRegister(col)

	// Idempotency-Key answers live in memory for KeyTTL: a repeat later,
	// or at another relay, meets the message whose ID derives from the key,
	// so a key costs the enqueue no write.
	keys := &idempotency.MemoryStore{}
	apiHandler, err := api.New(api.Config{
		Store:        be.Outbox,
		Enqueue:      EnqueueFor(be),
		Destination:  rt.Allowed,
		Tokens:       tokens,
		Idempotency:  keys,
		KeyTTL:       KeyTTL,
		MaxBodyBytes: cfg.API.MaxBodyBytes,
		Logger:       log,
		NotReady:     ready.notReady,
	})
	if err != nil {
		return err
	}
	page, err := statusPage(cfg, be, breakers, activity, tokens, log)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/", apiHandler)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}))
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok", opts.Version)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if reason := ready.reason(); reason != "" {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "store not ready:", reason)
			return
		}
		if err := be.Ping(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "store unreachable:", err)
			return
		}
		if err := be.Current(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "schema not current:", err)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("/", ready.gate(page))

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return &config.Error{Key: "listen", Want: "want an address this process can listen on: " + err.Error()}
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	var pprofSrv *http.Server
	var pprofLn net.Listener
	if cfg.Pprof != "" {
		if pprofLn, err = net.Listen("tcp", cfg.Pprof); err != nil {
			ln.Close()
			return &config.Error{Key: "pprof", Want: "want an address this process can listen on: " + err.Error()}
		}
		pm := http.NewServeMux()
		pm.HandleFunc("/debug/pprof/", pprof.Index)
		pm.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		pm.HandleFunc("/debug/pprof/profile", pprof.Profile)
		pm.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		pm.HandleFunc("/debug/pprof/trace", pprof.Trace)
		pprofSrv = &http.Server{Handler: pm, ReadHeaderTimeout: 10 * time.Second}
	}

	reaper := &idempotency.Reaper{Store: keys, Interval: KeyTTL / 4, Logger: log}
	if err := reaper.Start(ctx); err != nil {
		ln.Close()
		return err
	}
	var wg sync.WaitGroup
	serveErr := make(chan error, 2)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			serveErr <- err
		}
	}()
	if pprofSrv != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := pprofSrv.Serve(pprofLn); !errors.Is(err, http.ErrServerClosed) {
				serveErr <- err
			}
		}()
	}
	log.Info("rebound relay started", "listen", ln.Addr().String(), "store", kind, "destinations", len(cfg.Destinations), "auth", tokens.Len() > 0, "version", opts.Version)
	if opts.Serving != nil {
		opts.Serving(ln.Addr().String())
	}

	// The listener is open: reach and migrate the store, waiting while it
	// cannot answer yet, then deliver.
	waitCtx, stopWaiting := context.WithCancelCause(ctx)
	defer stopWaiting(nil)
	storeErr := make(chan error, 1)
	var waiter sync.WaitGroup
	waiter.Add(1)
	go func() {
		defer waiter.Done()
		storeErr <- startWhenReady(waitCtx, ctx, be, relay, ready, rebound.Observers(metrics, logged, ready), log, func() {
			if opts.Listening != nil {
				opts.Listening(ln.Addr().String())
			}
		})
	}()

	runErr := func() error {
		for {
			select {
			case <-ctx.Done():
				log.Info("rebound relay stopping: finishing in-flight deliveries")
				return nil
			case err := <-serveErr:
				log.Error("rebound relay: the HTTP server failed", "error", err.Error())
				return err
			case err := <-storeErr:
				if err != nil {
					return err // a store that cannot heal: the caller says why
				}
				storeErr = nil // ready and delivering
			}
		}
	}()
	stopWaiting(errStopping)
	waiter.Wait() // the relay is started, or will not be
	grace := opts.ShutdownTimeout
	if grace <= 0 {
		grace = ShutdownTimeout
	}
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := relay.Stop(stopCtx); err != nil {
		log.Warn("rebound relay: stopping the relay", "error", err.Error())
	}
	_ = reaper.Stop(stopCtx)
	httpCtx, cancelHTTP := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancelHTTP()
	_ = srv.Shutdown(httpCtx)
	if pprofSrv != nil {
		_ = pprofSrv.Shutdown(httpCtx)
	}
	wg.Wait()
	log.Info("rebound relay stopped")
	return runErr
}

func relayConfig(cfg *config.Config, store outbox.Store, sender outbox.Sender, breakers *rebound.Breakers, obs rebound.Observer, log *slog.Logger) outbox.RelayConfig {
	r := cfg.Relay
	rc := outbox.RelayConfig{
		Store:         store,
		Sender:        sender,
		Workers:       r.Workers,
		Lease:         time.Duration(r.Lease),
		PollInterval:  time.Duration(r.PollInterval),
		MaxAttempts:   r.MaxAttempts,
		MaxAge:        time.Duration(r.MaxAge),
		MaxRetryAfter: time.Duration(r.MaxRetryAfter),
		Retention:     time.Duration(r.Retention),
		Breakers:      breakers,
		Observer:      obs,
		Logger:        log,
	}
	if r.Backoff != (config.Backoff{}) {
		rc.Backoff = backoff(r.Backoff, outbox.DefaultBackoff)
	}
	for name, d := range cfg.Destinations {
		p := outbox.DestinationPolicy{MaxAttempts: d.Retry.MaxAttempts, MaxAge: time.Duration(d.Retry.MaxAge), Concurrency: d.Concurrency}
		if d.Retry.Backoff != (config.Backoff{}) {
			base := outbox.DefaultBackoff
			if e, ok := rc.Backoff.(rebound.Exponential); ok {
				base = e
			}
			p.Backoff = backoff(d.Retry.Backoff, base)
		}
		if p != (outbox.DestinationPolicy{}) {
			if rc.Destinations == nil {
				rc.Destinations = map[string]outbox.DestinationPolicy{}
			}
			rc.Destinations[name] = p
		}
	}
	return rc
}

func backoff(b config.Backoff, base rebound.Exponential) rebound.Exponential {
	if b.Initial > 0 {
		base.Initial = time.Duration(b.Initial)
	}
	if b.Max > 0 {
		base.Max = time.Duration(b.Max)
	}
	return base
}

func loadTokens(cfg *config.Config, getenv func(string) string) (*auth.Tokens, error) {
	tokens := &auth.Tokens{}
	if cfg.Auth.TokensFile != "" {
		if err := tokens.LoadFile(cfg.Auth.TokensFile); err != nil {
			return nil, &config.Error{Key: "auth.tokens_file", Want: "want a readable file of \"ROLE TOKEN\" lines: " + err.Error()}
		}
	}
	if getenv != nil {
		if err := tokens.LoadEnv(getenv); err != nil {
			return nil, &config.Error{Key: "REBOUND_*_TOKENS", Want: err.Error()}
		}
	}
	return tokens, nil
}

// loopback reports whether a listen address only accepts local callers.
func loopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
