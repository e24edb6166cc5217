package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/webhook"
)

// river's side: a job per message whose worker makes the same HTTP POST as
// rebound's WebhookSender (same headers, same 10 s timeout, the same
// transport settings and SSRF-guarded dialer as the sender's default
// client), so that both libraries do the same work per message and differ
// only in how they fetch jobs and record outcomes.

// webhookArgs is the job: the message ID and its payload.
type webhookArgs struct {
	ID      string          `json:"id"`
	Payload json.RawMessage `json:"payload"`
}

func (webhookArgs) Kind() string { return "bench_webhook" }

// webhookWorker posts a job's payload to url.
type webhookWorker struct {
	river.WorkerDefaults[webhookArgs]
	client *http.Client
	url    string
	// retryWait, when set, schedules every retry this long after the
	// failure; otherwise river's default policy applies.
	retryWait time.Duration
}

func (w *webhookWorker) Work(ctx context.Context, job *river.Job[webhookArgs]) error {
	ctx, cancel := context.WithTimeout(ctx, outbox.DefaultDeliveryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(job.Args.Payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", job.Args.ID)
	req.Header.Set(webhook.HeaderID, job.Args.ID)
	req.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(time.Now().Unix(), 10))
	req.Header.Set(webhook.HeaderAttempt, strconv.Itoa(job.Attempt))
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	defer func() {
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		resp.Body.Close()
	}()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("receiver answered %d", resp.StatusCode)
	}
	return nil
}

func (w *webhookWorker) NextRetry(*river.Job[webhookArgs]) time.Time {
	if w.retryWait > 0 {
		return time.Now().Add(w.retryWait)
	}
	return time.Time{} // river's default policy
}

// webhookClient is outbox.WebhookSender's default client (the guarded
// dialer, loopback allowed; no proxy, no redirects, up to
// webhook.DefaultMaxIdleConnsPerHost idle connections per host), so that
// river's worker sends exactly as rebound's relay does.
func webhookClient() *http.Client {
	return webhook.NewClient(webhook.AddressPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
}

// riverSystem is river on PostgreSQL through riverpgxv5, its tables
// migrated with rivermigrate into the run's schema.
type riverSystem struct {
	*pgSchema
	client *river.Client[pgx.Tx]
}

func newRiver(tb testing.TB, dbURL string, cfg outboxConfig, url string, logs *logCounter) *riverSystem {
	tb.Helper()
	ctx := context.Background()
	s := &riverSystem{pgSchema: newPGSchema(tb, dbURL)}
	driver := riverpgxv5.New(s.pool)
	migrator, err := rivermigrate.New(driver, &rivermigrate.Config{Schema: s.name, Logger: logs.logger()})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		tb.Fatal(err)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &webhookWorker{client: webhookClient(), url: url, retryWait: cfg.retryWait})
	maxWorkers := cfg.workers
	if maxWorkers == 0 {
		maxWorkers = 100 // river's documented default for a queue
	}
	s.client, err = river.NewClient(driver, &river.Config{
		Schema:            s.name,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: maxWorkers}},
		Workers:           workers,
		FetchCooldown:     cfg.fetchCooldown,
		FetchPollInterval: cfg.fetchPollInterval,
		Logger:            logs.logger(),
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.client.Stop(context.Background()) })
	return s
}

func (s *riverSystem) enqueueBatch(ctx context.Context, ids []string) error {
	params := make([]river.InsertManyParams, len(ids))
	for i, id := range ids {
		params[i] = river.InsertManyParams{Args: webhookArgs{ID: id, Payload: payload(id)}}
	}
	_, err := s.client.InsertMany(ctx, params)
	return err
}

func (s *riverSystem) enqueueBusiness(ctx context.Context, id string) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `INSERT INTO orders (ref, total) VALUES ($1, 4200)`, id); err != nil {
		return err
	}
	if _, err := s.client.InsertTx(ctx, tx, webhookArgs{ID: id, Payload: payload(id)}, nil); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func (s *riverSystem) analyze(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, `ANALYZE river_job`)
	return err
}

func (s *riverSystem) start(ctx context.Context) error { return s.client.Start(ctx) }
func (s *riverSystem) stop(ctx context.Context) error  { return s.client.Stop(ctx) }

func (s *riverSystem) counts(ctx context.Context) (storeCounts, error) {
	var c storeCounts
	err := s.pool.QueryRow(ctx, `SELECT
	count(*) FILTER (WHERE state = 'completed'),
	count(*) FILTER (WHERE state IN ('discarded', 'cancelled')),
	count(*) FILTER (WHERE state NOT IN ('completed', 'discarded', 'cancelled')),
	coalesce(sum(attempt), 0)
FROM river_job`).Scan(&c.sent, &c.dead, &c.pending, &c.attempts)
	return c, err
}

var _ outboxSystem = (*riverSystem)(nil)
