package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// q is a delivery the queue's consumer got: its n-th, redelivered or not.
func q(id string, enqueue, attempt int, n int64, redelivered bool) Delivery {
	x := d(id, enqueue, attempt, n, n, OK)
	x.Redelivered = redelivered
	return x
}

func TestCountQueue(t *testing.T) {
	tests := []struct {
		name     string
		read     []Delivery
		want     QueueReport
		problems int
	}{
		{
			name: "every message once",
			read: []Delivery{q("a", 0, 1, 1, false), q("b", 1, 1, 2, false)},
			want: QueueReport{Deliveries: 2, UniqueIDs: 2, Applied: 2},
		},
		{
			name: "published again after a lost confirm, and redelivered after a lost ack",
			read: []Delivery{
				q("a", 0, 1, 1, false), q("b", 1, 1, 2, false), q("a", 0, 2, 3, false), // a: attempts 1 and 2 in the queue
				q("b", 1, 1, 4, true), // b: the same copy again
				q("c", 2, 1, 5, true), // c: redelivered, but the first the consumer recorded
			},
			want: QueueReport{Deliveries: 5, UniqueIDs: 3, Duplicates: 2, Republished: 1, Redelivered: 1, Applied: 3, DuplicateIDs: []string{"a", "b"}},
		},
		{
			name: "an empty queue",
			want: QueueReport{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CountQueue(tt.read)
			got.Left = 0
			if got.Deliveries != tt.want.Deliveries || got.UniqueIDs != tt.want.UniqueIDs || got.Duplicates != tt.want.Duplicates ||
				got.Republished != tt.want.Republished || got.Redelivered != tt.want.Redelivered || got.Applied != tt.want.Applied ||
				!slices.Equal(got.DuplicateIDs, tt.want.DuplicateIDs) {
				t.Errorf("CountQueue = %+v, want %+v", got, tt.want)
			}
			if p := got.Problems(); len(p) != tt.problems {
				t.Errorf("Problems() = %q, want %d", p, tt.problems)
			}
		})
	}
	r := CountQueue(nil)
	if r.Left != -1 || len(r.Problems()) != 1 {
		t.Errorf("a queue never counted: Left %d, Problems %q", r.Left, r.Problems())
	}
}

func TestDeduper(t *testing.T) {
	var dd Deduper
	var applied []string
	for _, id := range []string{"a", "b", "a", "c", "b", "a"} {
		if dd.Apply(id) {
			applied = append(applied, id)
		}
	}
	if !slices.Equal(applied, []string{"a", "b", "c"}) {
		t.Errorf("applied %q", applied)
	}
}

func TestReckonQueue(t *testing.T) {
	acked := map[int]string{0: "a", 1: "b", 2: "c"}
	// a: attempt 1's confirm lost, published again and confirmed at 2:
	// both in the queue, a duplicate; then attempt 1's copy again (the
	// consumer's ack lost). b: the same copy again, which is not a second
	// publish. c: plain.
	read := []Delivery{
		q("a", 0, 1, 1, false), q("b", 1, 1, 2, false), q("a", 0, 2, 3, false),
		q("c", 2, 1, 4, false), q("a", 0, 1, 5, true), q("b", 1, 1, 6, true),
	}
	store := map[string]StoreState{"a": sent(2), "b": sent(1), "c": sent(1)}
	l := ReckonQueue(acked, read, store)
	if !l.Balanced() {
		t.Fatalf("not balanced: %q", l.Problems())
	}
	if l.Duplicates != 1 || l.DuplicateIDs != 1 || l.Replays != 0 || len(l.StaleAfterSuccess) != 0 {
		t.Errorf("Duplicates %d (%d IDs), Replays %d, stale %v; want 1 (1), 0, none", l.Duplicates, l.DuplicateIDs, l.Replays, l.StaleAfterSuccess)
	}
	// Plain Reckon takes a's redelivered attempt-1 copy, after attempt 2
	// succeeded, for a stale-lease delivery.
	if l := Reckon(acked, read, store); len(l.StaleAfterSuccess) == 0 {
		t.Error("Reckon saw no stale delivery; the test proves nothing")
	}
	// A message acknowledged and not in the queue is lost.
	acked[3] = "d"
	store["d"] = sent(1)
	if l := ReckonQueue(acked, read, store); l.Balanced() || !slices.Equal(l.Lost, []string{"d"}) {
		t.Errorf("Lost = %q, want d", l.Lost)
	}
}

