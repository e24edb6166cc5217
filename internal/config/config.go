// Package config reads the rebound daemon's configuration: a YAML file,
// then REBOUND_* environment variables, then command-line flags, each
// overriding the one before. Every error names the key (file key,
// environment variable or flag) and what was expected.
//
// A file looks like this (every key is optional; shown with its default
// where it has one):
//
//	db: sqlite:rebound.db          # or postgres://user@host:5432/db
//	listen: 127.0.0.1:8080
//	pprof: ""                       # e.g. 127.0.0.1:6060; loopback only
//	log: {format: text, level: info}
//	auth:
//	  tokens_file: ""               # "ROLE TOKEN" lines; see internal/auth
//	api:
//	  max_body_bytes: 1200000
//	page:
//	  show_payloads: false
//	relay:
//	  workers: 16
//	  lease: 30s
//	  poll_interval: 500ms
//	  max_attempts: 20
//	  max_age: 72h
//	  max_retry_after: 1h
//	  retention: 168h
//	  backoff: {initial: 5s, max: 1h}
//	  breaker: {consecutive_failures: 20, failure_rate: 0.5, min_calls: 20, open_for: 30s, disabled: false}
//	allow_addresses: []             # CIDRs the SSRF guard lets through, e.g. 127.0.0.0/8
//	raw_urls:
//	  allow: []                     # URL prefixes a message may name as its destination
//	destinations:
//	  orders:
//	    url: https://example.com/hooks/orders
//	    secrets: [env:ORDERS_SECRET] # Standard Webhooks secrets: whsec_…, or env:VARIABLE
//	    timeout: 10s
//	    headers: {X-Env: prod}
//	    concurrency: 0              # 0: no limit
//	    retry: {max_attempts: 5, max_age: 1h, backoff: {initial: 1s, max: 10m}}
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/rebound-go/rebound/outbox"
)

// Defaults.
const (
	DefaultListen       = "127.0.0.1:8080"
	DefaultDB           = "sqlite:rebound.db"
	DefaultMaxBodyBytes = outbox.MaxPayloadBytes + 64<<10 // a full payload with its JSON envelope
	MaxConfigBytes      = 4 << 20
	MaxDestinations     = 1000
	MaxTimeout          = 5 * time.Minute
)

// Config is the daemon's whole configuration.
type Config struct {
	DB             string                 `yaml:"db"`
	Listen         string                 `yaml:"listen"`
	Pprof          string                 `yaml:"pprof"`
	Log            Log                    `yaml:"log"`
	Auth           Auth                   `yaml:"auth"`
	API            API                    `yaml:"api"`
	Page           Page                   `yaml:"page"`
	Relay          Relay                  `yaml:"relay"`
	AllowAddresses []string               `yaml:"allow_addresses"`
	RawURLs        RawURLs                `yaml:"raw_urls"`
	Destinations   map[string]Destination `yaml:"destinations"`
}

// Log configures the daemon's log/slog output.
type Log struct {
	Format string `yaml:"format"` // text (default) or json
	Level  string `yaml:"level"`  // debug, info (default), warn, error
}

// Auth configures bearer tokens.
type Auth struct {
	TokensFile string `yaml:"tokens_file"`
}

// API bounds the JSON API.
type API struct {
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
}

// Page configures the status page.
type Page struct {
	ShowPayloads bool `yaml:"show_payloads"`
}

// Relay sets outbox.RelayConfig.
type Relay struct {
	Workers       int      `yaml:"workers"`
	Lease         Duration `yaml:"lease"`
	PollInterval  Duration `yaml:"poll_interval"`
	MaxAttempts   int      `yaml:"max_attempts"`
	MaxAge        Duration `yaml:"max_age"`
	MaxRetryAfter Duration `yaml:"max_retry_after"`
	Retention     Duration `yaml:"retention"`
	Backoff       Backoff  `yaml:"backoff"`
	Breaker       Breaker  `yaml:"breaker"`
}

// DefaultConsecutiveFailures is the relay's breaker's rule of failures in
// a row: 20, not rebound's 5. A relay delivers to a destination from many
// workers at once, so five failures in a row come by chance at a modest
// failure rate (at 20%, about once in 3,000 deliveries), and each would
// stop the destination for OpenFor. A destination that is down fails
// every delivery and trips 20 as fast; the failure rate rule (50% of at
// least 20 in a minute) catches the rest.
const DefaultConsecutiveFailures = 20

