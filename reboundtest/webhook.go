// A webhook receiver for tests: it verifies, counts and keeps deliveries.

package reboundtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/rebound-go/rebound/webhook"
)

// WebhookDelivery is a request a WebhookReceiver got.
type WebhookDelivery struct {
	// ID is the webhook-id header: the message ID, the same on every
	// retry.
	ID string
	// Attempt is the sender's Webhook-Attempt header (1 for the first
	// attempt), or 0 when there is none.
	Attempt int
	// Nth is the delivery's number among the verified deliveries of ID
	// that the receiver got, from 1; 0 for a delivery that failed
	// verification.
	Nth int
	// Header and Body are the request's. Do not modify them.
	Header http.Header
	Body   []byte
	// Status is what the receiver answered.
	Status int
	// Err is why the delivery failed verification; nil for a verified
	// one.
	Err error
}

// Accepted reports whether the receiver answered the delivery with a 2xx:
// the sender may consider it delivered.
func (d WebhookDelivery) Accepted() bool { return d.Status >= 200 && d.Status < 300 }

// WebhookReceiver is an http.Handler that receives webhooks as a careful
// receiver would, for tests of senders such as the outbox's relay. Serve it
// with httptest.NewServer (an outbox.WebhookSender then needs its
// Addresses to allow loopback).
//
// It verifies each request's Standard Webhooks signature with
// webhook.Verify and its secrets, and answers as webhook.VerifyMiddleware
// does: 401 for a signature that matches no secret or a timestamp outside
// webhook.DefaultTolerance, 400 for missing or malformed headers, 413 for a
// body above webhook.MaxBodyBytes. A verified delivery is answered 204, or
// what Fail says. It keeps every request, and counts the deliveries of each
// message ID.
//
// To meet faults on the wire (resets, hangs, responses lost after the
// receiver accepted), put a Script's Handler in front of it:
// script.Handler(receiver). The deliveries the script answers itself never
// reach the receiver; an applied-but-lost one is accepted, and its retry is
// a duplicate.
//
// A WebhookReceiver is safe for concurrent use. Set Fail before it serves.
type WebhookReceiver struct {
	// Fail, when set, is called with each verified delivery (Status not
	// yet set) and returns the status to answer instead of 204: a 5xx or
	// 429 that a sender retries, a 4xx it does not. 0 means 204; a 2xx is
	// answered as given, and accepts the delivery as 204 does. Fail may be
	// called from several goroutines at once.
	Fail func(d WebhookDelivery) int

	keys [][]byte

	mu         sync.Mutex
	deliveries []WebhookDelivery
	count      map[string]int // verified deliveries per ID
	accepted   map[string]int // accepted deliveries per ID
	invalid    int
	changed    chan struct{} // closed and replaced at each delivery recorded
}

// NewWebhookReceiver returns a receiver that accepts deliveries signed
// with any of secrets ("whsec_…", as an outbox.Destination's Secrets; pass
// the old and the new one to test a key rotation). It panics when a secret
// is invalid, or when there is none: a receiver that verifies nothing must
// not pass a test.
func NewWebhookReceiver(secrets ...string) *WebhookReceiver {
	if len(secrets) == 0 {
		panic("reboundtest: NewWebhookReceiver needs at least one secret")
	}
	r := &WebhookReceiver{count: map[string]int{}, accepted: map[string]int{}, changed: make(chan struct{})}
	for i, s := range secrets {
		k, err := webhook.ParseSecret(s)
		if err != nil {
			panic(fmt.Sprintf("reboundtest: NewWebhookReceiver: secret %d of %d: %v", i+1, len(secrets), err))
		}
		r.keys = append(r.keys, k)
	}
	return r
}

