package main

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// m is a message the stream's consumer read: stream sequence seq.
func m(id string, enqueue, attempt int, seq int64) Delivery {
	return d(id, enqueue, attempt, seq, seq, OK)
}

func TestCountStream(t *testing.T) {
	tests := []struct {
		name     string
		messages uint64
		read     []Delivery
		want     StreamReport
		problems int
	}{
		{
			name:     "every message once",
			messages: 3,
			read:     []Delivery{m("a", 0, 1, 1), m("b", 1, 1, 2), m("c", 2, 2, 3)},
			want:     StreamReport{Messages: 3, Read: 3, UniqueIDs: 3},
		},
		{
			name:     "a copy the window let through",
			messages: 3,
			read:     []Delivery{m("a", 0, 1, 1), m("b", 1, 1, 2), m("a", 0, 2, 3)},
			want:     StreamReport{Messages: 3, Read: 3, UniqueIDs: 2, Duplicates: 1, DuplicateIDs: []string{"a"}},
			problems: 1,
		},
		{
			name:     "the consumer missed a message",
			messages: 3,
			read:     []Delivery{m("a", 0, 1, 1), m("b", 1, 1, 2)},
			want:     StreamReport{Messages: 3, Read: 2, UniqueIDs: 2, Duplicates: 1},
			problems: 2,
		},
		{
			name: "an empty stream",
			want: StreamReport{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CountStream(tt.messages, tt.read)
			if got.Messages != tt.want.Messages || got.Read != tt.want.Read || got.UniqueIDs != tt.want.UniqueIDs ||
				got.Duplicates != tt.want.Duplicates || !slices.Equal(got.DuplicateIDs, tt.want.DuplicateIDs) {
				t.Errorf("CountStream = %+v, want %+v", got, tt.want)
			}
			if p := got.Problems(); len(p) != tt.problems {
				t.Errorf("Problems() = %q, want %d", p, tt.problems)
			}
		})
	}
}

func TestReckonStream(t *testing.T) {
	acked := map[int]string{0: "a", 1: "b", 2: "c"}
	// a: attempt 1's ack was lost, attempt 2's publish was deduplicated
	// and acknowledged, so the store says sent at 2 while the stream
	// holds attempt 1's copy. b: plain. c: sent in the store, not in the
	// stream: lost.
	read := []Delivery{m("a", 0, 1, 1), m("b", 1, 1, 2)}
	store := map[string]StoreState{"a": sent(2), "b": sent(1), "c": sent(1)}

	l := ReckonStream(acked, read, store)
	if l.AckedByDedupe != 1 {
		t.Errorf("AckedByDedupe = %d, want 1", l.AckedByDedupe)
	}
	if !slices.Equal(l.SentUnacked, []string{"c"}) || !slices.Equal(l.Lost, []string{"c"}) {
		t.Errorf("SentUnacked = %q, Lost = %q; want c in both", l.SentUnacked, l.Lost)
	}
	if l.Balanced() {
		t.Error("balanced with a lost message")
	}

	delete(acked, 2)
	delete(store, "c")
	if l := ReckonStream(acked, read, store); !l.Balanced() {
		t.Errorf("not balanced: %q", l.Problems())
	}
	// Plain Reckon holds the deduplicated one against the run.
	if l := Reckon(acked, read, store); l.Balanced() {
		t.Error("Reckon balanced a message sent at an attempt the stream does not hold; the test proves nothing")
	}
}

func TestParseFlagsBroker(t *testing.T) {
	for _, args := range [][]string{
		{"-nats-restart"},
		{"-broker", "kafka"},
		{"-broker", "nats", "-nats-server", "no-such-nats-server-binary"},
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
	if _, err := exec.LookPath("nats-server"); err == nil {
		if o, err := parseFlags([]string{"-broker", "nats", "-nats-restart"}); err != nil || !o.NATSRestart {
			t.Errorf("parseFlags(-broker nats -nats-restart) = %+v, %v", o, err)
		}
	}
}

// TestNATSSinkRestart runs the sink on a real nats-server: a message
// published before and after a restart of the server is read once each,
// a re-publish with the same Nats-Msg-Id is dropped, and Close leaves no
// server running.
func TestNATSSinkRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nats-server")
	}
	if _, err := exec.LookPath("nats-server"); err != nil {
		t.Skip("nats-server not on PATH")
	}
	ctx := context.Background()
	o := Options{NATSServer: "nats-server", Lease: 3 * time.Second}
	sk, err := startNATS(ctx, o, t.TempDir(), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	s := sk.(*natsSink)
	defer s.Close()
	if y := s.RelayYAML(time.Second); !strings.Contains(y, "kind: nats") || !strings.Contains(y, s.subject) {
		t.Errorf("RelayYAML:\n%s", y)
	}

	nc, err := nats.Connect(s.srv.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	publish := func(id string, attempt, seq int) {
		t.Helper()
		msg := nats.NewMsg(s.subject)
		msg.Data = []byte(`{"seq":` + string(rune('0'+seq)) + `}`)
		msg.Header.Set(jetstream.MsgIDHeader, id)
		msg.Header.Set("Rebound-Message-Id", id)
		msg.Header.Set("Rebound-Attempt", string(rune('0'+attempt)))
		msg.Header.Set("Rebound-Destination", "chaos")
		for try := 0; ; try++ {
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			_, err := js.PublishMsg(pctx, msg)
			cancel()
			if err == nil {
				return
			}
			if try == 50 {
				t.Fatalf("publishing %s: %v", id, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	publish("a", 1, 0)
	publish("a", 2, 0) // deduplicated
	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	publish("b", 1, 1)
	publish("a", 3, 0) // deduplicated across the restart

	var res Result
	if err := s.Settle(ctx, &res); err != nil {
		t.Fatal(err)
	}
	st := res.Stream
	if st.Messages != 2 || st.Read != 2 || st.UniqueIDs != 2 || st.Duplicates != 0 || st.Malformed != 0 || st.Window < natsWindow {
		t.Errorf("stream = %+v", st)
	}
	if got := s.Delivered([]string{"a", "b", "c"}); got != 2 {
		t.Errorf("Delivered = %d, want 2", got)
	}
	ds := s.Deliveries()
	if len(ds) != 2 || ds[0].ID != "a" || ds[0].Attempt != 1 || ds[1].ID != "b" || ds[1].Seq != 1 {
		t.Errorf("Deliveries = %+v", ds)
	}

	s.Close()
	s.srv.mu.Lock()
	left := s.srv.cmd
	s.srv.mu.Unlock()
	if left != nil {
		t.Error("nats-server still running after Close")
	}
	if err := s.srv.Restart(ctx); err == nil {
		t.Error("restarted after Close")
	}
}

func TestBetweenKills(t *testing.T) {
	for _, tt := range []struct{ at, every, want time.Duration }{
		{50 * time.Second, 5 * time.Second, 52500 * time.Millisecond},
		{50 * time.Second, 3 * time.Second, 49500 * time.Millisecond},
		{time.Second, 3 * time.Second, 1500 * time.Millisecond},
		{7 * time.Second, 0, 7 * time.Second},
	} {
		if got := betweenKills(tt.at, tt.every); got != tt.want {
			t.Errorf("betweenKills(%s, %s) = %s, want %s", tt.at, tt.every, got, tt.want)
		}
	}
}
