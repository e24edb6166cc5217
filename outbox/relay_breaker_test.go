package outbox_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound/reboundtest"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/webhook"
)

// relayBreakers are the breakers rebound relay gives its destinations by
// default: 20 failures in a row, or half of at least 20 deliveries in a
// minute, open a destination's breaker for 30 s.
func relayBreakers(t *testing.T, obs rebound.Observer) *rebound.Breakers {
	t.Helper()
	return relayBreakersOpenFor(t, obs, 0)
}

// relayBreakersOpenFor is relayBreakers open for openFor (0: 30 s).
func relayBreakersOpenFor(t *testing.T, obs rebound.Observer, openFor time.Duration) *rebound.Breakers {
	t.Helper()
	b, err := rebound.NewBreakers(rebound.BreakerConfig{ConsecutiveFailures: 20, OpenFor: openFor, Observer: obs}, 10)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// events records a relay's events.
type events struct {
	mu   sync.Mutex
	list []rebound.Event
}

func (e *events) Observe(_ context.Context, ev rebound.Event) {
	e.mu.Lock()
	e.list = append(e.list, ev)
	e.mu.Unlock()
}

func (e *events) calls() map[rebound.Result]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := map[rebound.Result]int{}
	for _, ev := range e.list {
		if ev.Kind == rebound.CallFinished {
			n[ev.Result]++
		}
	}
	return n
}

func (e *events) opened() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range e.list {
		if ev.Kind == rebound.BreakerStateChanged && ev.To == rebound.Open {
			n++
		}
	}
	return n
}

func startBubbleRelay(t *testing.T, o testOutbox, cfg outbox.RelayConfig, h http.Handler) *outbox.Relay {
	t.Helper()
	sender, err := outbox.NewWebhookSender(outbox.WebhookConfig{
		Destinations: map[string]outbox.Destination{"d": {URL: "http://receiver.test/hook"}},
		Client:       &http.Client{Transport: reboundtest.HandlerTransport{Handler: h}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store, cfg.Sender = o.store, sender
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r, err := outbox.NewRelay(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop(context.Background()) }) // in the bubble
	return r
}

// A receiver that rejects one kind of message forever (30% of them, 500)
// must not hold back the others: the poison messages' retries do not count
// against the destination, its breaker stays closed, and every healthy
// message is delivered at once; the poison ones keep their own schedule
// and go dead after their attempts, with the reason.
func TestRelayPoisonMessagesDoNotHoldHealthyOnes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := newOutbox(t)
		var mu sync.Mutex
		enqueued := map[string]time.Time{}
		latency := map[string]time.Duration{}
		poison := func(payload string) bool { return strings.Contains(payload, "poison") }
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var b bytes.Buffer
			_, _ = b.ReadFrom(r.Body)
			if poison(b.String()) {
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			id := r.Header.Get(webhook.HeaderID)
			mu.Lock()
			latency[id] = time.Since(enqueued[id])
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		})
		ev := &events{}
		relay := startBubbleRelay(t, o, outbox.RelayConfig{
			Breakers:    relayBreakers(t, ev),
			Observer:    ev,
			MaxAttempts: 4,
			Backoff:     rebound.Constant(2 * time.Second), // the poison retries pile up fast
		}, h)

		// 20 messages a second for 15 s, 3 in 10 poison.
		const total = 300
		healthy := 0
		for i := range total {
			payload := `{"kind":"order"}`
			if i%10 < 3 {
				payload = `{"kind":"poison"}`
			} else {
				healthy++
			}
			mu.Lock()
			id := o.enqueue(t, outbox.Message{Destination: "d", Payload: []byte(payload)})[0]
			enqueued[id] = time.Now()
			mu.Unlock()
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(2 * time.Second)
		mu.Lock()
		delivered, worst := len(latency), time.Duration(0)
		for _, l := range latency {
			worst = max(worst, l)
		}
		mu.Unlock()
		if delivered != healthy || worst > 2*time.Second {
			t.Fatalf("%d of %d healthy messages delivered within 2 s of the last enqueue, slowest %v; want all, each within 2 s", delivered, healthy, worst)
		}
		if n := ev.opened(); n != 0 {
			t.Fatalf("the breaker opened %d times; poison messages alone must not open it", n)
		}

		// The poison messages go dead after their 4 attempts, 2 s apart.
		time.Sleep(10 * time.Second)
		ctx := context.Background()
		if err := relay.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		recs, _, err := o.store.List(ctx, outbox.Filter{State: outbox.Dead, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != total-healthy {
			t.Fatalf("%d dead messages, want the %d poison ones", len(recs), total-healthy)
		}
		for _, r := range recs {
			if r.DeadReason != "exhausted" || r.Attempt != 4 || r.LastStatus != 500 {
				t.Fatalf("dead message %+v: want exhausted after 4 attempts, last status 500", r)
			}
		}
		calls := ev.calls()
		if calls[rebound.ResultSuccess] != healthy || calls[rebound.ResultRetrying] != 3*(total-healthy) || calls[rebound.ResultGaveUp] != total-healthy {
			t.Fatalf("calls by result %v; want a call per delivery attempt: %d success, %d retrying, %d gave_up", calls, healthy, 3*(total-healthy), total-healthy)
		}
	})
}

// A destination that is down (503 to everything) gets its breaker opened
// after a few failures, and then is spared: few requests reach it while
// messages keep arriving, and the held messages count as rejected calls.
// When it recovers, everything is delivered.
func TestRelayBreakerSparesADownDestination(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := newOutbox(t)
		var mu sync.Mutex
		down, requests := true, 0
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			if down {
				requests++
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
		ev := &events{}
		startBubbleRelay(t, o, outbox.RelayConfig{Breakers: relayBreakers(t, ev), Observer: ev}, h)
		for range 400 { // 20 a second for 20 s
			o.enqueue(t, outbox.Message{Destination: "d", Payload: []byte("{}")})
			time.Sleep(50 * time.Millisecond)
		}
		mu.Lock()
		n := requests
		down = false
		mu.Unlock()
		if n > 150 {
			t.Fatalf("%d requests reached the down destination in 20 s, want at most 150", n)
		}
		calls := ev.calls()
		if ev.opened() == 0 || calls[rebound.ResultRejected] == 0 || calls[rebound.ResultRetrying] != n {
			t.Fatalf("breaker opened %d times, calls by result %v after %d requests: want it open, held messages counted as rejected, a retrying call per request", ev.opened(), calls, n)
		}
		t.Logf("%d requests reached the down destination in 20 s; calls by result %v", n, calls)
		// Recovered: the probe succeeds and the backlog drains.
		for range 600 {
			if countState(t, o, "d", outbox.Sent) == 400 {
				break
			}
			time.Sleep(time.Second)
		}
		if got := countState(t, o, "d", outbox.Sent); got != 400 {
			t.Fatalf("%d of 400 sent 10 minutes after the destination recovered", got)
		}
	})
}

