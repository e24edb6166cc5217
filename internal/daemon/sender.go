package daemon

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/internal/config"
	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/webhook"
)

// maxRawSenders bounds the raw-URL senders kept; beyond it the cache
// starts over.
const maxRawSenders = 1000

// router sends a message through its named destination, or to its raw URL
// when the allow-list permits it.
type router struct {
	named    *outbox.WebhookSender // nil when no webhook destination is configured
	brokers  map[string]*broker    // the broker destinations
	names    map[string]bool
	rawAllow []string
	client   *http.Client

	mu  sync.Mutex
	raw map[string]*outbox.WebhookSender
}

func newRouter(cfg *config.Config, policy webhook.AddressPolicy, brokers map[string]*broker) (*router, error) {
	// One guarded client for the named and the raw-URL senders, so that
	// they share its connections.
	client := webhook.NewClient(policy)
	r := &router{brokers: brokers, names: map[string]bool{}, rawAllow: cfg.RawURLs.Allow, client: client, raw: map[string]*outbox.WebhookSender{}}
	for name := range brokers {
		r.names[name] = true
	}
	dests := map[string]outbox.Destination{}
	for name, d := range cfg.Destinations {
		if d.KindOf() == config.KindWebhook {
			dests[name] = outbox.Destination{URL: d.URL, Secrets: d.Secrets, Timeout: time.Duration(d.Timeout), Headers: d.Headers}
			r.names[name] = true
		}
	}
	if len(dests) > 0 {
		s, err := outbox.NewWebhookSender(outbox.WebhookConfig{Destinations: dests, Client: client})
		if err != nil {
			return nil, err
		}
		r.named = s
	}
	return r, nil
}

// Allowed reports whether a message may name dest: a configured name, or
// a URL under an allowed prefix with no user info, query or fragment (the
// URL labels logs and metrics, so it must carry no credentials).
func (r *router) Allowed(dest string) bool {
	return r.names[dest] || r.rawAllowed(dest)
}

func (r *router) rawAllowed(dest string) bool {
	if !strings.HasPrefix(dest, "http://") && !strings.HasPrefix(dest, "https://") {
		return false
	}
	u, err := url.Parse(dest)
	if err != nil || u.User != nil || u.Host == "" || u.Fragment != "" || u.RawQuery != "" {
		return false
	}
	for _, p := range r.rawAllow {
		if strings.HasPrefix(dest, p) {
			return true
		}
	}
	return false
}

// Check reports why m cannot go to its broker destination, as a
// *outbox.FieldError, or nil.
func (r *router) Check(m outbox.Message) error {
	if b := r.brokers[m.Destination]; b != nil && b.accepts != nil {
		return b.accepts(m)
	}
	return nil
}

// Send implements outbox.Sender.
func (r *router) Send(ctx context.Context, d outbox.Delivery) error {
	if b := r.brokers[d.Destination]; b != nil {
		return b.Send(ctx, d)
	}
	if r.names[d.Destination] {
		return r.named.Send(ctx, d)
	}
	if !r.rawAllowed(d.Destination) {
		return rebound.Permanent(fmt.Errorf("%w: %q is not configured, and not a URL the raw-URL allow-list permits", outbox.ErrUnknownDestination, d.Destination))
	}
	r.mu.Lock()
	s := r.raw[d.Destination]
	if s == nil {
		var err error
		s, err = outbox.NewWebhookSender(outbox.WebhookConfig{Destinations: map[string]outbox.Destination{d.Destination: {URL: d.Destination}}, Client: r.client})
		if err != nil {
			r.mu.Unlock()
			return rebound.Permanent(err)
		}
		if len(r.raw) >= maxRawSenders {
			clear(r.raw)
		}
		r.raw[d.Destination] = s
	}
	r.mu.Unlock()
	return s.Send(ctx, d)
}
