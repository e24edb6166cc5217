package reboundnet_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundnet"
)

var refused = &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}

// drain is a Session that reads until the connection fails.
func drain(_ context.Context, conn net.Conn) error {
	_, err := io.Copy(io.Discard, conn)
	return err
}

// states records a supervisor's states.
type states struct {
	mu   sync.Mutex
	seen []reboundnet.State
}

func (s *states) add(st reboundnet.State) {
	s.mu.Lock()
	s.seen = append(s.seen, st)
	s.mu.Unlock()
}

func (s *states) get() []reboundnet.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.seen)
}

// pipes is a Dial that fails the dials numbered in fail (from 1) with
// refused and otherwise returns one end of a net.Pipe, handing the other
// to the test, which plays the server.
type pipes struct {
	start   time.Time
	fail    func(n int) bool
	mu      sync.Mutex
	dials   []time.Duration
	servers chan net.Conn
}

func newPipes(fail func(n int) bool) *pipes {
	return &pipes{start: time.Now(), fail: fail, servers: make(chan net.Conn, 100)}
}

func (p *pipes) dial(context.Context) (net.Conn, error) {
	p.mu.Lock()
	p.dials = append(p.dials, time.Since(p.start))
	n := len(p.dials)
	p.mu.Unlock()
	if p.fail(n) {
		return nil, refused
	}
	c, s := net.Pipe()
	p.servers <- s
	return c, nil
}

func (p *pipes) at() []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.dials)
}

func newSupervisor(t *testing.T, cfg reboundnet.SupervisorConfig) *reboundnet.Supervisor {
	t.Helper()
	s, err := reboundnet.NewSupervisor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func noJitter() rebound.Backoff {
	return rebound.Exponential{Initial: time.Second, Max: 30 * time.Second, Jitter: rebound.NoJitter}
}

// The reconnect schedule: dials at 0, 1, 3, 7 and 15 s while refused; a
// session that drops before HealthyAfter keeps the backoff growing; one
// that ran HealthyAfter resets it.
func TestSupervisorReconnectSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPipes(func(n int) bool { return n <= 4 })
		rec := &recorder{}
		var st states
		s := newSupervisor(t, reboundnet.SupervisorConfig{Name: "feed", Dial: p.dial, Session: drain, Backoff: noJitter(), Observer: rec, OnState: st.add})
		if s.State() != reboundnet.Idle {
			t.Fatalf("state %v before Start, want idle", s.State())
		}
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Second)
		synctest.Wait()
		sec := time.Second
		if got, want := p.at(), []time.Duration{0, sec, 3 * sec, 7 * sec, 15 * sec}; !slices.Equal(got, want) {
			t.Fatalf("dials at %v, want %v", got, want)
		}
		if !s.Ready() {
			t.Fatalf("state %v at 20s, want up", s.State())
		}
		retries := rec.kinds(rebound.RetryScheduled)
		for i, e := range retries {
			wantWait, wantElapsed := sec<<i, p.at()[i]
			if e.Attempt != i+1 || e.Wait != wantWait || e.Elapsed != wantElapsed || e.Class != rebound.Connection || e.Endpoint != "feed" || !errors.Is(e.Err, syscall.ECONNREFUSED) {
				t.Errorf("retry %d: %+v; want attempt %d, wait %v, elapsed %v, a refused connection, endpoint feed", i, e, i+1, wantWait, wantElapsed)
			}
		}
		up := rec.kinds(rebound.CallFinished)
		if len(retries) != 4 || len(up) != 1 || up[0].Result != rebound.ResultSuccess || up[0].Attempt != 5 || up[0].Elapsed != 15*sec {
			t.Fatalf("%d retries and call events %+v; want 4 retries, then a success at attempt 5 after 15s down", len(retries), up)
		}

		// The server drops the connection at 20 s, 5 s after it was made:
		// not healthy, so the sixth failure waits 16 s.
		(<-p.servers).Close()
		time.Sleep(20 * time.Second) // to 40 s
		synctest.Wait()
		retries = rec.kinds(rebound.RetryScheduled)
		if e := retries[len(retries)-1]; e.Attempt != 5 || e.Wait != 16*sec || e.Elapsed != 0 || !errors.Is(e.Err, reboundnet.ErrSessionEnded) || e.Class != rebound.Connection {
			t.Fatalf("after a 5 s session: %+v; want attempt 5, wait 16s, elapsed 0, ErrSessionEnded", e)
		}
		if got := p.at(); got[len(got)-1] != 36*sec || !s.Ready() {
			t.Fatalf("dials at %v, state %v; want the last at 36s, up", got, s.State())
		}
		if e := rec.kinds(rebound.CallFinished)[1]; e.Attempt != 6 || e.Elapsed != 16*sec {
			t.Fatalf("back up: %+v; want attempt 6 (failures since the last healthy session, plus one), 16s down", e)
		}

		// Up from 36 s to 70 s: healthy, so the wait starts again at 1 s.
		time.Sleep(30 * time.Second) // to 70 s
		(<-p.servers).Close()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		retries = rec.kinds(rebound.RetryScheduled)
		if e := retries[len(retries)-1]; e.Attempt != 1 || e.Wait != sec {
			t.Fatalf("after a 34 s session: %+v; want attempt 1, wait 1s", e)
		}
		if got := p.at(); got[len(got)-1] != 71*sec {
			t.Fatalf("dials at %v, want the last at 71s", got)
		}

		if err := s.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if s.State() != reboundnet.Stopped || s.Err() != nil {
			t.Fatalf("after Stop: state %v, Err %v; want stopped, nil", s.State(), s.Err())
		}
		C, U, B := reboundnet.Connecting, reboundnet.Up, reboundnet.BackingOff
		want := []reboundnet.State{C, B, C, B, C, B, C, B, C, U, B, C, U, B, C, U, reboundnet.Stopped}
		if got := st.get(); !slices.Equal(got, want) {
			t.Fatalf("states %v, want %v", got, want)
		}
		if n := len(rec.kinds(rebound.CallFinished)); n != 3 {
			t.Fatalf("%d call events, want 3 (Stop emits none)", n)
		}
	})
}

