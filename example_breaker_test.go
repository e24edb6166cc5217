package rebound_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/rebound-go/rebound"
)

// A breaker in the policy guards every attempt; once open, calls fail fast
// without running.
func ExampleBreaker() {
	breakers, _ := rebound.NewBreakers(rebound.BreakerConfig{ConsecutiveFailures: 3}, 100)
	policy := rebound.Policy{
		Endpoint:    "inventory",
		Breaker:     breakers.Get("inventory"),
		MaxAttempts: 1,
	}
	down := func(ctx context.Context) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	for i := 0; i < 4; i++ {
		err := rebound.Run(context.Background(), policy, down)
		var e *rebound.Error
		if errors.As(err, &e) {
			fmt.Println(e.Reason)
		}
	}
	fmt.Println(breakers.Get("inventory").State())
	// Output:
	// exhausted
	// exhausted
	// exhausted
	// circuit_open
	// open
}

// Transports that cannot wrap the call in a function use the two-step form.
func ExampleBreaker_Allow() {
	b, _ := rebound.NewBreaker(rebound.BreakerConfig{Name: "search"})
	done, err := b.Allow()
	if errors.Is(err, rebound.ErrCircuitOpen) {
		fmt.Println("fail fast")
		return
	}
	// ... make the call ...
	done(nil) // report its outcome exactly once
	fmt.Println(b.State())
	// Output: closed
}
