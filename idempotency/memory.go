package idempotency

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"maps"
	"sync"
	"time"
)

// MemoryStore is a Store in process memory, for tests and single-process
// programs. Its zero value is ready to use; it is safe for concurrent use.
type MemoryStore struct {
	mu   sync.Mutex
	recs map[string]Record
}

// NewToken returns a random lease token.
func NewToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Claim implements Store.
func (m *MemoryStore) Claim(_ context.Context, key, fingerprint string, now time.Time, lease, ttl time.Duration) (Claim, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.recs == nil {
		m.recs = make(map[string]Record)
	}
	if r, ok := m.recs[key]; ok && now.Before(r.ExpiresAt) && (r.State == Completed || now.Before(r.LockedUntil)) {
		return Claim{Existing: copyRecord(r)}, nil
	}
	tok := NewToken()
	m.recs[key] = Record{Key: key, Fingerprint: fingerprint, State: InFlight, Token: tok, LockedUntil: now.Add(lease), ExpiresAt: now.Add(ttl)}
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

// Reap implements Store.
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
