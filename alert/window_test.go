package alert

import (
	"testing"
	"time"
)

func TestBucketArithmetic(t *testing.T) {
	const i = 10 * time.Second
	for _, tc := range []struct {
		d           time.Duration
		bucket      int64
		next        time.Duration
		first, last int64 // of the evaluation at bucket's start, 30 buckets
	}{
		{0, 0, i, -30, -1},
		{time.Nanosecond, 0, i - time.Nanosecond, -30, -1},
		{i - 1, 0, 1, -30, -1},
		// An instant on a boundary belongs to the bucket it starts: the
		// evaluation at that instant does not read it.
		{i, 1, i, -29, 0},
		{5 * time.Minute, 30, i, 0, 29},
		{5*time.Minute + 3*time.Second, 30, 7 * time.Second, 0, 29},
		{-time.Second, 0, time.Second, -30, -1},
	} {
		k := bucketOf(tc.d, i)
		first, last := window(k, 30)
		if k != tc.bucket || untilNext(tc.d, i) != tc.next || first != tc.first || last != tc.last {
			t.Errorf("at %v: bucket %d, next in %v, window [%d, %d]; want %d, %v, [%d, %d]",
				tc.d, k, untilNext(tc.d, i), first, last, tc.bucket, tc.next, tc.first, tc.last)
		}
	}
	if n := ringLen(30); n != 31 {
		t.Errorf("ring of %d slots for a window of 30 buckets, want 31: the bucket being written must not evict the oldest read", n)
	}
}

func TestCounter(t *testing.T) {
	var c counter
	c.add(5, 2)
	c.add(5, 1)
	if got := c.get(5); got != 3 {
		t.Fatalf("bucket 5: %d, want 3", got)
	}
	if got := c.get(36); got != 0 {
		t.Fatalf("bucket 36 read from a slot holding 5: %d, want 0", got)
	}
	// The first write of a newer bucket replaces the count.
	c.add(36, 1)
	if c.get(36) != 1 || c.get(5) != 0 {
		t.Fatalf("after a write of bucket 36: %d in 36, %d in 5; want 1, 0", c.get(36), c.get(5))
	}
	// A late write for an older bucket is dropped, not allowed to reset.
	c.add(5, 7)
	c.zero(5)
	if c.get(36) != 1 {
		t.Fatalf("a late write reset bucket 36: %d, want 1", c.get(36))
	}
	// A slot idle for 2^31 buckets (24 days of 1 ms buckets), whose 32-bit
	// tag a signed comparison would take for a newer one, is reset.
	const idle = 36 + 1<<31
	c.add(idle, 4)
	if got := c.get(idle); got != 4 {
		t.Fatalf("after 2^31 idle buckets: %d, want 4", got)
	}
	c.zero(idle)
	if got := c.get(idle); got != 0 {
		t.Fatalf("after zero: %d", got)
	}
	// Counts saturate instead of carrying into the tag.
	c.add(99, countMask-1)
	c.add(99, 5)
	if got := c.get(99); got != countMask {
		t.Fatalf("saturated count %d, want %d", got, int64(countMask))
	}
}
