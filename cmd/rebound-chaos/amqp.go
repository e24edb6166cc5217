package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// The relay's backoff with -broker amqp, as with NATS: a re-publish after
// a lost confirm comes within the lease plus the largest backoff.
const (
	amqpBackoffInitial = 200 * time.Millisecond
	amqpBackoffMax     = 5 * time.Second
	// amqpCtlTimeout bounds one rabbitmqctl command; amqpStartup the
	// node's boot (await_startup).
	amqpCtlTimeout = 60 * time.Second
	amqpStartup    = 120 * time.Second
	// amqpReconnectFor bounds the consumer's reconnection attempts in a
	// row (the node is stopped for a second or two by -amqp-restart).
	amqpReconnectFor = 2 * time.Minute
)

// RabbitNode is the run's own RabbitMQ node: a node name, AMQP and
// distribution ports of its own, its database, logs, pid file, config and
// (empty) plugins file in the run's directory. The machine's RabbitMQ and
// its port 5672 are never touched; only epmd is shared.
type RabbitNode struct {
	server, ctl string // rabbitmq-server and rabbitmqctl, from PATH
	Name        string // chaos-<random>@localhost
	Port        int    // AMQP, on 127.0.0.1
	DistPort    int
	Dir         string // the node's files
	LogPath     string // rabbitmq-server's stdout and stderr

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	closed bool
}

