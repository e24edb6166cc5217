package reboundhttp_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/idempotency"
	"github.com/rebound-go/rebound/reboundhttp"
)

// A client and a server that agree on Idempotency-Key. The order service
// takes 300 ms, longer than the client's 100 ms per attempt: the first
// attempt times out while the order is being created. The retry carries
// the same key, so the middleware answers 409 with Retry-After: 1 while
// the first request runs; the client waits that second and the next
// attempt gets the stored 201. One order is created.
func Example_idempotency() {
	var orders atomic.Int64
	createOrder := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := orders.Add(1)
		time.Sleep(300 * time.Millisecond) // slower than one attempt
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"order":%d}`, n)
	})
	mw, _ := idempotency.Middleware(idempotency.Config{Store: &idempotency.MemoryStore{}})
	srv := httptest.NewServer(mw(createOrder))
	defer srv.Close()

	client, _ := reboundhttp.NewClient(reboundhttp.Config{
		IdempotencyKeys: true, // one key per request, the same on every attempt
		AttemptTimeout:  100 * time.Millisecond,
		Policy:          rebound.Policy{Backoff: rebound.Constant(50 * time.Millisecond)},
	})
	resp, err := client.Post(srv.URL+"/orders", "application/json", strings.NewReader(`{"sku":"X1","qty":2}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body), "replayed:", resp.Header.Get(idempotency.HeaderReplayed))
	fmt.Println("orders created:", orders.Load())
	// Output:
	// 201 {"order":1} replayed: true
	// orders created: 1
}
