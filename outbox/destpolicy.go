package outbox

import (
	"strconv"
	"time"

	"github.com/rebound-go/rebound"
)

// DestinationPolicy overrides the relay's retry limits for one destination
// and may bound its concurrent deliveries. Zero fields keep the relay's
// setting.
type DestinationPolicy struct {
	// MaxAttempts overrides RelayConfig.MaxAttempts.
	MaxAttempts int
	// MaxAge overrides RelayConfig.MaxAge.
	MaxAge time.Duration
	// Backoff overrides RelayConfig.Backoff.
	Backoff rebound.Backoff
	// Concurrency, when positive, bounds this destination's deliveries in
	// flight in this relay: the relay stops claiming the destination's
	// messages while it is at the limit, and a message claimed beyond it
	// (in one batch) is given back at once, due again, its attempt unspent.
	Concurrency int
}

// limits are the effective retry limits of one destination.
type limits struct {
	maxAttempts int
	maxAge      time.Duration
	backoff     rebound.Backoff
	sem         chan struct{} // nil: no concurrency limit
}

func checkPolicies(cfg *RelayConfig) (string, string) {
	for name, p := range cfg.Destinations {
		field := "Destinations[" + strconv.Quote(name) + "]."
		switch {
		case p.MaxAttempts < 0 || p.MaxAttempts > rebound.MaxAttemptsLimit:
			return field + "MaxAttempts", "want 0 (the relay's) to " + strconv.Itoa(rebound.MaxAttemptsLimit) + ", got " + strconv.Itoa(p.MaxAttempts)
		case p.MaxAge < 0:
			return field + "MaxAge", "want 0 (the relay's) or positive, got " + p.MaxAge.String()
		case p.Concurrency < 0 || p.Concurrency > 10000:
			return field + "Concurrency", "want 0 (no limit) to 10000, got " + strconv.Itoa(p.Concurrency)
		}
	}
	return "", ""
}

// buildLimits resolves every destination's limits once, after defaults.
func buildLimits(cfg *RelayConfig) map[string]*limits {
	out := make(map[string]*limits, len(cfg.Destinations))
	for name, p := range cfg.Destinations {
		l := &limits{maxAttempts: cfg.MaxAttempts, maxAge: cfg.MaxAge, backoff: cfg.Backoff}
		if p.MaxAttempts > 0 {
			l.maxAttempts = p.MaxAttempts
		}
		if p.MaxAge > 0 {
			l.maxAge = p.MaxAge
		}
		if p.Backoff != nil {
			l.backoff = p.Backoff
		}
		if p.Concurrency > 0 {
			l.sem = make(chan struct{}, p.Concurrency)
		}
		out[name] = l
	}
	return out
}

// limitsFor returns dest's limits: its override, or the relay's.
func (r *Relay) limitsFor(dest string) *limits {
	if l, ok := r.limits[dest]; ok {
		return l
	}
	return &r.defaults
}

// appendFull adds the destinations at their concurrency limit to skip.
func (r *Relay) appendFull(skip []string) []string {
	for name, l := range r.limits {
		if l.sem != nil && len(l.sem) >= cap(l.sem) {
			skip = append(skip, name)
		}
	}
	return skip
}
