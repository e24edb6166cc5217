package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rebound-go/rebound/idempotency"
	"github.com/rebound-go/rebound/idempotency/internal/token"
)

// DefaultPrefix is the key prefix when Config.Prefix is empty.
const DefaultPrefix = "rebound:idem:"

// slack is added to a record's time to live for its native Redis expiry,
// so that clock skew between the callers and Redis, and the time a call
// spends on the way, never let Redis delete a record that is still alive
// by the callers' clocks.
const slack = time.Minute

// Config configures a Store. Its zero value means the defaults.
type Config struct {
	// Prefix is put before every key: any string, since Redis keys are
	// binary-safe. Default DefaultPrefix, "rebound:idem:". On Redis
	// Cluster a prefix with a hash tag, such as "{idem}:", puts every
	// record in one slot; without one, records spread over the cluster.
	Prefix string
}

// Store is an idempotency.Store on Redis. It is safe for concurrent use.
type Store struct {
	client goredis.UniversalClient
	prefix string
}

var _ idempotency.Store = (*Store)(nil)

// New returns a Store keeping its records in client: a go-redis Client,
// ClusterClient, Ring or failover client. It sends nothing to Redis. Every
// Config is valid; New fails only without a client.
//
// The client stays the caller's: the Store does not close it, and Close
// leaves it open. Close the client after the Store's last use.
func New(client goredis.UniversalClient, cfg Config) (*Store, error) {
	if client == nil {
		return nil, errors.New("idempotency/redis: New needs a client")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	return &Store{client: client, prefix: cfg.Prefix}, nil
}

// Close releases what the Store holds of its own, which today is nothing,
// and returns nil; it is there so that every store closes the same way.
// It does not close the client, which is the caller's.
func (s *Store) Close() error { return nil }

// Claim implements idempotency.Store.
func (s *Store) Claim(ctx context.Context, key, fingerprint string, now time.Time, lease, ttl time.Duration) (idempotency.Claim, error) {
	tok := token.New()
	res, err := claimScript.Run(ctx, s.client, []string{s.prefix + key},
		fingerprint, tok, formatTime(now), formatTime(now.Add(lease)), formatTime(now.Add(ttl)), expiryMillis(ttl),
	).Result()
	if err != nil {
		return idempotency.Claim{}, fmt.Errorf("idempotency/redis: claim %q: %w", key, err)
	}
	switch res := res.(type) {
	case int64:
		return idempotency.Claim{Claimed: true, Token: tok}, nil
	case []any:
		r, err := decodeRecord(key, res)
		if err != nil {
			return idempotency.Claim{}, fmt.Errorf("idempotency/redis: claim %q: %w", key, err)
		}
		return idempotency.Claim{Existing: r}, nil
	}
	return idempotency.Claim{}, fmt.Errorf("idempotency/redis: claim %q: unexpected reply %T", key, res)
}

// Extend implements idempotency.Store.
func (s *Store) Extend(ctx context.Context, key, token string, now time.Time, lease time.Duration) error {
	return s.fenced(ctx, "extend", extendScript, key, token, formatTime(now.Add(lease)))
}

// Complete implements idempotency.Store.
func (s *Store) Complete(ctx context.Context, key, token string, resp idempotency.Response, now time.Time, ttl time.Duration) error {
	return s.fenced(ctx, "complete", completeScript, key, token,
		formatTime(now.Add(ttl)), expiryMillis(ttl), strconv.Itoa(resp.Status), encodeHeader(resp.Header), resp.Body)
}

// Release implements idempotency.Store.
func (s *Store) Release(ctx context.Context, key, token string) error {
	return s.fenced(ctx, "release", releaseScript, key, token)
}

// Reap implements idempotency.Store. Redis deletes expired records by
// itself, so Reap does nothing and returns 0.
func (s *Store) Reap(context.Context, time.Time) (int, error) { return 0, nil }

// fenced runs one of the scripts that need the key held in flight by
// token, which return 1 on success and 0 when the lease is lost.
func (s *Store) fenced(ctx context.Context, op string, script *goredis.Script, key, token string, args ...any) error {
	n, err := script.Run(ctx, s.client, []string{s.prefix + key}, append([]any{token}, args...)...).Int64()
	if err != nil {
		return fmt.Errorf("idempotency/redis: %s %q: %w", op, key, err)
	}
	if n != 1 {
		return idempotency.ErrLeaseLost
	}
	return nil
}
