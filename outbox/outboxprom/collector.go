package outboxprom

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/outbox"
)

// Config configures a Collector.
type Config struct {
	// Store is read at scrape time. Required.
	Store outbox.Store
	// Relays are reported by their heartbeat. Default none.
	Relays []*outbox.Relay
	// Timeout bounds the store query of one scrape. Default 5 s (below
	// Prometheus's default scrape timeout of 10 s).
	Timeout time.Duration
}

// Collector is a prometheus.Collector of an outbox's backlog; the package
// doc lists its metrics.
type Collector struct {
	cfg                               Config
	messages, oldest, heartbeat, took *prometheus.Desc
	errors                            prometheus.Counter
	mu                                sync.Mutex
}

// NewCollector returns the collector, or a *rebound.ConfigError naming the
// missing field; register it on your registry.
func NewCollector(cfg Config) (*Collector, error) {
	if cfg.Store == nil {
		return nil, &rebound.ConfigError{Field: "outboxprom.Config.Store", Problem: "required"}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	return &Collector{
		cfg:       cfg,
		messages:  prometheus.NewDesc("rebound_outbox_messages", "Outbox messages by destination and state.", []string{"destination", "state"}, nil),
		oldest:    prometheus.NewDesc("rebound_outbox_oldest_unsent_age_seconds", "Age of the oldest message neither sent nor dead, by destination.", []string{"destination"}, nil),
		heartbeat: prometheus.NewDesc("rebound_outbox_relay_last_poll_timestamp_seconds", "When each relay last claimed from the store.", []string{"relay"}, nil),
		took:      prometheus.NewDesc("rebound_outbox_collect_duration_seconds", "How long reading the outbox's state took at the last scrape.", nil, nil),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rebound_outbox_collect_errors_total",
			Help: "Scrapes that could not read the outbox's state.",
		}),
	}, nil
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.messages
	ch <- c.oldest
	ch <- c.heartbeat
	ch <- c.took
	c.errors.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock() // one store query at a time
	defer c.mu.Unlock()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
	defer cancel()
	stats, err := c.cfg.Store.Stats(ctx, start)
	if err != nil {
		c.errors.Inc()
	} else {
		for _, s := range stats {
			for _, v := range []struct {
				state string
				n     int
			}{{"pending", s.Pending}, {"delivering", s.Delivering}, {"retrying", s.Retrying}, {"dead", s.Dead}, {"sent", s.Sent}} {
				ch <- prometheus.MustNewConstMetric(c.messages, prometheus.GaugeValue, float64(v.n), s.Destination, v.state)
			}
			age := 0.0
			if !s.OldestUnsent.IsZero() {
				age = start.Sub(s.OldestUnsent).Seconds()
			}
			ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age, s.Destination)
		}
	}
	for i, r := range c.cfg.Relays {
		if t := r.LastPoll(); !t.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.heartbeat, prometheus.GaugeValue, float64(t.UnixNano())/1e9, relayName(i))
		}
	}
	ch <- prometheus.MustNewConstMetric(c.took, prometheus.GaugeValue, time.Since(start).Seconds())
	c.errors.Collect(ch)
}

func relayName(i int) string { return "relay-" + strconv.Itoa(i) }
