package reboundhttp_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundhttp"
	"github.com/rebound-go/rebound/reboundtest"
)

func hedgers(t *testing.T, cfg rebound.HedgeConfig) *rebound.Hedgers {
	t.Helper()
	g, err := rebound.NewHedgers(cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestHedgeWinnerBodyIsReadableAfterRoundTrip is the bug hedgedhttp (#7),
// failsafe-go (#65) and resty (#1197) shipped: the winner's body canceled
// as the call returns. The first request to arrive hangs until canceled;
// the other answers its headers and the first 64 KiB at once, and the rest
// of a 1 MiB body only once RoundTrip has returned.
func TestHedgeWinnerBodyIsReadableAfterRoundTrip(t *testing.T) {
	for _, proto := range []string{"HTTP/1.1", "HTTP/2.0"} {
		t.Run(proto, func(t *testing.T) {
			body := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
			var n atomic.Int32
			loserCanceled := make(chan struct{})
			returned := make(chan struct{})
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Proto != proto {
					t.Errorf("request over %s, want %s", r.Proto, proto)
				}
				if n.Add(1) == 1 {
					<-r.Context().Done()
					close(loserCanceled)
					return
				}
				w.Header().Set("Content-Length", "1048576")
				w.Write(body[:64<<10])
				w.(http.Flusher).Flush()
				<-returned
				w.Write(body[64<<10:])
			}))
			base := &http.Transport{}
			if proto == "HTTP/2.0" {
				srv.EnableHTTP2 = true
				srv.StartTLS()
				base.TLSClientConfig = &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
				base.ForceAttemptHTTP2 = true
			} else {
				srv.Start()
			}
			defer srv.Close()
			defer base.CloseIdleConnections()
			rec := &reboundtest.Recorder{}
			client := newClient(t, reboundhttp.Config{
				Base:    base,
				Hedgers: hedgers(t, rebound.HedgeConfig{Delay: 20 * time.Millisecond, Ratio: 1}),
				Policy:  rebound.Policy{Observer: rec},
			})
			resp, err := client.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			close(returned)
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("reading the winner's body after RoundTrip returned: %v (%d bytes read)", err, len(got))
			}
			if !bytes.Equal(got, body) {
				t.Fatalf("read %d bytes, not the 1 MiB body", len(got))
			}
			<-loserCanceled // the first request was canceled, or this blocks
			// Which run the server stalled depends on which request
			// arrived first (over HTTP/2 the hedge can): either way the
			// hedge started, and ended won or lost.
			var started, decided bool
			for _, e := range rec.Events() {
				started = started || (e.Kind == rebound.HedgeStarted && e.Hedge == 1)
				decided = decided || (e.Kind == rebound.HedgeFinished && e.Hedge == 1 && (e.Result == rebound.ResultWon || e.Result == rebound.ResultLost))
			}
			if !started || !decided {
				t.Fatalf("hedge 1 started %v, won or lost %v; want both", started, decided)
			}
		})
	}
}

func TestHedgeLoserResponseIsDrainedAndClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The first attempt answers at 30 ms, the hedge (sent at 10 ms) at
		// 50 ms: the hedge loses, after it has its response, which must be
		// closed.
		f := &fakeRT{script: []func(*http.Request) (*http.Response, error){
			func(*http.Request) (*http.Response, error) {
				time.Sleep(30 * time.Millisecond)
				return status(200, "first")(nil)
			},
			func(*http.Request) (*http.Response, error) {
				time.Sleep(50 * time.Millisecond) // deaf to its context
				return status(200, "hedge")(nil)
			},
		}}
		client := newClient(t, reboundhttp.Config{
			Base:    f,
			Hedgers: hedgers(t, rebound.HedgeConfig{Delay: 10 * time.Millisecond, Ratio: 1}),
		})
		resp, err := client.Get("http://example.test/")
		if err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, resp); got != "first" {
			t.Fatalf("body %q, want the first attempt's", got)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		f.mu.Lock()
		closed := f.closed
		f.mu.Unlock()
		if f.attempts() != 2 || closed != 2 {
			t.Fatalf("%d requests, %d bodies closed; want 2 and 2 (the hedge's dropped)", f.attempts(), closed)
		}
	})
}

func TestHedgeOnlyIdempotentMethods(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, tc := range []struct {
			method string
			header string
			hedged bool
		}{
			{http.MethodGet, "", true},
			{http.MethodPut, "", true},
			{http.MethodDelete, "", true},
			{http.MethodPost, "", false},
			{http.MethodPost, "Idempotency-Key", false},
			{http.MethodPatch, "", false},
		} {
			f := &fakeRT{script: []func(*http.Request) (*http.Response, error){
				func(*http.Request) (*http.Response, error) {
					time.Sleep(100 * time.Millisecond)
					return status(200, "slow")(nil)
				},
				status(200, "fast"),
			}}
			client := newClient(t, reboundhttp.Config{
				Base:    f,
				Hedgers: hedgers(t, rebound.HedgeConfig{Delay: 10 * time.Millisecond, Ratio: 1}),
			})
			req, _ := http.NewRequest(tc.method, "http://example.test/", strings.NewReader("payload"))
			if tc.header != "" {
				req.Header.Set(tc.header, "k1")
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got := readAll(t, resp)
			if hedged := got == "fast"; hedged != tc.hedged {
				t.Errorf("%s %s: answer %q after %d requests; hedged %v, want %v", tc.method, tc.header, got, f.attempts(), hedged, tc.hedged)
			}
			if tc.hedged {
				f.mu.Lock()
				b := f.bodies
				f.mu.Unlock()
				if len(b) != 2 || b[0] != "payload" || b[1] != "payload" {
					t.Errorf("%s: bodies sent %q, want the payload twice", tc.method, b)
				}
			}
		}
	})
}

func TestHedgeCancelsTheLosingRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		canceled := make(chan struct{})
		f := &fakeRT{script: []func(*http.Request) (*http.Response, error){
			func(req *http.Request) (*http.Response, error) {
				<-req.Context().Done()
				close(canceled)
				return nil, req.Context().Err()
			},
			status(200, "hedge"),
		}}
		client := newClient(t, reboundhttp.Config{
			Base:    f,
			Policy:  rebound.Policy{Hedger: mustHedger(t, rebound.HedgeConfig{Delay: 10 * time.Millisecond, Ratio: 1})},
			Budgets: nil,
		})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://example.test/", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, resp); got != "hedge" {
			t.Fatalf("body %q, want the hedge's", got)
		}
		<-canceled
	})
}

func mustHedger(t *testing.T, cfg rebound.HedgeConfig) *rebound.Hedger {
	t.Helper()
	h, err := rebound.NewHedger(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
