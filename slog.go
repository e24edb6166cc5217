package rebound

import (
	"context"
	"log/slog"
	"strconv"
)

// The attribute keys the slog observer writes. They are fixed so that log
// queries and dashboards can rely on them.
const (
	KeyEndpoint = "endpoint"
	KeyAttempt  = "attempt"
	KeyReason   = "reason"
	KeyElapsed  = "elapsed"
	KeyWait     = "wait"
	KeyResult   = "result"
	KeyClass    = "class"
	KeyError    = "error"
	KeyDuration = "duration"
	KeyFrom     = "from"
	KeyTo       = "to"
	KeyHedge    = "hedge"
)

// SlogObserver logs events to a *slog.Logger. It logs:
//
//   - a retry being scheduled, at INFO, with the reason (the failure's
//     class), the attempt that failed, the wait and the elapsed time;
//   - a call that gave up (attempt cap, budget, deadline, wait too long,
//     open breaker), at WARN, with the reason and the result;
//   - a call that failed on a Logic or Unknown error, at WARN: such errors
//     are bugs or bad requests that someone should look at;
//   - a call that succeeded after retries, at INFO;
//   - a call refused by an open breaker before any attempt, at INFO;
//   - a canceled call, a call that will be retried later (ResultRetrying)
//     and every attempt, at DEBUG;
//   - a breaker opening at WARN, and its other changes at INFO;
//   - a budget refusing a retry, at DEBUG (the call's WARN line says it too);
//   - hedges (started, finished with their result, refused by the hedge
//     budget), at DEBUG.
//
// A call whose first attempt succeeds is not logged at all. Errors are
// logged with their Error text, which should not carry secrets.
//
// SlogOptions.Levels changes the level of the lines for calls that failed
// or gave up, by the class of their last error: a lookup API whose 404s
// (Logic) are a normal answer can log them at INFO.
//
// A SlogObserver is safe for concurrent use. Observe allocates nothing for
// an event whose level the logger does not enable.
type SlogObserver struct {
	logger *slog.Logger
	levels [numClasses]slog.Level // of a call that failed or gave up, for the classes in set
	set    ClassSet
}

// SlogOptions configures a SlogObserver. The zero value logs as
// NewSlogObserver does.
type SlogOptions struct {
	// Levels sets the level of the line for a call that failed or gave up
	// (msg "failed" or "gave up"), by the Class of its last error. Classes
	// left out keep their default: WARN, or DEBUG for Canceled. For
	// example, map[Class]slog.Level{Logic: slog.LevelInfo} logs refused
	// requests (4xx, validation) at INFO. Retries, breaker changes and the
	// other lines keep their levels.
	Levels map[Class]slog.Level
}

// NewSlogObserver returns an observer that logs to l (slog.Default() when l
// is nil) at the default levels.
func NewSlogObserver(l *slog.Logger) *SlogObserver {
	if l == nil {
		l = slog.Default()
	}
	return &SlogObserver{logger: l}
}

// NewSlogObserverWith returns an observer that logs to l (slog.Default()
// when l is nil) as opts says, or a *ConfigError naming the first invalid
// field.
func NewSlogObserverWith(l *slog.Logger, opts SlogOptions) (*SlogObserver, error) {
	o := NewSlogObserver(l)
	for c, level := range opts.Levels {
		if c >= numClasses {
			return nil, &ConfigError{Field: "SlogOptions.Levels", Problem: "want a key among the classes unknown, connection, response, logic and canceled, got Class(" + strconv.Itoa(int(c)) + ")"}
		}
		o.levels[c] = level
		o.set |= Classes(c)
	}
	return o, nil
}

// failedLevel returns the level of a call that did not succeed on an error
// of class c, def unless Levels sets it.
func (o *SlogObserver) failedLevel(c Class, def slog.Level) slog.Level {
	if o.set.Has(c) {
		return o.levels[c]
	}
	return def
}

// Observe implements Observer.
func (o *SlogObserver) Observe(ctx context.Context, e Event) {
	level, msg := slog.LevelDebug, ""
	switch e.Kind {
	case AttemptFinished:
		msg = "attempt finished"
	case RetryScheduled:
		level, msg = slog.LevelInfo, "retrying"
	case CallFinished:
		switch e.Result {
		case ResultSuccess:
			if e.Attempt <= 1 {
				return
			}
			level, msg = slog.LevelInfo, "succeeded after retries"
		case ResultGaveUp:
			level, msg = o.failedLevel(e.Class, slog.LevelWarn), "gave up"
		case ResultRejected:
			level, msg = slog.LevelInfo, "rejected by open circuit breaker"
		case ResultRetrying:
			msg = "failed; to be retried later" // the retry's own line is at INFO
		default:
			msg = "failed"
			if e.Class != Canceled {
				level = slog.LevelWarn
			}
			level = o.failedLevel(e.Class, level)
		}
	case BreakerStateChanged:
		level, msg = slog.LevelInfo, "circuit breaker state changed"
		if e.To == Open {
			level = slog.LevelWarn
		}
	case BudgetRejected:
		msg = "retry budget exhausted"
	case HedgeStarted:
		msg = "hedge started"
	case HedgeFinished:
		msg = "hedge finished"
	case HedgeRejected:
		msg = "hedge budget exhausted"
	default:
		return
	}
	if !o.logger.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 9)
	attrs = append(attrs, slog.String(KeyEndpoint, e.Endpoint))
	switch e.Kind {
	case BreakerStateChanged:
		attrs = append(attrs, slog.String(KeyFrom, e.From.String()), slog.String(KeyTo, e.To.String()))
	default:
		attrs = append(attrs, slog.Int(KeyAttempt, e.Attempt))
		if e.Hedge > 0 {
			attrs = append(attrs, slog.Int(KeyHedge, int(e.Hedge)))
		}
		switch e.Kind {
		case RetryScheduled, BudgetRejected:
			attrs = append(attrs, slog.String(KeyReason, e.Class.String()))
		case CallFinished:
			attrs = append(attrs, slog.String(KeyResult, e.Result.String()))
			if e.Reason != ReasonNone {
				attrs = append(attrs, slog.String(KeyReason, e.Reason.String()))
			}
		case AttemptFinished:
			attrs = append(attrs, slog.Duration(KeyDuration, e.Duration))
		case HedgeFinished:
			attrs = append(attrs, slog.String(KeyResult, e.Result.String()), slog.Duration(KeyDuration, e.Duration))
		}
		attrs = append(attrs, slog.Duration(KeyElapsed, e.Elapsed))
		if e.Kind == RetryScheduled || e.Kind == HedgeStarted {
			attrs = append(attrs, slog.Duration(KeyWait, e.Wait))
		}
		if e.Err != nil {
			attrs = append(attrs, slog.String(KeyClass, e.Class.String()), slog.String(KeyError, e.Err.Error()))
		}
	}
	o.logger.LogAttrs(ctx, level, msg, attrs...)
}
