package rebound_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
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

// notFound is a lookup's 404: a Logic failure, and a normal answer.
type notFound struct{}

func (notFound) Error() string { return "404 Not Found" }
func (notFound) Classification() rebound.Classification {
	return rebound.Classification{Class: rebound.Logic}
}

func TestSlogObserverLevelsPerClass(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		obs, err := rebound.NewSlogObserverWith(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), rebound.SlogOptions{
			Levels: map[rebound.Class]slog.Level{rebound.Logic: slog.LevelInfo, rebound.Connection: slog.LevelError},
		})
		if err != nil {
			t.Fatal(err)
		}
		run := func(endpoint string, attempts int, fail error) {
			p := rebound.Policy{Endpoint: endpoint, Observer: obs, MaxAttempts: attempts, Backoff: rebound.Constant(0)}
			_ = rebound.Run(t.Context(), p, func(context.Context) error { return fail })
		}
		run("users/{id}", 3, notFound{})                      // Logic: failed, set to INFO
		run("users", 2, errReset)                             // Connection: gave up, set to ERROR
		run("misc", 1, rebound.Permanent(errors.New("boom"))) // marked Permanent: Logic
		run("other", 3, errors.New("unknown"))                // Unknown: not retried, failed, default WARN
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_ = rebound.Run(ctx, rebound.Policy{Endpoint: "gone", Observer: obs}, func(context.Context) error { return ctx.Err() }) // Canceled: default DEBUG
		var got []string
		for _, l := range logLines(t, &buf) {
			if l["msg"] == "failed" || l["msg"] == "gave up" {
				got = append(got, l["endpoint"].(string)+" "+l["msg"].(string)+" "+l["class"].(string)+" "+l["level"].(string))
			}
		}
		want := []string{
			"users/{id} failed logic INFO",
			"users gave up connection ERROR",
			"misc failed logic INFO",
			"other failed unknown WARN",
			"gone failed canceled DEBUG",
		}
		if len(got) != len(want) {
			t.Fatalf("lines %q, want %q", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("line %d: %q, want %q", i, got[i], want[i])
			}
		}
	})
}

// The zero SlogOptions log exactly as NewSlogObserver.
func TestSlogOptionsZeroValueIsTheDefault(t *testing.T) {
	events := []rebound.Event{
		{Kind: rebound.CallFinished, Endpoint: "a", Attempt: 1, Result: rebound.ResultFailure, Reason: rebound.ReasonPermanent, Class: rebound.Logic, Err: notFound{}},
		{Kind: rebound.CallFinished, Endpoint: "b", Attempt: 3, Result: rebound.ResultGaveUp, Reason: rebound.ReasonExhausted, Class: rebound.Connection, Err: errReset},
		{Kind: rebound.CallFinished, Endpoint: "c", Attempt: 1, Result: rebound.ResultFailure, Reason: rebound.ReasonCanceled, Class: rebound.Canceled, Err: context.Canceled},
		{Kind: rebound.CallFinished, Endpoint: "d", Attempt: 1, Result: rebound.ResultRetrying, Class: rebound.Response, Err: errReset},
		{Kind: rebound.RetryScheduled, Endpoint: "e", Attempt: 1, Class: rebound.Connection, Err: errReset},
	}
	var old, zero bytes.Buffer
	opts := &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}
	a := rebound.NewSlogObserver(slog.New(slog.NewTextHandler(&old, opts)))
	b, err := rebound.NewSlogObserverWith(slog.New(slog.NewTextHandler(&zero, opts)), rebound.SlogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		a.Observe(context.Background(), e)
		b.Observe(context.Background(), e)
	}
	if old.String() != zero.String() || old.Len() == 0 {
		t.Fatalf("NewSlogObserver logged\n%s\nthe zero SlogOptions\n%s", old.String(), zero.String())
	}
}

