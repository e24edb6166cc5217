package bench

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/alert"
	"github.com/rebound-go/rebound/reboundprom"
)

// BenchmarkObserverOverhead measures what observing a call costs: the same
// happy-path call with no observer, and with the Prometheus observer, the
// slog observer (INFO, discarding handler) and the in-process alerter
// attached together.
func BenchmarkObserverOverhead(b *testing.B) {
	ctx := context.Background()
	ok := func(context.Context) (int, error) { return 1, nil }
	b.Run("bare", func(b *testing.B) {
		p := rebound.Policy{Endpoint: "api/v1/user"}
		b.ReportAllocs()
		for b.Loop() {
			_, _ = rebound.Do(ctx, p, ok)
		}
	})
	b.Run("prom+slog+alert", func(b *testing.B) {
		m, err := reboundprom.New(reboundprom.Config{Registerer: prometheus.NewRegistry()})
		if err != nil {
			b.Fatal(err)
		}
		a, err := alert.New(alert.Config{})
		if err != nil {
			b.Fatal(err)
		}
		s := rebound.NewSlogObserver(slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})))
		p := rebound.Policy{Endpoint: "api/v1/user", Observer: rebound.Observers(m, s, a)}
		b.ReportAllocs()
		for b.Loop() {
			_, _ = rebound.Do(ctx, p, ok)
		}
	})
}
