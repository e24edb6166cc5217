package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// Fault is one thing the chaos run did.
type Fault struct {
	Kind  string // kill, restart, pause, resume, pg-restart, nats-restart, amqp-restart
	Relay string
	At    time.Time
	Took  time.Duration
	Err   string
}

// Schedule is the faults of a run.
type Schedule struct {
	KillEvery    time.Duration // 0: no kills
	RestartAfter time.Duration
	PauseAt      time.Duration // after the start; 0: no pause
	PauseFor     time.Duration
	PGRestartAt  time.Duration // after the start; 0: no restart of PostgreSQL
	ReadyWithin  time.Duration
	// BrokerRestartAt is when to restart the run's broker, with
	// BrokerRestart (after the start; 0: never); the fault is recorded
	// as BrokerRestartKind (nats-restart, amqp-restart).
	BrokerRestartAt   time.Duration
	BrokerRestart     func(context.Context) error
	BrokerRestartKind string
}

// Chaos injects faults into relays until stopped.
type Chaos struct {
	sched  Schedule
	relays []*Relay
	rng    *rand.Rand
	log    func(format string, args ...any)

	mu     sync.Mutex
	faults []Fault
	errs   []error
	wg     sync.WaitGroup
	pinned map[*Relay]bool // paused: not killed meanwhile
}

// NewChaos returns a fault injector; seed makes its choices reproducible.
func NewChaos(sched Schedule, relays []*Relay, seed uint64, log func(string, ...any)) *Chaos {
	return &Chaos{sched: sched, relays: relays, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), log: log, pinned: map[*Relay]bool{}}
}

func (c *Chaos) note(f Fault) {
	c.mu.Lock()
	c.faults = append(c.faults, f)
	c.mu.Unlock()
	msg := fmt.Sprintf("fault: %s %s", f.Kind, f.Relay)
	if f.Took > 0 {
		msg += " (" + f.Took.Round(time.Millisecond).String() + ")"
	}
	if f.Err != "" {
		msg += ": " + f.Err
	}
	c.log("%s", msg)
}

func (c *Chaos) fail(err error) {
	c.mu.Lock()
	c.errs = append(c.errs, err)
	c.mu.Unlock()
	c.log("fault error: %v", err)
}

// Faults returns what was done so far.
func (c *Chaos) Faults() []Fault {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Fault(nil), c.faults...)
}

// Errors returns the faults that could not be carried out (a relay that
// did not come back, PostgreSQL that did not restart).
func (c *Chaos) Errors() []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]error(nil), c.errs...)
}

// Run injects faults until ctx ends, then waits for restarts in progress.
func (c *Chaos) Run(ctx context.Context) {
	start := time.Now()
	var kill <-chan time.Time
	if c.sched.KillEvery > 0 {
		t := time.NewTicker(c.sched.KillEvery)
		defer t.Stop()
		kill = t.C
	}
	pause := c.timer(c.sched.PauseAt)
	pg := c.timer(c.sched.PGRestartAt)
	var brokerRestart <-chan time.Time
	if c.sched.BrokerRestart != nil {
		brokerRestart = c.timer(c.sched.BrokerRestartAt)
	}
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-kill:
			c.killOne(ctx)
		case <-pause:
			pause = nil
			c.pauseOne(ctx)
		case <-pg:
			pg = nil
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				c.restartPostgres(start)
			}()
		case <-brokerRestart:
			brokerRestart = nil
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				c.restartBroker(ctx)
			}()
		}
	}
	c.wg.Wait()
}

func (c *Chaos) timer(after time.Duration) <-chan time.Time {
	if after <= 0 {
		return nil
	}
	return time.After(after)
}

