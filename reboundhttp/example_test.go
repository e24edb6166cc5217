package reboundhttp_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundhttp"
	"github.com/rebound-go/rebound/reboundtest"
)

// flakyAPI answers 503 twice, then the user.
func flakyAPI() *httptest.Server {
	s := reboundtest.NewScript(reboundtest.Repeat(2, reboundtest.RetryAfter(http.StatusServiceUnavailable, 0)))
	return httptest.NewServer(s.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"id": 7, "name": "Ada"}`)
	})))
}

// A client for a flaky API: the retries, their backoff and the JSON decoding
// are the package's job.
func Example() {
	api := flakyAPI()
	defer api.Close()

	client, _ := reboundhttp.NewClient(reboundhttp.Config{
		Policy: rebound.Policy{Backoff: rebound.Constant(10 * time.Millisecond)},
	})
	user, err := reboundhttp.GetJSON[struct{ Name string }](context.Background(), client, api.URL+"/v1/user/7")
	fmt.Println(user.Name, err)
	// Output: Ada <nil>
}

// A POST is retried only when it carries an Idempotency-Key: the server
// can then tell a retry from a new order. The key is the same on every
// attempt.
func ExampleConfig_idempotencyKey() {
	s := reboundtest.NewScript(reboundtest.Fail(1, http.StatusBadGateway))
	api := httptest.NewServer(s.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	})))
	defer api.Close()

	client, _ := reboundhttp.NewClient(reboundhttp.Config{
		Policy: rebound.Policy{Backoff: rebound.Constant(0)},
	})
	req, _ := http.NewRequest(http.MethodPost, api.URL+"/orders", strings.NewReader(`{"sku":"X1","qty":2}`))
	req.Header.Set("Idempotency-Key", "order-2026-11-26-0001")
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	var keys []string
	for _, r := range s.Requests() {
		keys = append(keys, r.IdempotencyKey)
	}
	fmt.Println(resp.StatusCode, keys)
	// Output: 201 [order-2026-11-26-0001 order-2026-11-26-0001]
}

// Label requests with a route template so that events, metrics, breakers
// and budgets group them by route, not by URL.
func ExampleWithEndpoint() {
	api := flakyAPI()
	defer api.Close()

	var labels []string
	client, _ := reboundhttp.NewClient(reboundhttp.Config{
		Policy: rebound.Policy{
			Backoff: rebound.Constant(0),
			Observer: rebound.ObserverFunc(func(_ context.Context, e rebound.Event) {
				if e.Kind == rebound.RetryScheduled {
					labels = append(labels, e.Endpoint)
				}
			}),
		},
	})
	ctx := reboundhttp.WithEndpoint(context.Background(), "api/v1/user/{id}")
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, api.URL+"/api/v1/user/7", nil)
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, labels)
	// Output: 200 [api/v1/user/{id} api/v1/user/{id}]
}

// A long download: the default per-attempt timeout (5 s, from sending the
// request to the end of its body) would cut a body that takes longer to
// read, so it is turned off and the caller's context bounds the whole call.
func ExampleNoAttemptTimeout() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := range 3 {
			fmt.Fprintf(w, "chunk %d\n", i)
			w.(http.Flusher).Flush()
		}
	}))
	defer api.Close()

	client, _ := reboundhttp.NewClient(reboundhttp.Config{
		AttemptTimeout: reboundhttp.NoAttemptTimeout,
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, api.URL+"/export.csv", nil)
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Print(string(body))
	// Output:
	// chunk 0
	// chunk 1
	// chunk 2
}
