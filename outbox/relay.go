package outbox

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/internal/startstop"
)

// Sender delivers one message. A nil error means delivered. Errors are
// classified like rebound's: Logic errors (a 4xx, an unknown destination)
// kill the message at once; any other error schedules a retry, after the
// wait a rebound.RetryAfter mark (or a Classified error) asks for, if any.
type Sender interface {
	Send(ctx context.Context, d Delivery) error
}

// SenderFunc adapts a function to the Sender interface.
type SenderFunc func(ctx context.Context, d Delivery) error

// Send calls f.
func (f SenderFunc) Send(ctx context.Context, d Delivery) error { return f(ctx, d) }

// Defaults of RelayConfig.
const (
	DefaultWorkers       = 16
	DefaultLease         = 30 * time.Second
	DefaultPollInterval  = 500 * time.Millisecond
	DefaultMaxAttempts   = 20
	DefaultMaxAge        = 72 * time.Hour
	DefaultMaxRetryAfter = time.Hour
	DefaultRetention     = 7 * 24 * time.Hour
	DefaultPruneInterval = time.Hour
	// DefaultMinBatchSize is the least default BatchSize: a claim and its
	// commit cost about as much for 16 messages as for 40, so a relay
	// with few workers claims more than one message per worker.
	DefaultMinBatchSize = 64
)

// DefaultBackoff is the durable retry schedule: 5 s doubling up to 1 h,
// with full jitter.
var DefaultBackoff = rebound.Exponential{Initial: 5 * time.Second, Max: time.Hour}

// RelayConfig configures a Relay. Store and Sender are required; every
// other zero field means its default.
type RelayConfig struct {
	Store  Store
	Sender Sender
	// Workers bounds concurrent deliveries. Default 16.
	Workers int
	// BatchSize bounds the messages claimed at once, and those claimed
	// ahead of the workers, waiting for one. Default Workers, and at
	// least DefaultMinBatchSize (64).
	BatchSize int
	// Lease is how long a claimed message is held; while it is delivered
	// the relay renews it once a third to a half of it has passed, and a
	// relay that dies loses it after Lease. Default 30 s.
	Lease time.Duration
	// PollInterval is how often an idle relay looks for due messages (a
	// Store that is a Waker wakes it sooner). Default 500 ms.
	PollInterval time.Duration
	// MaxAttempts kills a message after this many attempts. Default 20.
	MaxAttempts int
	// MaxAge kills a message this long after it was enqueued. Default 72 h.
	MaxAge time.Duration
	// Backoff computes the wait before each retry. Default DefaultBackoff.
	Backoff rebound.Backoff
	// MaxRetryAfter caps a wait the receiver asks for; longer requests
	// wait the cap. Default 1 h.
	MaxRetryAfter time.Duration
	// Classifiers run before rebound's built-in rules.
	Classifiers []rebound.Classifier
	// Breakers, when set, gives each destination a circuit breaker: while
	// it is open the destination's messages wait without spending
	// attempts, and other destinations keep flowing. A message failing on
	// its own account (a 500 to it alone) counts only on its first attempt
	// and only toward the failure rate; see the package doc.
	Breakers *rebound.Breakers
	// Retention is how long sent messages are kept; the relay deletes
	// older ones every PruneInterval. Dead messages are kept until
	// replayed or discarded. Default 7 days; negative keeps them forever.
	Retention time.Duration
	// PruneInterval is how often the relay prunes. Default 1 h.
	PruneInterval time.Duration
	// OnDead runs once each time a message goes dead: the guide's
	// compensation. It runs on the delivering goroutine; keep it short.
	OnDead func(ctx context.Context, r Record)
	// Observer receives an event per attempt and retry, and a
	// CallFinished per delivery attempt and per message held by an open
	// breaker, with the destination as the endpoint (see the package
	// doc). It is meant for metrics and alerts: the relay logs retries and
	// dead messages itself, so a rebound.SlogObserver here logs them twice.
	Observer rebound.Observer
	// TracerProvider makes the relay's spans: a span per claim that leased
	// messages, and a PRODUCER span per delivery attempt that continues
	// the trace its message was enqueued in (see Message.TraceParent).
	// Default otel.GetTracerProvider(), which does nothing until the
	// program installs one.
	TracerProvider trace.TracerProvider
	// Logger receives relay problems. Default slog.Default().
	Logger *slog.Logger
	// Rand draws jitter. Default math/rand/v2.Float64.
	Rand func() float64
	// Destinations overrides the retry limits of some destinations and
	// may bound their concurrency. Destinations not named use the
	// relay's settings.
	Destinations map[string]DestinationPolicy
}

