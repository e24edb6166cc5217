package reboundhttp_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundhttp"
	"github.com/rebound-go/rebound/reboundtest"
)

// Hedged requests: a GET still unanswered after the hedger's delay is sent
// again, and the first response wins. Here the server stalls on its first
// request; the hedge sent 20 ms later answers, and the stalled request is
// canceled. (Without Delay, the delay is the endpoint's live 90th
// percentile once 20 responses are measured.)
func ExampleConfig_hedgers() {
	stall := reboundtest.NewScript(reboundtest.Hang(), reboundtest.Pass()) // the first request waits until the client cancels it
	api := httptest.NewServer(stall.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "fast answer")
	})))
	defer api.Close()

	hedgers, _ := rebound.NewHedgers(rebound.HedgeConfig{Delay: 20 * time.Millisecond, Ratio: 1}, 0)
	client, _ := reboundhttp.NewClient(reboundhttp.Config{Hedgers: hedgers})
	resp, err := client.Get(api.URL + "/search?q=go")
	if err != nil {
		fmt.Println(err)
		return
	}
	body, err := io.ReadAll(resp.Body) // readable: the winner's context lives until Close
	resp.Body.Close()
	fmt.Println(string(body), err, stall.Count())
	// Output: fast answer <nil> 2
}
