package rebound_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"syscall"

	"github.com/rebound-go/rebound"
)

// The slog observer logs each retry with its reason, attempt, wait and
// elapsed time, and the final result.
func ExampleSlogObserver() {
	// Drop the time and durations so that the output is stable.
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			switch a.Key {
			case slog.TimeKey, rebound.KeyElapsed:
				return slog.Attr{}
			}
			return a
		},
	}))
	policy := rebound.Policy{
		Endpoint: "api/v1/user",
		Observer: rebound.NewSlogObserver(logger),
		Backoff:  rebound.Constant(0),
	}
	attempts := 0
	_ = rebound.Run(context.Background(), policy, func(ctx context.Context) error {
		attempts++
		if attempts == 1 {
			return &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
		}
		return nil
	})
	// Output:
	// level=INFO msg=retrying endpoint=api/v1/user attempt=1 reason=connection wait=0s class=connection error="dial tcp: connection refused"
	// level=INFO msg="succeeded after retries" endpoint=api/v1/user attempt=2 result=success
}
