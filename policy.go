package rebound

import (
	"math/rand/v2"
	"strconv"
	"time"
)

// The limits Policy enforces on its fields.
const (
	// DefaultMaxAttempts is the attempt cap a zero Policy.MaxAttempts stands for.
	DefaultMaxAttempts = 3
	// MaxAttemptsLimit is the largest Policy.MaxAttempts accepted; larger
	// values are refused rather than risking a retry storm.
	MaxAttemptsLimit = 1000
	// DefaultMaxRetryAfter is the cap a zero Policy.MaxRetryAfter stands for.
	DefaultMaxRetryAfter = 60 * time.Second
)

// Policy says how one call is retried. It is a plain value: copy it, keep it
// in a struct field or a package variable, and use it from any number of
// goroutines; Do keeps all per-call state on its own stack. The zero Policy
// is valid and means the defaults of each field.
//
// Budget and Breaker are shared, concurrency-safe objects: policies that
// point at the same one share its state.
type Policy struct {
	// Endpoint names what is called, for events, logs and metrics. Use a
	// route template such as "api/v1/user", never a raw URL, to keep label
	// cardinality bounded. Default "".
	Endpoint string
	// MaxAttempts caps how many times the function runs, the first attempt
	// included: 1 means no retries. Default 3; at most MaxAttemptsLimit.
	MaxAttempts int
	// MaxElapsed, when positive, bounds the whole call: no wait starts that
	// would end after MaxElapsed since the start (ReasonDeadline). Default
	// 0, no bound besides the context's deadline.
	MaxElapsed time.Duration
	// Backoff computes the wait between attempts. Default Exponential{}:
	// 1 s doubling up to 10 s with full jitter.
	Backoff Backoff
	// RetryOn is the set of classes that are retried (when the classifier
	// also says Retryable). Default DefaultRetryOn: Connection and Response.
	RetryOn ClassSet
	// NonIdempotent says that repeating the operation could do its effect
	// twice (a POST without an idempotency key). Then a failure that may
	// have been processed (Classification.MaybeProcessed, such as a reset
	// after the request was written) is not retried; only failures that
	// prove the request was not sent are, and errors marked with Transient
	// or RetryAfter. Default false: the operation is idempotent.
	NonIdempotent bool
	// AttemptTimeout, when positive, bounds each attempt with its own
	// context deadline. An attempt that runs out of it fails as a
	// Connection error (and is retried), unlike the caller's own deadline,
	// which ends the call. Default 0, no per-attempt timeout.
	AttemptTimeout time.Duration
	// MaxRetryAfter caps a wait the server asks for (RetryAfter). A longer
	// request makes the call give up with ReasonWaitTooLong rather than
	// sleep. Default 60 s.
	MaxRetryAfter time.Duration
	// Classifiers run in order before the built-in rules of Classify; the
	// first that recognises an error decides. Default none.
	Classifiers []Classifier
	// Observer receives every event of the call. Default none.
	Observer Observer
	// Budget, when set, limits retries to a share of calls. Default none.
	Budget *Budget
	// Breaker, when set, guards every attempt. Default none.
	Breaker *Breaker
	// Hedger, when set, hedges each attempt of an idempotent call (never
	// when NonIdempotent is set): an attempt still running after the
	// hedger's delay gets a second run beside it, within the hedger's
	// budget, and the first success wins. DoHedged runs such calls; Do
	// refuses a policy with a Hedger. See Hedger and Hold. Default none.
	Hedger *Hedger
	// Rand returns uniform draws in [0, 1) for jitter. Default
	// math/rand/v2.Float64. Tests set it to get exact schedules.
	Rand func() float64
}

// Validate reports the first invalid field, naming it.
func (p *Policy) Validate() error {
	switch {
	case p.MaxAttempts < 0 || p.MaxAttempts > MaxAttemptsLimit:
		return &ConfigError{"Policy.MaxAttempts", "want 0 (default " + strconv.Itoa(DefaultMaxAttempts) + ") or 1.." + strconv.Itoa(MaxAttemptsLimit) + ", got " + strconv.Itoa(p.MaxAttempts)}
	case p.MaxElapsed < 0:
		return &ConfigError{"Policy.MaxElapsed", "want a duration >= 0, got " + p.MaxElapsed.String()}
	case p.AttemptTimeout < 0:
		return &ConfigError{"Policy.AttemptTimeout", "want a duration >= 0, got " + p.AttemptTimeout.String()}
	case p.MaxRetryAfter < 0:
		return &ConfigError{"Policy.MaxRetryAfter", "want a duration >= 0, got " + p.MaxRetryAfter.String()}
	case p.RetryOn >= 1<<numClasses:
		return &ConfigError{"Policy.RetryOn", "want a set built with Classes, got bits " + strconv.Itoa(int(p.RetryOn))}
	}
	if e, ok := p.Backoff.(Exponential); ok {
		return e.Validate()
	}
	return nil
}

// retries reports whether the policy retries a failure classified cl.
func (p *Policy) retries(cl Classification) bool {
	return cl.Retryable && (cl.Marked || p.retryOn().Has(cl.Class)) && !(p.NonIdempotent && cl.MaybeProcessed && !cl.Marked)
}

func (p *Policy) maxAttempts() int {
	if p.MaxAttempts == 0 {
		return DefaultMaxAttempts
	}
	return p.MaxAttempts
}

func (p *Policy) retryOn() ClassSet {
	if p.RetryOn == 0 {
		return DefaultRetryOn
	}
	return p.RetryOn
}

func (p *Policy) maxRetryAfter() time.Duration {
	if p.MaxRetryAfter == 0 {
		return DefaultMaxRetryAfter
	}
	return p.MaxRetryAfter
}

func (p *Policy) draw() float64 {
	if p.Rand != nil {
		u := p.Rand()
		if u < 0 || u >= 1 || u != u {
			return 0
		}
		return u
	}
	return rand.Float64()
}

func (p *Policy) delay(retry int, prev time.Duration) time.Duration {
	var d time.Duration
	if p.Backoff == nil {
		d = Exponential{}.Delay(retry, prev, p.draw())
	} else {
		d = p.Backoff.Delay(retry, prev, p.draw())
	}
	if d < 0 {
		return 0
	}
	return d
}

// Validate reports an invalid field of e.
func (e Exponential) Validate() error {
	switch {
	case e.Initial < 0:
		return &ConfigError{"Exponential.Initial", "want a duration >= 0, got " + e.Initial.String()}
	case e.Max < 0:
		return &ConfigError{"Exponential.Max", "want a duration >= 0, got " + e.Max.String()}
	case e.Multiplier != 0 && !(e.Multiplier >= 1):
		return &ConfigError{"Exponential.Multiplier", "want 0 (default 2) or >= 1, got " + strconv.FormatFloat(e.Multiplier, 'g', -1, 64)}
	case e.Jitter > NoJitter:
		return &ConfigError{"Exponential.Jitter", "want FullJitter, EqualJitter, DecorrelatedJitter or NoJitter"}
	}
	return nil
}
