package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/webhook"
)

// Finish fills in defaults and validates everything, returning the first
// problem found.
func (c *Config) Finish() error {
	c.setDefaults()
	if err := c.checkServer(); err != nil {
		return err
	}
	if err := c.Relay.check(); err != nil {
		return err
	}
	return c.checkDestinations()
}

// setDefaults fills in the defaults of the keys outside relay and
// destinations, whose zero values the relay reads as its own defaults.
func (c *Config) setDefaults() {
	if c.DB == "" {
		c.DB = DefaultDB
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.API.MaxBodyBytes == 0 {
		c.API.MaxBodyBytes = DefaultMaxBodyBytes
	}
}

// checkServer checks the process's keys: db, listen, pprof, log and api.
func (c *Config) checkServer() error {
	if _, _, err := c.Store(); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return bad("listen", "want host:port, got %q", c.Listen)
	}
	if c.Pprof != "" {
		host, _, err := net.SplitHostPort(c.Pprof)
		ip, perr := netip.ParseAddr(host)
		if err != nil || (host != "localhost" && (perr != nil || !ip.IsLoopback())) {
			return bad("pprof", "want a loopback host:port such as 127.0.0.1:6060, got %q", c.Pprof)
		}
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return bad("log.format", "want text or json, got %q", c.Log.Format)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return bad("log.level", "want debug, info, warn or error, got %q", c.Log.Level)
	}
	if c.API.MaxBodyBytes < 1024 || c.API.MaxBodyBytes > 64<<20 {
		return bad("api.max_body_bytes", "want 1024 to %d, got %d", 64<<20, c.API.MaxBodyBytes)
	}
	return nil
}

// check checks the relay's keys, its breaker and its backoff.
func (r Relay) check() error {
	switch {
	case r.Workers < 0 || r.Workers > 10000:
		return bad("relay.workers", "want 0 (default 16) to 10000, got %d", r.Workers)
	case r.MaxAttempts < 0 || r.MaxAttempts > 1000:
		return bad("relay.max_attempts", "want 0 (default 20) to 1000, got %d", r.MaxAttempts)
	case r.Lease < 0 || (r.Lease > 0 && r.Lease < Duration(time.Second)):
		return bad("relay.lease", "want at least 1s, got %s", time.Duration(r.Lease))
	case r.PollInterval < 0:
		return bad("relay.poll_interval", "want a positive duration, got %s", time.Duration(r.PollInterval))
	case r.MaxAge < 0:
		return bad("relay.max_age", "want a positive duration, got %s", time.Duration(r.MaxAge))
	case r.MaxRetryAfter < 0:
		return bad("relay.max_retry_after", "want a positive duration, got %s", time.Duration(r.MaxRetryAfter))
	}
	switch br := r.Breaker; {
	case br.FailureRate > 1:
		return bad("relay.breaker.failure_rate", "want at most 1 (negative: never), got %g", br.FailureRate)
	case br.MinCalls < 0:
		return bad("relay.breaker.min_calls", "want 0 (default 20) or more, got %d", br.MinCalls)
	case br.OpenFor < 0:
		return bad("relay.breaker.open_for", "want a positive duration, got %s", time.Duration(br.OpenFor))
	}
	return checkBackoff("relay.backoff", r.Backoff)
}

// checkDestinations checks where messages may go: allow_addresses,
// raw_urls and each destination.
func (c *Config) checkDestinations() error {
	for i, a := range c.AllowAddresses {
		if _, err := parsePrefix(a); err != nil {
			return bad(fmt.Sprintf("allow_addresses[%d]", i), "want a CIDR such as 10.0.0.0/8 or an IP address, got %q", a)
		}
	}
	for i, p := range c.RawURLs.Allow {
		u, err := url.Parse(p)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || !strings.HasSuffix(p, "/") {
			return bad(fmt.Sprintf("raw_urls.allow[%d]", i), "want an http(s) URL prefix ending in / such as https://hooks.example.com/, got %q", p)
		}
	}
	if len(c.Destinations) > MaxDestinations {
		return bad("destinations", "want at most %d, got %d", MaxDestinations, len(c.Destinations))
	}
	for _, name := range c.DestinationNames() {
		if err := c.Destinations[name].check("destinations." + name); err != nil {
			return err
		}
		if !validName(name) {
			return bad("destinations."+name, "want a name of letters, digits and ._- (at most %d bytes, not a URL)", outbox.MaxDestinationLength)
		}
	}
	return nil
}

func validName(s string) bool {
	if s == "" || len(s) > outbox.MaxDestinationLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '.' || b == '_' || b == '-') {
			return false
		}
	}
	return true
}