// Breaker configures the circuit breaker each destination gets: while it
// is open, the destination's messages wait without spending attempts.
// Zero fields mean rebound.BreakerConfig's defaults.
type Breaker struct {
	// Disabled turns the breakers off.
	Disabled bool `yaml:"disabled"`
	// ConsecutiveFailures opens it after this many failures in a row
	// (default DefaultConsecutiveFailures; negative: never).
	ConsecutiveFailures int `yaml:"consecutive_failures"`
	// FailureRate opens it when at least this share of MinCalls or more
	// outcomes in the last minute failed (default 0.5; negative: never).
	FailureRate float64 `yaml:"failure_rate"`
	MinCalls    int     `yaml:"min_calls"`
	// OpenFor is how long it stays open before probing (default 30s).
	OpenFor Duration `yaml:"open_for"`
}

// Backoff is an exponential backoff with full jitter.
type Backoff struct {
	Initial Duration `yaml:"initial"`
	Max     Duration `yaml:"max"`
}

// RawURLs lets messages name a URL as their destination when it starts
// with one of Allow's prefixes (scheme://host/ at least).
type RawURLs struct {
	Allow []string `yaml:"allow"`
}

// Destination is a named webhook receiver.
type Destination struct {
	URL         string            `yaml:"url"`
	Secrets     []string          `yaml:"secrets"`
	Timeout     Duration          `yaml:"timeout"`
	Headers     map[string]string `yaml:"headers"`
	Concurrency int               `yaml:"concurrency"`
	Retry       Retry             `yaml:"retry"`
}

// Retry overrides the relay's retry limits for one destination.
type Retry struct {
	MaxAttempts int      `yaml:"max_attempts"`
	MaxAge      Duration `yaml:"max_age"`
	Backoff     Backoff  `yaml:"backoff"`
}

// Duration is a time.Duration written as "30s", "5m", "1h30m".
type Duration time.Duration

// UnmarshalYAML reads a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil {
		return fmt.Errorf("line %d: want a duration such as 30s or 5m, got %q", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes it back.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Error is a configuration error: Key is the file key, the environment
// variable or the flag.
type Error struct {
	Key  string
	Want string
}

func (e *Error) Error() string { return "config: " + e.Key + ": " + e.Want }

func bad(key, format string, args ...any) error {
	return &Error{Key: key, Want: fmt.Sprintf(format, args...)}
}

// Parse reads a YAML configuration. Unknown keys are errors.
func Parse(name string, r io.Reader) (*Config, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("config: reading %s: %w", name, err)
	}
	if len(data) > MaxConfigBytes {
		return nil, fmt.Errorf("config: %s: larger than %d bytes", name, MaxConfigBytes)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config: %s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return &c, nil
}

// Load reads the file at path; "" means an empty configuration.
func Load(path string) (*Config, error) {
	if path == "" {
		return &Config{}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	return Parse(path, f)
}

// Setting is one scalar key that the environment and flags may set.
type Setting struct {
	Key  string // the file key, e.g. relay.workers
	Env  string // REBOUND_RELAY_WORKERS
	Flag string // relay-workers
	Help string
	set  func(c *Config, v string) error
}

// Settings lists the keys that REBOUND_* variables and flags override.
func Settings() []Setting {
	str := func(p func(*Config) *string) func(*Config, string) error {
		return func(c *Config, v string) error { *p(c) = v; return nil }
	}
	num := func(p func(*Config) *int) func(*Config, string) error {
		return func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return errors.New("want a whole number, got " + strconv.Quote(v))
			}
			*p(c) = n
			return nil
		}
	}
	dur := func(p func(*Config) *Duration) func(*Config, string) error {
		return func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return errors.New("want a duration such as 30s or 5m, got " + strconv.Quote(v))
			}
			*p(c) = Duration(d)
			return nil
		}
	}
	list := func(p func(*Config) *[]string) func(*Config, string) error {
		return func(c *Config, v string) error {
			*p(c) = nil
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					*p(c) = append(*p(c), s)
				}
			}
			return nil
		}
	}
	mk := func(key, help string, set func(*Config, string) error) Setting {
		return Setting{
			Key:  key,
			Env:  "REBOUND_" + strings.ToUpper(strings.NewReplacer(".", "_").Replace(key)),
			Flag: strings.NewReplacer(".", "-", "_", "-").Replace(key),
			Help: help,
			set:  set,
		}
	}
	return []Setting{
		mk("db", "store: sqlite:PATH or postgres://… (default "+DefaultDB+")", str(func(c *Config) *string { return &c.DB })),
		mk("listen", "API, status page and /metrics address (default "+DefaultListen+")", str(func(c *Config) *string { return &c.Listen })),
		mk("pprof", "pprof address, loopback only (default off)", str(func(c *Config) *string { return &c.Pprof })),
		mk("log.format", "log format: text or json", str(func(c *Config) *string { return &c.Log.Format })),
		mk("log.level", "log level: debug, info, warn or error", str(func(c *Config) *string { return &c.Log.Level })),
		mk("auth.tokens_file", `file of "ROLE TOKEN" lines`, str(func(c *Config) *string { return &c.Auth.TokensFile })),
		mk("relay.workers", "concurrent deliveries (default 16)", num(func(c *Config) *int { return &c.Relay.Workers })),
		mk("relay.max_attempts", "attempts before a message goes dead (default 20)", num(func(c *Config) *int { return &c.Relay.MaxAttempts })),
		mk("relay.lease", "lease of a claimed message (default 30s)", dur(func(c *Config) *Duration { return &c.Relay.Lease })),
		mk("relay.poll_interval", "poll interval (default 500ms)", dur(func(c *Config) *Duration { return &c.Relay.PollInterval })),
		mk("relay.max_age", "age at which a message goes dead (default 72h)", dur(func(c *Config) *Duration { return &c.Relay.MaxAge })),
		mk("relay.retention", "how long sent messages are kept (default 168h)", dur(func(c *Config) *Duration { return &c.Relay.Retention })),
		mk("allow_addresses", "comma-separated CIDRs the SSRF guard allows", list(func(c *Config) *[]string { return &c.AllowAddresses })),
		mk("raw_urls.allow", "comma-separated URL prefixes messages may name as destination", list(func(c *Config) *[]string { return &c.RawURLs.Allow })),
	}
}

