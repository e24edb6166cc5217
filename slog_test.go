package rebound_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound"
)

func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	dec := json.NewDecoder(buf)
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func TestSlogObserverLogsRetriesAndGiveUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		obs := rebound.NewSlogObserver(slog.New(slog.NewJSONHandler(&buf, nil)))
		p := rebound.Policy{Endpoint: "api/v1/user", Observer: obs, Backoff: rebound.Constant(time.Second)}
		_ = rebound.Run(t.Context(), p, func(context.Context) error { return errReset })
		lines := logLines(t, &buf)
		// Two retries at INFO, one give-up at WARN; attempts are DEBUG.
		if len(lines) != 3 {
			t.Fatalf("%d lines: %v", len(lines), lines)
		}
		for i, l := range lines[:2] {
			if l["level"] != "INFO" || l["msg"] != "retrying" || l["endpoint"] != "api/v1/user" || l["reason"] != "connection" ||
				l["attempt"] != float64(i+1) || l["wait"] != float64(time.Second) || l["elapsed"] != float64(time.Duration(i)*time.Second) || l["error"] == nil {
				t.Errorf("retry line %d: %v", i, l)
			}
		}
		g := lines[2]
		if g["level"] != "WARN" || g["msg"] != "gave up" || g["result"] != "gave_up" || g["reason"] != "exhausted" || g["attempt"] != float64(3) || g["elapsed"] != float64(2*time.Second) {
			t.Errorf("give-up line: %v", g)
		}
	})
}

func TestSlogObserverIsSilentOnFirstAttemptSuccess(t *testing.T) {
	var buf bytes.Buffer
	obs := rebound.NewSlogObserver(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	_ = rebound.Run(context.Background(), rebound.Policy{Observer: obs}, func(context.Context) error { return nil })
	if buf.Len() != 0 {
		t.Fatalf("logged %q", buf.String())
	}
	// A success after a retry is logged with its result.
	n := 0
	_ = rebound.Run(context.Background(), rebound.Policy{Observer: obs, Backoff: rebound.Constant(0)}, func(context.Context) error {
		n++
		if n == 1 {
			return errReset
		}
		return nil
	})
	lines := logLines(t, &buf)
	if len(lines) != 2 || lines[1]["msg"] != "succeeded after retries" || lines[1]["result"] != "success" || lines[1]["attempt"] != float64(2) {
		t.Fatalf("lines %v", lines)
	}
}

func TestSlogObserverLogsLogicErrorsAtWarn(t *testing.T) {
	var buf bytes.Buffer
	obs := rebound.NewSlogObserver(slog.New(slog.NewJSONHandler(&buf, nil)))
	_ = rebound.Run(context.Background(), rebound.Policy{Endpoint: "orders", Observer: obs}, func(context.Context) error {
		return rebound.Permanent(errReset)
	})
	lines := logLines(t, &buf)
	if len(lines) != 1 || lines[0]["level"] != "WARN" || lines[0]["result"] != "failure" || lines[0]["reason"] != "permanent" || lines[0]["class"] != "logic" {
		t.Fatalf("lines %v", lines)
	}
}

func TestSlogObserverBreakerChanges(t *testing.T) {
	var buf bytes.Buffer
	obs := rebound.NewSlogObserver(slog.New(slog.NewJSONHandler(&buf, nil)))
	b, _ := rebound.NewBreaker(rebound.BreakerConfig{Name: "pay", ConsecutiveFailures: 1, FailureRate: -1, Observer: obs})
	_ = call(b, errReset)
	lines := logLines(t, &buf)
	if len(lines) != 1 || lines[0]["level"] != "WARN" || lines[0]["from"] != "closed" || lines[0]["to"] != "open" || lines[0]["endpoint"] != "pay" {
		t.Fatalf("lines %v", lines)
	}
}
