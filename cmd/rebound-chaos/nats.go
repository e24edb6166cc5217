package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The relay's backoff with -broker nats: its largest step plus the lease
// is the longest a message can wait between an attempt whose ack was lost
// and the next, which the stream's duplicate window must cover.
const (
	natsBackoffInitial = 200 * time.Millisecond
	natsBackoffMax     = 5 * time.Second
	natsWindow         = 2 * time.Minute
)

// NATSServer is the run's own nats-server process, JetStream on, its
// store in the run's directory, on a loopback port fixed across restarts.
type NATSServer struct {
	bin, storeDir, logPath string
	port                   int

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when the current process has been waited for
	closed bool          // Close was called: never start again
	starts int
}

// NewNATSServer prepares a server on a free loopback port; Start runs it.
func NewNATSServer(bin, dir string) (*NATSServer, error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("-nats-server: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	return &NATSServer{bin: path, storeDir: filepath.Join(dir, "nats"), logPath: filepath.Join(dir, "nats-server.log"), port: port}, nil
}

// URL is the server's client URL.
func (s *NATSServer) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.port) }

// Start runs the server and waits, up to wait, until JetStream answers.
func (s *NATSServer) Start(ctx context.Context, wait time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.start(ctx, wait)
}

func (s *NATSServer) start(ctx context.Context, wait time.Duration) error {
	if s.closed {
		return errors.New("nats-server: closed")
	}
	if s.cmd != nil {
		return errors.New("nats-server: already running")
	}
	f, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	s.starts++
	fmt.Fprintf(f, "=== chaos: start %d at %s\n", s.starts, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(s.bin, "-a", "127.0.0.1", "-p", strconv.Itoa(s.port), "-js", "-sd", s.storeDir)
	cmd.Stdout, cmd.Stderr = f, f
	// A group of its own, and killed with the chaos run should that die
	// first: no server outlives the run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("nats-server: %w", err)
	}
	exited := make(chan struct{})
	s.cmd, s.exited = cmd, exited
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(exited)
	}()
	if err := s.waitReady(ctx, wait, exited); err != nil {
		s.stop(5 * time.Second)
		return err
	}
	return nil
}

func (s *NATSServer) waitReady(ctx context.Context, wait time.Duration, exited chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		if nc, err := nats.Connect(s.URL(), nats.Timeout(time.Second), nats.NoReconnect()); err == nil {
			js, err := jetstream.New(nc)
			if err == nil {
				actx, acancel := context.WithTimeout(ctx, time.Second)
				_, err = js.AccountInfo(actx)
				acancel()
			}
			nc.Close()
			if err == nil {
				return nil
			}
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-exited:
			t.Stop()
			return fmt.Errorf("nats-server exited before it was ready (log: %s)", s.logPath)
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("nats-server not ready within %s (log: %s)", wait, s.logPath)
		case <-t.C:
		}
	}
}

// stop ends the server (SIGTERM, then SIGKILL after grace) and waits for
// it to exit. The caller holds mu.
func (s *NATSServer) stop(grace time.Duration) {
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-s.exited:
	case <-t.C:
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
	}
	s.cmd, s.exited = nil, nil
}

// Restart stops the server (SIGTERM, waiting for it to exit) and starts it
// again on the same port and store.
func (s *NATSServer) Restart(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stop(30 * time.Second)
	return s.start(ctx, time.Minute)
}

// Close stops the server for good.
func (s *NATSServer) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.stop(10 * time.Second)
}

// StreamReport is what the stream holds after the drain.
type StreamReport struct {
	Name         string
	Window       time.Duration // the stream's duplicate window
	Messages     uint64        // the stream's message count
	Read         int           // messages the consumer read
	UniqueIDs    int           // distinct Nats-Msg-Id among them
	Duplicates   int           // Messages - UniqueIDs: copies the dedupe window let through
	DuplicateIDs []string      // IDs read more than once
	Malformed    int           // messages without a Nats-Msg-Id, or whose Rebound-* headers disagree with it
}

// CountStream reckons the stream from its message count and the messages
// the consumer read.
func CountStream(messages uint64, read []Delivery) StreamReport {
	r := StreamReport{Messages: messages, Read: len(read)}
	copies := map[string]int{}
	for _, d := range read {
		copies[d.ID]++
	}
	r.UniqueIDs = len(copies)
	r.Duplicates = int(messages) - r.UniqueIDs
	for id, n := range copies {
		if n > 1 {
			r.DuplicateIDs = append(r.DuplicateIDs, id)
		}
	}
	sort.Strings(r.DuplicateIDs)
	return r
}