// killOne SIGKILLs a random running relay and restarts it after
// RestartAfter.
func (c *Chaos) killOne(ctx context.Context) {
	var live []*Relay
	c.mu.Lock()
	for _, r := range c.relays {
		if r.Up() && !c.pinned[r] {
			live = append(live, r)
		}
	}
	c.mu.Unlock()
	if len(live) == 0 {
		return
	}
	r := live[c.rng.IntN(len(live))]
	at := time.Now()
	if err := r.Kill(); err != nil {
		c.fail(fmt.Errorf("killing %s: %w", r.Name, err))
		return
	}
	c.note(Fault{Kind: "kill", Relay: r.Name, At: at})
	c.mu.Lock()
	c.pinned[r] = true
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer func() {
			c.mu.Lock()
			delete(c.pinned, r)
			c.mu.Unlock()
		}()
		t := time.NewTimer(c.sched.RestartAfter)
		<-t.C // not cut short: a relay is always restarted
		at := time.Now()
		err := r.Start(context.WithoutCancel(ctx), c.sched.ReadyWithin)
		f := Fault{Kind: "restart", Relay: r.Name, At: at, Took: time.Since(at)}
		if err != nil {
			f.Err = err.Error()
			c.fail(fmt.Errorf("restarting %s: %w", r.Name, err))
		}
		c.note(f)
	}()
}

// pauseOne SIGSTOPs a running relay that is delivering (its breaker for
// the destination closed) for PauseFor, longer than its lease, then
// SIGCONTs it: meanwhile its messages are claimed by another relay, and
// when it resumes its late outcomes must be fenced off.
func (c *Chaos) pauseOne(ctx context.Context) {
	var r *Relay
	for try := 0; try < 200 && r == nil && ctx.Err() == nil; try++ {
		c.mu.Lock()
		var live []*Relay
		for _, x := range c.relays {
			if x.Up() && !c.pinned[x] {
				live = append(live, x)
			}
		}
		c.mu.Unlock()
		for _, x := range live {
			// A relay whose breaker is open holds no leases worth
			// fencing; after 10 s any relay will do.
			if try >= 100 || x.Delivering() {
				r = x
				break
			}
		}
		if r == nil {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if r == nil {
		c.fail(fmt.Errorf("pausing: no relay was up"))
		return
	}
	c.mu.Lock()
	c.pinned[r] = true
	c.mu.Unlock()
	at := time.Now()
	if err := r.Pause(); err != nil {
		c.fail(fmt.Errorf("pausing %s: %w", r.Name, err))
		c.mu.Lock()
		delete(c.pinned, r)
		c.mu.Unlock()
		return
	}
	c.note(Fault{Kind: "pause", Relay: r.Name, At: at})
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		time.Sleep(c.sched.PauseFor) // not cut short: a paused relay is always resumed
		if err := r.Resume(); err != nil {
			c.fail(fmt.Errorf("resuming %s: %w", r.Name, err))
		}
		c.note(Fault{Kind: "resume", Relay: r.Name, At: time.Now(), Took: time.Since(at)})
		c.mu.Lock()
		delete(c.pinned, r)
		c.mu.Unlock()
	}()
}

// restartPostgres restarts this machine's PostgreSQL cluster once.
func (c *Chaos) restartPostgres(start time.Time) {
	versions, err := os.ReadDir("/etc/postgresql")
	if err != nil || len(versions) != 1 {
		c.fail(fmt.Errorf("restarting PostgreSQL: want one cluster version under /etc/postgresql: %v", err))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	at := time.Now()
	cmd := exec.CommandContext(ctx, "pg_ctlcluster", "--skip-systemctl-redirect", filepath.Base(versions[0].Name()), "main", "restart")
	out, err := cmd.CombinedOutput()
	f := Fault{Kind: "pg-restart", At: at, Took: time.Since(at)}
	if err != nil {
		f.Err = fmt.Sprintf("%v: %s", err, out)
		c.fail(fmt.Errorf("restarting PostgreSQL: %v: %s", err, out))
	}
	c.note(f)
}

// restartBroker restarts the run's broker once: nats-server (SIGTERM,
// waiting for it to exit, then started again on the same port and store),
// or the RabbitMQ node (rabbitmqctl stop_app, then start_app).
func (c *Chaos) restartBroker(ctx context.Context) {
	at := time.Now()
	err := c.sched.BrokerRestart(context.WithoutCancel(ctx))
	f := Fault{Kind: c.sched.BrokerRestartKind, At: at, Took: time.Since(at)}
	if err != nil {
		f.Err = err.Error()
		c.fail(fmt.Errorf("%s: %w", c.sched.BrokerRestartKind, err))
	}
	c.note(f)
}