func TestParseListQueues(t *testing.T) {
	out := "chaos-1a2b\t12\nother\t3\n"
	if n, err := parseListQueues(out, "chaos-1a2b"); err != nil || n != 12 {
		t.Errorf("= %d, %v; want 12", n, err)
	}
	if n, err := parseListQueues(out, "chaos-1a"); err == nil || n != -1 {
		t.Errorf("an absent queue = %d, %v", n, err)
	}
}

func TestToDelivery(t *testing.T) {
	m := &amqp.Delivery{MessageId: "id1", Body: []byte(`{"seq":42}`), Redelivered: true,
		Headers: amqp.Table{"Rebound-Message-Id": "id1", "Rebound-Attempt": int32(3), "Rebound-Destination": "chaos"}}
	d, bad := ToDelivery(m, 7)
	if bad || d.ID != "id1" || d.Seq != 42 || d.Attempt != 3 || d.Arrived != 7 || d.Outcome != OK || !d.Redelivered {
		t.Errorf("ToDelivery = %+v, bad %v", d, bad)
	}
	for _, h := range []amqp.Table{
		{"Rebound-Message-Id": "other", "Rebound-Attempt": int32(1), "Rebound-Destination": "chaos"},
		{"Rebound-Message-Id": "id1", "Rebound-Destination": "chaos"},
		{"Rebound-Message-Id": "id1", "Rebound-Attempt": int32(1), "Rebound-Destination": "elsewhere"},
	} {
		m.Headers = h
		if _, bad := ToDelivery(m, 1); !bad {
			t.Errorf("headers %v accepted", h)
		}
	}
	if headerInt(int64(5)) != 5 || headerInt("6") != 6 || headerInt(nil) != 0 {
		t.Error("headerInt")
	}
}

func TestRabbitNodeEnv(t *testing.T) {
	n := &RabbitNode{Name: "chaos-ab12@localhost", Port: 40001, DistPort: 40002, Dir: "/run/x/rabbitmq"}
	env := map[string]string{}
	for _, kv := range n.Env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	if env["RABBITMQ_NODENAME"] != n.Name || env["RABBITMQ_NODE_PORT"] != "40001" || env["RABBITMQ_DIST_PORT"] != "40002" {
		t.Errorf("env = %v", env)
	}
	for _, k := range []string{"RABBITMQ_MNESIA_BASE", "RABBITMQ_LOG_BASE", "RABBITMQ_PID_FILE", "RABBITMQ_ENABLED_PLUGINS_FILE", "RABBITMQ_CONFIG_FILE"} {
		if !strings.HasPrefix(env[k], n.Dir+"/") {
			t.Errorf("%s = %q, not under the node's directory", k, env[k])
		}
	}
	if c := RabbitConf(40001); !strings.Contains(c, "127.0.0.1:40001") || strings.Contains(c, "5672") {
		t.Errorf("RabbitConf = %q", c)
	}
}