// ApplyEnv applies the REBOUND_* variables that getenv reports set.
//
// It also reads REBOUND_DESTINATIONS ("NAME=URL,NAME=URL", like the
// --destination flag), and resolves every destination secret written as
// "env:VARIABLE" to that variable's value, so that secrets need not sit in
// the file.
func (c *Config) ApplyEnv(getenv func(string) string) error {
	for _, s := range Settings() {
		if v := getenv(s.Env); v != "" {
			if err := s.set(c, v); err != nil {
				return bad(s.Env, "%s", err.Error())
			}
		}
	}
	if v := getenv("REBOUND_DESTINATIONS"); v != "" {
		for i, pair := range strings.Split(v, ",") {
			if pair = strings.TrimSpace(pair); pair == "" {
				continue
			}
			name, u, ok := strings.Cut(pair, "=")
			if !ok || name == "" || u == "" {
				return bad("REBOUND_DESTINATIONS", "want NAME=URL pairs separated by commas; entry %d is %q", i+1, pair)
			}
			c.SetDestinationURL(name, u)
		}
	}
	for _, name := range c.DestinationNames() {
		d := c.Destinations[name]
		for i, sec := range d.Secrets {
			ref, ok := strings.CutPrefix(sec, "env:")
			if !ok {
				continue
			}
			v := getenv(ref)
			if v == "" {
				return bad(fmt.Sprintf("destinations.%s.secrets[%d]", name, i), "want the environment variable %s set to a signing secret", ref)
			}
			d.Secrets[i] = v
		}
	}
	return nil
}

// SetDestinationURL sets (or adds) destination name's URL.
func (c *Config) SetDestinationURL(name, u string) {
	if c.Destinations == nil {
		c.Destinations = map[string]Destination{}
	}
	d := c.Destinations[name]
	d.URL = u
	c.Destinations[name] = d
}

// Set applies one flag (by its Setting.Flag name).
func (c *Config) Set(flag, v string) error {
	for _, s := range Settings() {
		if s.Flag == flag {
			if err := s.set(c, v); err != nil {
				return bad("--"+flag, "%s", err.Error())
			}
			return nil
		}
	}
	return bad("--"+flag, "unknown flag")
}

// DestinationNames returns the configured names, sorted.
func (c *Config) DestinationNames() []string {
	names := make([]string, 0, len(c.Destinations))
	for n := range c.Destinations {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Finish fills in defaults and validates everything, returning the first
// problem found.
func (c *Config) Finish() error {
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
	r := c.Relay
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
	if err := checkBackoff("relay.backoff", r.Backoff); err != nil {
		return err
	}
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
	u, err := url.Parse(d.URL)
	if d.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad(key+".url", "want an http or https URL, got %q", d.URL)
	}
	if u.User != nil {
		return bad(key+".url", "want no user:password in the URL; use headers")
	}
	for i, s := range d.Secrets {
		if _, err := outbox.ParseSecret(s); err != nil {
			return bad(fmt.Sprintf("%s.secrets[%d]", key, i), "want a signing secret %s… of at least %d random bytes", outbox.SecretPrefix, outbox.MinSecretLen)
		}
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