// Full jitter draws each wait from [0, backoff): Rand sets the draw.
func TestSupervisorJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPipes(func(n int) bool { return n <= 2 })
		s := newSupervisor(t, reboundnet.SupervisorConfig{Dial: p.dial, Session: drain, Rand: func() float64 { return 0.5 }})
		_ = s.Start(context.Background())
		time.Sleep(10 * time.Second)
		synctest.Wait()
		// The default backoff: 1 s, then 2 s, halved by the draw.
		if got, want := p.at(), []time.Duration{0, 500 * time.Millisecond, 1500 * time.Millisecond}; !slices.Equal(got, want) {
			t.Fatalf("dials at %v, want %v", got, want)
		}
		_ = s.Stop(context.Background())
	})
}

// A Logic error, from the session or from the dial, stops the supervisor
// with that error.
func TestSupervisorStopsOnLogicErrors(t *testing.T) {
	refusedSub := errors.New("SUB news: not allowed")
	for _, c := range []struct {
		name    string
		dial    func(p *pipes) func(context.Context) (net.Conn, error)
		session func(context.Context, net.Conn) error
		last    error
		attempt int
	}{
		{name: "session", dial: func(p *pipes) func(context.Context) (net.Conn, error) { return p.dial },
			session: func(context.Context, net.Conn) error { return rebound.Permanent(refusedSub) }, last: refusedSub, attempt: 1},
		{name: "dial after a refusal", dial: func(p *pipes) func(context.Context) (net.Conn, error) {
			n := 0
			return func(context.Context) (net.Conn, error) {
				if n++; n == 1 {
					return nil, refused
				}
				return nil, &net.OpError{Op: "remote error", Err: x509.UnknownAuthorityError{}}
			}
		}, session: drain, last: x509.UnknownAuthorityError{}, attempt: 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := &recorder{}
				var st states
				s := newSupervisor(t, reboundnet.SupervisorConfig{Name: "feed", Dial: c.dial(newPipes(func(int) bool { return false })), Session: c.session, Backoff: noJitter(), Observer: rec, OnState: st.add})
				_ = s.Start(context.Background())
				<-s.Done()
				err := s.Err()
				var re *rebound.Error
				if !errors.Is(err, rebound.ErrPermanent) || !errors.Is(err, c.last) || !errors.As(err, &re) || re.Class != rebound.Logic || re.Attempts != c.attempt || re.Endpoint != "feed" {
					t.Fatalf("Err: %v; want a permanent *rebound.Error of class logic after %d attempts wrapping %v", err, c.attempt, c.last)
				}
				fin := rec.kinds(rebound.CallFinished)
				last := fin[len(fin)-1]
				if last.Result != rebound.ResultFailure || last.Reason != rebound.ReasonPermanent || last.Class != rebound.Logic || last.Attempt != c.attempt || !errors.Is(last.Err, c.last) {
					t.Fatalf("last event %+v; want a permanent failure of class logic", last)
				}
				if s.State() != reboundnet.Stopped || st.get()[len(st.get())-1] != reboundnet.Stopped {
					t.Fatalf("state %v, want stopped", s.State())
				}
				if err := s.Stop(context.Background()); err != nil {
					t.Fatalf("Stop after it stopped: %v", err)
				}
				if s.Err() != err {
					t.Fatal("Stop changed Err")
				}
			})
		})
	}
}