// While a destination's breaker is not closed, messages that failed on
// their own account last time wait: they are no probe of the destination.
func TestRelayPoisonRetriesWaitWhileTheBreakerIsOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := newOutbox(t)
		var mu sync.Mutex
		down, violations, poisonTries := false, 0, 0
		var breakers *rebound.Breakers
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var b bytes.Buffer
			_, _ = b.ReadFrom(r.Body)
			mu.Lock()
			defer mu.Unlock()
			attempt, _ := strconv.Atoi(r.Header.Get(webhook.HeaderAttempt))
			if strings.Contains(b.String(), "poison") {
				poisonTries++
				if attempt > 1 && breakers.Get("d").State() != rebound.Closed {
					violations++
				}
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			if down {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
		ev := &events{}
		breakers = relayBreakersOpenFor(t, ev, 5*time.Second)
		// One worker: a request reaches the receiver in the state its
		// breaker allowed it in.
		startBubbleRelay(t, o, outbox.RelayConfig{Breakers: breakers, Observer: ev, Workers: 1, Backoff: rebound.Constant(2 * time.Second)}, h)
		for range 5 {
			o.enqueue(t, outbox.Message{Destination: "d", Payload: []byte(`"poison"`)})
		}
		time.Sleep(time.Second) // their first attempts fail
		mu.Lock()
		down = true
		mu.Unlock()
		for range 250 { // 25 s: open, half-open, open again …
			o.enqueue(t, outbox.Message{Destination: "d", Payload: []byte("{}")})
			time.Sleep(100 * time.Millisecond)
		}
		mu.Lock()
		v, tries := violations, poisonTries
		mu.Unlock()
		if ev.opened() == 0 || v != 0 || tries < 5 {
			t.Fatalf("breaker opened %d times; %d poison retries while it was not closed (of %d poison tries); want it opened and none", ev.opened(), v, tries)
		}
	})
}
