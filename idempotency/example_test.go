package idempotency_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/rebound-go/rebound/idempotency"
)

// A payment endpoint that a client may safely retry: the second request
// with the same key gets the first response, and the charge happens once.
func ExampleMiddleware() {
	charges := 0
	pay := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		charges++
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"charge":%d}`, charges)
	})
	mw, _ := idempotency.Middleware(idempotency.Config{Store: &idempotency.MemoryStore{}})
	srv := httptest.NewServer(mw(pay))
	defer srv.Close()

	for i := 0; i < 2; i++ {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/payments", strings.NewReader(`{"amount":100}`))
		req.Header.Set("Idempotency-Key", `"pay-7f3a"`)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%d %s replayed=%q\n", resp.StatusCode, body, resp.Header.Get("Idempotent-Replayed"))
	}
	fmt.Println("charges:", charges)
	// Output:
	// 201 {"charge":1} replayed=""
	// 201 {"charge":1} replayed="true"
	// charges: 1
}
