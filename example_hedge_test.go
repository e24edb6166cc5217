package rebound_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/rebound-go/rebound"
)

// A hedger sends a second run of a slow idempotent call after a delay and
// takes the first answer: here the first run would take a second, the
// hedge sent after 20 ms answers at once.
func ExampleDoHedged() {
	hedger, _ := rebound.NewHedger(rebound.HedgeConfig{Delay: 20 * time.Millisecond, Ratio: 1})
	policy := rebound.Policy{Endpoint: "search", Hedger: hedger}
	var runs atomic.Int32
	start := time.Now()
	answer, err := rebound.DoHedged(context.Background(), policy, func(ctx context.Context) (string, error) {
		if runs.Add(1) == 1 {
			select {
			case <-time.After(time.Second): // a slow server
				return "first", nil
			case <-ctx.Done(): // canceled once the hedge answered
				return "", ctx.Err()
			}
		}
		return "hedge", nil
	})
	fmt.Println(answer, err, time.Since(start) < time.Second)
	// Output: hedge <nil> true
}
