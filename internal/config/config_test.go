package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const example = `
db: postgres://rebound@127.0.0.1:5432/rebound
listen: 127.0.0.1:9090
log: {format: json, level: debug}
relay:
  workers: 32
  lease: 45s
  backoff: {initial: 2s, max: 30m}
allow_addresses: [127.0.0.0/8, "::1"]
raw_urls:
  allow: [https://hooks.example.com/]
destinations:
  orders:
    url: https://example.com/hooks/orders
    secrets: [whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw]
    timeout: 3s
    headers: {X-Env: prod}
    concurrency: 4
    retry: {max_attempts: 5, max_age: 1h, backoff: {initial: 1s, max: 10m}}
`

func TestParseExample(t *testing.T) {
	c, err := Parse("rebound.yaml", strings.NewReader(example))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	o := c.Destinations["orders"]
	switch {
	case c.Relay.Workers != 32 || time.Duration(c.Relay.Lease) != 45*time.Second:
		t.Errorf("relay = %+v", c.Relay)
	case o.Concurrency != 4 || time.Duration(o.Timeout) != 3*time.Second || o.Retry.MaxAttempts != 5 || time.Duration(o.Retry.Backoff.Max) != 10*time.Minute:
		t.Errorf("orders = %+v", o)
	case len(c.Prefixes()) != 2 || c.Prefixes()[1].Bits() != 128:
		t.Errorf("prefixes = %v", c.Prefixes())
	case c.Log.Format != "json" || c.API.MaxBodyBytes != DefaultMaxBodyBytes:
		t.Errorf("config = %+v", c)
	}
	kind, addr, _ := c.Store()
	if kind != "postgres" || addr != "postgres://rebound@127.0.0.1:5432/rebound" {
		t.Errorf("store = %s %s", kind, addr)
	}
}

func TestDefaultsNeedNoFile(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	kind, addr, _ := c.Store()
	if kind != "sqlite" || addr != "rebound.db" || c.Listen != DefaultListen {
		t.Fatalf("defaults: store %s %s, listen %s", kind, addr, c.Listen)
	}
}

func TestParseErrorsNameTheKey(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"relay:\n  wrokers: 3\n", "line 2: field wrokers not found"},
		{"relay:\n  lease: soon\n", `line 2: want a duration such as 30s or 5m, got "soon"`},
		{"relay: {workers: many}\n", "line 1: cannot unmarshal"},
		{"destinations: [a]\n", "line 1: cannot unmarshal"},
	} {
		_, err := Parse("f.yaml", strings.NewReader(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "f.yaml") {
			t.Errorf("Parse(%q) = %v; want an error naming f.yaml and containing %q", c.in, err, c.want)
		}
	}
}

