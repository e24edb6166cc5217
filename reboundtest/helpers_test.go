package reboundtest_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundhttp"
	"github.com/rebound-go/rebound/reboundtest"
)

// counter is a handler that counts the requests it serves (its effect)
// and answers 200 with a small JSON body.
type counter struct{ n atomic.Int64 }

const okBody = `{"id":7,"name":"Ada"}`

func (c *counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.n.Add(1)
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, okBody)
}

// side builds a client whose requests go through script applied on one
// side, and returns it with the URL to call.
type side struct {
	name  string
	setup func(t *testing.T, s *reboundtest.Script, h http.Handler, cfg reboundhttp.Config) (*http.Client, string)
}

// sides are the two ways to apply a script: as a Handler behind a real
// loopback server, and as a RoundTripper in memory.
var sides = []side{
	{"handler", func(t *testing.T, s *reboundtest.Script, h http.Handler, cfg reboundhttp.Config) (*http.Client, string) {
		srv := httptest.NewServer(s.Handler(h))
		t.Cleanup(srv.Close)
		if cfg.Base == nil {
			cfg.Base = &http.Transport{} // its own connections, closed with the test
		}
		return newClient(t, cfg), srv.URL
	}},
	{"roundtripper", func(t *testing.T, s *reboundtest.Script, h http.Handler, cfg reboundhttp.Config) (*http.Client, string) {
		cfg.Base = s.RoundTripper(reboundtest.HandlerTransport{Handler: h})
		return newClient(t, cfg), "http://api.test"
	}},
}

func newClient(t *testing.T, cfg reboundhttp.Config) *http.Client {
	t.Helper()
	c, err := reboundhttp.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if tr, ok := cfg.Base.(*http.Transport); ok {
		t.Cleanup(tr.CloseIdleConnections)
	}
	return c
}

// fast is a policy without waits, observed by rec.
func fast(rec *reboundtest.Recorder) rebound.Policy {
	p := rebound.Policy{Backoff: rebound.Constant(0)}
	if rec != nil {
		p.Observer = rec
	}
	return p
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	return string(b)
}
