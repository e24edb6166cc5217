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
//	  shipments:
//	    kind: nats                  # webhook (default), nats, kafka or amqp
//	    nats: {servers: [nats://127.0.0.1:4222], subject: shipments.created, user: "", password: env:NATS_PASSWORD}
//	  invoices:
//	    kind: kafka
//	    kafka: {brokers: [127.0.0.1:9092], topic: invoices, sasl: {mechanism: scram-sha-256, user: relay, password: env:KAFKA_PASSWORD}}
//	  emails:
//	    kind: amqp
//	    amqp: {url: amqp://guest@127.0.0.1:5672/, password: env:AMQP_PASSWORD, exchange: emails, routing_key: send}
//
// A broker destination's tls block takes ca_file, cert_file, key_file and
// server_name.
package config

import (
	"fmt"
	"sort"
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

// Kinds of destination.
const (
	KindWebhook = "webhook"
	KindNATS    = "nats"
	KindKafka   = "kafka"
	KindAMQP    = "amqp"
)

// Destination is a named webhook receiver or broker destination. Kind
// says which (webhook by default); url and secrets are a webhook's, and
// the block named like the kind (nats, kafka, amqp) a broker's. Timeout,
// headers, concurrency and retry apply to every kind.
type Destination struct {
	Kind        string            `yaml:"kind"`
	URL         string            `yaml:"url"`
	Secrets     []string          `yaml:"secrets"`
	Timeout     Duration          `yaml:"timeout"`
	Headers     map[string]string `yaml:"headers"`
	Concurrency int               `yaml:"concurrency"`
	Retry       Retry             `yaml:"retry"`
	NATS        *NATS             `yaml:"nats"`
	Kafka       *Kafka            `yaml:"kafka"`
	AMQP        *AMQP             `yaml:"amqp"`
}

// KindOf returns d's kind, webhook when unset.
func (d Destination) KindOf() string {
	if d.Kind == "" {
		return KindWebhook
	}
	return d.Kind
}

// NATS publishes to a JetStream stream. Password and token may be
// "env:VARIABLE".
type NATS struct {
	Servers  []string `yaml:"servers"` // nats://host:4222
	Subject  string   `yaml:"subject"` // may hold {ordering_key} as one token
	User     string   `yaml:"user"`
	Password string   `yaml:"password"`
	Token    string   `yaml:"token"`
	TLS      *TLS     `yaml:"tls"`
}

// Kafka produces to a topic, keyed by the ordering key. Password may be
// "env:VARIABLE".
type Kafka struct {
	Brokers []string `yaml:"brokers"` // host:9092
	Topic   string   `yaml:"topic"`
	SASL    *SASL    `yaml:"sasl"`
	TLS     *TLS     `yaml:"tls"`
}

// SASL authenticates to Kafka.
type SASL struct {
	Mechanism string `yaml:"mechanism"` // plain, scram-sha-256 or scram-sha-512
	User      string `yaml:"user"`
	Password  string `yaml:"password"`
}

// AMQP publishes to a RabbitMQ exchange with publisher confirms. The URL
// carries no password: Password (or "env:VARIABLE") does.
type AMQP struct {
	URL        string `yaml:"url"` // amqp://user@host:5672/vhost, or amqps://
	Password   string `yaml:"password"`
	Exchange   string `yaml:"exchange"` // "" is the default exchange
	RoutingKey string `yaml:"routing_key"`
	TLS        *TLS   `yaml:"tls"`
}

// TLS configures a broker connection's TLS: a CA to trust instead of the
// system's, and a client certificate.
type TLS struct {
	CAFile     string `yaml:"ca_file"`
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
	ServerName string `yaml:"server_name"`
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

// DestinationNames returns the configured names, sorted.
func (c *Config) DestinationNames() []string {
	names := make([]string, 0, len(c.Destinations))
	for n := range c.Destinations {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
