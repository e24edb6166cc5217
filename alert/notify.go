package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rebound-go/rebound/reboundhttp"
)

// State is an alert's state.
type State uint8

const (
	Inactive State = iota
	// Pending: the condition holds but not yet for Rule.For.
	Pending
	// Firing: the alert is active.
	Firing
	// Resolved: the alert stopped firing.
	Resolved
)

// String returns "inactive", "pending", "firing" or "resolved".
func (s State) String() string {
	switch s {
	case Pending:
		return "pending"
	case Firing:
		return "firing"
	case Resolved:
		return "resolved"
	}
	return "inactive"
}

// Alert is one notification: an alert that fired or resolved.
type Alert struct {
	Name     string // the alert's name, such as ReboundEndpointHighFailureRate
	Endpoint string
	State    State // Firing or Resolved
	// Value is the value that made the condition hold, the last time it
	// held: a ratio, a count or seconds, depending on the alert.
	Value       float64
	Summary     string
	Description string
	StartsAt    time.Time
	EndsAt      time.Time // set when resolved
	// Labels are Config.Labels; shared, not to be modified.
	Labels map[string]string
	// Repeat marks a re-send of a firing alert to a Repeater.
	Repeat bool
}

// A Notifier delivers alerts. Notify is called from a single goroutine, for
// each firing and each resolved alert in order; a returned error is logged.
type Notifier interface {
	Name() string
	Notify(ctx context.Context, a Alert) error
}

// A Repeater is a Notifier that wants firing alerts sent again every
// Config.RepeatInterval, such as Alertmanager, which resolves alerts that
// are not refreshed.
type Repeater interface {
	Notifier
	Repeats()
}

// SlogNotifier logs alerts: firing at ERROR, resolved at INFO.
type SlogNotifier struct{ Logger *slog.Logger }

// Name implements Notifier.
func (SlogNotifier) Name() string { return "slog" }

// Notify implements Notifier.
func (n SlogNotifier) Notify(ctx context.Context, a Alert) error {
	l := n.Logger
	if l == nil {
		l = slog.Default()
	}
	level, msg := slog.LevelError, "alert firing"
	if a.State == Resolved {
		level, msg = slog.LevelInfo, "alert resolved"
	}
	l.LogAttrs(ctx, level, msg, slog.String("alert", a.Name), slog.String("endpoint", a.Endpoint),
		slog.Float64("value", a.Value), slog.String("summary", a.Summary))
	return nil
}

// WebhookNotifier POSTs each alert as JSON to URL. Failed deliveries are
// retried through reboundhttp: by default a client with reboundhttp's
// defaults and an Idempotency-Key on each notification, so that a receiver
// can drop duplicates.
//
// The body is {"alert", "endpoint", "state", "value", "summary",
// "description", "startsAt", "endsAt", "labels"}; any 2xx is success.
type WebhookNotifier struct {
	URL    string
	Client *http.Client // default: a reboundhttp client, see above
	// Timeout bounds one notification, retries included. Default 30 s.
	Timeout time.Duration
}

var (
	webhookOnce   sync.Once
	webhookClient *http.Client
)

func defaultWebhookClient() *http.Client {
	webhookOnce.Do(func() {
		webhookClient, _ = reboundhttp.NewClient(reboundhttp.Config{IdempotencyKeys: true}) // a valid Config
	})
	return webhookClient
}

// Name implements Notifier.
func (WebhookNotifier) Name() string { return "webhook" }

type webhookBody struct {
	Alert       string            `json:"alert"`
	Endpoint    string            `json:"endpoint"`
	State       string            `json:"state"`
	Value       float64           `json:"value"`
	Summary     string            `json:"summary"`
	Description string            `json:"description"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      *time.Time        `json:"endsAt,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
}

// Notify implements Notifier.
func (n WebhookNotifier) Notify(ctx context.Context, a Alert) error {
	b := webhookBody{Alert: a.Name, Endpoint: a.Endpoint, State: a.State.String(), Value: a.Value,
		Summary: a.Summary, Description: a.Description, StartsAt: a.StartsAt, Labels: a.Labels}
	if !a.EndsAt.IsZero() {
		b.EndsAt = &a.EndsAt
	}
	c := n.Client
	if c == nil {
		c = defaultWebhookClient()
	}
	return postJSON(ctx, c, n.Timeout, n.URL, b)
}

// AlertmanagerNotifier sends alerts to an Alertmanager's v2 API
// (POST {URL}/api/v2/alerts). Firing alerts are refreshed every
// Config.RepeatInterval and expire four intervals after the last refresh,
// so alerts of a process that died resolve by themselves.
type AlertmanagerNotifier struct {
	// URL is the Alertmanager's base URL, such as http://127.0.0.1:9093.
	URL    string
	Client *http.Client // default http.DefaultClient
	// Timeout bounds one notification. Default 30 s.
	Timeout time.Duration
	// Expire is how long a firing alert lasts without a refresh. Default
	// 4 minutes (four default repeat intervals).
	Expire time.Duration
	// GeneratorURL is sent as each alert's generatorURL.
	GeneratorURL string
}

// Name implements Notifier.
func (AlertmanagerNotifier) Name() string { return "alertmanager" }

// Repeats implements Repeater.
func (AlertmanagerNotifier) Repeats() {}

type amAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Notify implements Notifier.
func (n AlertmanagerNotifier) Notify(ctx context.Context, a Alert) error {
	labels := maps.Clone(a.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels["alertname"] = a.Name
	labels["endpoint"] = a.Endpoint
	labels["severity"] = severity(a.Name)
	end := a.EndsAt
	if a.State != Resolved {
		exp := n.Expire
		if exp <= 0 {
			exp = 4 * time.Minute
		}
		end = time.Now().Add(exp)
	}
	body := []amAlert{{
		Labels:       labels,
		Annotations:  map[string]string{"summary": a.Summary, "description": a.Description, "runbook": "docs/ALERTS.md#" + strings.ToLower(a.Name)},
		StartsAt:     a.StartsAt,
		EndsAt:       end,
		GeneratorURL: n.GeneratorURL,
	}}
	return postJSON(ctx, n.Client, n.Timeout, strings.TrimSuffix(n.URL, "/")+"/api/v2/alerts", body)
}

func severity(name string) string {
	if name == CircuitOpen {
		return "page"
	}
	return "ticket"
}

func postJSON(ctx context.Context, c *http.Client, timeout time.Duration, url string, v any) error {
	if c == nil {
		c = http.DefaultClient
	}
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		return errors.New("alert: " + req.URL.Redacted() + " answered " + strconv.Itoa(resp.StatusCode) + ": " + strings.TrimSpace(string(snippet)))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	return nil
}