// Unknown errors reconnect by default; ReconnectOn can leave them out.
func TestSupervisorReconnectOn(t *testing.T) {
	garbled := errors.New("garbled frame")
	for _, c := range []struct {
		on   rebound.ClassSet
		stop bool
	}{{0, false}, {rebound.Classes(rebound.Connection), true}} {
		synctest.Test(t, func(t *testing.T) {
			p := newPipes(func(int) bool { return false })
			s := newSupervisor(t, reboundnet.SupervisorConfig{Dial: p.dial, Session: func(context.Context, net.Conn) error { return garbled }, Backoff: rebound.Constant(time.Second), ReconnectOn: c.on})
			_ = s.Start(context.Background())
			time.Sleep(2500 * time.Millisecond)
			synctest.Wait()
			if c.stop {
				if !errors.Is(s.Err(), garbled) || len(p.at()) != 1 {
					t.Fatalf("ReconnectOn %v: Err %v after %d dials; want stopped on the unknown error after one", c.on, s.Err(), len(p.at()))
				}
			} else if s.Err() != nil || len(p.at()) != 3 {
				t.Fatalf("default ReconnectOn: Err %v after %d dials; want 3 dials in 2.5 s and no error", s.Err(), len(p.at()))
			}
			_ = s.Stop(context.Background())
		})
	}
}

// Stop ends a backoff wait, a dial or a session at once.
func TestSupervisorStopIsPrompt(t *testing.T) {
	for _, c := range []struct {
		name    string
		dial    func(p *pipes) func(context.Context) (net.Conn, error)
		session func(context.Context, net.Conn) error
		state   reboundnet.State
	}{
		{name: "backing off", dial: func(*pipes) func(context.Context) (net.Conn, error) {
			return func(context.Context) (net.Conn, error) { return nil, refused }
		}, session: drain, state: reboundnet.BackingOff},
		{name: "dialling", dial: func(*pipes) func(context.Context) (net.Conn, error) {
			return func(ctx context.Context) (net.Conn, error) { <-ctx.Done(); return nil, ctx.Err() }
		}, session: drain, state: reboundnet.Connecting},
		{name: "in a session that ignores its context", dial: func(p *pipes) func(context.Context) (net.Conn, error) { return p.dial }, session: drain, state: reboundnet.Up},
		{name: "in a session that waits on its context", dial: func(p *pipes) func(context.Context) (net.Conn, error) { return p.dial },
			session: func(ctx context.Context, _ net.Conn) error { <-ctx.Done(); return ctx.Err() }, state: reboundnet.Up},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := newPipes(func(int) bool { return false })
				rec := &recorder{}
				s := newSupervisor(t, reboundnet.SupervisorConfig{Dial: c.dial(p), Session: c.session, Backoff: rebound.Constant(time.Hour), Observer: rec})
				_ = s.Start(context.Background())
				time.Sleep(time.Second)
				synctest.Wait()
				if s.State() != c.state {
					t.Fatalf("state %v, want %v", s.State(), c.state)
				}
				start := time.Now()
				if err := s.Stop(context.Background()); err != nil {
					t.Fatal(err)
				}
				if time.Since(start) != 0 || s.State() != reboundnet.Stopped || s.Err() != nil {
					t.Fatalf("Stop took %v, state %v, Err %v; want at once, stopped, nil", time.Since(start), s.State(), s.Err())
				}
				select {
				case <-s.Done():
				default:
					t.Fatal("Done not closed after Stop")
				}
				for _, e := range rec.kinds(rebound.CallFinished) {
					if e.Result != rebound.ResultSuccess {
						t.Fatalf("Stop emitted %+v", e)
					}
				}
			})
		})
	}
}

func TestSupervisorStartsOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPipes(func(int) bool { return false })
		s := newSupervisor(t, reboundnet.SupervisorConfig{Name: "feed", Dial: p.dial, Session: drain})
		_ = s.Start(context.Background())
		if err := s.Start(context.Background()); err == nil || !strings.Contains(err.Error(), `Supervisor "feed" already started`) {
			t.Fatalf("second Start: %v", err)
		}
		_ = s.Stop(context.Background())
		if err := s.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "was stopped") {
			t.Fatalf("Start after Stop: %v", err)
		}
	})
}

