package reboundtest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestHandlerTransportServesTheRequest(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Got", r.Header.Get("X-Sent"))
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, r.Method+" "+r.URL.Path+" "+string(b))
	})
	req, _ := http.NewRequest("POST", "http://example.test/orders", strings.NewReader("body"))
	req.Header.Set("X-Sent", "v")
	resp, err := (&http.Client{Transport: HandlerTransport{Handler: h}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("X-Got") != "v" || string(b) != "POST /orders body" {
		t.Fatalf("got %d %q %q", resp.StatusCode, resp.Header.Get("X-Got"), b)
	}
}

func TestHandlerTransportReturnsTheCauseWhenTheClientGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		finished := make(chan struct{})
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(time.Second)
			close(finished) // the handler runs to its end regardless
		})
		cause := errors.New("attempt timed out")
		ctx, cancel := context.WithTimeoutCause(context.Background(), 100*time.Millisecond, cause)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://example.test/", nil)
		_, err := HandlerTransport{Handler: h}.RoundTrip(req)
		if !errors.Is(err, cause) {
			t.Fatalf("err = %v, want the context's cause", err)
		}
		<-finished
	})
}
