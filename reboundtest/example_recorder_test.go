package reboundtest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundhttp"
	"github.com/rebound-go/rebound/reboundtest"
)

// A Recorder in the client's policy keeps the events of its calls, for a
// test to assert what a call did: here two 503s, each retried for a
// Response failure, and a success at the third attempt. The endpoint label
// is a route template, the same whatever the server's port.
func ExampleRecorder() {
	s := reboundtest.NewScript(reboundtest.Fail(2, http.StatusServiceUnavailable))
	srv := httptest.NewServer(s.Handler(hello))
	defer srv.Close()

	rec := &reboundtest.Recorder{}
	client, _ := reboundhttp.NewClient(reboundhttp.Config{
		Endpoint: func(*http.Request) string { return "GET /users/{id}" },
		Policy:   rebound.Policy{Backoff: rebound.Constant(0), Observer: rec},
	})
	resp, err := client.Get(srv.URL + "/users/7")
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()

	fmt.Println("attempts:", rec.Attempts("GET /users/{id}"))
	fmt.Println("retried for:", rec.RetryReasons())
	for _, e := range rec.Events() {
		if e.Err != nil {
			fmt.Println(e.Kind, e.Attempt, e.Class)
		} else {
			fmt.Println(e.Kind, e.Attempt)
		}
	}
	// Output:
	// attempts: 3
	// retried for: [response response]
	// attempt_finished 1 response
	// retry_scheduled 1 response
	// attempt_finished 2 response
	// retry_scheduled 2 response
	// attempt_finished 3
	// call_finished 3
}