func TestFinishErrorsNameTheKey(t *testing.T) {
	for _, c := range []struct{ in, key string }{
		{"db: mysql://x\n", "db"},
		{"db: 'sqlite:'\n", "db"},
		{"listen: 8080\n", "listen"},
		{"pprof: 0.0.0.0:6060\n", "pprof"},
		{"log: {format: xml}\n", "log.format"},
		{"log: {level: loud}\n", "log.level"},
		{"relay: {workers: -1}\n", "relay.workers"},
		{"relay: {lease: 10ms}\n", "relay.lease"},
		{"relay: {backoff: {initial: 1m, max: 1s}}\n", "relay.backoff.max"},
		{"relay: {breaker: {failure_rate: 2}}\n", "relay.breaker.failure_rate"},
		{"relay: {breaker: {open_for: -1s}}\n", "relay.breaker.open_for"},
		{"allow_addresses: [10.0.0.0/33]\n", "allow_addresses[0]"},
		{"raw_urls: {allow: ['https://x.example.com']}\n", "raw_urls.allow[0]"},
		{"destinations: {a: {url: ftp://x/}}\n", "destinations.a.url"},
		{"destinations: {a: {url: 'https://u:p@x/'}}\n", "destinations.a.url"},
		{"destinations: {a: {url: https://x/, secrets: [short]}}\n", "destinations.a.secrets[0]"},
		{"destinations: {a: {url: https://x/, timeout: 1h}}\n", "destinations.a.timeout"},
		{"destinations: {a: {url: https://x/, concurrency: -2}}\n", "destinations.a.concurrency"},
		{"destinations: {a: {url: https://x/, retry: {max_attempts: 5000}}}\n", "destinations.a.retry.max_attempts"},
		{"destinations: {'a/b': {url: https://x/}}\n", "destinations.a/b"},
		{"destinations: {a: {kind: sqs}}\n", "destinations.a.kind"},
		{"destinations: {a: {kind: nats}}\n", "destinations.a.nats"},
		{"destinations: {a: {kind: nats, url: https://x/, nats: {servers: [nats://h:4222], subject: s}}}\n", "destinations.a.url"},
		{"destinations: {a: {url: https://x/, nats: {servers: [nats://h:4222], subject: s}}}\n", "destinations.a.nats"},
		{"destinations: {a: {kind: nats, nats: {subject: s}}}\n", "destinations.a.nats.servers"},
		{"destinations: {a: {kind: nats, nats: {servers: [http://h:4222], subject: s}}}\n", "destinations.a.nats.servers[0]"},
		{"destinations: {a: {kind: nats, nats: {servers: ['nats://u:p@h:4222'], subject: s}}}\n", "destinations.a.nats.servers[0]"},
		{"destinations: {a: {kind: nats, nats: {servers: [nats://h:4222], subject: 'orders.*'}}}\n", "destinations.a.nats.subject"},
		{"destinations: {a: {kind: nats, nats: {servers: [nats://h:4222], subject: s, password: p}}}\n", "destinations.a.nats.user"},
		{"destinations: {a: {kind: nats, nats: {servers: [nats://h:4222], subject: s, tls: {cert_file: c}}}}\n", "destinations.a.nats.tls"},
		{"destinations: {a: {kind: kafka, kafka: {topic: t}}}\n", "destinations.a.kafka.brokers"},
		{"destinations: {a: {kind: kafka, kafka: {brokers: [h], topic: t}}}\n", "destinations.a.kafka.brokers[0]"},
		{"destinations: {a: {kind: kafka, kafka: {brokers: ['h:9092'], topic: 'a b'}}}\n", "destinations.a.kafka.topic"},
		{"destinations: {a: {kind: kafka, kafka: {brokers: ['h:9092'], topic: t, sasl: {mechanism: gssapi, user: u, password: p}}}}\n", "destinations.a.kafka.sasl.mechanism"},
		{"destinations: {a: {kind: amqp, amqp: {url: 'https://h/', routing_key: k}}}\n", "destinations.a.amqp.url"},
		{"destinations: {a: {kind: amqp, amqp: {url: 'amqp://u:secret@h/', routing_key: k}}}\n", "destinations.a.amqp.url"},
		{"destinations: {a: {kind: amqp, amqp: {url: 'amqp://h/'}}}\n", "destinations.a.amqp.routing_key"},
	} {
		cfg, err := Parse("f.yaml", strings.NewReader(c.in))
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.in, err)
		}
		err = cfg.Finish()
		var ce *Error
		if !errors.As(err, &ce) || ce.Key != c.key || ce.Want == "" {
			t.Errorf("Finish(%q) = %v; want an error naming %s", c.in, err, c.key)
		}
	}
}

func TestPasswordNotEchoed(t *testing.T) {
	cfg := &Config{DB: "mysql://u:hunter2@h/db"}
	err := cfg.Finish()
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v; want an error without the password", err)
	}
}