// Relay claims due messages from a Store and delivers them through a
// Sender, recording every outcome: a start/stop service. Any number of
// relays may share one PostgreSQL store.
type Relay struct {
	cfg           RelayConfig
	policy        rebound.Policy // for classification only
	persistPolicy rebound.Policy // retries of outcome writes

	svc       startstop.Service
	mu        sync.Mutex
	skip      map[string]time.Time // destinations whose breaker is open, until
	limits    map[string]*limits   // per-destination overrides
	defaults  limits               // the relay's own limits
	lastPoll  atomic.Int64         // Unix nanoseconds of the last successful claim
	completer *completer           // nil when the store is no BatchCompleter
	leases    *leaseKeeper         // set by run, before the workers start
	kick      chan struct{}        // a message may have become due
	nextRetry atomic.Int64         // Unix nanoseconds of the earliest retry scheduled, 0 for none
	tracer    trace.Tracer
}

// LastPoll returns when the relay last claimed successfully (whether or not
// anything was due): its heartbeat, zero before the first claim. A relay
// whose LastPoll is older than a few PollIntervals is stuck or cannot reach
// its store; a liveness check reads it, and outbox/outboxprom exports it
// as rebound_outbox_relay_last_poll_timestamp_seconds.
func (r *Relay) LastPoll() time.Time {
	if n := r.lastPoll.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// NewRelay returns a relay, or a *rebound.ConfigError naming the first
// invalid field.
func NewRelay(cfg RelayConfig) (*Relay, error) {
	bad := func(field, problem string) (*Relay, error) {
		return nil, &rebound.ConfigError{Field: "outbox.RelayConfig." + field, Problem: problem}
	}
	switch {
	case cfg.Store == nil:
		return bad("Store", "required")
	case cfg.Sender == nil:
		return bad("Sender", "required")
	case cfg.Workers < 0 || cfg.Workers > 10000:
		return bad("Workers", "want 0 (default 16) to 10000, got "+strconv.Itoa(cfg.Workers))
	case cfg.BatchSize < 0 || cfg.BatchSize > 10000:
		return bad("BatchSize", "want 0 (the default) to 10000, got "+strconv.Itoa(cfg.BatchSize))
	case cfg.MaxAttempts < 0 || cfg.MaxAttempts > rebound.MaxAttemptsLimit:
		return bad("MaxAttempts", "want 0 (default 20) to "+strconv.Itoa(rebound.MaxAttemptsLimit)+", got "+strconv.Itoa(cfg.MaxAttempts))
	case cfg.Lease < 0 || cfg.PollInterval < 0 || cfg.MaxAge < 0 || cfg.MaxRetryAfter < 0:
		return bad("Lease", "durations must be 0 (the default) or positive")
	}
	if field, problem := checkPolicies(&cfg); field != "" {
		return bad(field, problem)
	}
	if cfg.Workers == 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = max(cfg.Workers, DefaultMinBatchSize)
	}
	if cfg.Lease == 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.Backoff == nil {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.MaxRetryAfter == 0 {
		cfg.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.PruneInterval <= 0 {
		cfg.PruneInterval = DefaultPruneInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	return &Relay{
		cfg:           cfg,
		policy:        rebound.Policy{Classifiers: cfg.Classifiers},
		persistPolicy: outcomeWrites(cfg.Lease),
		skip:          map[string]time.Time{},
		kick:          make(chan struct{}, 1),
		limits:        buildLimits(&cfg),
		defaults:      limits{maxAttempts: cfg.MaxAttempts, maxAge: cfg.MaxAge, backoff: cfg.Backoff},
		tracer:        tracerOf(cfg.TracerProvider),
	}, nil
}

// Start begins claiming and delivering until Stop or until ctx ends. A
// relay starts once: Start after Stop is an error that says so.
func (r *Relay) Start(ctx context.Context) error {
	// Deliveries outlive the claim loop: Stop lets them finish, and cancels
	// them only when its own context ends.
	return r.svc.Start(ctx, "outbox: Relay", r.run)
}

// Stop stops claiming and lets in-flight deliveries finish until ctx ends;
// then it cancels them, and a canceled delivery's message is released with
// its attempt given back. Stop returns when every goroutine has ended, with
// ctx's error if it ended first. Stopping twice, or a relay never started,
// is fine.
func (r *Relay) Stop(ctx context.Context) error { return r.svc.Stop(ctx) }

func (r *Relay) observe(ctx context.Context, e rebound.Event) {
	if r.cfg.Observer != nil {
		r.cfg.Observer.Observe(ctx, e)
	}
}
