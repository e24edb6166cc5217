// Command receiver is a webhook receiver for trying rebound relay: it
// prints every delivery and answers 204, or 500 to a payload that has
// "fail": true, so that you can watch a message retry and go dead.
//
//	go run ./examples/receiver                  # listens on 127.0.0.1:9000
//	go run ./examples/receiver -secret whsec_…  # also verifies signatures
//
// A receiver that applies each message once records the webhook-id header
// (see idempotency.MarkTx); this one only prints it, marking repeats.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/rebound-go/rebound/webhook"
)

// maxBody bounds a delivery's body: the largest an outbox message carries.
const maxBody = webhook.MaxBodyBytes

func main() {
	addr := flag.String("listen", "127.0.0.1:9000", "address to listen on")
	secret := flag.String("secret", "", "verify Standard Webhooks signatures with this whsec_ secret")
	flag.Parse()
	if *secret != "" {
		if _, err := webhook.ParseSecret(*secret); err != nil {
			fmt.Fprintln(os.Stderr, "receiver: -secret:", err)
			os.Exit(2)
		}
	}
	log := slog.New(slog.NewTextHandler(os.Stdout, nil))
	var mu sync.Mutex
	seen := map[string]int{}
	http.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(webhook.HeaderID)
		var body []byte
		var err error
		if *secret != "" {
			body, err = webhook.VerifyRequest(r, *secret)
			if err != nil {
				log.Warn("refused", "id", id, "error", err)
				http.Error(w, err.Error(), http.StatusUnauthorized)
				return
			}
		} else if body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody)); err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		mu.Lock()
		seen[id]++
		n := len(seen)
		repeat := seen[id] > 1
		if len(seen) > 100000 {
			clear(seen)
		}
		mu.Unlock()
		var p struct {
			Fail bool `json:"fail"`
		}
		_ = json.Unmarshal(body, &p)
		status := http.StatusNoContent
		if p.Fail {
			status = http.StatusInternalServerError
		}
		log.Info("delivery", "id", id, "attempt", r.Header.Get(webhook.HeaderAttempt), "repeat", repeat, "answer", status, "distinct", n, "body", string(body))
		w.WriteHeader(status)
	})
	log.Info("receiver listening", "addr", *addr)
	srv := &http.Server{Addr: *addr, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "receiver:", err)
		os.Exit(1)
	}
}