func TestSlogOptionsErrors(t *testing.T) {
	_, err := rebound.NewSlogObserverWith(nil, rebound.SlogOptions{Levels: map[rebound.Class]slog.Level{rebound.Class(9): slog.LevelInfo}})
	var cerr *rebound.ConfigError
	if !errors.As(err, &cerr) || cerr.Field != "SlogOptions.Levels" {
		t.Fatalf("got %v, want a ConfigError naming SlogOptions.Levels", err)
	}
}

// A 404 lowered to INFO costs nothing under a logger at WARN.
func TestSlogObserverDisabledLevelAllocatesNothing(t *testing.T) {
	obs, err := rebound.NewSlogObserverWith(slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn})), rebound.SlogOptions{
		Levels: map[rebound.Class]slog.Level{rebound.Logic: slog.LevelInfo},
	})
	if err != nil {
		t.Fatal(err)
	}
	e := rebound.Event{Kind: rebound.CallFinished, Endpoint: "users/{id}", Attempt: 1, Result: rebound.ResultFailure, Reason: rebound.ReasonPermanent, Class: rebound.Logic, Err: notFound{}}
	if n := testing.AllocsPerRun(1000, func() { obs.Observe(context.Background(), e) }); n != 0 {
		t.Fatalf("%v allocations per disabled event", n)
	}
}

func BenchmarkSlogObserver(b *testing.B) {
	ctx := context.Background()
	failed := rebound.Event{Kind: rebound.CallFinished, Endpoint: "users/{id}", Attempt: 1, Result: rebound.ResultFailure, Reason: rebound.ReasonPermanent, Class: rebound.Logic, Err: notFound{}}
	for _, bc := range []struct {
		name  string
		level slog.Level // the handler's
		opts  rebound.SlogOptions
	}{
		{"default/enabled", slog.LevelInfo, rebound.SlogOptions{}},
		{"default/disabled", slog.LevelError, rebound.SlogOptions{}},
		{"logic-info/enabled", slog.LevelInfo, rebound.SlogOptions{Levels: map[rebound.Class]slog.Level{rebound.Logic: slog.LevelInfo}}},
		{"logic-info/disabled", slog.LevelWarn, rebound.SlogOptions{Levels: map[rebound.Class]slog.Level{rebound.Logic: slog.LevelInfo}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			obs, err := rebound.NewSlogObserverWith(slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: bc.level})), bc.opts)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				obs.Observe(ctx, failed)
			}
		})
	}
}

func TestSlogObserverLogsHedgesAtDebug(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		obs := rebound.NewSlogObserver(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
		h, _ := rebound.NewHedger(rebound.HedgeConfig{Delay: 10 * time.Millisecond, Ratio: 1})
		p := rebound.Policy{Endpoint: "search", Observer: obs, Hedger: h}
		s := &runs{delays: []time.Duration{time.Second, 5 * time.Millisecond}, results: []error{nil, nil}}
		if _, err := rebound.DoHedged(t.Context(), p, s.fn); err != nil {
			t.Fatal(err)
		}
		var hedgeLines []map[string]any
		for _, l := range logLines(t, &buf) {
			if l["hedge"] != nil {
				hedgeLines = append(hedgeLines, l)
			}
		}
		if len(hedgeLines) != 2 {
			t.Fatalf("hedge lines %v, want started and finished", hedgeLines)
		}
		st, fin := hedgeLines[0], hedgeLines[1]
		if st["level"] != "DEBUG" || st["msg"] != "hedge started" || st["hedge"] != float64(1) || st["attempt"] != float64(1) || st["wait"] != float64(10*time.Millisecond) {
			t.Errorf("started line: %v", st)
		}
		if fin["level"] != "DEBUG" || fin["msg"] != "hedge finished" || fin["result"] != "won" || fin["duration"] != float64(5*time.Millisecond) || fin["elapsed"] != float64(15*time.Millisecond) {
			t.Errorf("finished line: %v", fin)
		}
	})
}
