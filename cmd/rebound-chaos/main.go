// Command rebound-chaos proves that `rebound relay` loses nothing under
// faults. It starts relay processes on PostgreSQL (or one on SQLite), a
// loopback receiver that answers 503, resets connections and stalls past
// the delivery timeout, enqueues messages through the relays' API at a
// steady rate, and meanwhile SIGKILLs and restarts relays, pauses one
// (SIGSTOP) past its lease and, with --pg-restart, restarts PostgreSQL once.
// After the drain a ledger must balance:
//
//	enqueued = delivered-unique + dead (0) + pending (0)
//
// with no unknown IDs, no outcome recorded for an attempt the receiver did
// not answer OK, and no delivery of a stale attempt after a newer attempt
// succeeded. Duplicates are counted and reported. It exits 1 when the
// ledger does not balance, printing the relays' logs.
//
//	go run ./cmd/rebound-chaos                                  # 20,000 messages, 2 relays on PostgreSQL
//	go run ./cmd/rebound-chaos -pg-restart                      # and restart PostgreSQL once
//	go run ./cmd/rebound-chaos -store sqlite                    # 1 relay on SQLite
//	go run ./cmd/rebound-chaos -messages 2000 -markdown out.md  # smaller, with a markdown summary
//	go run ./cmd/rebound-chaos -broker nats -nats-restart       # publish to NATS JetStream, restart nats-server once
//	go run ./cmd/rebound-chaos -broker amqp -amqp-restart       # publish to RabbitMQ, stop_app/start_app once
//
// PostgreSQL is REBOUND_TEST_POSTGRES (default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable); each run uses a
// schema of its own, dropped at the end. All traffic is on loopback.
//
// With -broker nats the relays publish to NATS JetStream instead: the run
// starts a nats-server of its own (JetStream, file storage in the run's
// directory, a free loopback port), creates a stream with a duplicate
// window above the relays' lease plus their largest backoff, and an
// ordered consumer records every message in the stream. The run then also
// fails if the stream holds a duplicate (messages - unique IDs).
//
// With -broker amqp the relays publish to RabbitMQ: the run starts a node
// of its own (rabbitmq-server from PATH, a node name, ports, database,
// logs and config in the run's directory, no plugins; the machine's
// broker is not touched), declares a durable classic queue the relays
// publish to through the default exchange, and a consumer records and
// acks every delivery. Classic queues do not dedupe: duplicates in the
// queue (deliveries - unique IDs) are counted, split by cause, and do not
// fail the run; a consumer deduping by message_id must apply each
// message once, and nothing acknowledged may be missing.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Options are the command's flags.
type Options struct {
	Rebound      string
	Store        string
	Postgres     string
	Relays       int
	Messages     int
	Rate         float64
	Inflight     int
	Seed         uint64
	KillEvery    time.Duration
	RestartAfter time.Duration
	Pause        bool
	PGRestart    bool
	Broker       string // "": the webhook receiver; "nats"; "amqp"
	NATSServer   string // the nats-server binary
	NATSRestart  bool
	// RabbitMQServer and RabbitMQCtl are the RabbitMQ binaries (-broker
	// amqp).
	RabbitMQServer string
	RabbitMQCtl    string
	AMQPRestart    bool
	Lease          time.Duration
	Timeout        time.Duration
	Faults         Faults
	DrainTimeout   time.Duration
	// EnqueueTimeout bounds one enqueue request.
	EnqueueTimeout time.Duration
	Markdown       string
	Keep           bool
	Verbose        bool
	MaxDuration    time.Duration
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(2)
	}
	if opts.MaxDuration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, opts.MaxDuration, fmt.Errorf("the run took longer than -max-duration %s", opts.MaxDuration))
		defer cancel()
	}
	code := run(ctx, opts)
	stop()
	os.Exit(code)
}