// ServeHTTP receives one delivery.
func (r *WebhookReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	d := WebhookDelivery{ID: req.Header.Get(webhook.HeaderID), Header: req.Header.Clone()}
	d.Attempt, _ = strconv.Atoi(req.Header.Get(webhook.HeaderAttempt))
	body, err := io.ReadAll(io.LimitReader(req.Body, webhook.MaxBodyBytes+1))
	d.Body = body
	switch {
	case err != nil:
		d.Status, d.Err = http.StatusBadRequest, fmt.Errorf("reboundtest: reading the body: %w", err)
	case len(body) > webhook.MaxBodyBytes:
		d.Status, d.Err = http.StatusRequestEntityTooLarge, webhook.ErrBodyTooLarge
	default:
		if d.Err = webhook.Verify(r.keys, req.Header, body, time.Now(), 0); d.Err != nil {
			d.Status = http.StatusBadRequest
			if errors.Is(d.Err, webhook.ErrInvalidSignature) || errors.Is(d.Err, webhook.ErrTimestampTooOld) || errors.Is(d.Err, webhook.ErrTimestampTooNew) {
				d.Status = http.StatusUnauthorized
			}
		}
	}
	if d.Err != nil {
		r.mu.Lock()
		r.invalid++
		r.record(d)
		r.mu.Unlock()
		http.Error(w, d.Err.Error(), d.Status)
		return
	}

	r.mu.Lock()
	r.count[d.ID]++
	d.Nth = r.count[d.ID]
	r.mu.Unlock()
	d.Status = http.StatusNoContent
	if r.Fail != nil {
		if s := r.Fail(d); s != 0 {
			d.Status = s
		}
	}
	r.mu.Lock()
	if d.Accepted() {
		r.accepted[d.ID]++
	}
	r.record(d)
	r.mu.Unlock()
	w.WriteHeader(d.Status)
}

// record keeps d and wakes the waiters. r.mu is held.
func (r *WebhookReceiver) record(d WebhookDelivery) {
	r.deliveries = append(r.deliveries, d)
	close(r.changed)
	r.changed = make(chan struct{})
}

// Deliveries returns every request received so far, in the order they
// were answered, the refused ones included.
func (r *WebhookReceiver) Deliveries() []WebhookDelivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]WebhookDelivery(nil), r.deliveries...)
}

// Count returns how many verified deliveries of message id the receiver
// got, whatever it answered.
func (r *WebhookReceiver) Count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count[id]
}

// IDs returns how many distinct message IDs the receiver accepted.
func (r *WebhookReceiver) IDs() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.accepted)
}

// Duplicates returns the message IDs the receiver accepted more than once,
// with how many times each: the deliveries a receiver must deduplicate
// (by webhook-id) to apply each message once. A retry after a refusal (such
// as a 503 of Fail) is not a duplicate.
func (r *WebhookReceiver) Duplicates() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	dup := map[string]int{}
	for id, n := range r.accepted {
		if n > 1 {
			dup[id] = n
		}
	}
	return dup
}

// Invalid returns how many requests failed verification.
func (r *WebhookReceiver) Invalid() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.invalid
}

// Wait returns once the receiver has accepted n distinct messages, or
// ctx's error if ctx ends first.
func (r *WebhookReceiver) Wait(ctx context.Context, n int) error {
	return r.wait(ctx, func() (int, bool) { return len(r.accepted), len(r.accepted) >= n }, n, "webhook messages accepted")
}

// WaitDeliveries returns once the receiver has received n requests,
// verified or not, or ctx's error if ctx ends first.
func (r *WebhookReceiver) WaitDeliveries(ctx context.Context, n int) error {
	return r.wait(ctx, func() (int, bool) { return len(r.deliveries), len(r.deliveries) >= n }, n, "webhook deliveries received")
}

// wait waits until done, called with r.mu held, reports true.
func (r *WebhookReceiver) wait(ctx context.Context, done func() (int, bool), n int, what string) error {
	for {
		r.mu.Lock()
		got, ok := done()
		changed := r.changed
		r.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("reboundtest: %d of %d %s: %w", got, n, what, context.Cause(ctx))
		}
	}
}

// WebhookFailFirst returns a Fail function that answers status to the
// first n verified deliveries of each message: with n 1 and status 503,
// every message is accepted at its second delivery.
func WebhookFailFirst(n, status int) func(WebhookDelivery) int {
	return func(d WebhookDelivery) int {
		if d.Nth <= n {
			return status
		}
		return 0
	}
}
