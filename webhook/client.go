// The guarded HTTP client for deliveries.

package webhook

import (
	"net/http"
	"time"
)

// DefaultMaxIdleConnsPerHost is how many idle connections per host a
// client from NewClient keeps for reuse (each closes after 90 s unused). A
// relay makes up to Workers deliveries at once, often to one or a few
// hosts; with a smaller pool every delivery beyond it dials a new
// connection and closes it afterwards, which at 100 or 500 workers cost a
// third of the relay's CPU.
const DefaultMaxIdleConnsPerHost = 1000

// NewClient returns an HTTP client for delivering webhooks to URLs that
// users supply: its dialer (p.Dialer) applies p after DNS resolution, it
// uses no proxy (which would hide the real address from the guard),
// follows no redirects, and keeps up to DefaultMaxIdleConnsPerHost idle
// connections per host. outbox.WebhookSender uses it when its
// WebhookConfig.Client is nil. The client is safe for concurrent use; give
// one client to several senders to share its connections.
func NewClient(p AddressPolicy) *http.Client {
	dialer := p.Dialer()
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           dialer.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConnsPerHost:   DefaultMaxIdleConnsPerHost,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