func TestParseFlagsAMQP(t *testing.T) {
	for _, args := range [][]string{
		{"-amqp-restart"},
		{"-broker", "nats", "-amqp-restart"},
		{"-broker", "amqp", "-rabbitmq-server", "no-such-rabbitmq-server-binary"},
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
	o := Options{Broker: "amqp", AMQPRestart: true}
	if k := brokerRestartKind(o); k != "amqp-restart" {
		t.Errorf("brokerRestartKind = %q", k)
	}
	if k := brokerRestartKind(Options{Broker: "nats", NATSRestart: true}); k != "nats-restart" {
		t.Errorf("brokerRestartKind = %q", k)
	}
	if k := brokerRestartKind(Options{Broker: "amqp"}); k != "" {
		t.Errorf("brokerRestartKind = %q", k)
	}
}

// TestAMQPSinkRestart runs the sink on a RabbitMQ node of its own (set
// REBOUND_TEST_RABBITMQ_NODE=1; it takes some 15 s): messages published
// before and after stop_app/start_app are each recorded, a re-publish is
// a duplicate, and Close leaves no node running.
func TestAMQPSinkRestart(t *testing.T) {
	if os.Getenv("REBOUND_TEST_RABBITMQ_NODE") == "" {
		t.Skip("set REBOUND_TEST_RABBITMQ_NODE=1 to start a RabbitMQ node")
	}
	for _, b := range []string{"rabbitmq-server", "rabbitmqctl"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("%s not on PATH", b)
		}
	}
	dir, err := os.MkdirTemp("", "rebound-chaos-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	sk, err := startAMQP(ctx, Options{RabbitMQServer: "rabbitmq-server", RabbitMQCtl: "rabbitmqctl"}, dir, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	s := sk.(*amqpSink)
	defer s.Close()
	if y := s.RelayYAML(time.Second); !strings.Contains(y, "kind: amqp") || !strings.Contains(y, "routing_key: "+s.queue) {
		t.Errorf("RelayYAML:\n%s", y)
	}
	publish := func(id string, attempt int32, seq string) {
		t.Helper()
		for try := 0; ; try++ {
			err := publishOnce(s.node.dialURL(), s.queue, id, attempt, seq)
			if err == nil {
				return
			}
			if try == 100 {
				t.Fatalf("publishing %s: %v", id, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	publish("a", 1, "0")
	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	publish("b", 1, "1")
	publish("a", 2, "0") // a confirm lost: the queue holds a twice

	var res Result
	if err := s.Settle(ctx, &res); err != nil {
		t.Fatal(err)
	}
	qr := res.Queue
	if qr.Deliveries != 3 || qr.UniqueIDs != 2 || qr.Duplicates != 1 || qr.Republished != 1 || qr.Applied != 2 || qr.Left != 0 || qr.Malformed != 0 || qr.Reconnects < 1 {
		t.Errorf("queue = %+v", qr)
	}
	if got := s.Delivered([]string{"a", "b", "c"}); got != 2 {
		t.Errorf("Delivered = %d, want 2", got)
	}

	s.Close()
	if _, err := s.node.Ctl(ctx, "status"); err == nil {
		t.Error("the node answers after Close")
	}
	if b, err := os.ReadFile(filepath.Join(s.node.Dir, "rabbitmq.pid")); err == nil {
		var pid int
		if _, err := fmt.Sscan(strings.TrimSpace(string(b)), &pid); err == nil && pid > 1 && syscall.Kill(pid, 0) == nil {
			t.Errorf("the node's VM (pid %d) still runs after Close", pid)
		}
	}
}

// publishOnce publishes one message as the relay does: confirm mode,
// mandatory, persistent, message_id and the Rebound-* headers.
func publishOnce(url, queue, id string, attempt int32, seq string) error {
	conn, err := amqp.Dial(url)
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	if err := ch.Confirm(false); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conf, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, true, false, amqp.Publishing{
		MessageId: id, DeliveryMode: amqp.Persistent, Body: []byte(`{"seq":` + seq + `}`),
		Headers: amqp.Table{"Rebound-Message-Id": id, "Rebound-Attempt": attempt, "Rebound-Destination": "chaos"},
	})
	if err != nil {
		return err
	}
	ok, err := conf.WaitContext(ctx)
	if err == nil && !ok {
		err = os.ErrInvalid
	}
	return err
}

func TestDuplicateCausesKillReach(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	kill := Fault{Kind: "kill", At: t0.Add(10 * time.Second)}
	acked := map[int]string{0: "a", 1: "b", 2: "c"}
	at := func(x Delivery, after time.Duration) Delivery { x.At = t0.Add(after); return x }
	ds := []Delivery{
		at(q("a", 0, 1, 1, false), 9*time.Second),                      // before the kill
		at(q("b", 1, 1, 2, false), 10*time.Second+60*time.Millisecond), // recorded just after it
		at(q("c", 2, 1, 3, false), 5*time.Second),                      // long before: other
		at(q("a", 0, 2, 4, false), 13*time.Second),
		at(q("b", 1, 2, 5, false), 13*time.Second),
		at(q("c", 2, 2, 6, false), 13*time.Second),
	}
	store := map[string]StoreState{"a": sent(2), "b": sent(2), "c": sent(2)}
	got := DuplicateCauses(acked, ds, store, []Fault{kill}, 3*time.Second)
	if got["kill"] != 2 || got["other"] != 1 {
		t.Errorf("DuplicateCauses = %v, want kill 2, other 1", got)
	}
}
