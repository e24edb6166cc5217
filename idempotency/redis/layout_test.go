package redis_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/rebound-go/rebound/idempotency"
	"github.com/rebound-go/rebound/idempotency/internal/token"
	"github.com/rebound-go/rebound/idempotency/redis"
)

// TestLayout checks what a record looks like in Redis: one hash, its
// times in Unix nanoseconds, the body stored raw, and a native expiry of
// the TTL plus a minute's slack that Complete renews and Release drops.
func TestLayout(t *testing.T) {
	client, prefix := testClient(t)
	s := newStore(t, client, redis.Config{Prefix: prefix})
	ctx := context.Background()
	now := time.Date(2026, 11, 26, 12, 0, 0, 123456789, time.UTC)

	c, err := s.Claim(ctx, "k", "fp", now, 10*time.Second, time.Hour)
	if err != nil || !c.Claimed {
		t.Fatalf("claim: %+v, %v", c, err)
	}
	h := client.HGetAll(ctx, prefix+"k").Val()
	want := map[string]string{
		"fingerprint":  "fp",
		"state":        "in_flight",
		"token":        c.Token,
		"locked_until": strconv.FormatInt(now.Add(10*time.Second).UnixNano(), 10),
		"expires_at":   strconv.FormatInt(now.Add(time.Hour).UnixNano(), 10),
	}
	if !equalMaps(h, want) {
		t.Fatalf("claimed hash %v, want %v", h, want)
	}
	checkPTTL(t, client.PTTL(ctx, prefix+"k").Val(), time.Hour+time.Minute)

	body := []byte("\x00\xff\xfe not UTF-8")
	resp := idempotency.Response{Status: 200, Header: http.Header{"X-Raw": {"\xff"}}, Body: body}
	if err := s.Complete(ctx, "k", c.Token, resp, now, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	h = client.HGetAll(ctx, prefix+"k").Val()
	if h["state"] != "completed" || h["status"] != "200" || h["body"] != string(body) ||
		h["expires_at"] != strconv.FormatInt(now.Add(24*time.Hour).UnixNano(), 10) {
		t.Fatalf("completed hash %q", h)
	}
	checkPTTL(t, client.PTTL(ctx, prefix+"k").Val(), 24*time.Hour+time.Minute)

	got, _ := s.Claim(ctx, "k", "fp", now, time.Second, time.Hour)
	if got.Existing.Response.Header.Get("X-Raw") != "\xff" || string(got.Existing.Response.Body) != string(body) {
		t.Fatalf("replayed %+v", got.Existing.Response)
	}
	if !got.Existing.ExpiresAt.Equal(now.Add(24*time.Hour)) || got.Existing.Key != "k" {
		t.Fatalf("existing record %+v", got.Existing)
	}

	c2, _ := s.Claim(ctx, "k2", "fp", now, time.Second, time.Hour)
	if err := s.Release(ctx, "k2", c2.Token); err != nil {
		t.Fatal(err)
	}
	if n := client.Exists(ctx, prefix+"k2").Val(); n != 0 {
		t.Fatal("a released key is still in Redis")
	}
}

func checkPTTL(t *testing.T, got, want time.Duration) {
	t.Helper()
	if got > want || got < want-5*time.Second {
		t.Fatalf("native expiry in %v, want about %v", got, want)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || v != w {
			return false
		}
	}
	return true
}

// TestNanosecondBoundaries checks that leases and TTLs end at the exact
// nanosecond, which a Lua double (exact only to 256 ns at today's Unix
// nanoseconds) would get wrong, including at instants before 1970.
func TestNanosecondBoundaries(t *testing.T) {
	client, prefix := testClient(t)
	s := newStore(t, client, redis.Config{Prefix: prefix})
	ctx := context.Background()
	const lease, ttl = 10 * time.Second, time.Hour
	for _, now := range []time.Time{
		time.Date(2026, 11, 26, 12, 0, 0, 1, time.UTC),
		time.Date(2026, 11, 26, 12, 0, 0, 999_999_999, time.UTC),
		time.Date(1969, 12, 31, 23, 0, 0, 500, time.UTC),
		time.Unix(0, -1),
		time.Unix(0, 0),
		time.Unix(0, 7),
	} {
		key := strconv.FormatInt(now.UnixNano(), 10)
		c, err := s.Claim(ctx, key, "fp", now, lease, ttl)
		if err != nil || !c.Claimed {
			t.Fatalf("%v: claim: %+v, %v", now, c, err)
		}
		if c2, _ := s.Claim(ctx, key, "fp", now.Add(lease-time.Nanosecond), lease, ttl); c2.Claimed {
			t.Fatalf("%v: the lease was taken over a nanosecond early", now)
		}
		c3, _ := s.Claim(ctx, key, "fp", now.Add(lease), lease, ttl)
		if !c3.Claimed {
			t.Fatalf("%v: the lease was not taken over when it ended", now)
		}
		later := now.Add(lease)
		if err := s.Complete(ctx, key, c3.Token, idempotency.Response{Status: 204}, later, ttl); err != nil {
			t.Fatal(err)
		}
		if c4, _ := s.Claim(ctx, key, "fp", later.Add(ttl-time.Nanosecond), lease, ttl); c4.Claimed {
			t.Fatalf("%v: a completed key expired a nanosecond early", now)
		}
		if c5, _ := s.Claim(ctx, key, "fp", later.Add(ttl), lease, ttl); !c5.Claimed {
			t.Fatalf("%v: a completed key did not expire at its TTL", now)
		}
	}
}

// TestDefaultPrefix checks that the zero Config puts keys under
// "rebound:idem:".
func TestDefaultPrefix(t *testing.T) {
	client, _ := testClient(t)
	s := newStore(t, client, redis.Config{})
	ctx := context.Background()
	key := "default-prefix-test-" + token.New()
	t.Cleanup(func() { client.Del(ctx, redis.DefaultPrefix+key) })
	c, err := s.Claim(ctx, key, "fp", time.Now(), time.Second, time.Minute)
	if err != nil || !c.Claimed {
		t.Fatalf("claim: %+v, %v", c, err)
	}
	if n := client.Exists(ctx, "rebound:idem:"+key).Val(); n != 1 {
		t.Fatal("the key is not under rebound:idem:")
	}
}

// TestWrongType checks that a key holding something else than a record
// is an error, not a claim or a lost lease.
func TestWrongType(t *testing.T) {
	client, prefix := testClient(t)
	s := newStore(t, client, redis.Config{Prefix: prefix})
	ctx := context.Background()
	client.Set(ctx, prefix+"str", "x", time.Minute)
	if c, err := s.Claim(ctx, "str", "fp", time.Now(), time.Second, time.Minute); err == nil {
		t.Fatalf("claim of a string key: %+v, want an error", c)
	}
	if err := s.Release(ctx, "str", "tok"); err == nil || errors.Is(err, idempotency.ErrLeaseLost) {
		t.Fatalf("release of a string key: %v, want a Redis error", err)
	}
}

func BenchmarkClaimComplete(b *testing.B) {
	client, prefix := testClient(b)
	s := newStore(b, client, redis.Config{Prefix: prefix})
	ctx := context.Background()
	resp := idempotency.Response{Status: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"ok":true}`)}
	now := time.Now()
	for i := 0; b.Loop(); i++ {
		key := strconv.Itoa(i)
		c, err := s.Claim(ctx, key, "fp", now, time.Second, time.Minute)
		if err != nil || !c.Claimed {
			b.Fatalf("claim: %+v, %v", c, err)
		}
		if err := s.Complete(ctx, key, c.Token, resp, now, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}
