package rebound_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/rebound-go/rebound"
)

var (
	benchSink int
	benchOK   = func(context.Context) (int, error) { return 1, nil }
)

func BenchmarkDoHappy(b *testing.B) {
	ctx := context.Background()
	p := rebound.Policy{}
	b.ReportAllocs()
	for b.Loop() {
		v, _ := rebound.Do(ctx, p, benchOK)
		benchSink += v
	}
}

func composedPolicy(b *testing.B) rebound.Policy {
	br, err := rebound.NewBreaker(rebound.BreakerConfig{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	bu, err := rebound.NewBudget(rebound.BudgetConfig{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	return rebound.Policy{
		Endpoint: "bench",
		Breaker:  br,
		Budget:   bu,
		Observer: rebound.NewSlogObserver(slog.New(slog.NewTextHandler(io.Discard, nil))),
	}
}

func BenchmarkDoComposed(b *testing.B) {
	ctx := context.Background()
	p := composedPolicy(b)
	b.ReportAllocs()
	for b.Loop() {
		v, _ := rebound.Do(ctx, p, benchOK)
		benchSink += v
	}
}

func BenchmarkDoComposedParallel(b *testing.B) {
	ctx := context.Background()
	p := composedPolicy(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, _ = rebound.Do(ctx, p, benchOK)
		}
	})
}

func BenchmarkDoFailTwice(b *testing.B) {
	ctx := context.Background()
	p := rebound.Policy{Backoff: rebound.Constant(0)}
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		v, _ := rebound.Do(ctx, p, func(context.Context) (int, error) {
			n++
			if n < 3 {
				return 0, errReset
			}
			return n, nil
		})
		benchSink += v
	}
}

func BenchmarkClassify(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		benchSink += int(rebound.Classify(errReset).Class)
	}
}
