package endpoints

import (
	"strconv"
	"sync"
	"testing"
)

func TestCacheMakesEachNameOnceAndFoldsPastTheLimit(t *testing.T) {
	made := map[string]int{}
	var full []string
	c := New(2, func(name string) *string {
		made[name]++
		return &name
	}, func(name string) { full = append(full, name) })
	a := c.Get("a")
	if *a != "a" || c.Get("a") != a {
		t.Fatalf("Get(a) = %q, then another value", *a)
	}
	b := c.Get("b")
	if c.Get("a") != a || c.Get("b") != b {
		t.Fatal("a known name got a new value")
	}
	x, y := c.Get("x"), c.Get("y")
	if *x != Other || x != y {
		t.Fatalf("names past the limit got %q and %q, want the one %q value", *x, *y, Other)
	}
	if c.Get("a") != a {
		t.Fatal("a kept name folded into Other once the cache was full")
	}
	if len(full) != 1 || full[0] != "x" {
		t.Fatalf("full told %q, want once, of x", full)
	}
	for name, n := range made {
		if n != 1 {
			t.Fatalf("%s made %d times", name, n)
		}
	}
}

func TestCacheConcurrentGets(t *testing.T) {
	var mu sync.Mutex
	made := map[string]int{}
	c := New(50, func(name string) string {
		mu.Lock()
		made[name]++
		mu.Unlock()
		return name
	}, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				name := strconv.Itoa((i + g) % 60)
				if got := c.Get(name); got != name && got != Other {
					t.Errorf("Get(%s) = %s", name, got)
				}
			}
		}()
	}
	wg.Wait()
	for name, n := range made {
		if n != 1 {
			t.Errorf("%s made %d times", name, n)
		}
	}
	if len(made) != 51 {
		t.Errorf("%d values made, want 50 names and Other", len(made))
	}
}

func TestCacheLookupAllocatesNothing(t *testing.T) {
	c := New(10, func(name string) *int { return new(int) }, nil)
	c.Get("a")
	c.Get("b")
	if n := testing.AllocsPerRun(100, func() { c.Get("a"); c.Get("b") }); n != 0 {
		t.Fatalf("%v allocations per lookup of known names", n)
	}
}
