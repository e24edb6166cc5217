package amqpsender_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/outbox/amqpsender"
)

// A broker that refuses every dial is dialed at 0, 100 ms, 300 ms, 700 ms,
// 1.5 s, then every second (MaxReconnect), however often Sends come; the
// Sends and Pings between fail at once without dialing.
func TestReconnectBackoffSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var dials []time.Duration
		s, err := amqpsender.New(amqpsender.Config{
			Dial: func(context.Context) (*amqp.Connection, error) {
				dials = append(dials, time.Since(start))
				return nil, errors.New("dial tcp 127.0.0.1:5672: connect: connection refused")
			},
			MinReconnect: 100 * time.Millisecond,
			MaxReconnect: time.Second,
			Logger:       slog.New(slog.DiscardHandler),
			Destinations: map[string]amqpsender.Destination{"orders": {RoutingKey: "orders"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		waits := 0
		for range 60 { // a Send every 50 ms for 3 s
			err := s.Send(context.Background(), delivery("m1", "orders", nil))
			if _, c := classOf(t, err); c.Class != rebound.Connection || !c.Retryable || c.MaybeProcessed {
				t.Fatalf("%v: %v (%+v), want a retryable Connection error, not sent", time.Since(start), err, c)
			}
			if strings.Contains(err.Error(), "next attempt in") {
				waits++
			}
			time.Sleep(50 * time.Millisecond)
		}
		ms := time.Millisecond
		want := []time.Duration{0, 100 * ms, 300 * ms, 700 * ms, 1500 * ms, 2500 * ms}
		if !slices.Equal(dials, want) {
			t.Errorf("dials at %v, want %v", dials, want)
		}
		if waits != 60-len(want) {
			t.Errorf("%d Sends failed fast in the backoff, want %d", waits, 60-len(want))
		}

		// At 3 s: the next dial is at 3.5 s.
		err = s.Ping(context.Background())
		if err == nil || !strings.Contains(err.Error(), "next attempt in 500ms") || len(dials) != len(want) {
			t.Errorf("ping in the backoff: %v, after %d dials; want a fast failure saying the next attempt is in 500ms", err, len(dials))
		}
	})
}

// A Send whose context is canceled while it dials does not count against
// the broker: the next Send dials at once.
func TestCanceledDialDoesNotBackOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dials := 0
		s, err := amqpsender.New(amqpsender.Config{
			Dial: func(ctx context.Context) (*amqp.Connection, error) {
				dials++
				<-ctx.Done()
				return nil, ctx.Err()
			},
			Logger:       slog.New(slog.DiscardHandler),
			Destinations: map[string]amqpsender.Destination{"orders": {RoutingKey: "orders"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for i := range 2 {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(time.Second, cancel)
			err := s.Send(ctx, delivery("m1", "orders", nil))
			if _, c := classOf(t, err); c.Class != rebound.Canceled {
				t.Errorf("send %d: %v (%+v), want Canceled", i, err, c)
			}
			cancel()
		}
		if dials != 2 {
			t.Errorf("%d dials, want 2", dials)
		}
	})
}
