package rebound

import (
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
)

// DefaultKeyLimit is the number of keys a zero limit stands for in
// NewBreakers and NewBudgets.
const DefaultKeyLimit = 1000

// keyed maps keys to shared objects, holding at most limit of them. When it
// is full, a new key evicts an idle entry chosen by the second-chance (clock)
// algorithm: entries used since the hand last passed are spared once. Entries
// that cannot be evicted (open breakers) are always spared; when every entry
// is spared, the new key gets an object that is not kept.
type keyed[V any] struct {
	limit     int
	newV      func(key string) V
	used      func(V) *atomic.Bool
	evictable func(V) bool

	mu    sync.RWMutex
	index map[string]int
	keys  []string
	vals  []V
	hand  int
}

func (k *keyed[V]) get(key string) V {
	k.mu.RLock()
	i, ok := k.index[key]
	var v V
	if ok {
		v = k.vals[i]
	}
	k.mu.RUnlock()
	if ok {
		if u := k.used(v); !u.Load() {
			u.Store(true)
		}
		return v
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if i, ok := k.index[key]; ok {
		return k.vals[i]
	}
	// A new entry starts unmarked: it earns its second chance by being used.
	v = k.newV(key)
	if k.index == nil {
		k.index = make(map[string]int)
	}
	if len(k.vals) < k.limit {
		k.index[key] = len(k.vals)
		k.keys = append(k.keys, key)
		k.vals = append(k.vals, v)
		return v
	}
	// Two turns of the hand: the first clears the used marks it passes.
	for range 2 * len(k.vals) {
		i := k.hand
		k.hand = (k.hand + 1) % len(k.vals)
		old := k.vals[i]
		if !k.evictable(old) {
			continue
		}
		if u := k.used(old); u.Load() {
			u.Store(false)
			continue
		}
		delete(k.index, k.keys[i])
		k.index[key] = i
		k.keys[i], k.vals[i] = key, v
		return v
	}
	return v
}

func (k *keyed[V]) each(fn func(key string, v V)) {
	k.mu.RLock()
	keys := append([]string(nil), k.keys...)
	vals := append([]V(nil), k.vals...)
	k.mu.RUnlock()
	order := make([]int, len(keys))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return keys[order[a]] < keys[order[b]] })
	for _, i := range order {
		fn(keys[i], vals[i])
	}
}

func (k *keyed[V]) len() int {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return len(k.vals)
}

func checkLimit(field string, limit int) (int, error) {
	if limit < 0 {
		return 0, &ConfigError{field, "want 0 (default " + strconv.Itoa(DefaultKeyLimit) + ") or more, got " + strconv.Itoa(limit)}
	}
	if limit == 0 {
		return DefaultKeyLimit, nil
	}
	return limit, nil
}

// Breakers is a registry of breakers keyed by endpoint, all made from one
// configuration, holding at most a fixed number of keys. When full, a new key
// evicts a closed breaker that has been idle longest in the clock algorithm's
// sense; open and half-open breakers are never evicted. If every breaker is
// open or half-open, the new key gets a breaker that is not kept.
//
// Breakers is safe for concurrent use; Get on a known key takes only a read
// lock.
type Breakers struct{ k keyed[*Breaker] }

// NewBreakers returns a registry whose breakers use cfg with Name set to
// their key, keeping at most limit keys (0 means DefaultKeyLimit).
func NewBreakers(cfg BreakerConfig, limit int) (*Breakers, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if limit, err = checkLimit("Breakers limit", limit); err != nil {
		return nil, err
	}
	g := &Breakers{}
	g.k = keyed[*Breaker]{
		limit: limit,
		newV: func(key string) *Breaker {
			c := cfg
			c.Name = key
			b, _ := NewBreaker(c) // cfg was validated above
			return b
		},
		used:      func(b *Breaker) *atomic.Bool { return &b.used },
		evictable: func(b *Breaker) bool { return BreakerState(b.state.Load()) == Closed },
	}
	return g, nil
}

// Get returns the breaker for key, creating it if needed.
func (g *Breakers) Get(key string) *Breaker { return g.k.get(key) }

// Each calls fn for every kept breaker in key order, outside the registry's
// lock.
func (g *Breakers) Each(fn func(b *Breaker)) { g.k.each(func(_ string, b *Breaker) { fn(b) }) }

// Len returns the number of kept breakers.
func (g *Breakers) Len() int { return g.k.len() }

// Budgets is a registry of retry budgets keyed by endpoint, all made from one
// configuration, holding at most a fixed number of keys; when full, a new key
// evicts an idle one (clock algorithm). It is safe for concurrent use.
type Budgets struct{ k keyed[*Budget] }

// NewBudgets returns a registry whose budgets use cfg with Name set to their
// key, keeping at most limit keys (0 means DefaultKeyLimit).
func NewBudgets(cfg BudgetConfig, limit int) (*Budgets, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if limit, err = checkLimit("Budgets limit", limit); err != nil {
		return nil, err
	}
	g := &Budgets{}
	g.k = keyed[*Budget]{
		limit: limit,
		newV: func(key string) *Budget {
			c := cfg
			c.Name = key
			b, _ := NewBudget(c) // cfg was validated above
			return b
		},
		used:      func(b *Budget) *atomic.Bool { return &b.used },
		evictable: func(*Budget) bool { return true },
	}
	return g, nil
}

// Get returns the budget for key, creating it if needed.
func (g *Budgets) Get(key string) *Budget { return g.k.get(key) }

// Each calls fn for every kept budget in key order, outside the registry's
// lock.
func (g *Budgets) Each(fn func(b *Budget)) { g.k.each(func(_ string, b *Budget) { fn(b) }) }

// Len returns the number of kept budgets.
func (g *Budgets) Len() int { return g.k.len() }