func parseFlags(args []string) (Options, error) {
	var o Options
	fs := flag.NewFlagSet("rebound-chaos", flag.ContinueOnError)
	pg := os.Getenv("REBOUND_TEST_POSTGRES")
	if pg == "" {
		pg = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	fs.StringVar(&o.Rebound, "rebound", "", "the rebound binary (default: build ./cmd/rebound into the run's directory)")
	fs.StringVar(&o.Store, "store", "postgres", "postgres or sqlite (one relay)")
	fs.StringVar(&o.Postgres, "postgres", pg, "PostgreSQL database (env REBOUND_TEST_POSTGRES); the run uses a schema of its own")
	fs.IntVar(&o.Relays, "relays", 2, "relay processes (PostgreSQL only; SQLite runs one)")
	fs.IntVar(&o.Messages, "messages", 20000, "messages to enqueue")
	fs.Float64Var(&o.Rate, "rate", 200, "messages enqueued per second")
	fs.IntVar(&o.Inflight, "inflight", 256, "enqueue requests in flight at most")
	fs.Uint64Var(&o.Seed, "seed", 0, "seed of the receiver's answers and the fault choices (default: from the clock; printed)")
	fs.DurationVar(&o.KillEvery, "kill-every", 3*time.Second, "SIGKILL a relay this often (0: never)")
	fs.DurationVar(&o.RestartAfter, "restart-after", time.Second, "restart a killed relay after this long")
	fs.BoolVar(&o.Pause, "pause", true, "once, SIGSTOP a relay for twice its lease, then SIGCONT it")
	fs.BoolVar(&o.PGRestart, "pg-restart", false, "once, restart this machine's PostgreSQL cluster (pg_ctlcluster)")
	fs.StringVar(&o.Broker, "broker", "", `"nats": publish to NATS JetStream on a nats-server of the run's own; "amqp": publish to RabbitMQ on a node of the run's own (default: deliver to the webhook receiver)`)
	fs.StringVar(&o.NATSServer, "nats-server", "nats-server", "the nats-server binary, looked up on PATH (with -broker nats)")
	fs.BoolVar(&o.NATSRestart, "nats-restart", false, "once, restart the run's nats-server (SIGTERM, then start again on the same port and store; with -broker nats)")
	fs.StringVar(&o.RabbitMQServer, "rabbitmq-server", "rabbitmq-server", "the rabbitmq-server binary, looked up on PATH (with -broker amqp)")
	fs.StringVar(&o.RabbitMQCtl, "rabbitmqctl", "rabbitmqctl", "the rabbitmqctl binary, looked up on PATH (with -broker amqp)")
	fs.BoolVar(&o.AMQPRestart, "amqp-restart", false, "once, restart the run's RabbitMQ node (rabbitmqctl stop_app, then start_app; with -broker amqp)")
	fs.DurationVar(&o.Lease, "lease", 3*time.Second, "the relays' lease (--relay-lease)")
	fs.DurationVar(&o.Timeout, "delivery-timeout", time.Second, "the destination's delivery timeout")
	fs.Float64Var(&o.Faults.Unavailable, "p503", 0.20, "share of deliveries answered 503")
	fs.Float64Var(&o.Faults.Reset, "preset", 0.05, "share of deliveries whose connection is reset")
	fs.Float64Var(&o.Faults.Stall, "pstall", 0.05, "share of deliveries stalled past the delivery timeout")
	fs.DurationVar(&o.DrainTimeout, "drain-timeout", 10*time.Minute, "fail if the outbox has not drained this long after the last enqueue")
	fs.DurationVar(&o.EnqueueTimeout, "enqueue-timeout", 30*time.Second, "timeout of one enqueue request (above the pause, so that a paused relay's requests are answered)")
	fs.StringVar(&o.Markdown, "markdown", "", "also write the summary as markdown to this file")
	fs.BoolVar(&o.Keep, "keep", false, "keep the run's directory (logs, SQLite file)")
	fs.BoolVar(&o.Verbose, "v", false, "log every fault")
	fs.DurationVar(&o.MaxDuration, "max-duration", 0, "fail the run if it takes longer than this (0: no limit beyond -drain-timeout)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	bad := func(format string, args ...any) (Options, error) {
		err := fmt.Errorf(format, args...)
		fmt.Fprintln(fs.Output(), "rebound-chaos:", err)
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return bad("unexpected argument %q", fs.Arg(0))
	case o.Store != "postgres" && o.Store != "sqlite":
		return bad("-store: want postgres or sqlite, got %q", o.Store)
	case o.Messages < 1 || o.Messages > 1_000_000:
		return bad("-messages: want 1 to 1000000")
	case o.Rate <= 0 || o.Rate > 10000:
		return bad("-rate: want (0, 10000]")
	case o.Relays < 1 || o.Relays > 16:
		return bad("-relays: want 1 to 16")
	case o.Inflight < 1 || o.Inflight > 10000:
		return bad("-inflight: want 1 to 10000")
	case o.Lease < time.Second:
		return bad("-lease: want at least 1s")
	case o.Timeout <= 0 || o.Timeout >= o.Lease:
		return bad("-delivery-timeout: want positive and below the lease")
	case o.Faults.Unavailable < 0 || o.Faults.Reset < 0 || o.Faults.Stall < 0 || o.Faults.Unavailable+o.Faults.Reset+o.Faults.Stall >= 1:
		return bad("-p503, -preset, -pstall: want shares summing below 1")
	case o.PGRestart && o.Store != "postgres":
		return bad("-pg-restart: only with -store postgres")
	case o.Broker != "" && o.Broker != "nats" && o.Broker != "amqp":
		return bad("-broker: want nats, amqp or nothing (the webhook receiver), got %q", o.Broker)
	case o.NATSRestart && o.Broker != "nats":
		return bad("-nats-restart: only with -broker nats")
	case o.AMQPRestart && o.Broker != "amqp":
		return bad("-amqp-restart: only with -broker amqp")
	}
	if o.Broker == "nats" {
		if _, err := exec.LookPath(o.NATSServer); err != nil {
			return bad("-broker nats needs nats-server: %q not found (install it on PATH or pass -nats-server PATH): %v", o.NATSServer, err)
		}
	}
	if o.Broker == "amqp" {
		for _, b := range []string{o.RabbitMQServer, o.RabbitMQCtl} {
			if _, err := exec.LookPath(b); err != nil {
				return bad("-broker amqp needs rabbitmq-server and rabbitmqctl: %q not found (install RabbitMQ or pass -rabbitmq-server, -rabbitmqctl): %v", b, err)
			}
		}
	}
	if o.Store == "sqlite" {
		o.Relays = 1
	}
	if o.Seed == 0 {
		o.Seed = uint64(time.Now().UnixNano())
	}
	o.Faults.StallFor = o.Timeout + 500*time.Millisecond
	return o, nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s chaos: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// Result is what a run measured.
type Result struct {
	Opts         Options
	Command      string
	Ledger       *Ledger
	Faults       []Fault
	FaultErrors  []error
	EnqueueTook  time.Duration
	DrainTook    time.Duration
	EnqueueP50   time.Duration
	EnqueueP99   time.Duration
	Retries      int
	Failed       map[int]string
	RelayLogs    map[string]int // relay log lines of interest, by what they say
	Duplicates   map[string]int // duplicate OK deliveries by the fault nearest before them
	Stream       *StreamReport  // with -broker nats: what the stream holds
	Queue        *QueueReport   // with -broker amqp: what the queue held
	Err          error          // the run could not complete
	TotalTook    time.Duration
	ReboundBuild string
}

// OK reports whether the run completed and its ledger balanced (and, with
// -broker nats, the stream holds no duplicate).
func (r *Result) OK() bool {
	return r.Ledger != nil && len(problems(r)) == 0
}

func run(ctx context.Context, o Options) int {
	began := time.Now()
	dir, err := os.MkdirTemp("", "rebound-chaos-")
	if err != nil {
		logf("%v", err)
		return 1
	}
	res := &Result{Opts: o, Command: "go run ./cmd/rebound-chaos " + strings.Join(os.Args[1:], " ")}
	relays, err := execute(ctx, o, dir, res)
	res.TotalTook = time.Since(began)
	if err != nil && res.Err == nil {
		res.Err = err
	}
	fmt.Print(Summary(res))
	if o.Markdown != "" {
		if werr := os.WriteFile(o.Markdown, []byte(Markdown(res)), 0o644); werr != nil {
			logf("writing %s: %v", o.Markdown, werr)
		}
	}
	if !res.OK() {
		for _, r := range relays {
			fmt.Fprintf(os.Stderr, "\n--- %s (last 40 lines of %s)\n%s\n", r.Name, r.LogPath, r.Tail(40))
		}
		fmt.Fprintf(os.Stderr, "\nCHAOS FAILED (logs kept in %s)\n", dir)
		return 1
	}
	if !o.Keep {
		os.RemoveAll(dir)
	} else {
		logf("logs kept in %s", dir)
	}
	return 0
}

// execute runs the whole experiment, filling res. It is one long function
// on purpose: the experiment's phases (start, faults, drain, reckoning)
// run in this order and share the relays and the receiver, and reading
// them in sequence is how the run is checked.
func execute(ctx context.Context, o Options, dir string, res *Result) ([]*Relay, error) {
	logf("seed %d, %s store, %d relay(s), %d messages at %.0f/s, directory %s", o.Seed, o.Store, o.Relays, o.Messages, o.Rate, dir)
	bin := o.Rebound
	if bin == "" {
		var err error
		if bin, err = BuildRebound(ctx, dir); err != nil {
			return nil, err
		}
	}
	res.ReboundBuild = bin

	quiet := func(string, ...any) {}
	chaosLog := quiet
	if o.Verbose {
		chaosLog = logf
	}
	var sink Sink
	var err error
	switch o.Broker {
	case "nats":
		sink, err = startNATS(ctx, o, dir, chaosLog)
	case "amqp":
		sink, err = startAMQP(ctx, o, dir, chaosLog)
	default:
		sink, err = startWebhook(o)
	}
	if err != nil {
		return nil, err
	}
	defer sink.Close()

	name := "chaos_" + randomHex(6)
	var db string
	switch o.Store {
	case "postgres":
		dsn, drop, err := CreateSchema(ctx, o.Postgres, name)
		if err != nil {
			return nil, err
		}
		defer func() {
			if err := drop(); err != nil {
				logf("dropping schema %s: %v", name, err)
			}
		}()
		db = dsn
	case "sqlite":
		db = "sqlite:" + filepath.Join(dir, "chaos.db")
	}
	cfgPath := filepath.Join(dir, "relay.yaml")
	if err := WriteRelayConfig(cfgPath, sink, o.Timeout); err != nil {
		return nil, err
	}
	token := randomHex(24)
	spec := RelaySpec{Bin: bin, DB: db, ConfigPath: cfgPath, Token: token, Dir: dir, Lease: o.Lease}
	var relays []*Relay
	for i := range o.Relays {
		r, err := NewRelay(spec, i)
		if err != nil {
			return relays, err
		}
		relays = append(relays, r)
	}
	defer func() {
		for _, r := range relays {
			r.Stop(5 * time.Second)
		}
	}()
	for _, r := range relays {
		if err := r.Start(ctx, time.Minute); err != nil {
			return relays, err
		}
	}
	logf("%d relay(s) ready; %s", len(relays), sink.Describe())

	api := NewAPI(relays, token)
	enqueueFor := time.Duration(float64(o.Messages) / o.Rate * float64(time.Second))
	sched := Schedule{KillEvery: o.KillEvery, RestartAfter: o.RestartAfter, ReadyWithin: 2 * time.Minute}
	if o.Pause {
		sched.PauseAt, sched.PauseFor = max(enqueueFor*35/100, time.Millisecond), 2*o.Lease
	}
	if o.PGRestart {
		sched.PGRestartAt = max(enqueueFor*60/100, time.Millisecond)
	}
	restartKind := scheduleBrokerRestart(&sched, sink, o, enqueueFor)
	chaos := NewChaos(sched, relays, o.Seed, chaosLog)
	chaosCtx, stopChaos := context.WithCancel(ctx)
	defer stopChaos()
	chaosDone := make(chan struct{})
	go func() {
		defer close(chaosDone)
		chaos.Run(chaosCtx)
	}()
	endChaos := func() {
		stopChaos()
		<-chaosDone
	}

	run := "chaos-" + randomHex(4)
	enq := NewEnqueuer(api, run, 3*time.Minute, o.EnqueueTimeout)

	// Progress, every 5 s.
	progressCtx, stopProgress := context.WithCancel(ctx)
	defer stopProgress()
	go progress(progressCtx, sink, chaos, enq)

	start := time.Now()
	enq.Run(ctx, o.Messages, o.Rate, o.Inflight)
	res.EnqueueTook = time.Since(start)
	acked := enq.Acked()
	res.EnqueueP50, res.EnqueueP99 = enq.Percentile(0.50), enq.Percentile(0.99)
	enq.mu.Lock()
	res.Retries, res.Failed = enq.retries, enq.failed
	enq.mu.Unlock()
	logf("enqueued %d of %d in %s (%d requests retried, %d failed)", len(acked), o.Messages, res.EnqueueTook.Round(time.Millisecond), res.Retries, len(res.Failed))

	// Drain: faults go on until every acknowledged message has been
	// delivered once (and the scheduled pause and restart have happened);
	// then every relay runs until the store has nothing left to do.
	ids := make([]string, 0, len(acked))
	for _, id := range acked {
		ids = append(ids, id)
	}
	drainStart := time.Now()
	deadline := time.NewTimer(o.DrainTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	wantFaults := func() bool {
		seen := map[string]bool{}
		for _, f := range chaos.Faults() {
			seen[f.Kind] = true
		}
		return (!o.Pause || seen["resume"]) && (!o.PGRestart || seen["pg-restart"]) && (restartKind == "" || seen[restartKind])
	}
	var drainErr error
	for drainErr == nil && (sink.Delivered(ids) < len(ids) || !wantFaults()) {
		select {
		case <-ctx.Done():
			drainErr = context.Cause(ctx)
		case <-deadline.C:
			drainErr = fmt.Errorf("not drained within %s: %d of %d delivered", o.DrainTimeout, sink.Delivered(ids), len(ids))
		case <-tick.C:
		}
	}
	endChaos()
	for _, r := range relays {
		if !r.Running() {
			if err := r.Start(ctx, time.Minute); err != nil {
				return relays, err
			}
		}
	}
	for drainErr == nil {
		n, err := api.Unfinished(ctx)
		if err == nil && n == 0 {
			break
		}
		select {
		case <-ctx.Done():
			drainErr = context.Cause(ctx)
		case <-deadline.C:
			drainErr = fmt.Errorf("not drained within %s: the store still has unfinished messages (%v)", o.DrainTimeout, err)
		case <-tick.C:
		}
	}
	res.DrainTook = time.Since(drainStart)
	if drainErr == nil {
		logf("drained in %s", res.DrainTook.Round(time.Millisecond))
	} else {
		logf("%v", drainErr)
		res.Err = drainErr
	}

	// The ledger, drained or not: what is missing is the point.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	states, err := api.States(sctx)
	if err != nil {
		return relays, fmt.Errorf("reading the store's final states: %w", err)
	}
	for _, r := range relays {
		r.Stop(30 * time.Second)
	}
	stopProgress()
	if err := sink.Settle(context.WithoutCancel(ctx), res); err != nil && drainErr == nil {
		drainErr = err
		res.Err = err
	}
	sink.Close()
	res.Faults, res.FaultErrors = chaos.Faults(), chaos.Errors()
	deliveries := sink.Deliveries()
	res.Ledger = sink.Reckon(acked, deliveries, states)
	res.Duplicates = DuplicateCauses(acked, deliveries, states, res.Faults, o.Lease)
	if err := writeRecords(dir, deliveries, res.Faults, acked, states); err != nil {
		logf("writing the records: %v", err)
	}
	res.RelayLogs = scanLogs(relays)
	return relays, drainErr
}

// brokerRestartKind is the fault kind of the broker restart the options
// ask for, "" for none.
func brokerRestartKind(o Options) string {
	switch {
	case o.Broker == "nats" && o.NATSRestart:
		return "nats-restart"
	case o.Broker == "amqp" && o.AMQPRestart:
		return "amqp-restart"
	}
	return ""
}

// scheduleBrokerRestart schedules the broker restart the options ask for
// halfway through the enqueues, between two kills so that every relay is
// up to see it, and returns its fault kind ("" for none).
func scheduleBrokerRestart(sched *Schedule, sink Sink, o Options, enqueueFor time.Duration) string {
	kind := brokerRestartKind(o)
	r, ok := sink.(interface{ Restart(context.Context) error })
	if !ok || kind == "" {
		return ""
	}
	sched.BrokerRestartAt, sched.BrokerRestart = betweenKills(max(enqueueFor*50/100, time.Millisecond), o.KillEvery), r.Restart
	sched.BrokerRestartKind = kind
	return kind
}

// betweenKills moves a fault due at `at` to halfway between two kills
// (every `every` from the start), so that it does not meet a relay just
// killed: the relays, restarted RestartAfter after each kill, all see it.
func betweenKills(at, every time.Duration) time.Duration {
	if every <= 0 {
		return at
	}
	return at - at%every + every/2
}

func progress(ctx context.Context, sink Sink, chaos *Chaos, enq *Enqueuer) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			kinds := map[string]int{}
			for _, f := range chaos.Faults() {
				kinds[f.Kind]++
			}
			ids := enq.AckedIDs()
			logf("%d acknowledged, %d of them delivered; %s; faults: %d kills, %d pauses, %d PostgreSQL restarts, %d broker restarts",
				len(ids), sink.Delivered(ids), sink.Progress(), kinds["kill"], kinds["pause"], kinds["pg-restart"], kinds["nats-restart"]+kinds["amqp-restart"])
		}
	}
}

