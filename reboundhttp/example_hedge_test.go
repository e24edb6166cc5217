package reboundhttp_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundhttp"
)

// Hedged requests: a GET still unanswered after the hedger's delay is sent
// again, and the first response wins. Here the server stalls on its first
// request; the hedge sent 20 ms later answers, and the stalled request is
// canceled. (Without Delay, the delay is the endpoint's live 90th
// percentile once 20 responses are measured.)
func ExampleConfig_hedgers() {
	var requests atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 {
			<-r.Context().Done() // a stall, until the client cancels it
			return
		}
		fmt.Fprint(w, "fast answer")
	}))
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
	fmt.Println(string(body), err, requests.Load())
	// Output: fast answer <nil> 2
}
