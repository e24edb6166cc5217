package rebound_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/rebound-go/rebound"
)

// Do retries a connection error and returns the function's result.
func ExampleDo() {
	attempts := 0
	policy := rebound.Policy{
		// Zero jitter draws make full-jitter waits zero, which keeps this
		// example instant. Leave Rand nil in real code.
		Rand: func() float64 { return 0 },
	}
	n, err := rebound.Do(context.Background(), policy, func(ctx context.Context) (int, error) {
		attempts++
		if attempts < 3 {
			return 0, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
		}
		return 42, nil
	})
	fmt.Println(n, err, "after", attempts, "attempts")
	// Output: 42 <nil> after 3 attempts
}

// Giving up returns an *Error that says why and wraps the last error.
func ExampleError() {
	errDown := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	err := rebound.Run(context.Background(), rebound.Policy{Endpoint: "billing", Backoff: rebound.Constant(0)},
		func(ctx context.Context) error { return errDown })

	var e *rebound.Error
	if errors.As(err, &e) {
		fmt.Println("reason:", e.Reason, "attempts:", e.Attempts, "class:", e.Class)
	}
	fmt.Println("exhausted:", errors.Is(err, rebound.ErrExhausted))
	fmt.Println("reset:", errors.Is(err, syscall.ECONNRESET))
	// Output:
	// reason: exhausted attempts: 3 class: connection
	// exhausted: true
	// reset: true
}

// Mark errors your own code knows to be hopeless, or worth another try.
func ExamplePermanent() {
	errInvalid := errors.New("quantity must be positive")
	attempts := 0
	err := rebound.Run(context.Background(), rebound.Policy{}, func(ctx context.Context) error {
		attempts++
		return rebound.Permanent(errInvalid) // a validation error: never retried
	})
	fmt.Println(attempts, errors.Is(err, rebound.ErrPermanent), errors.Is(err, errInvalid))
	// Output: 1 true true
}

// A server-requested wait is honoured up to Policy.MaxRetryAfter; a longer
// one gives up at once instead of sleeping.
func ExampleRetryAfter() {
	policy := rebound.Policy{MaxRetryAfter: 30 * time.Second}
	err := rebound.Run(context.Background(), policy, func(ctx context.Context) error {
		return rebound.RetryAfter(errors.New("429 Too Many Requests"), 2*time.Minute)
	})
	var e *rebound.Error
	errors.As(err, &e)
	fmt.Println(e.Reason, e.Wait)
	// Output: wait_too_long 2m0s
}

// A deadline that the next wait would overrun ends the call at once, with
// the last error, instead of sleeping into a certain failure.
func ExampleDo_deadline() {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	policy := rebound.Policy{Backoff: rebound.Constant(time.Second)}
	err := rebound.Run(ctx, policy, func(ctx context.Context) error {
		return &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	})
	var e *rebound.Error
	errors.As(err, &e)
	fmt.Println(e.Reason, "after", e.Attempts, "attempt; refused wait", e.Wait)
	// Output: deadline after 1 attempt; refused wait 1s
}
