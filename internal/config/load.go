package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

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
// the file; broker passwords and tokens likewise.
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
		if err := d.resolveCredentials("destinations."+name, getenv); err != nil {
			return err
		}
	}
	return nil
}

// resolveCredentials replaces a broker password or token written as
// "env:VARIABLE" with that variable's value.
func (d Destination) resolveCredentials(key string, getenv func(string) string) error {
	var fields []struct {
		key string
		v   *string
	}
	add := func(k string, v *string) {
		fields = append(fields, struct {
			key string
			v   *string
		}{key + "." + k, v})
	}
	if d.NATS != nil {
		add("nats.password", &d.NATS.Password)
		add("nats.token", &d.NATS.Token)
	}
	if d.Kafka != nil && d.Kafka.SASL != nil {
		add("kafka.sasl.password", &d.Kafka.SASL.Password)
	}
	if d.AMQP != nil {
		add("amqp.password", &d.AMQP.Password)
	}
	for _, f := range fields {
		ref, ok := strings.CutPrefix(*f.v, "env:")
		if !ok {
			continue
		}
		v := getenv(ref)
		if v == "" {
			return bad(f.key, "want the environment variable %s set", ref)
		}
		*f.v = v
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
