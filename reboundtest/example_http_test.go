package reboundtest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/idempotency"
	"github.com/rebound-go/rebound/reboundhttp"
	"github.com/rebound-go/rebound/reboundtest"
)

// A client that survives two 503s: the script answers the first two
// requests itself and lets the third through to the real handler.
func ExampleNewScript() {
	s := reboundtest.NewScript(reboundtest.Fail(2, http.StatusServiceUnavailable), reboundtest.Pass())
	srv := httptest.NewServer(s.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	})))
	defer srv.Close()

	rec := &reboundtest.Recorder{}
	client, _ := reboundhttp.NewClient(reboundhttp.Config{
		Policy: rebound.Policy{Backoff: rebound.Constant(0), Observer: rec},
	})
	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))
	fmt.Println("requests:", s.Faults())
	fmt.Println("retried for:", rec.RetryReasons())
	// Output:
	// 200 hello
	// requests: [status 503 status 503 pass]
	// retried for: [response response]
}

// The order is created, then the connection is reset before the response
// reaches the client. Without a key the client cannot know: it gets an
// error, and trying again creates a second order. With reboundhttp's keys
// and the idempotency middleware in front of the handler, the retry gets
// the stored response: one order.
func ExampleAppliedButLost() {
	var created atomic.Int64
	createOrder := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		created.Add(1)
		w.WriteHeader(http.StatusCreated)
	})
	post := func(client *http.Client, url string) string {
		resp, err := client.Post(url+"/orders", "application/json", strings.NewReader(`{"sku":"X1"}`))
		if err != nil {
			return "error"
		}
		resp.Body.Close()
		return resp.Status
	}
	policy := rebound.Policy{Backoff: rebound.Constant(0)}

	// Without an Idempotency-Key.
	s := reboundtest.NewScript(reboundtest.AppliedButLost(), reboundtest.Pass())
	srv := httptest.NewServer(s.Handler(createOrder))
	client, _ := reboundhttp.NewClient(reboundhttp.Config{Policy: policy})
	fmt.Println("without a key:", post(client, srv.URL), "then", post(client, srv.URL), "- orders:", created.Load())
	srv.Close()

	// With keys, honoured by the server.
	created.Store(0)
	keys, _ := idempotency.Middleware(idempotency.Config{Store: &idempotency.MemoryStore{}})
	s = reboundtest.NewScript(reboundtest.AppliedButLost(), reboundtest.Pass())
	srv = httptest.NewServer(s.Handler(keys(createOrder)))
	defer srv.Close()
	client, _ = reboundhttp.NewClient(reboundhttp.Config{Policy: policy, IdempotencyKeys: true})
	fmt.Println("with a key:", post(client, srv.URL), "- orders:", created.Load(), "- requests:", s.Faults())
	// Output:
	// without a key: error then 201 Created - orders: 2
	// with a key: 201 Created - orders: 1 - requests: [applied-but-lost pass]
}
