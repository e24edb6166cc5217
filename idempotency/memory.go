package idempotency

import (
	"container/heap"
	"context"
	"maps"
	"sync"
	"time"

	"github.com/rebound-go/rebound/idempotency/internal/token"
)

// MemoryStore is a Store in process memory, for tests and single-process
// programs. Its zero value is ready to use; it is safe for concurrent use.
//
// It forgets expired keys by itself and needs no Reaper: a key is expired
// the moment a Claim finds it past its TTL, and each Claim and Complete
// also deletes up to four keys that expired before it, the oldest first.
// So under steady traffic the store holds the keys of the last TTL and
// little more; each write does a bounded amount of work (a few heap
// operations), and no goroutine runs. Keys that expire while nothing
// writes stay until the next writes, or a Reap.
type MemoryStore struct {
	mu   sync.Mutex
	recs map[string]Record
	// expiry holds a key's ExpiresAt each time it is set, earliest
	// first: the order in which keys expire. An entry whose key has
	// since been released, completed or reaped is dropped when reached.
	expiry expiryQueue
}

// sweepPerWrite bounds the expired keys one write deletes. Each write adds
// at most one entry to the expiry queue and can take this many off, so
// the sweep keeps up with any traffic and catches up after a burst.
const sweepPerWrite = 4

// sweep deletes up to sweepPerWrite keys that expired before now. The
// caller holds m.mu.
func (m *MemoryStore) sweep(now time.Time) {
	for range sweepPerWrite {
		if len(m.expiry) == 0 || now.Before(m.expiry[0].at) {
			return
		}
		e := heap.Pop(&m.expiry).(expiryEntry)
		if r, ok := m.recs[e.key]; ok && !now.Before(r.ExpiresAt) {
			delete(m.recs, e.key)
		}
	}
}

// expires records that key now expires at at. The caller holds m.mu.
func (m *MemoryStore) expires(key string, at time.Time) {
	heap.Push(&m.expiry, expiryEntry{at: at, key: key})
}

type expiryEntry struct {
	at  time.Time
	key string
}

// expiryQueue is a min-heap of expiry entries by time (container/heap).
type expiryQueue []expiryEntry

func (q expiryQueue) Len() int           { return len(q) }
func (q expiryQueue) Less(i, j int) bool { return q[i].at.Before(q[j].at) }
func (q expiryQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *expiryQueue) Push(x any)        { *q = append(*q, x.(expiryEntry)) }
func (q *expiryQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = expiryEntry{}
	*q = old[:len(old)-1]
	return e
}

// Claim implements Store.
func (m *MemoryStore) Claim(_ context.Context, key, fingerprint string, now time.Time, lease, ttl time.Duration) (Claim, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.recs == nil {
		m.recs = make(map[string]Record)
	}
	m.sweep(now)
	if r, ok := m.recs[key]; ok && now.Before(r.ExpiresAt) && (r.State == Completed || now.Before(r.LockedUntil)) {
		return Claim{Existing: copyRecord(r)}, nil
	}
	tok := token.New()
	m.recs[key] = Record{Key: key, Fingerprint: fingerprint, State: InFlight, Token: tok, LockedUntil: now.Add(lease), ExpiresAt: now.Add(ttl)}
	m.expires(key, now.Add(ttl))
	return Claim{Claimed: true, Token: tok}, nil
}

// Extend implements Store.
func (m *MemoryStore) Extend(_ context.Context, key, token string, now time.Time, lease time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[key]
	if !ok || r.State != InFlight || r.Token != token {
		return ErrLeaseLost
	}
	r.LockedUntil = now.Add(lease)
	m.recs[key] = r
	return nil
}

// Complete implements Store.
func (m *MemoryStore) Complete(_ context.Context, key, token string, resp Response, now time.Time, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[key]
	if !ok || r.State != InFlight || r.Token != token {
		return ErrLeaseLost
	}
	r.State, r.Response, r.ExpiresAt = Completed, copyResponse(resp), now.Add(ttl)
	m.recs[key] = r
	m.expires(key, r.ExpiresAt)
	m.sweep(now)
	return nil
}

// Release implements Store.
func (m *MemoryStore) Release(_ context.Context, key, token string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[key]
	if !ok || r.State != InFlight || r.Token != token {
		return ErrLeaseLost
	}
	delete(m.recs, key)
	return nil
}

// Reap implements Store. A MemoryStore sweeps itself as it is written to
// (see MemoryStore); Reap deletes every key expired before now at once.
func (m *MemoryStore) Reap(_ context.Context, now time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k, r := range m.recs {
		if !now.Before(r.ExpiresAt) {
			delete(m.recs, k)
			n++
		}
	}
	return n, nil
}

func copyRecord(r Record) Record {
	r.Response = copyResponse(r.Response)
	return r
}

func copyResponse(r Response) Response {
	r.Header = maps.Clone(r.Header)
	for k, v := range r.Header {
		r.Header[k] = append([]string(nil), v...)
	}
	r.Body = append([]byte(nil), r.Body...)
	return r
}
