package rebound_test

import (
	"context"
	"fmt"
	"net"
	"syscall"

	"github.com/rebound-go/rebound"
)

// A budget shared by all calls to an endpoint caps retries at a share of
// calls, so a dependency that is down gets few extra requests.
func ExampleBudget() {
	budget, _ := rebound.NewBudget(rebound.BudgetConfig{Ratio: 0.1, MinPerSecond: -1})
	policy := rebound.Policy{Budget: budget, Backoff: rebound.Constant(0)}
	attempts := 0
	for i := 0; i < 100; i++ {
		_ = rebound.Run(context.Background(), policy, func(ctx context.Context) error {
			attempts++
			return &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
		})
	}
	// Without the budget, 100 calls would have made 300 attempts.
	fmt.Println(attempts)
	// Output: 110
}
