// Package lease keeps an idempotency key's lease alive while the request
// that holds it runs: the renewal loop of the HTTP middleware and of the
// gRPC interceptor. It knows nothing of stores; its caller says how to
// extend the lease and which failures mean that the lease is lost.
package lease

import "time"

// Renew calls extend every interval, with the time of the tick, in a
// goroutine of its own, until stop is called; stop returns once that
// goroutine has ended, so that no renewal runs after it. When extend
// fails, failed is called with its error, and renewing ends if failed
// returns true (the lease is lost: another holder has taken the key, and
// renewing it again cannot succeed); otherwise the next tick tries again.
func Renew(interval time.Duration, extend func(now time.Time) error, failed func(err error) (lost bool)) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if err := extend(time.Now()); err != nil && failed(err) {
					return
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}
