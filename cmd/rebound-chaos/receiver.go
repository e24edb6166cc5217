package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Faults are the receiver's answer mix: shares of deliveries answered
// 503, reset, or stalled past the delivery timeout; the rest get 204.
type Faults struct {
	Unavailable, Reset, Stall float64
	// StallFor is how long a stalled delivery waits before its 204.
	StallFor time.Duration
}

// decide draws a delivery's outcome from a hash of the seed, the enqueue's
// sequence number, the attempt and how many times that (sequence, attempt)
// arrived before: the same run makes the same decisions for the same
// deliveries, whatever order they arrive in.
func (f Faults) decide(seed uint64, seq, attempt, repeat int) Outcome {
	h := fnv.New64a()
	var b [32]byte
	binary.LittleEndian.PutUint64(b[0:], seed)
	binary.LittleEndian.PutUint64(b[8:], uint64(seq))
	binary.LittleEndian.PutUint64(b[16:], uint64(attempt))
	binary.LittleEndian.PutUint64(b[24:], uint64(repeat))
	h.Write(b[:])
	x := float64(h.Sum64()>>11) / (1 << 53)
	switch {
	case x < f.Unavailable:
		return Failed503
	case x < f.Unavailable+f.Reset:
		return Reset
	case x < f.Unavailable+f.Reset+f.Stall:
		return Stalled
	}
	return OK
}

// Receiver is the loopback webhook receiver: it answers by Faults and
// records every delivery.
type Receiver struct {
	faults Faults
	seed   uint64
	srv    *http.Server
	ln     net.Listener
	clock  atomic.Int64 // orders arrivals and answers
	served sync.WaitGroup
	stop   chan struct{} // closed by Close: stalled answers end early
	closed sync.Once

	mu      sync.Mutex
	log     []Delivery
	repeats map[[2]int]int
	okIDs   map[string]bool
}

// StartReceiver listens on a loopback port and serves POST /hook.
func StartReceiver(f Faults, seed uint64) (*Receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Receiver{faults: f, seed: seed, ln: ln, stop: make(chan struct{}), repeats: map[[2]int]int{}, okIDs: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hook", r.hook)
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	r.served.Add(1)
	go func() {
		defer r.served.Done()
		_ = r.srv.Serve(ln)
	}()
	return r, nil
}

// URL is where relays deliver.
func (r *Receiver) URL() string { return "http://" + r.ln.Addr().String() + "/hook" }

// Close stops the receiver and waits for its handlers.
func (r *Receiver) Close(ctx context.Context) error {
	var err error
	r.closed.Do(func() {
		close(r.stop)
		err = r.srv.Shutdown(ctx)
		r.served.Wait()
	})
	return err
}

// Deliveries returns a copy of the record.
func (r *Receiver) Deliveries() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Delivery(nil), r.log...)
}

// Delivered reports how many of ids have been answered 204, in time or
// stalled.
func (r *Receiver) Delivered(ids []string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, id := range ids {
		if r.okIDs[id] {
			n++
		}
	}
	return n
}

// Count returns the number of deliveries with each outcome so far.
func (r *Receiver) Count() map[Outcome]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := map[Outcome]int{}
	for _, d := range r.log {
		c[d.Outcome]++
	}
	return c
}

type payload struct {
	Seq int `json:"seq"`
}

func (r *Receiver) hook(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		return // the relay went away mid-request: not a delivery
	}
	d := Delivery{ID: req.Header.Get("webhook-id"), Seq: -1}
	d.Attempt, _ = strconv.Atoi(req.Header.Get("Webhook-Attempt"))
	var p payload
	if json.Unmarshal(body, &p) == nil {
		d.Seq = p.Seq
	}
	d.Arrived = r.clock.Add(1)
	r.mu.Lock()
	k := [2]int{d.Seq, d.Attempt}
	repeat := r.repeats[k]
	r.repeats[k]++
	r.mu.Unlock()
	d.Outcome = r.faults.decide(r.seed, d.Seq, d.Attempt, repeat)

	switch d.Outcome {
	case Failed503:
		r.record(d)
		http.Error(w, "chaos: unavailable", http.StatusServiceUnavailable)
	case Reset:
		r.record(d)
		reset(w)
	case Stalled:
		t := time.NewTimer(r.faults.StallFor)
		select {
		case <-t.C:
		case <-r.stop:
		}
		t.Stop()
		d.Answered = r.clock.Add(1)
		r.record(d)
		w.WriteHeader(http.StatusNoContent)
	default:
		d.Answered = r.clock.Add(1)
		r.record(d)
		w.WriteHeader(http.StatusNoContent)
	}
}

func (r *Receiver) record(d Delivery) {
	d.At = time.Now()
	r.mu.Lock()
	r.log = append(r.log, d)
	if d.Outcome == OK || d.Outcome == Stalled {
		r.okIDs[d.ID] = true
	}
	r.mu.Unlock()
}

// reset closes the connection with an RST: SO_LINGER 0 discards what is
// unsent and resets instead of the orderly FIN.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(errors.New("chaos: the receiver's connection cannot be hijacked"))
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
