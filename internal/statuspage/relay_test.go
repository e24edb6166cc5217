package statuspage

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound/reboundtest"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/outbox"
)

// rejections counts the calls an open breaker rejected.
type rejections struct {
	mu sync.Mutex
	n  int
}

func (r *rejections) Observe(_ context.Context, e rebound.Event) {
	if e.Kind == rebound.CallFinished && e.Result == rebound.ResultRejected {
		r.mu.Lock()
		r.n++
		r.mu.Unlock()
	}
}

func (r *rejections) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// The page fed by a real relay: every attempt that reached the receiver
// counts once, as a delivery or a failed attempt, those of messages that
// went dead included; messages the open breaker holds back count as
// neither, and show instead as waiting on the breaker.
func TestPageUnderARelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := newOutbox(t)
		var mu sync.Mutex
		down := false
		var ok, failed int // requests the receiver answered
		receiver := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case down:
				failed++
				w.WriteHeader(http.StatusServiceUnavailable)
			case strings.Contains(string(body), "poison"):
				failed++
				w.WriteHeader(http.StatusInternalServerError)
			default:
				ok++
				w.WriteHeader(http.StatusNoContent)
			}
		})
		sender, err := outbox.NewWebhookSender(outbox.WebhookConfig{
			Destinations: map[string]outbox.Destination{"d": {URL: "http://receiver.test/hook"}},
			Client:       &http.Client{Transport: reboundtest.HandlerTransport{Handler: receiver}},
		})
		if err != nil {
			t.Fatal(err)
		}
		// Three failures of the destination in a row open its breaker,
		// for longer than the test.
		breakers, err := rebound.NewBreakers(rebound.BreakerConfig{ConsecutiveFailures: 3, OpenFor: time.Hour}, 10)
		if err != nil {
			t.Fatal(err)
		}
		activity, held := NewActivity(), &rejections{}
		relay, err := outbox.NewRelay(outbox.RelayConfig{
			Store:       o.store,
			Sender:      sender,
			Breakers:    breakers,
			Observer:    rebound.Observers(activity, held),
			Logger:      slog.New(slog.DiscardHandler),
			MaxAttempts: 3,
			Rand:        func() float64 { return 1 }, // full waits: 5 s, then 10 s
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := relay.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := relay.Stop(context.Background()); err != nil {
				t.Errorf("stopping the relay: %v", err)
			}
		}()

		// 8 healthy messages and 2 poison ones, which fail their 3
		// attempts (at 0, 5 and 15 s) and go dead; the breaker stays
		// closed.
		for i := range 10 {
			payload := `{"kind":"order"}`
			if i%5 == 0 {
				payload = `{"kind":"poison"}`
			}
			o.enqueue(t, outbox.Message{Destination: "d", Payload: []byte(payload)})
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(20 * time.Second)
		if s := breakers.Get("d").State(); s != rebound.Closed {
			t.Fatalf("after the poison messages the breaker is %v, want closed", s)
		}

		// The destination goes down: 10 messages, one a second. The first
		// three fail and open the breaker, which holds back the other
		// seven and, when their retries come due, the three.
		mu.Lock()
		down = true
		mu.Unlock()
		for range 10 {
			o.enqueue(t, outbox.Message{Destination: "d", Payload: []byte(`{"kind":"order"}`)})
			time.Sleep(time.Second)
		}
		time.Sleep(20 * time.Second)
		synctest.Wait()

		mu.Lock()
		gotOK, gotFailed := ok, failed
		mu.Unlock()
		if gotOK != 8 || gotFailed != 2*3+3 {
			t.Fatalf("the receiver answered %d requests with success and %d with failure, want 8 and 9", gotOK, gotFailed)
		}
		if s := breakers.Get("d").State(); s != rebound.Open {
			t.Fatalf("the breaker is %v, want open", s)
		}
		if held.count() == 0 {
			t.Fatal("the relay held no message back")
		}
		if c, _ := activity.window("d", time.Now(), rateWindow); c != (counts{Delivered: 8, Failed: 9}) {
			t.Errorf("Activity counted %+v over 5 minutes, want the receiver's 8 deliveries and 9 failed attempts, and no held message", c)
		}

		h, err := New(Config{Store: o.store, Activity: activity, Breakers: breakers, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, httptest.NewRequest("GET", "/", nil))
		// Pending 7, retrying 3, delivering 0, dead 2; the oldest unsent
		// enqueued 30 s ago; 8 deliveries in 5 minutes, 9 of 17 attempts
		// failed; 10 messages wait on the breaker.
		want := `<td class="num">7</td> <td class="num">3</td> <td class="num">0</td> <td class="num"><a href="?dest=d#dead">2</a></td> ` +
			`<td class="num">30s</td> <td class="num">1.6/min</td> <td class="num bad">52.9 %</td> ` +
			`<td><span class="breaker breaker-open">open</span> <span class="waiting"`
		if r := row(t, rr.Body.String(), "d"); !strings.Contains(r, want) || !strings.Contains(r, ">10 waiting on the open breaker</span>") {
			t.Errorf("the row of d:\n%s\nwant it to contain\n%s\nand 10 waiting on the open breaker", r, want)
		}
	})
}
