package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundhttp"
)

type user struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

func main() {
	drop := flag.Int("drop", 2, "connections the service drops before it answers (0..10)")
	users := flag.Int("users", 3, "users to fetch (1..100)")
	flag.Parse()
	if *drop < 0 || *drop > 10 {
		fmt.Fprintln(os.Stderr, "guide: -drop must be between 0 and 10")
		os.Exit(2)
	}
	if *users < 1 || *users > 100 {
		fmt.Fprintln(os.Stderr, "guide: -users must be between 1 and 100")
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(logger, *drop, *users); err != nil {
		logger.Error("guide failed", "error", err)
		os.Exit(1)
	}
}

func run(logger *slog.Logger, drop, users int) error {
	addr, stop, err := serveFlakyUsers(drop)
	if err != nil {
		return err
	}
	defer stop()
	logger.Info("flaky user service listening", "addr", addr, "drops", drop)

	policy := rebound.Policy{
		MaxAttempts: 3,
		Backoff:     rebound.Exponential{Initial: time.Second, Max: 10 * time.Second},
		RetryOn:     rebound.Classes(rebound.Connection),
		Observer:    rebound.NewSlogObserver(logger),
	}
	// The guide's 5 s per attempt, to the end of the response body.
	client, err := reboundhttp.NewClient(reboundhttp.Config{Policy: policy, AttemptTimeout: 5 * time.Second})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ctx = reboundhttp.WithEndpoint(ctx, "api/v1/user")
	for id := 1; id <= users; id++ {
		u, err := reboundhttp.GetJSON[user](ctx, client, fmt.Sprintf("http://%s/api/v1/user/%d", addr, id))
		if err != nil {
			var e *rebound.Error
			if errors.As(err, &e) {
				logger.Warn("could not fetch user", "id", id, "reason", e.Reason.String(), "attempts", e.Attempts)
				continue
			}
			return err
		}
		fmt.Printf("user %d: %s\n", u.ID, u.Name)
	}
	return nil
}

// serveFlakyUsers starts a user service on a loopback port that drops its
// first n connections (the client sees a connection reset or EOF) and then
// answers normally.
func serveFlakyUsers(n int) (addr string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	var dropped atomic.Int64
	names := []string{"Ada", "Grace", "Barbara", "Frances", "Radia"}
	srv := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if dropped.Add(1) <= int64(n) {
				if hj, ok := w.(http.Hijacker); ok {
					if c, _, err := hj.Hijack(); err == nil {
						if tc, ok := c.(*net.TCPConn); ok {
							_ = tc.SetLinger(0) // reset, not a clean close
						}
						c.Close()
						return
					}
				}
			}
			var id int
			if _, err := fmt.Sscanf(r.URL.Path, "/api/v1/user/%d", &id); err != nil || id < 1 {
				http.Error(w, `{"error":"no such user"}`, http.StatusNotFound)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(user{ID: id, Name: names[(id-1)%len(names)]})
		}),
	}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), func() { _ = srv.Close() }, nil
}