// DuplicateCauses attributes each duplicate delivery of an acknowledged
// message to the fault that most plausibly made the relay deliver again:
// the first success of the message fell within a kill's reach (up to 2 s
// before it, or killAfter after it: a consumer records a copy the killed
// relay had published a moment after the broker took it), a pause, or a
// restart of PostgreSQL or the broker (up to a lease after it). The receiver cannot see which
// relay sent a delivery, so this is a correlation, not a proof.
// killAfter is how long after a kill a first copy still counts as the
// kill's: a queue's consumer records a copy some milliseconds after the
// broker took it, a receiver may answer a request its sender no longer
// waits for.
const killAfter = 250 * time.Millisecond

func DuplicateCauses(acked map[int]string, deliveries []Delivery, store map[string]StoreState, faults []Fault, lease time.Duration) map[string]int {
	known := make(map[string]bool, len(acked))
	for _, id := range acked {
		known[id] = true
	}
	first := map[string]time.Time{}
	oks := append([]Delivery(nil), deliveries...)
	sort.SliceStable(oks, func(i, j int) bool { return oks[i].Answered < oks[j].Answered })
	out := map[string]int{}
	var pauseFrom, pauseTo time.Time
	for _, f := range faults {
		switch f.Kind {
		case "pause":
			pauseFrom = f.At
		case "resume":
			pauseTo = f.At
		}
	}
	for _, d := range oks {
		if !known[d.ID] || !Succeeded(&d, store) {
			continue
		}
		t, seen := first[d.ID]
		if !seen {
			first[d.ID] = d.At
			continue
		}
		cause := "other"
		for _, f := range faults {
			switch {
			case f.Kind == "kill" && !t.After(f.At.Add(killAfter)) && f.At.Sub(t) <= 2*time.Second:
				cause = "kill"
			case (f.Kind == "pg-restart" || f.Kind == "nats-restart" || f.Kind == "amqp-restart") && !t.Before(f.At.Add(-time.Second)) && !t.After(f.At.Add(f.Took+lease)):
				cause = f.Kind
			}
		}
		if !pauseFrom.IsZero() && !t.Before(pauseFrom.Add(-time.Second)) && (pauseTo.IsZero() || !t.After(pauseTo)) {
			cause = "pause"
		}
		out[cause]++
	}
	return out
}