// NewRabbitNode prepares a node under dir; Start runs it.
func NewRabbitNode(server, ctl, dir string) (*RabbitNode, error) {
	sp, err := exec.LookPath(server)
	if err != nil {
		return nil, fmt.Errorf("-rabbitmq-server: %w", err)
	}
	cp, err := exec.LookPath(ctl)
	if err != nil {
		return nil, fmt.Errorf("-rabbitmqctl: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dist, err := freePort()
	if err != nil {
		return nil, err
	}
	n := &RabbitNode{server: sp, ctl: cp, Name: "chaos-" + randomHex(4) + "@localhost", Port: port, DistPort: dist,
		Dir: filepath.Join(dir, "rabbitmq"), LogPath: filepath.Join(dir, "rabbitmq-server.log")}
	if err := os.MkdirAll(n.Dir, 0o700); err != nil {
		return nil, err
	}
	files := map[string]string{
		"enabled_plugins": "[].\n", // no plugin: the management plugin would bind 15672
		"rabbitmq.conf":   RabbitConf(port),
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(n.Dir, name), []byte(text), 0o600); err != nil {
			return nil, err
		}
	}
	if err := handOver(dir, n.Dir); err != nil {
		return nil, err
	}
	return n, nil
}

// RabbitConf is the node's rabbitmq.conf: AMQP on loopback, on its own
// port (the machine's rabbitmq.conf is not read).
func RabbitConf(port int) string {
	return fmt.Sprintf("listeners.tcp.local = 127.0.0.1:%d\nloopback_users.guest = true\n", port)
}

// Env is the node's environment: every RABBITMQ_ variable that names a
// port, a file or a directory points to the node's own.
func (n *RabbitNode) Env() []string {
	return []string{
		"RABBITMQ_NODENAME=" + n.Name,
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT=" + strconv.Itoa(n.Port),
		"RABBITMQ_DIST_PORT=" + strconv.Itoa(n.DistPort),
		"RABBITMQ_MNESIA_BASE=" + filepath.Join(n.Dir, "mnesia"),
		"RABBITMQ_LOG_BASE=" + filepath.Join(n.Dir, "log"),
		"RABBITMQ_PID_FILE=" + filepath.Join(n.Dir, "rabbitmq.pid"),
		"RABBITMQ_ENABLED_PLUGINS_FILE=" + filepath.Join(n.Dir, "enabled_plugins"),
		"RABBITMQ_CONFIG_FILE=" + filepath.Join(n.Dir, "rabbitmq.conf"),
	}
}

// handOver lets the rabbitmq user, which a packaged rabbitmq-server run by
// root switches to, write the node's directory: run as root, the run's
// directory becomes traversable and the node's directory the user's.
func handOver(runDir, nodeDir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("rabbitmq")
	if err != nil {
		return nil // no such user: the server runs as root
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chmod(runDir, 0o711); err != nil {
		return err
	}
	return filepath.Walk(nodeDir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// URL is the node's AMQP URL for guest, without the password.
func (n *RabbitNode) URL() string { return fmt.Sprintf("amqp://guest@127.0.0.1:%d/", n.Port) }

func (n *RabbitNode) dialURL() string { return fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", n.Port) }

// Ctl runs rabbitmqctl -n NODE args, bounded by amqpCtlTimeout (and ctx).
func (n *RabbitNode) Ctl(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, amqpCtlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, n.ctl, append([]string{"-n", n.Name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("rabbitmqctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Start runs the node and waits until it has booted (await_startup).
func (n *RabbitNode) Start(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed || n.cmd != nil {
		return errors.New("rabbitmq node: closed or already started")
	}
	f, err := os.OpenFile(n.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(n.server)
	cmd.Env = append(os.Environ(), n.Env()...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("rabbitmq-server: %w", err)
	}
	exited := make(chan struct{})
	n.cmd, n.exited = cmd, exited
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(exited)
	}()
	wctx, cancel := context.WithTimeout(ctx, amqpStartup)
	defer cancel()
	for {
		// await_startup fails at once while the node is not yet
		// registered with epmd: try again until it answers, or the
		// server exits, or the time is up.
		_, err := n.Ctl(wctx, "await_startup", "--timeout", strconv.Itoa(int(amqpStartup/time.Second)))
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("rabbitmq-server exited before it booted (log: %s): %v", n.LogPath, err)
		case <-wctx.Done():
			return fmt.Errorf("rabbitmq node %s not booted within %s (log: %s): %v", n.Name, amqpStartup, n.LogPath, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Restart is the amqp-restart fault: stop_app, then start_app (the
// Erlang node stays up, the broker stops: connections are closed, the
// listener is gone until start_app).
func (n *RabbitNode) Restart(ctx context.Context) error {
	if _, err := n.Ctl(ctx, "stop_app"); err != nil {
		return err
	}
	_, err := n.Ctl(ctx, "start_app")
	return err
}

// Close stops the node (rabbitmqctl stop, bounded), then kills whatever
// is left: the server's process group, and the Erlang VM named in the pid
// file. Called on every exit path; idempotent.
func (n *RabbitNode) Close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	n.closed = true
	if n.cmd == nil {
		return
	}
	if _, err := n.Ctl(context.Background(), "stop"); err != nil {
		logf("stopping the rabbitmq node: %v", err)
	}
	select {
	case <-n.exited:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
		<-n.exited
	}
	if b, err := os.ReadFile(filepath.Join(n.Dir, "rabbitmq.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 && syscall.Kill(pid, 0) == nil {
			logf("the rabbitmq node's VM (pid %d) outlived stop: killing it", pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// QueueMessages is the queue's message count (ready and unacknowledged)
// from rabbitmqctl list_queues, -1 if the queue is not listed.
func (n *RabbitNode) QueueMessages(ctx context.Context, queue string) (int, error) {
	out, err := n.Ctl(ctx, "list_queues", "-q", "--no-table-headers", "name", "messages")
	if err != nil {
		return -1, err
	}
	return parseListQueues(out, queue)
}

// parseListQueues reads `list_queues name messages` output: one queue a
// line, name and count separated by a tab.
func parseListQueues(out, queue string) (int, error) {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == queue {
			return strconv.Atoi(f[1])
		}
	}
	return -1, fmt.Errorf("queue %s not listed", queue)
}

// QueueReport is what the queue held, as its consumer saw it, and what a
// consumer that dedupes by message_id applied.
type QueueReport struct {
	Name        string
	Deliveries  int // deliveries to the consumer
	UniqueIDs   int
	Duplicates  int // Deliveries - UniqueIDs
	Republished int // of them, copies of another attempt: the relay published again after a lost confirm
	Redelivered int // of them, the broker delivering again a copy the consumer had (its ack lost)
	// Applied is how many messages a consumer deduping by message_id
	// applied: each ID once.
	Applied      int
	DuplicateIDs []string
	Malformed    int // without a message_id, or with Rebound-* headers that disagree with it
	Reconnects   int // the consumer's reconnections
	Left         int // messages left in the queue after the drain (-1: unknown)
}

// Deduper is a consumer that applies each message once, by message_id.
type Deduper struct{ seen map[string]bool }

// Apply reports whether the message is applied: the first time its ID
// is seen.
func (d *Deduper) Apply(id string) bool {
	if d.seen == nil {
		d.seen = map[string]bool{}
	}
	if d.seen[id] {
		return false
	}
	d.seen[id] = true
	return true
}

// CountQueue reckons the consumer's record: duplicates, split by cause,
// and what a deduping consumer applied.
func CountQueue(read []Delivery) QueueReport {
	r := QueueReport{Deliveries: len(read), Left: -1}
	var dd Deduper
	type copyKey struct {
		id      string
		attempt int
	}
	copies := map[string]int{}
	seen := map[copyKey]bool{}
	for _, d := range read {
		copies[d.ID]++
		if dd.Apply(d.ID) {
			r.Applied++
			seen[copyKey{d.ID, d.Attempt}] = true
			continue
		}
		k := copyKey{d.ID, d.Attempt}
		if seen[k] {
			r.Redelivered++ // the same published copy, delivered again
		} else {
			r.Republished++
		}
		seen[k] = true
	}
	r.UniqueIDs = len(copies)
	r.Duplicates = r.Deliveries - r.UniqueIDs
	for id, n := range copies {
		if n > 1 {
			r.DuplicateIDs = append(r.DuplicateIDs, id)
		}
	}
	sort.Strings(r.DuplicateIDs)
	return r
}

// Problems lists why the queue fails the run: a deduping consumer that
// did not apply each message once, messages left unread, malformed ones.
// Duplicates do not: classic queues do not dedupe.
func (r *QueueReport) Problems() []string {
	var p []string
	if r.Applied != r.UniqueIDs {
		p = append(p, fmt.Sprintf("the deduping consumer applied %d messages, the queue held %d unique IDs", r.Applied, r.UniqueIDs))
	}
	if r.Left != 0 {
		p = append(p, fmt.Sprintf("the queue still holds %d messages after the drain (-1: unknown)", r.Left))
	}
	if r.Malformed > 0 {
		p = append(p, fmt.Sprintf("%d messages without a message_id or with Rebound-* headers that disagree with it", r.Malformed))
	}
	return p
}

// ReckonQueue is Reckon for a queue: a copy the broker delivered again
// (the consumer's ack lost, the same published copy) is left out, since
// the receiver's record it stands for is one publish; copies published
// again at a later attempt stay in, as duplicates.
func ReckonQueue(acked map[int]string, read []Delivery, store map[string]StoreState) *Ledger {
	type copyKey struct {
		id      string
		attempt int
	}
	seen := map[copyKey]bool{}
	published := make([]Delivery, 0, len(read))
	for _, d := range read {
		k := copyKey{d.ID, d.Attempt}
		if seen[k] && d.Redelivered {
			continue
		}
		seen[k] = true
		published = append(published, d)
	}
	return Reckon(acked, published, store)
}

// headerInt reads an integer AMQP header (Rebound-Attempt is an int32).
func headerInt(v any) int {
	switch x := v.(type) {
	case int8:
		return int(x)
	case int16:
		return int(x)
	case int32:
		return int(x)
	case int64:
		return int(x)
	case int:
		return x
	case uint8:
		return int(x)
	case uint16:
		return int(x)
	case uint32:
		return int(x)
	case string:
		n, _ := strconv.Atoi(x)
		return n
	}
	return 0
}

// ToDelivery is the consumer's record of one AMQP delivery; bad reports a
// message without a message_id or whose Rebound-* headers disagree with
// it.
func ToDelivery(m *amqp.Delivery, n int64) (d Delivery, bad bool) {
	d = Delivery{ID: m.MessageId, Seq: -1, Outcome: OK, Arrived: n, Answered: n, At: time.Now(), Redelivered: m.Redelivered}
	d.Attempt = headerInt(m.Headers["Rebound-Attempt"])
	var p payload
	if json.Unmarshal(m.Body, &p) == nil {
		d.Seq = p.Seq
	}
	hid, _ := m.Headers["Rebound-Message-Id"].(string)
	dest, _ := m.Headers["Rebound-Destination"].(string)
	bad = d.ID == "" || hid != d.ID || dest != "chaos" || d.Attempt < 1
	return d, bad
}

// amqpSink is the run's RabbitMQ node, a durable classic queue the
// relays publish to through the default exchange, and a consumer that
// records and acks every delivery.
type amqpSink struct {
	node  *RabbitNode
	queue string
	log   func(string, ...any)
	stop  chan struct{}
	done  chan struct{}

	mu         sync.Mutex
	read       []Delivery
	ids        map[string]bool
	n          int64
	malformed  int
	reconnects int
	consumeErr error // the consumer gave up
	closed     bool
}

// startAMQP starts the run's node, declares the queue and starts the
// consumer.
func startAMQP(ctx context.Context, o Options, dir string, log func(string, ...any)) (Sink, error) {
	node, err := NewRabbitNode(o.RabbitMQServer, o.RabbitMQCtl, dir)
	if err != nil {
		return nil, err
	}
	if err := node.Start(ctx); err != nil {
		node.Close()
		return nil, err
	}
	s := &amqpSink{node: node, queue: "chaos-" + randomHex(4), log: log, stop: make(chan struct{}), done: make(chan struct{}), ids: map[string]bool{}}
	conn, ch, err := s.connect()
	if err != nil {
		node.Close()
		return nil, err
	}
	go s.consume(conn, ch)
	return s, nil
}

// connect opens a connection and a channel, declares the queue (durable,
// classic: idempotent) and starts consuming with manual acks.
func (s *amqpSink) connect() (*amqp.Connection, <-chan amqp.Delivery, error) {
	conn, err := amqp.DialConfig(s.node.dialURL(), amqp.Config{Dial: amqp.DefaultDial(5 * time.Second), Properties: amqp.Table{"connection_name": "rebound-chaos consumer"}})
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to the rabbitmq node: %w", err)
	}
	fail := func(what string, err error) (*amqp.Connection, <-chan amqp.Delivery, error) {
		conn.Close()
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	ch, err := conn.Channel()
	if err != nil {
		return fail("opening a channel", err)
	}
	if _, err := ch.QueueDeclare(s.queue, true, false, false, false, amqp.Table{"x-queue-type": "classic"}); err != nil {
		return fail("declaring queue "+s.queue, err)
	}
	if err := ch.Qos(200, 0, false); err != nil {
		return fail("setting the prefetch", err)
	}
	deliveries, err := ch.Consume(s.queue, "rebound-chaos", false, false, false, false, nil)
	if err != nil {
		return fail("consuming "+s.queue, err)
	}
	return conn, deliveries, nil
}

// consume records and acks every delivery; when the connection drops (the
// amqp-restart fault), it reconnects, for up to amqpReconnectFor in a row.
func (s *amqpSink) consume(conn *amqp.Connection, deliveries <-chan amqp.Delivery) {
	defer close(s.done)
	for {
		for m := range deliveries {
			s.record(&m)
			if err := m.Ack(false); err != nil {
				s.log("amqp consumer: ack: %v", err) // redelivered after the reconnection
			}
		}
		conn.Close()
		since := time.Now()
		for {
			select {
			case <-s.stop:
				return
			case <-time.After(250 * time.Millisecond):
			}
			var err error
			if conn, deliveries, err = s.connect(); err == nil {
				break
			}
			if time.Since(since) > amqpReconnectFor {
				s.mu.Lock()
				s.consumeErr = fmt.Errorf("the consumer could not reconnect within %s: %w", amqpReconnectFor, err)
				s.mu.Unlock()
				return
			}
		}
		s.mu.Lock()
		s.reconnects++
		s.mu.Unlock()
		s.log("amqp consumer: reconnected")
	}
}

func (s *amqpSink) record(m *amqp.Delivery) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	d, bad := ToDelivery(m, s.n)
	s.read = append(s.read, d)
	s.ids[d.ID] = true
	if bad {
		s.malformed++
	}
}

func (s *amqpSink) Describe() string {
	return fmt.Sprintf("rabbitmq node %s at %s, durable classic queue %s", s.node.Name, s.node.URL(), s.queue)
}

func (s *amqpSink) RelayYAML(timeout time.Duration) string {
	return fmt.Sprintf(`relay:
  backoff: {initial: %s, max: %s}
destinations:
  chaos:
    kind: amqp
    amqp: {url: %q, password: guest, exchange: "", routing_key: %s}
    timeout: %s
`, amqpBackoffInitial, amqpBackoffMax, s.node.URL(), s.queue, timeout)
}

func (s *amqpSink) Delivered(ids []string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return countIn(ids, s.ids)
}

func (s *amqpSink) Progress() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("queue: %d deliveries (%d unique IDs), %d consumer reconnections", len(s.read), len(s.ids), s.reconnects)
}

// Settle waits until the queue is empty (every message delivered to the
// consumer and acked, so recorded), then counts the record.
func (s *amqpSink) Settle(ctx context.Context, res *Result) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var last error
	left := -1
	for {
		s.mu.Lock()
		cerr := s.consumeErr
		s.mu.Unlock()
		if cerr != nil {
			last = cerr
			break
		}
		n, err := s.node.QueueMessages(ctx, s.queue)
		left = n
		if err == nil && n == 0 {
			last = nil
			break
		}
		last = err
		if err == nil {
			last = fmt.Errorf("%d messages still in the queue", n)
		}
		t := time.NewTimer(500 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return s.settled(res, left, fmt.Errorf("reading the queue after the drain: %w", last))
		case <-t.C:
		}
	}
	return s.settled(res, left, last)
}

func (s *amqpSink) settled(res *Result, left int, err error) error {
	s.mu.Lock()
	r := CountQueue(s.read)
	r.Name, r.Malformed, r.Reconnects, r.Left = s.queue, s.malformed, s.reconnects, left
	s.mu.Unlock()
	res.Queue = &r
	return err
}

// Restart is the amqp-restart fault.
func (s *amqpSink) Restart(ctx context.Context) error { return s.node.Restart(ctx) }

func (s *amqpSink) Close() {
	s.mu.Lock()
	closed := s.closed
	s.closed = true
	s.mu.Unlock()
	if closed {
		return
	}
	close(s.stop)
	s.node.Close() // the consumer's connection drops, and it stops
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		logf("the amqp consumer did not stop")
	}
}

func (s *amqpSink) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.read...)
}

func (s *amqpSink) Reckon(acked map[int]string, deliveries []Delivery, store map[string]StoreState) *Ledger {
	return ReckonQueue(acked, deliveries, store)
}
