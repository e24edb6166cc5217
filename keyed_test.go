package rebound_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/rebound-go/rebound"
)

func TestBreakersAreBoundedAndKeyed(t *testing.T) {
	g, err := rebound.NewBreakers(rebound.BreakerConfig{ConsecutiveFailures: 1, FailureRate: -1}, 3)
	if err != nil {
		t.Fatal(err)
	}
	a := g.Get("a")
	if g.Get("a") != a || a.Name() != "a" {
		t.Fatal("Get does not return the same named breaker for a key")
	}
	_ = call(a, errReset) // a is open: never evicted
	g.Get("b")
	g.Get("c")
	for i := 0; i < 20; i++ {
		g.Get(fmt.Sprint("k", i))
		if g.Len() > 3 {
			t.Fatalf("registry holds %d breakers, limit 3", g.Len())
		}
	}
	if g.Get("a") != a {
		t.Fatal("an open breaker was evicted")
	}
	var names []string
	g.Each(func(b *rebound.Breaker) { names = append(names, b.Name()) })
	if len(names) != 3 || names[0] != "a" {
		t.Fatalf("Each visited %v", names)
	}
}

func TestBreakersSpareRecentlyUsed(t *testing.T) {
	g, _ := rebound.NewBreakers(rebound.BreakerConfig{}, 2)
	hot := g.Get("hot")
	g.Get("cold")
	// Eviction sweeps clear the used marks, so use "hot" between new keys:
	// it keeps its second chance and the cold entries go.
	for i := 0; i < 10; i++ {
		_ = call(hot, nil)
		g.Get(fmt.Sprint("new", i))
	}
	if g.Get("hot") != hot {
		t.Fatal("the breaker in use was evicted")
	}
}

func TestBreakersAllOpenGivesUntrackedBreaker(t *testing.T) {
	g, _ := rebound.NewBreakers(rebound.BreakerConfig{ConsecutiveFailures: 1, FailureRate: -1}, 2)
	_ = call(g.Get("a"), errReset)
	_ = call(g.Get("b"), errReset)
	c := g.Get("c")
	if c == nil || c.State() != rebound.Closed || g.Len() != 2 {
		t.Fatalf("full of open breakers: got %v, len %d", c, g.Len())
	}
	if g.Get("a").State() != rebound.Open {
		t.Fatal("open breaker lost")
	}
}

func TestBudgetsRegistry(t *testing.T) {
	g, err := rebound.NewBudgets(rebound.BudgetConfig{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if g.Get("x") != g.Get("x") || g.Get("x").Name() != "x" {
		t.Fatal("Get does not return the same named budget")
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 2000; j++ {
				g.Get(fmt.Sprint("e", j%1500)).RecordCall()
			}
		}()
	}
	wg.Wait()
	if g.Len() != rebound.DefaultKeyLimit {
		t.Fatalf("len %d, want the default limit %d", g.Len(), rebound.DefaultKeyLimit)
	}
	if _, err := rebound.NewBudgets(rebound.BudgetConfig{}, -1); err == nil {
		t.Fatal("negative limit accepted")
	}
}
