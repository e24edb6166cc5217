package reboundtest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
)

// HandlerTransport is an http.RoundTripper that serves each request with
// Handler in memory, as a server would: the handler gets its own copy of
// the request (body, headers, a context of its own) and runs to its end
// even when the client's context ends first; RoundTrip then returns that
// context's cause. It needs no socket, so a client (reboundhttp's
// Transport, under a Script's RoundTripper) runs inside a
// testing/synctest bubble, where timing faults take no real time.
type HandlerTransport struct{ Handler http.Handler }

// RoundTrip implements http.RoundTripper.
func (t HandlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		body, err = io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	sreq := httptest.NewRequest(req.Method, req.URL.String(), bytes.NewReader(body))
	sreq.Header = req.Header.Clone()
	sreq.Host = req.Host
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		t.Handler.ServeHTTP(rec, sreq)
	}()
	select {
	case <-done:
		resp := rec.Result()
		resp.Request = req
		return resp, nil
	case <-req.Context().Done():
		return nil, context.Cause(req.Context())
	}
}
