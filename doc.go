// Package rebound makes network calls recover from failure: it classifies
// what went wrong, retries only what can succeed, with backoff, attempt caps,
// deadlines, a shared retry budget and circuit breakers, and reports every
// decision as an event.
//
// The package imports only the standard library.
//
// # Classes
//
// Every error is classified once into a [Class]:
//
//   - [Connection]: not sent or no answer (refused, reset, timeouts,
//     temporary DNS failures, unexpected EOF). Retried with backoff.
//   - [Response]: the peer answered badly (5xx except 501, 429, 408, an
//     empty or malformed body). Retried when the classifier says so.
//   - [Logic]: the request is wrong (validation, business conflicts, other
//     4xx, untrusted certificates). Never retried; reported for alerting.
//   - [Canceled]: the caller's context was canceled or its deadline passed.
//     Never retried.
//   - [Unknown]: nothing recognised the error. Not retried by default.
//
// A [Classification] also says whether the peer may have processed the
// request (a reset after the request was written) or certainly did not (a
// refused connection), and any wait the server asked for. Classification
// uses errors.As and errors.Is on the error chain, never the error's text.
// User code marks its own errors with [Permanent], [Transient] and
// [RetryAfter], and adds [Classifier]s in front of the built-in rules.
//
// # Policies
//
// A [Policy] is a plain value; its zero value means: 3 attempts, exponential
// backoff from 1 s to 10 s with full jitter, retry Connection and Response
// errors, honour server-requested waits up to 60 s. [Do] runs a function
// under a policy and returns its result, or an [*Error] that says why
// retrying stopped ([Reason]: exhausted, permanent, budget, deadline,
// circuit_open, wait_too_long, canceled) and wraps the last error.
//
// There is one way to learn why a call gave up: errors.Is with the sentinel
// of a Reason ([ErrExhausted], [ErrPermanent], [ErrBudget], [ErrDeadline],
// [ErrCircuitOpen], [ErrWaitTooLong], [ErrCanceled]; one per Reason), or
// errors.As to the [*Error] and its Reason field, which also carries the
// attempts, the elapsed time and the last error.
//
// Do never starts a wait that would end after the context's deadline: it
// gives up at once with ReasonDeadline and the last error, instead of
// sleeping into a certain failure. A per-attempt timeout
// (Policy.AttemptTimeout) is told apart from the caller's deadline: the
// first is a Connection failure and is retried, the second ends the call.
//
// # Budgets and breakers
//
// A [Budget], shared by all calls to one endpoint, lets retries make up at
// most a share of calls (20% by default, plus a small floor per second) so
// that a failing dependency cannot set off a retry storm. A [Breaker] opens
// after consecutive failures or a high failure rate over a sliding window,
// refuses calls while open, and lets probes through after a cool-down.
// [Breakers] and [Budgets] are bounded registries keyed by endpoint. All
// three are safe for concurrent use and take no lock on the happy path.
//
// # Hedged requests
//
// A slow answer is often a slow server, not a failed one: sending the same
// idempotent request again after a delay and taking the first answer cuts
// the tail ("The Tail at Scale"). Set Policy.Hedger and call [DoHedged]:
// an attempt still running after the [Hedger]'s delay gets another run
// beside it (up to HedgeConfig.MaxHedges), and the first success wins.
// The delay is fixed (HedgeConfig.Delay) or read live from the endpoint's
// recent latencies (by default their 90th percentile, once 20 are known),
// and a budget keeps hedges at 10% of attempts by default, so that a slow
// dependency is not sent twice its load. Non-idempotent calls are never
// hedged. The runs that lose are canceled; a run whose value keeps using
// its context (a response body) calls [Hold], so that the winner's context
// stays live until the caller releases it and the losers' values are
// discarded. [Do] refuses a Hedger: it runs one attempt at a time and so
// allocates nothing, where DoHedged must run fn on other goroutines.
//
// # Events
//
// Every decision is emitted once to the policy's [Observer]: an attempt
// finished, a retry scheduled, the call finished (success, failure, gave_up,
// rejected), a breaker changed state, a budget refused a retry, a hedge
// started, ended (won, lost, failure) or was refused by its budget. Observers
// run synchronously, outside locks, and never feed back into decisions.
// [SlogObserver] logs retries at INFO and give-ups at WARN with fixed
// attribute keys ([NewSlogObserverWith] sets the level of failures per
// class); metrics and alerting live in other packages.
//
// # Cost
//
// When the first attempt succeeds and nothing needs the clock (no observer,
// breaker, budget, MaxElapsed or AttemptTimeout), Do reads no clock and
// allocates nothing. With a breaker, a budget and an observer it reads the
// clock twice and still allocates nothing.
package rebound
