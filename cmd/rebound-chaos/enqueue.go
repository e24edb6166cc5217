package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// API talks to the relays' JSON API, round-robin over the relays that are
// up.
type API struct {
	relays []*Relay
	token  string
	client *http.Client
	next   atomic.Uint64
}

// NewAPI returns a client of relays' API.
func NewAPI(relays []*Relay, token string) *API {
	return &API{
		relays: relays,
		token:  token,
		client: &http.Client{
			Timeout:   10 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second},
		},
	}
}

// pick returns the next relay that is up, or any relay if none is.
func (a *API) pick() *Relay {
	n := uint64(len(a.relays))
	start := a.next.Add(1)
	for i := range n {
		if r := a.relays[(start+i)%n]; r.Up() {
			return r
		}
	}
	return a.relays[start%n]
}

func (a *API) do(ctx context.Context, method, path string, body []byte, hdr map[string]string) (int, http.Header, []byte, error) {
	r := a.pick()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+r.Addr+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	return resp.StatusCode, resp.Header, b, err
}

// Enqueuer posts messages at a steady rate and records the acknowledged
// IDs and how long each took to be acknowledged, retries included.
type Enqueuer struct {
	api     *API
	run     string // the run's name, part of every Idempotency-Key
	budget  time.Duration
	timeout time.Duration // of one request

	mu        sync.Mutex
	acked     map[int]string
	latencies []time.Duration
	failed    map[int]string // sequence number → last error, for enqueues never acknowledged
	retries   int            // requests beyond the first
}

// NewEnqueuer returns an enqueuer; budget bounds how long one message may
// take to be acknowledged.
func NewEnqueuer(api *API, run string, budget, timeout time.Duration) *Enqueuer {
	return &Enqueuer{api: api, run: run, budget: budget, timeout: timeout, acked: map[int]string{}, failed: map[int]string{}}
}

// Run enqueues n messages at rate per second, at most inflight at once,
// and returns when every one is acknowledged or has failed.
func (e *Enqueuer) Run(ctx context.Context, n int, rate float64, inflight int) {
	sem := make(chan struct{}, inflight)
	var wg sync.WaitGroup
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	for seq := range n {
		// Steady: message seq is due at start + seq*interval.
		if d := time.Until(start.Add(time.Duration(seq) * interval)); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			e.one(ctx, seq)
		}()
	}
	wg.Wait()
}

// one enqueues message seq, retrying with the same Idempotency-Key until
// it is acknowledged: a retry of an enqueue that was written returns the
// first answer, so no enqueue is written twice.
func (e *Enqueuer) one(ctx context.Context, seq int) {
	ctx, cancel := context.WithTimeout(ctx, e.budget)
	defer cancel()
	body, _ := json.Marshal(map[string]any{
		"destination": "chaos",
		"payload":     map[string]any{"seq": seq, "run": e.run},
	})
	hdr := map[string]string{"Idempotency-Key": e.run + "-" + strconv.Itoa(seq)}
	start := time.Now()
	var last string
	for try := 0; ctx.Err() == nil; try++ {
		if try > 0 {
			e.mu.Lock()
			e.retries++
			e.mu.Unlock()
		}
		rctx, cancel := context.WithTimeout(ctx, e.timeout)
		status, h, b, err := e.api.do(rctx, http.MethodPost, "/v1/messages", body, hdr)
		cancel()
		wait := 100 * time.Millisecond
		switch {
		case err != nil:
			last = err.Error()
		case status == http.StatusAccepted:
			var r struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal(b, &r); err != nil || r.ID == "" {
				last = fmt.Sprintf("202 without an id: %q", b)
				break
			}
			e.mu.Lock()
			e.acked[seq] = r.ID
			e.latencies = append(e.latencies, time.Since(start))
			e.mu.Unlock()
			return
		case status == http.StatusConflict: // the first request with the key is still running, or its holder died
			last, wait = "409 in flight", time.Second
		case status >= 500:
			last = fmt.Sprintf("%d: %.200s", status, b)
		case status < 300:
			// A 2xx that is not the 202 with an ID: the key's stored
			// answer is not an enqueue's, and every retry replays it.
			last = fmt.Sprintf("%d without a message ID (%q, Idempotent-Replayed %q): the key's stored answer is not an enqueue's", status, b, h.Get("Idempotent-Replayed"))
			e.mu.Lock()
			e.failed[seq] = last
			e.mu.Unlock()
			return
		default:
			last = fmt.Sprintf("%d: %.200s", status, b)
			e.mu.Lock()
			e.failed[seq] = last
			e.mu.Unlock()
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	e.mu.Lock()
	e.failed[seq] = "not acknowledged within " + e.budget.String() + ": " + last
	e.mu.Unlock()
}

// AckedIDs returns the acknowledged IDs.
func (e *Enqueuer) AckedIDs() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, 0, len(e.acked))
	for _, id := range e.acked {
		out = append(out, id)
	}
	return out
}

// Acked returns the acknowledged IDs by sequence number.
func (e *Enqueuer) Acked() map[int]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[int]string, len(e.acked))
	for k, v := range e.acked {
		out[k] = v
	}
	return out
}

// Percentile returns the p-th percentile (0..1) of the acknowledgement
// latencies.
func (e *Enqueuer) Percentile(p float64) time.Duration {
	e.mu.Lock()
	l := append([]time.Duration(nil), e.latencies...)
	e.mu.Unlock()
	return percentile(l, p)
}

func percentile(l []time.Duration, p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	i := int(p*float64(len(l)) + 0.5)
	return l[min(max(i-1, 0), len(l)-1)]
}

// listed is a page of GET /v1/messages.
type listed struct {
	Messages []struct {
		ID      string `json:"id"`
		State   string `json:"state"`
		Attempt int    `json:"attempt"`
	} `json:"messages"`
	NextCursor string `json:"next_cursor"`
}

// States lists every message in the store with its state and attempt.
func (a *API) States(ctx context.Context) (map[string]StoreState, error) {
	out := map[string]StoreState{}
	cursor := ""
	for page := 0; page < 100_000; page++ {
		var l listed
		if err := a.list(ctx, "limit=1000&cursor="+url.QueryEscape(cursor), &l); err != nil {
			return nil, err
		}
		for _, m := range l.Messages {
			out[m.ID] = StoreState{State: m.State, Attempt: m.Attempt}
		}
		if l.NextCursor == "" {
			return out, nil
		}
		cursor = l.NextCursor
	}
	return nil, fmt.Errorf("listing messages: too many pages")
}

// Unfinished reports how many messages (up to 1 per state) are pending,
// retrying or delivering.
func (a *API) Unfinished(ctx context.Context) (int, error) {
	n := 0
	for _, s := range []string{"pending", "retrying", "delivering"} {
		var l listed
		if err := a.list(ctx, "limit=1&state="+s, &l); err != nil {
			return 0, err
		}
		n += len(l.Messages)
	}
	return n, nil
}

// list GETs one page, retrying for a while when relays are down.
func (a *API) list(ctx context.Context, query string, into *listed) error {
	var last error
	for try := range 50 {
		if try > 0 {
			t := time.NewTimer(200 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		status, _, b, err := a.do(ctx, http.MethodGet, "/v1/messages?"+query, nil, nil)
		switch {
		case err != nil:
			last = err
		case status != http.StatusOK:
			last = fmt.Errorf("GET /v1/messages?%s: %d %.200s", query, status, b)
		default:
			*into = listed{}
			return json.Unmarshal(b, into)
		}
	}
	return last
}