// scanLogs counts the relay log lines that show fencing and recovery at
// work.
func scanLogs(relays []*Relay) map[string]int {
	patterns := map[string]string{
		"stale outcome dropped":            "stale outcomes dropped (ErrStale)",
		"lease lost during delivery":       "leases lost during delivery",
		"lease lost while queued":          "leases lost while queued",
		"recording an outcome failed":      "outcomes not recorded (store failing)",
		"claiming messages failed":         "claims failed (store failing)",
		"message dead":                     "messages dead",
		"storing response failed":          "idempotency responses not stored",
		"api: store failed":                "API store failures (503)",
		"waiting for notifications failed": "LISTEN connections lost",
		"duplicate window is shorter":      "NATS duplicate-window warnings",
		"nats: disconnected":               "NATS disconnections",
		"amqpsender: connection lost":      "AMQP connections lost",
		"to=open":                          "destination breakers opened",
	}
	out := map[string]int{}
	for _, r := range relays {
		b, err := os.ReadFile(r.LogPath)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			for p, label := range patterns {
				if strings.Contains(line, p) {
					out[label]++
				}
			}
		}
	}
	return out
}

// writeRecords keeps the run's raw records next to the relays' logs:
// deliveries.csv (the receiver's), faults.txt, and enqueues.csv (sequence
// number, acknowledged ID, final state and attempt).
func writeRecords(dir string, deliveries []Delivery, faults []Fault, acked map[int]string, store map[string]StoreState) error {
	var b strings.Builder
	b.WriteString("id,seq,attempt,arrived,answered,outcome,at\n")
	for _, d := range deliveries {
		fmt.Fprintf(&b, "%s,%d,%d,%d,%d,%s,%s\n", d.ID, d.Seq, d.Attempt, d.Arrived, d.Answered, d.Outcome, d.At.Format(time.RFC3339Nano))
	}
	if err := os.WriteFile(filepath.Join(dir, "deliveries.csv"), []byte(b.String()), 0o600); err != nil {
		return err
	}
	b.Reset()
	for _, f := range faults {
		fmt.Fprintf(&b, "%s %s %s took=%s %s\n", f.At.Format(time.RFC3339Nano), f.Kind, f.Relay, f.Took, f.Err)
	}
	if err := os.WriteFile(filepath.Join(dir, "faults.txt"), []byte(b.String()), 0o600); err != nil {
		return err
	}
	b.Reset()
	b.WriteString("seq,id,state,attempt\n")
	seqs := make([]int, 0, len(acked))
	for q := range acked {
		seqs = append(seqs, q)
	}
	sort.Ints(seqs)
	for _, q := range seqs {
		st := store[acked[q]]
		fmt.Fprintf(&b, "%d,%s,%s,%d\n", q, acked[q], st.State, st.Attempt)
	}
	return os.WriteFile(filepath.Join(dir, "enqueues.csv"), []byte(b.String()), 0o600)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
