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

// userNotFound is what a lookup API answers for an unknown user: a Logic
// failure that retrying cannot fix, and a normal answer, not an incident.
type userNotFound struct{ id string }

func (e userNotFound) Error() string { return "user " + e.id + ": 404 Not Found" }
func (userNotFound) Classification() rebound.Classification {
	return rebound.Classification{Class: rebound.Logic}
}

// A lookup API's 404s are logged at INFO instead of WARN, while the calls
// that give up on a dead connection stay at WARN.
func ExampleNewSlogObserverWith() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			switch a.Key {
			case slog.TimeKey, rebound.KeyElapsed:
				return slog.Attr{}
			}
			return a
		},
	}))
	observer, err := rebound.NewSlogObserverWith(logger, rebound.SlogOptions{
		Levels: map[rebound.Class]slog.Level{rebound.Logic: slog.LevelInfo},
	})
	if err != nil {
		panic(err)
	}
	policy := rebound.Policy{Endpoint: "users/{id}", Observer: observer, MaxAttempts: 2, Backoff: rebound.Constant(0)}

	_ = rebound.Run(context.Background(), policy, func(ctx context.Context) error {
		return userNotFound{id: "42"}
	})
	_ = rebound.Run(context.Background(), policy, func(ctx context.Context) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	})
	// Output:
	// level=INFO msg=failed endpoint=users/{id} attempt=1 result=failure reason=permanent class=logic error="user 42: 404 Not Found"
	// level=INFO msg=retrying endpoint=users/{id} attempt=1 reason=connection wait=0s class=connection error="dial tcp: connection refused"
	// level=WARN msg="gave up" endpoint=users/{id} attempt=2 result=gave_up reason=exhausted class=connection error="dial tcp: connection refused"
}
