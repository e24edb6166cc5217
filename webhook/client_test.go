package webhook_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/rebound-go/rebound/webhook"
)

// A delivery that meets a redirect reports it, instead of following it to
// an address the receiver chose.
func TestNewClientFollowsNoRedirects(t *testing.T) {
	var followed atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			followed.Store(true)
		}
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	c := webhook.NewClient(loopbackAllowed)
	resp, err := c.Post(srv.URL+"/hook", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || followed.Load() {
		t.Fatalf("status %d, followed %v; want the 307 itself", resp.StatusCode, followed.Load())
	}
}

func TestNewClientSettings(t *testing.T) {
	tr, ok := webhook.NewClient(webhook.AddressPolicy{}).Transport.(*http.Transport)
	if !ok {
		t.Fatal("NewClient's transport is not an *http.Transport")
	}
	if tr.Proxy != nil || tr.MaxIdleConnsPerHost != webhook.DefaultMaxIdleConnsPerHost || tr.DialContext == nil {
		t.Fatalf("transport: proxy set %v, %d idle conns per host, dialer set %v; want no proxy, %d, the guarded dialer",
			tr.Proxy != nil, tr.MaxIdleConnsPerHost, tr.DialContext != nil, webhook.DefaultMaxIdleConnsPerHost)
	}
}