// The start context ending stops the supervisor as Stop does.
func TestSupervisorStartContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPipes(func(int) bool { return false })
		s := newSupervisor(t, reboundnet.SupervisorConfig{Dial: p.dial, Session: drain})
		ctx, cancel := context.WithCancel(context.Background())
		_ = s.Start(ctx)
		synctest.Wait()
		cancel()
		<-s.Done()
		if s.State() != reboundnet.Stopped || s.Err() != nil {
			t.Fatalf("state %v, Err %v; want stopped, nil", s.State(), s.Err())
		}
		_ = s.Stop(context.Background())
	})
}

// rebound's slog observer logs the supervisor's events with their reason,
// attempt, wait and elapsed time.
func TestSupervisorSlogLines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}}))
		p := newPipes(func(n int) bool { return n == 1 })
		s := newSupervisor(t, reboundnet.SupervisorConfig{Name: "feed", Dial: p.dial, Backoff: noJitter(), Observer: rebound.NewSlogObserver(logger),
			Session: func(context.Context, net.Conn) error { return rebound.Permanent(errors.New("SUB news: not allowed")) }})
		_ = s.Start(context.Background())
		<-s.Done()
		want := `level=INFO msg=retrying endpoint=feed attempt=1 reason=connection elapsed=0s wait=1s class=connection error="dial tcp: connection refused"
level=INFO msg="succeeded after retries" endpoint=feed attempt=2 result=success elapsed=1s
level=WARN msg=failed endpoint=feed attempt=2 result=failure reason=permanent elapsed=0s class=logic error="SUB news: not allowed"
`
		if buf.String() != want {
			t.Fatalf("logged\n%s\nwant\n%s", buf.String(), want)
		}
	})
}

// A session reading through IdleTimeout fails when its peer goes silent,
// and the supervisor reconnects: a half-open connection is found out.
func TestSupervisorReconnectsAfterASilentPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPipes(func(int) bool { return false })
		rec := &recorder{}
		s := newSupervisor(t, reboundnet.SupervisorConfig{Dial: p.dial, Backoff: rebound.Constant(time.Second), Observer: rec,
			Session: func(ctx context.Context, conn net.Conn) error {
				return drain(ctx, reboundnet.IdleTimeout(conn, 10*time.Second))
			}})
		_ = s.Start(context.Background())
		server := <-p.servers // it never writes nor closes
		defer server.Close()
		time.Sleep(10500 * time.Millisecond)
		synctest.Wait()
		retries := rec.kinds(rebound.RetryScheduled)
		if len(retries) != 1 || retries[0].Class != rebound.Connection || !errors.Is(retries[0].Err, errDeadline) {
			t.Fatalf("retries %+v; want one, after the read deadline, of class connection", retries)
		}
		if got := p.at(); len(got) != 1 {
			t.Fatalf("dials at %v; want one, the next at 11 s", got)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if got := p.at(); len(got) != 2 || got[1] != 11*time.Second || !s.Ready() {
			t.Fatalf("dials at %v, state %v; want the second at 11s, up", got, s.State())
		}
		(<-p.servers).Close()
		_ = s.Stop(context.Background())
	})
}

func TestNewSupervisorRefusesInvalidConfigs(t *testing.T) {
	dial := func(context.Context) (net.Conn, error) { return nil, refused }
	for _, c := range []struct {
		cfg   reboundnet.SupervisorConfig
		field string
	}{
		{reboundnet.SupervisorConfig{Session: drain}, "reboundnet.SupervisorConfig.Dial"},
		{reboundnet.SupervisorConfig{Dial: dial}, "reboundnet.SupervisorConfig.Session"},
		{reboundnet.SupervisorConfig{Dial: dial, Session: drain, HealthyAfter: -1}, "reboundnet.SupervisorConfig.HealthyAfter"},
		{reboundnet.SupervisorConfig{Dial: dial, Session: drain, ReconnectOn: 1 << 7}, "reboundnet.SupervisorConfig.ReconnectOn"},
		{reboundnet.SupervisorConfig{Dial: dial, Session: drain, Backoff: rebound.Exponential{Initial: -1}}, "reboundnet.SupervisorConfig.Backoff.Exponential.Initial"},
	} {
		_, err := reboundnet.NewSupervisor(c.cfg)
		var ce *rebound.ConfigError
		if !errors.As(err, &ce) || ce.Field != c.field {
			t.Errorf("NewSupervisor: %v, want a *rebound.ConfigError for %s", err, c.field)
		}
	}
}

func TestStateStrings(t *testing.T) {
	var got []string
	for st := reboundnet.Idle; st <= reboundnet.Stopped+1; st++ {
		got = append(got, st.String())
	}
	if want := []string{"idle", "connecting", "up", "backing_off", "stopped", "state(5)"}; !slices.Equal(got, want) {
		t.Fatalf("%v, want %v", got, want)
	}
}
