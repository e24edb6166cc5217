package rebound_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/rebound-go/rebound"
)

type user struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

// The guide's example in Go: stop after 3 attempts, wait exponentially
// from 1 s up to 10 s, retry only connection errors and timeouts, give each
// attempt 5 s, around a GET that decodes JSON.
func ExampleDo_guide() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id": 7, "name": "Ada"}`)
	}))
	defer srv.Close()

	policy := rebound.Policy{
		Endpoint:       "api/v1/user",
		MaxAttempts:    3,
		Backoff:        rebound.Exponential{Initial: time.Second, Max: 10 * time.Second},
		RetryOn:        rebound.Classes(rebound.Connection), // refused, reset, timeouts
		AttemptTimeout: 5 * time.Second,
	}
	u, err := rebound.Do(context.Background(), policy, func(ctx context.Context) (user, error) {
		var u user
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/v1/user/7", nil)
		if err != nil {
			return u, rebound.Permanent(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return u, err // classified: connection errors and timeouts are retried
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			// Not a connection error: this policy does not retry it.
			return u, fmt.Errorf("GET user: status %d", resp.StatusCode)
		}
		// A body cut short (io.ErrUnexpectedEOF) is a Connection error too.
		return u, json.NewDecoder(resp.Body).Decode(&u)
	})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Printf("user %d: %s\n", u.ID, u.Name)
	// Output: user 7: Ada
}
