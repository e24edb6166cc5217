package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite"

	"github.com/rebound-go/rebound/idempotency"
	"github.com/rebound-go/rebound/webhook"
)

// A webhook receiver that verifies each delivery's Standard Webhooks
// signature, then records its webhook-id and applies its effect in one
// transaction: a redelivered webhook (the sender retries until it sees a
// 2xx) is acknowledged without being applied twice.
func Example_webhookReceiver() {
	dir, err := os.MkdirTemp("", "receiver-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "shop.db")+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if err := idempotency.CreateMarkTable(ctx, db); err != nil {
		log.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE payments (order_id TEXT, amount INTEGER)`); err != nil {
		log.Fatal(err)
	}

	secret := webhook.NewSecret()
	key, _ := webhook.ParseSecret(secret)
	keys := [][]byte{key}

	receive := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		if err := webhook.Verify(keys, r.Header, body, time.Now(), 0); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		tx, err := db.BeginTx(r.Context(), nil)
		if err != nil {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		defer tx.Rollback()
		isNew, err := idempotency.MarkTx(r.Context(), tx, "payments-webhook", r.Header.Get(webhook.HeaderID))
		if err != nil {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		if isNew {
			if _, err := tx.ExecContext(r.Context(), `INSERT INTO payments VALUES ('ord_1', 100)`); err != nil {
				http.Error(w, "try again", http.StatusServiceUnavailable)
				return
			}
		}
		if err := tx.Commit(); err != nil {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(receive)
	defer srv.Close()

	// The same webhook delivered twice, then a forged one.
	body := []byte(`{"type":"payment.succeeded","order":"ord_1","amount":100}`)
	deliver := func(sig string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
		now := time.Now()
		req.Header.Set(webhook.HeaderID, "msg_01")
		req.Header.Set(webhook.HeaderTimestamp, fmt.Sprint(now.Unix()))
		if sig == "" {
			sig = webhook.Sign(keys, "msg_01", now, body)
		}
		req.Header.Set(webhook.HeaderSignature, sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	fmt.Println(deliver(""), deliver(""), deliver("v1,Zm9yZ2VkLXNpZ25hdHVyZS1mb3JnZWQtc2lnbmF0dXJlIQ=="))
	var n int
	_ = db.QueryRowContext(ctx, `SELECT count(*) FROM payments`).Scan(&n)
	fmt.Println("payments applied:", n)
	// Output:
	// 204 204 401
	// payments applied: 1
}
