package alert

import (
	"strconv"
	"time"

	"github.com/rebound-go/rebound"
)

// The alert names, the same as the Prometheus rules'.
const (
	HighFailureRate     = "ReboundEndpointHighFailureRate"
	ConsecutiveFailures = "ReboundEndpointConsecutiveFailures"
	RetryStorm          = "ReboundRetryStorm"
	BudgetExhausted     = "ReboundRetryBudgetExhausted"
	CircuitOpen         = "ReboundCircuitOpen"
)

// Rule tunes one alert. A zero field means the alert's default.
type Rule struct {
	// Disabled turns the alert off.
	Disabled bool
	// Threshold is the value the condition compares with; its meaning is
	// the alert's (see Rules).
	Threshold float64
	// For is how long the condition must hold before the alert fires.
	// Negative means at once.
	For time.Duration
	// KeepFiringFor is how long a firing alert stays firing after its
	// condition stops holding, so that a flapping condition does not flap
	// the alert. Negative means it resolves at once.
	KeepFiringFor time.Duration
}

// Rules are the in-process alerts, each evaluated per endpoint. Their
// defaults match deploy/prometheus/rebound_rules.yml.
type Rules struct {
	// HighFailureRate fires when the share of calls that did not succeed
	// over Window exceeds Threshold (default 0.2), with at least MinCalls
	// calls in the window. For 2 m; KeepFiringFor 5 m.
	HighFailureRate Rule
	// MinCalls is HighFailureRate's traffic guard. Default 30 (0.1 calls
	// per second over 5 minutes).
	MinCalls int
	// ConsecutiveFailures fires when at least Threshold calls in a row
	// (default 5) did not succeed; a success resolves it. For 1 m.
	ConsecutiveFailures Rule
	// RetryStorm fires when calls average more than Threshold retries each
	// (default 1) and retries exceed StormRate per second, over Window.
	// For 5 m.
	RetryStorm Rule
	// StormRate is RetryStorm's absolute guard, in retries per second.
	// Default 1.
	StormRate float64
	// BudgetExhausted fires when at least Threshold retries (default 1)
	// were refused by a retry budget over Window. For 5 m.
	BudgetExhausted Rule
	// CircuitOpen fires when a breaker has been open for Threshold seconds
	// (default 300). For: at once.
	CircuitOpen Rule
}

type ruleDefaults struct {
	threshold   float64
	forD, keepD time.Duration
}

var defaults = map[string]ruleDefaults{
	HighFailureRate:     {0.2, 2 * time.Minute, 5 * time.Minute},
	ConsecutiveFailures: {5, time.Minute, 0},
	RetryStorm:          {1, 5 * time.Minute, 0},
	BudgetExhausted:     {1, 5 * time.Minute, 0},
	CircuitOpen:         {300, 0, 0},
}

// resolved is a Rule with every default applied.
type resolved struct {
	name        string
	off         bool
	threshold   float64
	forD, keepD time.Duration
}

func resolveRule(field, name string, r Rule) (resolved, error) {
	d := defaults[name]
	out := resolved{name: name, off: r.Disabled, threshold: r.Threshold, forD: r.For, keepD: r.KeepFiringFor}
	if r.Threshold < 0 || r.Threshold != r.Threshold {
		return out, &rebound.ConfigError{Field: "alert.Rules." + field + ".Threshold", Problem: "want 0 (the default " + strconv.FormatFloat(d.threshold, 'g', -1, 64) + ") or more, got " + strconv.FormatFloat(r.Threshold, 'g', -1, 64)}
	}
	if out.threshold == 0 {
		out.threshold = d.threshold
	}
	switch {
	case out.forD == 0:
		out.forD = d.forD
	case out.forD < 0:
		out.forD = 0
	}
	switch {
	case out.keepD == 0:
		out.keepD = d.keepD
	case out.keepD < 0:
		out.keepD = 0
	}
	return out, nil
}