// Problems lists why the stream fails the run: a duplicate in it, or a
// consumer that did not read all of it.
func (r *StreamReport) Problems() []string {
	var p []string
	if r.Read != int(r.Messages) {
		p = append(p, fmt.Sprintf("the consumer read %d of the stream's %d messages", r.Read, r.Messages))
	}
	if r.Duplicates != 0 {
		p = append(p, fmt.Sprintf("the stream holds %d duplicates (%d messages, %d unique IDs): %s", r.Duplicates, r.Messages, r.UniqueIDs, sample(r.DuplicateIDs)))
	}
	if r.Malformed > 0 {
		p = append(p, fmt.Sprintf("%d messages in the stream without a Nats-Msg-Id or with Rebound-* headers that disagree with it", r.Malformed))
	}
	return p
}

// ReckonStream is Reckon for a stream: a relay whose publish ack was lost
// publishes the message again at its next attempt, JetStream drops the
// copy (same Nats-Msg-Id) and acknowledges it, and the store records that
// attempt as sent while the stream holds the earlier attempt's copy. Such
// messages are not "sent at an attempt the receiver did not take": they
// are counted apart, as acknowledged by deduplication.
func ReckonStream(acked map[int]string, read []Delivery, store map[string]StoreState) *Ledger {
	l := Reckon(acked, read, store)
	inStream := make(map[string]bool, len(read))
	for _, d := range read {
		inStream[d.ID] = true
	}
	var still []string
	for _, id := range l.SentUnacked {
		if inStream[id] {
			l.AckedByDedupe++
		} else {
			still = append(still, id)
		}
	}
	l.SentUnacked = still
	return l
}

// natsSink is the run's nats-server, a stream capturing the run's subject,
// and an ordered consumer recording every message in it.
type natsSink struct {
	srv     *NATSServer
	nc      *nats.Conn
	js      jetstream.JetStream
	stream  string
	subject string
	window  time.Duration
	cc      jetstream.ConsumeContext
	log     func(string, ...any)

	mu        sync.Mutex
	read      []Delivery
	seqs      map[uint64]bool // stream sequences read
	ids       map[string]bool
	lastSeq   uint64
	malformed int
	errs      int // consumer errors (heartbeats missed, resets)
	closed    bool
}

// startNATS starts the run's nats-server, creates the stream and starts
// the consumer. The duplicate window covers the relays' lease plus their
// largest backoff, twice over at least.
func startNATS(ctx context.Context, o Options, dir string, log func(string, ...any)) (Sink, error) {
	srv, err := NewNATSServer(o.NATSServer, dir)
	if err != nil {
		return nil, err
	}
	if err := srv.Start(ctx, time.Minute); err != nil {
		srv.Close()
		return nil, err
	}
	s := &natsSink{srv: srv, stream: "CHAOS", subject: "chaos." + randomHex(4) + ".messages",
		window: max(natsWindow, 2*(o.Lease+natsBackoffMax)), log: log,
		seqs: map[uint64]bool{}, ids: map[string]bool{}}
	if err := s.open(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *natsSink) open(ctx context.Context) error {
	var err error
	s.nc, err = nats.Connect(s.srv.URL(), nats.Name("rebound-chaos consumer"),
		nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond), nats.RetryOnFailedConnect(true))
	if err != nil {
		return fmt.Errorf("connecting to nats-server: %w", err)
	}
	if s.js, err = jetstream.New(s.nc); err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err = s.js.CreateStream(cctx, jetstream.StreamConfig{
		Name:       s.stream,
		Subjects:   []string{s.subject},
		Storage:    jetstream.FileStorage,
		Duplicates: s.window,
	})
	if err != nil {
		return fmt.Errorf("creating stream %s: %w", s.stream, err)
	}
	cons, err := s.js.OrderedConsumer(cctx, s.stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return fmt.Errorf("creating the consumer: %w", err)
	}
	s.cc, err = cons.Consume(s.record, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		s.mu.Lock()
		s.errs++
		s.mu.Unlock()
		s.log("nats consumer: %v", err)
	}))
	if err != nil {
		return fmt.Errorf("consuming: %w", err)
	}
	return nil
}