func TestEnvThenFlagsOverride(t *testing.T) {
	c, err := Parse("f.yaml", strings.NewReader("relay: {workers: 4}\nlisten: 127.0.0.1:1\n"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"REBOUND_RELAY_WORKERS": "8", "REBOUND_LISTEN": "127.0.0.1:2", "REBOUND_ALLOW_ADDRESSES": "127.0.0.0/8, ::1/128"}
	if err := c.ApplyEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if err := c.Set("listen", "127.0.0.1:3"); err != nil {
		t.Fatal(err)
	}
	if c.Relay.Workers != 8 || c.Listen != "127.0.0.1:3" || len(c.AllowAddresses) != 2 {
		t.Fatalf("workers %d listen %s allow %v", c.Relay.Workers, c.Listen, c.AllowAddresses)
	}
	env["REBOUND_RELAY_LEASE"] = "long"
	var ce *Error
	if err := c.ApplyEnv(func(k string) string { return env[k] }); !errors.As(err, &ce) || ce.Key != "REBOUND_RELAY_LEASE" {
		t.Fatalf("err = %v; want one naming REBOUND_RELAY_LEASE", err)
	}
	if err := c.Set("relay-workers", "x"); !errors.As(err, &ce) || ce.Key != "--relay-workers" {
		t.Fatalf("err = %v; want one naming --relay-workers", err)
	}
}

// The example deployment's configuration stays valid.
func TestDeployExample(t *testing.T) {
	c, err := Load("../../deploy/relay/rebound.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	if len(c.Destinations) != 2 || c.Auth.TokensFile == "" {
		t.Fatalf("destinations %v, tokens file %q", c.DestinationNames(), c.Auth.TokensFile)
	}
}

func TestEnvDestinationsAndSecrets(t *testing.T) {
	c, err := Parse("f.yaml", strings.NewReader("destinations:\n  orders: {url: https://x/, secrets: [env:ORDERS_SECRET]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"REBOUND_DESTINATIONS": "billing=https://b.example.com/hook, audit=https://a.example.com/"}
	var ce *Error
	if err := c.ApplyEnv(func(k string) string { return env[k] }); !errors.As(err, &ce) || ce.Key != "destinations.orders.secrets[0]" || !strings.Contains(ce.Want, "ORDERS_SECRET") {
		t.Fatalf("err = %v; want one naming destinations.orders.secrets[0] and ORDERS_SECRET", err)
	}
	env["ORDERS_SECRET"] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	if err := c.ApplyEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	if c.Destinations["orders"].Secrets[0] != env["ORDERS_SECRET"] || c.Destinations["billing"].URL != "https://b.example.com/hook" || len(c.Destinations) != 3 {
		t.Fatalf("destinations %+v", c.Destinations)
	}
	env["REBOUND_DESTINATIONS"] = "nourl"
	if err := c.ApplyEnv(func(k string) string { return env[k] }); !errors.As(err, &ce) || ce.Key != "REBOUND_DESTINATIONS" {
		t.Fatalf("err = %v; want one naming REBOUND_DESTINATIONS", err)
	}
}

func TestBrokerDestinations(t *testing.T) {
	in := `destinations:
  shipments:
    kind: nats
    nats: {servers: [nats://127.0.0.1:4222], subject: "shipments.{ordering_key}", user: relay, password: env:NATS_PASSWORD}
  invoices:
    kind: kafka
    kafka: {brokers: ["127.0.0.1:9092"], topic: invoices, sasl: {mechanism: scram-sha-256, user: relay, password: env:KAFKA_PASSWORD}}
  emails:
    kind: amqp
    amqp: {url: "amqp://guest@127.0.0.1:5672/", password: env:AMQP_PASSWORD, exchange: emails, routing_key: send}
  orders: {url: https://x.example.com/hook}
`
	c, err := Parse("f.yaml", strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"NATS_PASSWORD": "n", "KAFKA_PASSWORD": "k"}
	var ce *Error
	if err := c.ApplyEnv(func(k string) string { return env[k] }); !errors.As(err, &ce) || ce.Key != "destinations.emails.amqp.password" || !strings.Contains(ce.Want, "AMQP_PASSWORD") {
		t.Fatalf("ApplyEnv without AMQP_PASSWORD: %v; want an error naming the key and the variable", err)
	}
	env["AMQP_PASSWORD"] = "a"
	c, _ = Parse("f.yaml", strings.NewReader(in))
	if err := c.ApplyEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	d := c.Destinations
	if d["shipments"].KindOf() != KindNATS || d["shipments"].NATS.Password != "n" || d["invoices"].Kafka.SASL.Password != "k" || d["emails"].AMQP.Password != "a" || d["orders"].KindOf() != KindWebhook {
		t.Fatalf("destinations %+v", d)
	}
}
