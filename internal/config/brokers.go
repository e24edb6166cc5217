package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// check checks a NATS block: servers as nats:// (or tls://) URLs without
// credentials, and a literal subject.
func (n *NATS) check(key string) error {
	if len(n.Servers) == 0 {
		return bad(key+".servers", "want at least one server URL such as nats://127.0.0.1:4222")
	}
	for i, s := range n.Servers {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Host == "" {
			return bad(fmt.Sprintf("%s.servers[%d]", key, i), "want a nats:// or tls:// URL with a host, got %q", redactDB(s))
		}
		if u.User != nil {
			return bad(fmt.Sprintf("%s.servers[%d]", key, i), "want no credentials in the URL; use user, password or token")
		}
	}
	if err := checkSubject(n.Subject); err != "" {
		return bad(key+".subject", "%s, got %q", err, n.Subject)
	}
	if n.Token != "" && (n.User != "" || n.Password != "") {
		return bad(key+".token", "give a token or a user and password, not both")
	}
	if n.Password != "" && n.User == "" {
		return bad(key+".user", "required with a password")
	}
	return n.TLS.check(key + ".tls")
}

// checkSubject mirrors outbox/natssender's rules, so that the file names
// the key: dot-separated literal tokens, {ordering_key} at most once as a
// whole token.
func checkSubject(subj string) string {
	if subj == "" {
		return "want a subject such as orders.created"
	}
	const tok = "{ordering_key}"
	if strings.Count(subj, tok) > 1 {
		return "want " + tok + " at most once"
	}
	for _, t := range strings.Split(subj, ".") {
		if t == tok {
			continue
		}
		if t == "" || strings.ContainsAny(t, "*> \t\r\n{}") {
			return "want dot-separated literal tokens (no wildcards, spaces or braces except " + tok + " as a whole token)"
		}
	}
	return ""
}

// check checks a Kafka block: host:port brokers and a topic name Kafka
// accepts.
func (k *Kafka) check(key string) error {
	if len(k.Brokers) == 0 {
		return bad(key+".brokers", "want at least one broker host:port such as 127.0.0.1:9092")
	}
	for i, b := range k.Brokers {
		if host, port, err := net.SplitHostPort(b); err != nil || host == "" || port == "" {
			return bad(fmt.Sprintf("%s.brokers[%d]", key, i), "want host:port, got %q", b)
		}
	}
	if !validTopic(k.Topic) {
		return bad(key+".topic", "want 1 to 249 of a-z A-Z 0-9 . _ - (not . or ..), got %q", k.Topic)
	}
	if s := k.SASL; s != nil {
		switch s.Mechanism {
		case "plain", "scram-sha-256", "scram-sha-512":
		default:
			return bad(key+".sasl.mechanism", "want plain, scram-sha-256 or scram-sha-512, got %q", s.Mechanism)
		}
		if s.User == "" || s.Password == "" {
			return bad(key+".sasl", "want a user and a password (or env:VARIABLE)")
		}
	}
	return k.TLS.check(key + ".tls")
}

func validTopic(t string) bool {
	if t == "" || len(t) > 249 || t == "." || t == ".." {
		return false
	}
	for i := 0; i < len(t); i++ {
		b := t[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '.' || b == '_' || b == '-') {
			return false
		}
	}
	return true
}

// check checks an AMQP block: an amqp:// or amqps:// URL with no password
// in it, and a routing key.
func (a *AMQP) check(key string) error {
	u, err := url.Parse(a.URL)
	if err != nil || (u.Scheme != "amqp" && u.Scheme != "amqps") || u.Host == "" {
		return bad(key+".url", "want an amqp:// or amqps:// URL such as amqp://guest@127.0.0.1:5672/, got %q", redactDB(a.URL))
	}
	if _, set := u.User.Password(); set {
		return bad(key+".url", "want no password in the URL; use password (or env:VARIABLE)")
	}
	switch {
	case a.RoutingKey == "" && a.Exchange == "":
		return bad(key+".routing_key", "required with the default exchange: the queue's name")
	case len(a.Exchange) > 255 || len(a.RoutingKey) > 255:
		return bad(key, "want an exchange and a routing key of at most 255 bytes")
	}
	return a.TLS.check(key + ".tls")
}

// check checks a TLS block: a client certificate needs its key.
func (t *TLS) check(key string) error {
	if t == nil {
		return nil
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return bad(key, "want cert_file and key_file together")
	}
	return nil
}
