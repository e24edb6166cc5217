package reboundtest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundhttp"
	"github.com/rebound-go/rebound/reboundtest"
)

// A server whose connections are reset until the test says otherwise: here
// an observer switches the fault off when the client schedules its first
// retry, and the retry gets through.
func ExampleNewListener() {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	}))
	l := reboundtest.NewListener(srv.Listener, reboundtest.Faults{Reset: true})
	srv.Listener = l
	srv.Start()
	defer srv.Close()

	rec := &reboundtest.Recorder{}
	back := rebound.ObserverFunc(func(_ context.Context, e rebound.Event) {
		if e.Kind == rebound.RetryScheduled {
			l.Set(reboundtest.Faults{}) // the server is back
		}
	})
	client, _ := reboundhttp.NewClient(reboundhttp.Config{
		Policy: rebound.Policy{Backoff: rebound.Constant(0), Observer: rebound.Observers(rec, back)},
	})
	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body), "after", rec.Attempts(""), "attempts; retried for:", rec.RetryReasons())
	// Output:
	// 200 hello after 2 attempts; retried for: [connection]
}