func (d Destination) check(key string) error {
	if err := d.checkKind(key); err != nil {
		return err
	}
	switch {
	case d.Timeout < 0 || d.Timeout > Duration(MaxTimeout):
		return bad(key+".timeout", "want 0 (default 10s) to %s, got %s", MaxTimeout, time.Duration(d.Timeout))
	case d.Concurrency < 0 || d.Concurrency > 10000:
		return bad(key+".concurrency", "want 0 (no limit) to 10000, got %d", d.Concurrency)
	case d.Retry.MaxAttempts < 0 || d.Retry.MaxAttempts > 1000:
		return bad(key+".retry.max_attempts", "want 0 (the relay's) to 1000, got %d", d.Retry.MaxAttempts)
	case d.Retry.MaxAge < 0:
		return bad(key+".retry.max_age", "want a positive duration, got %s", time.Duration(d.Retry.MaxAge))
	case len(d.Headers) > outbox.MaxHeaders:
		return bad(key+".headers", "want at most %d headers", outbox.MaxHeaders)
	}
	for k, v := range d.Headers {
		if k == "" || strings.ContainsAny(k, ": \t\r\n") || strings.ContainsAny(v, "\r\n") {
			return bad(key+".headers", "want header names without spaces or colons and values on one line; bad header %q", k)
		}
	}
	return checkBackoff(key+".retry.backoff", d.Retry.Backoff)
}

// checkKind checks the keys of d's kind, and that it has none of another
// kind's.
func (d Destination) checkKind(key string) error {
	kind := d.KindOf()
	switch kind {
	case KindWebhook, KindNATS, KindKafka, KindAMQP:
	default:
		return bad(key+".kind", "want webhook, nats, kafka or amqp, got %q", d.Kind)
	}
	blocks := map[string]bool{KindNATS: d.NATS != nil, KindKafka: d.Kafka != nil, KindAMQP: d.AMQP != nil}
	for _, k := range []string{KindNATS, KindKafka, KindAMQP} {
		if blocks[k] && k != kind {
			return bad(key+"."+k, "only for kind %s; this destination is kind %s", k, kind)
		}
	}
	if kind != KindWebhook {
		switch {
		case d.URL != "":
			return bad(key+".url", "only for kind webhook; a %s destination takes its address in its %s block", kind, kind)
		case len(d.Secrets) > 0:
			return bad(key+".secrets", "only for kind webhook")
		case !blocks[kind]:
			return bad(key+"."+kind, "required for kind %s", kind)
		}
	}
	switch kind {
	case KindWebhook:
		return d.checkWebhook(key)
	case KindNATS:
		return d.NATS.check(key + ".nats")
	case KindKafka:
		return d.Kafka.check(key + ".kafka")
	default:
		return d.AMQP.check(key + ".amqp")
	}
}

func (d Destination) checkWebhook(key string) error {
	u, err := url.Parse(d.URL)
	if d.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad(key+".url", "want an http or https URL, got %q", d.URL)
	}
	if u.User != nil {
		return bad(key+".url", "want no user:password in the URL; use headers")
	}
	for i, s := range d.Secrets {
		if _, err := webhook.ParseSecret(s); err != nil {
			return bad(fmt.Sprintf("%s.secrets[%d]", key, i), "want a signing secret %s… of at least %d random bytes", webhook.SecretPrefix, webhook.MinSecretLen)
		}
	}
	return nil
}

func checkBackoff(key string, b Backoff) error {
	switch {
	case b.Initial < 0:
		return bad(key+".initial", "want a positive duration, got %s", time.Duration(b.Initial))
	case b.Max < 0:
		return bad(key+".max", "want a positive duration, got %s", time.Duration(b.Max))
	case b.Max > 0 && b.Initial > b.Max:
		return bad(key+".max", "want at least initial (%s), got %s", time.Duration(b.Initial), time.Duration(b.Max))
	}
	return nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Prefixes returns AllowAddresses parsed (after Finish).
func (c *Config) Prefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, a := range c.AllowAddresses {
		if p, err := parsePrefix(a); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// Store returns the kind of store ("sqlite" or "postgres") and its
// address: a file path or a PostgreSQL connection string.
func (c *Config) Store() (kind, addr string, err error) {
	switch {
	case strings.HasPrefix(c.DB, "sqlite:"):
		path := strings.TrimPrefix(c.DB, "sqlite:")
		if path == "" || strings.ContainsAny(path, "?#") {
			return "", "", bad("db", "want sqlite:PATH with a file path (no ? or #), got %q", c.DB)
		}
		return "sqlite", path, nil
	case strings.HasPrefix(c.DB, "postgres://"), strings.HasPrefix(c.DB, "postgresql://"):
		if _, err := url.Parse(c.DB); err != nil {
			return "", "", bad("db", "want a postgres:// URL: %v", redactURLError(err))
		}
		return "postgres", c.DB, nil
	}
	return "", "", bad("db", "want sqlite:PATH or postgres://…, got %q", redactDB(c.DB))
}

// redactDB hides a password in a connection string.
func redactDB(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	return s
}

func redactURLError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return "malformed"
}