// record is the consumer's handler: one Delivery per stream message.
func (s *natsSink) record(m jetstream.Msg) {
	meta, err := m.Metadata()
	if err != nil {
		s.log("nats consumer: a message without metadata: %v", err)
		return
	}
	h := m.Headers()
	d := Delivery{ID: h.Get(jetstream.MsgIDHeader), Seq: -1, Outcome: OK, At: meta.Timestamp}
	d.Attempt, _ = strconv.Atoi(h.Get("Rebound-Attempt"))
	d.Arrived, d.Answered = int64(meta.Sequence.Stream), int64(meta.Sequence.Stream)
	var p payload
	if json.Unmarshal(m.Data(), &p) == nil {
		d.Seq = p.Seq
	}
	bad := d.ID == "" || h.Get("Rebound-Message-Id") != d.ID || h.Get("Rebound-Destination") != "chaos" || d.Attempt < 1
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seqs[meta.Sequence.Stream] {
		return // read again after a reset of the ordered consumer
	}
	s.seqs[meta.Sequence.Stream] = true
	s.lastSeq = max(s.lastSeq, meta.Sequence.Stream)
	s.read = append(s.read, d)
	s.ids[d.ID] = true
	if bad {
		s.malformed++
	}
}

func (s *natsSink) Describe() string {
	return fmt.Sprintf("nats-server at %s, stream %s (file storage, duplicate window %s) capturing %s", s.srv.URL(), s.stream, s.window, s.subject)
}

func (s *natsSink) RelayYAML(timeout time.Duration) string {
	return fmt.Sprintf(`relay:
  backoff: {initial: %s, max: %s}
destinations:
  chaos:
    kind: nats
    nats: {servers: [%s], subject: %s}
    timeout: %s
`, natsBackoffInitial, natsBackoffMax, s.srv.URL(), s.subject, timeout)
}

// countIn returns how many of ids the set holds: what a broker sink's
// consumer has read of the acknowledged messages.
func countIn(ids []string, set map[string]bool) int {
	n := 0
	for _, id := range ids {
		if set[id] {
			n++
		}
	}
	return n
}

func (s *natsSink) Delivered(ids []string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return countIn(ids, s.ids)
}

func (s *natsSink) Progress() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("stream: %d messages read (%d unique IDs), %d consumer errors", len(s.read), len(s.ids), s.errs)
}

// Settle waits until the consumer has read the whole stream, then counts
// it.
func (s *natsSink) Settle(ctx context.Context, res *Result) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var last error
	for {
		ictx, icancel := context.WithTimeout(ctx, 5*time.Second)
		info, err := s.streamInfo(ictx)
		icancel()
		if err == nil {
			s.mu.Lock()
			at := s.lastSeq
			read, malformed := append([]Delivery(nil), s.read...), s.malformed
			s.mu.Unlock()
			caughtUp := at >= info.State.LastSeq
			if caughtUp {
				r := CountStream(info.State.Msgs, read)
				r.Name, r.Window, r.Malformed = s.stream, info.Config.Duplicates, malformed
				res.Stream = &r
				return nil
			}
			last = fmt.Errorf("the consumer is at stream sequence %d of %d", at, info.State.LastSeq)
		} else {
			last = err
		}
		t := time.NewTimer(250 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("reading the stream after the drain: %w", last)
		case <-t.C:
		}
	}
}

func (s *natsSink) streamInfo(ctx context.Context) (*jetstream.StreamInfo, error) {
	st, err := s.js.Stream(ctx, s.stream)
	if err != nil {
		return nil, err
	}
	return st.Info(ctx)
}

// Restart is the nats-restart fault.
func (s *natsSink) Restart(ctx context.Context) error { return s.srv.Restart(ctx) }

func (s *natsSink) Close() {
	s.mu.Lock()
	closed := s.closed
	s.closed = true
	s.mu.Unlock()
	if closed {
		return
	}
	if s.cc != nil {
		s.cc.Stop()
	}
	if s.nc != nil {
		s.nc.Close()
	}
	s.srv.Close()
}

func (s *natsSink) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]Delivery(nil), s.read...)
	sort.Slice(out, func(i, j int) bool { return out[i].Arrived < out[j].Arrived })
	return out
}

func (s *natsSink) Reckon(acked map[int]string, deliveries []Delivery, store map[string]StoreState) *Ledger {
	return ReckonStream(acked, deliveries, store)
}
