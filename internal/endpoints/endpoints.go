// Package endpoints keeps an observer's state per endpoint (its metric
// handles, its attribute sets), bounded in number: the one shape
// reboundprom and reboundotel share.
package endpoints

import (
	"sync"
	"sync/atomic"
)

// Other is the endpoint that names past the limit fold into.
const Other = "_other"

// Cache maps endpoint names to values made once per name, keeping at most
// a fixed number of names; once full, every new name gets the one value
// made for Other. A lookup takes no lock and writes nothing but the last
// name looked up: most programs call one endpoint many times in a row, and
// the map is copied on write. It is safe for concurrent use.
type Cache[V any] struct {
	limit  int
	create func(name string) V
	full   func(name string)

	names atomic.Pointer[map[string]*entry[V]] // at most limit entries
	last  atomic.Pointer[entry[V]]             // the entry of the last lookup
	other atomic.Pointer[entry[V]]             // Other's, once the limit is reached
	mu    sync.Mutex                           // writers of names and other
}

type entry[V any] struct {
	name string
	v    V
}

// New returns a cache of at most limit names whose values create makes
// (called under the cache's lock, once per name kept, and once for
// Other). full, when not nil, is told the first name that did not fit.
func New[V any](limit int, create func(name string) V, full func(name string)) *Cache[V] {
	c := &Cache[V]{limit: limit, create: create, full: full}
	empty := map[string]*entry[V]{}
	c.names.Store(&empty)
	return c
}

// Get returns the value of name, making it on its first lookup, or Other's
// when the cache is full.
func (c *Cache[V]) Get(name string) V {
	if e := c.last.Load(); e != nil && e.name == name {
		return e.v
	}
	if e := (*c.names.Load())[name]; e != nil {
		c.last.Store(e)
		return e.v
	}
	if o := c.other.Load(); o != nil {
		return o.v // full: every unknown name is Other
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := *c.names.Load()
	if e := cur[name]; e != nil {
		return e.v
	}
	if len(cur) >= c.limit {
		if o := c.other.Load(); o != nil {
			return o.v
		}
		o := &entry[V]{name: Other, v: c.create(Other)}
		c.other.Store(o)
		if c.full != nil {
			c.full(name)
		}
		return o.v
	}
	next := make(map[string]*entry[V], len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	e := &entry[V]{name: name, v: c.create(name)}
	next[name] = e
	c.names.Store(&next)
	return e.v
}
