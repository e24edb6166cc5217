package reboundtest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundtest"
)

// failures catches what an Expect method reports.
type failures struct {
	testing.TB
	msgs []string
}

func (f *failures) Helper() {}
func (f *failures) Errorf(format string, args ...any) {
	f.msgs = append(f.msgs, fmt.Sprintf(format, args...))
}

// The Recorder sums up a call from its events, and an Expect that does
// not hold reports every event.
func TestRecorder(t *testing.T) {
	rec := &reboundtest.Recorder{}
	errDown := errors.New("503")
	n := 0
	_ = rebound.Run(context.Background(), rebound.Policy{Endpoint: "orders", Backoff: rebound.Constant(0), Observer: rec}, func(context.Context) error {
		if n++; n < 3 {
			return rebound.Transient(errDown)
		}
		return nil
	})
	if rec.Attempts("orders") != 3 || rec.Attempts("") != 3 || rec.Attempts("users") != 0 {
		t.Errorf("attempts %d/%d/%d", rec.Attempts("orders"), rec.Attempts(""), rec.Attempts("users"))
	}
	rec.ExpectAttempts(t, 3)
	rec.ExpectRetryReasons(t, "unknown", "unknown")
	rec.ExpectWaits(t, 0, 0)
	rec.ExpectResult(t, rebound.ResultSuccess, rebound.ReasonNone)

	f := &failures{TB: t}
	rec.ExpectAttempts(f, 2)
	rec.ExpectRetryReasons(f, "response")
	rec.ExpectResult(f, rebound.ResultGaveUp, rebound.ReasonExhausted)
	if len(f.msgs) != 3 {
		t.Fatalf("%d failures, want 3: %q", len(f.msgs), f.msgs)
	}
	for _, want := range []string{"3 attempts, want 2", `retries for ["unknown" "unknown"], want ["response"]`, "finished success, want gave_up (exhausted)"} {
		if !strings.Contains(strings.Join(f.msgs, "\n"), want) {
			t.Errorf("no failure says %q: %q", want, f.msgs)
		}
	}
	if !strings.Contains(f.msgs[0], `2. retry_scheduled "orders" attempt=1 class=unknown wait=0s err=503`) ||
		!strings.Contains(f.msgs[0], `6. call_finished "orders" attempt=3 result=success`) {
		t.Errorf("the failure does not list the events:\n%s", f.msgs[0])
	}

	rec.Clear()
	if len(rec.Events()) != 0 || rec.String() != "  (none)\n" {
		t.Fatalf("after Clear: %q", rec.String())
	}
	if _, ok := rec.Last(); ok {
		t.Fatal("Last reports a call after Clear")
	}
	rec.ExpectResult(f, rebound.ResultSuccess, rebound.ReasonNone)
	if len(f.msgs) != 4 || !strings.Contains(f.msgs[3], "no call finished") {
		t.Fatalf("failures %q", f.msgs)
	}
}
