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
	"log/slog"
	"net"
	"net/netip"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/internal/auth"
	"github.com/rebound-go/rebound/internal/config"
	"github.com/rebound-go/rebound/outbox"
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
	// Getenv reads REBOUND_ADMIN_TOKENS and REBOUND_READ_TOKENS, and the
	// OTEL_* variables that turn tracing on (see tracing.go). Default:
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
	// Everything that can be checked is, before anything listens or runs.
	d, err := build(ctx, cfg, opts)
	if err != nil {
		return err
	}
	defer d.close()
	return d.serve(ctx)
}

func relayConfig(cfg *config.Config, store outbox.Store, sender outbox.Sender, breakers *rebound.Breakers, obs rebound.Observer, log *slog.Logger, tp trace.TracerProvider) outbox.RelayConfig {
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
	if tp != nil {
		rc.TracerProvider = tp
	} else {
		rc.TracerProvider = noop.NewTracerProvider() // not the process's global one
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

// redeliveryGap returns, per destination, the longest a message can wait
// between an attempt whose outcome was lost and the next: the lease plus
// the largest backoff.
func redeliveryGap(cfg *config.Config) func(dest string) time.Duration {
	lease := time.Duration(cfg.Relay.Lease)
	if lease == 0 {
		lease = outbox.DefaultLease
	}
	relayMax := backoff(cfg.Relay.Backoff, outbox.DefaultBackoff).Max
	return func(dest string) time.Duration {
		m := relayMax
		if b := cfg.Destinations[dest].Retry.Backoff; b.Max > 0 {
			m = time.Duration(b.Max)
		}
		return lease + m
	}
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
