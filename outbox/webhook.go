package outbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundhttp"
	"github.com/rebound-go/rebound/webhook"
)

// Destination is where a WebhookSender delivers a destination's messages.
type Destination struct {
	// URL receives a POST per message. http or https.
	URL string
	// Secrets sign each delivery (Standard Webhooks, "whsec_…"); during a
	// key rotation give the new and the old one: each delivery carries a
	// signature per secret. None means unsigned.
	Secrets []string
	// Timeout bounds one delivery. Default 10 s.
	Timeout time.Duration
	// Headers are added to every delivery.
	Headers map[string]string
}

// DefaultDeliveryTimeout bounds one delivery when Destination.Timeout is 0.
const DefaultDeliveryTimeout = 10 * time.Second

// WebhookConfig configures a WebhookSender.
type WebhookConfig struct {
	// Destinations by name (Message.Destination). Required.
	Destinations map[string]Destination
	// Addresses guards the default client's dials against SSRF: reserved,
	// private, loopback and link-local addresses are refused after DNS
	// resolution unless allowed here. The zero value refuses them all.
	Addresses webhook.AddressPolicy
	// Client sends the requests. Default: webhook.NewClient(Addresses), a
	// client whose dialer applies Addresses, with no proxy, no redirects
	// followed, and up to webhook.DefaultMaxIdleConnsPerHost idle
	// connections kept per host. A custom client is not guarded: give it
	// webhook.AddressPolicy.Dialer yourself.
	Client *http.Client
}

// WebhookSender delivers messages as webhooks: a POST of the payload with
// Content-Type (the message's, or application/json), Idempotency-Key and
// webhook-id set to the message ID, webhook-timestamp, webhook-signature
// (Standard Webhooks, from webhook.Sign; receivers check it with
// webhook.VerifyRequest), and Webhook-Attempt (the attempt number). Any
// 2xx is delivered; other answers are classified as reboundhttp classifies
// them (5xx, 429, 408 retried, with Retry-After; other 4xx dead at once).
type WebhookSender struct {
	dests  map[string]destination
	client *http.Client
}

type destination struct {
	Destination
	url  *url.URL
	keys [][]byte
}

// NewWebhookSender returns a sender, or an error naming the first invalid
// destination field.
func NewWebhookSender(cfg WebhookConfig) (*WebhookSender, error) {
	if len(cfg.Destinations) == 0 {
		return nil, &rebound.ConfigError{Field: "outbox.WebhookConfig.Destinations", Problem: "at least one destination"}
	}
	s := &WebhookSender{dests: make(map[string]destination, len(cfg.Destinations)), client: cfg.Client}
	for name, d := range cfg.Destinations {
		field := "outbox.WebhookConfig.Destinations[" + strconv.Quote(name) + "]"
		u, err := url.Parse(d.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, &rebound.ConfigError{Field: field + ".URL", Problem: "an absolute http or https URL, got " + strconv.Quote(d.URL)}
		}
		if d.Timeout < 0 {
			return nil, &rebound.ConfigError{Field: field + ".Timeout", Problem: "0 (default 10 s) or positive"}
		}
		dd := destination{Destination: d, url: u}
		for i, sec := range d.Secrets {
			k, err := webhook.ParseSecret(sec)
			if err != nil {
				return nil, &rebound.ConfigError{Field: field + ".Secrets[" + strconv.Itoa(i) + "]", Problem: err.Error()}
			}
			dd.keys = append(dd.keys, k)
		}
		if dd.Timeout == 0 {
			dd.Timeout = DefaultDeliveryTimeout
		}
		s.dests[name] = dd
	}
	if s.client == nil {
		s.client = webhook.NewClient(cfg.Addresses)
	}
	return s, nil
}

// ErrUnknownDestination: the message names no configured destination. It
// is a Logic error: the message goes dead at once.
var ErrUnknownDestination = errors.New("outbox: unknown destination")

// Send implements Sender.
func (s *WebhookSender) Send(ctx context.Context, d Delivery) error {
	dest, ok := s.dests[d.Destination]
	if !ok {
		return rebound.Permanent(fmt.Errorf("%w: %q is not configured", ErrUnknownDestination, d.Destination))
	}
	ctx, cancel := context.WithTimeout(ctx, dest.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dest.url.String(), bytes.NewReader(d.Payload))
	if err != nil {
		return rebound.Permanent(err)
	}
	for k, v := range dest.Headers {
		req.Header.Set(k, v)
	}
	for k, v := range d.Headers {
		req.Header.Set(k, v)
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	now := time.Now()
	req.Header.Set("Idempotency-Key", d.ID)
	req.Header.Set(webhook.HeaderID, d.ID)
	req.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	if len(dest.keys) > 0 {
		req.Header.Set(webhook.HeaderSignature, webhook.Sign(dest.keys, d.ID, now, d.Payload))
	}
	req.Header.Set(webhook.HeaderAttempt, strconv.Itoa(d.Attempt))
	injectTrace(ctx, propagation.HeaderCarrier(req.Header)) // the delivery span's traceparent
	resp, err := s.client.Do(req)
	if err != nil {
		var ae *webhook.AddressError
		if errors.As(err, &ae) {
			return rebound.Permanent(err) // refused by policy: retrying cannot help
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may carry credentials; the destination name is logged instead
		}
		return err
	}
	defer func() {
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		resp.Body.Close()
	}()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	c, failed := reboundhttp.DefaultClassifyResponse(resp)
	if !failed {
		// 1xx or 3xx: not a delivery.
		c = rebound.Classification{Class: rebound.Logic}
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	return &DeliveryError{Status: resp.StatusCode, Body: string(snippet), class: c}
}

// DeliveryError is a receiver's non-2xx answer.
type DeliveryError struct {
	Status int
	// Body is the first bytes of the answer.
	Body  string
	class rebound.Classification
}

func (e *DeliveryError) Error() string {
	s := "receiver answered " + strconv.Itoa(e.Status) + " " + http.StatusText(e.Status)
	if e.Body != "" {
		s += ": " + strconv.Quote(e.Body)
	}
	return s
}

// Classification implements rebound.Classified.
func (e *DeliveryError) Classification() rebound.Classification { return e.class }

// HTTPStatus reports the status, which the outbox stores as last_status.
func (e *DeliveryError) HTTPStatus() int { return e.Status }
