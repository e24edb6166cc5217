package reboundnet

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"time"

	"github.com/rebound-go/rebound"
)

// DefaultDialTimeout bounds each dial (TLS handshake included) of a Dialer
// whose DialerConfig.Dialer is nil.
const DefaultDialTimeout = 5 * time.Second

// DialerConfig configures a Dialer. The zero value dials with a
// net.Dialer{Timeout: DefaultDialTimeout} under the zero rebound.Policy.
type DialerConfig struct {
	// Dialer opens each connection: its Timeout bounds one dial (the TLS
	// handshake included), and its Resolver, LocalAddr, KeepAlive and
	// Control hooks apply as they do to net.Dialer. Default
	// &net.Dialer{Timeout: DefaultDialTimeout}, with the default keep-alive.
	Dialer *net.Dialer
	// TLS, when set, makes DialContext do the TLS handshake too, as
	// tls.Dialer does, and return a *tls.Conn. Its ServerName defaults to
	// the host of the address dialled. A certificate that does not verify
	// (unknown authority, wrong host name, expired) is a Logic error: it
	// is never retried. Default none: plain connections.
	TLS *tls.Config
	// Policy says how dials are retried (attempts, backoff, deadlines,
	// observer). Policy.NonIdempotent is ignored: a dial sends nothing of
	// the caller's, so every failure of one is retried as "not processed".
	// Policy.Hedger must be nil. Default: the zero Policy, 3 attempts
	// with exponential backoff from 1 s.
	Policy rebound.Policy
	// Breakers, when set, gives each endpoint its own circuit breaker: a
	// dial refused by an open breaker fails at once without touching the
	// network.
	Breakers *rebound.Breakers
	// Budgets, when set, gives each endpoint its own retry budget.
	Budgets *rebound.Budgets
	// Endpoint labels a dial for events, logs, metrics, breakers and
	// budgets. Default: Policy.Endpoint when it is set, else
	// DefaultEndpoint, the network and the address ("tcp db.internal:5432").
	Endpoint func(network, address string) string
}

// DefaultEndpoint labels a dial with its network and address, such as
// "tcp db.internal:5432": bounded by the addresses a program dials.
func DefaultEndpoint(network, address string) string { return network + " " + address }

// Dialer dials under a rebound.Policy: each failed dial is classified and
// retried if it can succeed, with the endpoint's breaker and budget. Its
// DialContext has net.Dialer.DialContext's signature, and Dial the one of
// net.Dial, so that a Dialer plugs into clients that take a dial function.
//
// A Dialer is safe for concurrent use.
type Dialer struct {
	cfg    DialerConfig
	net    *net.Dialer
	tls    *tls.Dialer
	policy rebound.Policy
}

// NewDialer returns a Dialer for cfg, or a *rebound.ConfigError naming the
// first invalid field.
func NewDialer(cfg DialerConfig) (*Dialer, error) {
	p := cfg.Policy
	if err := p.Validate(); err != nil {
		var ce *rebound.ConfigError
		if errors.As(err, &ce) {
			return nil, &rebound.ConfigError{Field: "reboundnet.DialerConfig." + ce.Field, Problem: ce.Problem}
		}
		return nil, err
	}
	if p.Hedger != nil {
		return nil, &rebound.ConfigError{Field: "reboundnet.DialerConfig.Policy.Hedger", Problem: "want nil: dials are not hedged"}
	}
	if cfg.Dialer != nil && cfg.Dialer.Timeout < 0 {
		return nil, &rebound.ConfigError{Field: "reboundnet.DialerConfig.Dialer.Timeout", Problem: "want a duration >= 0, got " + cfg.Dialer.Timeout.String()}
	}
	// A failed dial sent nothing of the caller's: retrying it repeats no
	// effect, whatever the operation that follows.
	p.NonIdempotent = false
	d := &Dialer{cfg: cfg, net: cfg.Dialer, policy: p}
	if d.net == nil {
		d.net = &net.Dialer{Timeout: DefaultDialTimeout}
	}
	if cfg.TLS != nil {
		d.tls = &tls.Dialer{NetDialer: d.net, Config: cfg.TLS}
	}
	return d, nil
}

// DialContext connects to address on the named network (as net.Dial
// names them: "tcp", "tcp4", "udp", "unix"…), retrying failed dials under
// the policy, and with TLS when DialerConfig.TLS is set. When every attempt
// failed it returns the *rebound.Error saying why retrying stopped, which
// wraps the last dial's error (errors.As reaches its *net.OpError,
// *net.DNSError or x509 error).
//
// Its signature is net.Dialer.DialContext's: it can be an
// http.Transport's DialContext, or pgx's pgconn.Config.DialFunc.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	p := d.policy
	p.Endpoint = d.label(network, address)
	if d.cfg.Breakers != nil {
		p.Breaker = d.cfg.Breakers.Get(p.Endpoint)
	}
	if d.cfg.Budgets != nil {
		p.Budget = d.cfg.Budgets.Get(p.Endpoint)
	}
	return rebound.Do(ctx, p, func(ctx context.Context) (net.Conn, error) {
		if d.tls != nil {
			return d.tls.DialContext(ctx, network, address)
		}
		return d.net.DialContext(ctx, network, address)
	})
}

// Dial is DialContext with context.Background(): the signature of net.Dial,
// which amqp091-go's Config.Dial takes.
func (d *Dialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

// To returns a function that dials address on network with DialContext:
// the shape SupervisorConfig.Dial takes.
func (d *Dialer) To(network, address string) func(context.Context) (net.Conn, error) {
	return func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, network, address) }
}

func (d *Dialer) label(network, address string) string {
	switch {
	case d.cfg.Endpoint != nil:
		return d.cfg.Endpoint(network, address)
	case d.policy.Endpoint != "":
		return d.policy.Endpoint
	}
	return DefaultEndpoint(network, address)
}
