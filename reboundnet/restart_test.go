package reboundnet_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundnet"
)

// within returns the next value of c, failing the test after a generous
// bound.
func within[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s in 10 s", what)
		panic("unreachable")
	}
}

// Over loopback TCP, a line-protocol client resubscribes after each of
// three restarts of its server on the same address, and its state goes
// up, down (backing off, connecting) and up again each time.
func TestSupervisorSurvivesServerRestarts(t *testing.T) {
	srv, err := startLineServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if srv != nil {
			srv.stop()
		}
	}()
	dialer, err := reboundnet.NewDialer(reboundnet.DialerConfig{Policy: rebound.Policy{MaxAttempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string)
	rec := &recorder{}
	var st states
	sup, err := reboundnet.NewSupervisor(reboundnet.SupervisorConfig{
		Name:     "news feed",
		Dial:     dialer.To("tcp", srv.addr),
		Session:  subscribe(got),
		Backoff:  rebound.Constant(10 * time.Millisecond),
		Observer: rec,
		OnState:  st.add,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sup.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	const restarts = 3
	for i := 0; ; i++ {
		if topic := within(t, srv.subscribed, "subscription"); topic != "news" {
			t.Fatalf("subscribed to %q", topic)
		}
		srv.publish("news", i)
		if msg, want := within(t, got, "message"), fmt.Sprintf("MSG news %d", i); msg != want {
			t.Fatalf("got %q, want %q", msg, want)
		}
		if !sup.Ready() {
			t.Fatalf("state %v while a message came through, want up", sup.State())
		}
		if i == restarts {
			break
		}
		srv.stop()
		if srv, err = startLineServer(srv.addr); err != nil {
			t.Fatalf("restart %d on the same address: %v", i+1, err)
		}
	}
	if err := sup.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Up, then for each restart: backing off and connecting (maybe more
	// than once, while the server was down), then up again.
	seen := st.get()
	if !slices.Equal(seen[:2], []reboundnet.State{reboundnet.Connecting, reboundnet.Up}) || seen[len(seen)-1] != reboundnet.Stopped {
		t.Fatalf("states %v; want connecting, up first and stopped last", seen)
	}
	ups := 0
	for i, s := range seen {
		if s != reboundnet.Up {
			continue
		}
		ups++
		if i > 1 && (seen[i-1] != reboundnet.Connecting || !slices.Contains(seen[:i], reboundnet.BackingOff)) {
			t.Fatalf("states %v: up at %d without backing off and connecting before it", seen, i)
		}
	}
	if ups != restarts+1 {
		t.Fatalf("states %v: %d times up, want %d", seen, ups, restarts+1)
	}
	var successes []rebound.Event
	for _, e := range rec.kinds(rebound.CallFinished) {
		if e.Result != rebound.ResultSuccess {
			t.Fatalf("call event %+v", e)
		}
		successes = append(successes, e)
	}
	if len(successes) != restarts+1 || successes[0].Attempt != 1 {
		t.Fatalf("successes %+v; want %d, the first at attempt 1", successes, restarts+1)
	}
	for _, e := range successes[1:] {
		if e.Attempt < 2 || e.Endpoint != "news feed" {
			t.Fatalf("reconnect %+v: want attempt 2 or more (the lost session counts), endpoint news feed", e)
		}
	}
	if n := len(rec.kinds(rebound.RetryScheduled)); n < restarts {
		t.Fatalf("%d retries scheduled, want at least %d", n, restarts)
	}
}
