package reboundtest

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// RoundTripper returns an http.RoundTripper that applies the script's
// steps to the requests it sends, in memory, before or around next (nil
// means http.DefaultTransport). Put it under the client's retry layer, as
// reboundhttp.Config.Base, to test code that uses an *http.Client; with a
// next that needs no socket it runs inside a testing/synctest bubble.
//
// On this side Reset and AppliedButLost return a *net.OpError wrapping
// syscall.ECONNRESET from a read (what net/http returns when the peer
// resets the connection after the request was written); Hang returns the
// request context's cause once it ends; Truncate returns a response whose
// body reads io.ErrUnexpectedEOF after n bytes. Every request body is
// closed, as the RoundTripper contract asks.
func (s *Script) RoundTripper(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &scriptRT{s: s, next: next}
}

type scriptRT struct {
	s    *Script
	next http.RoundTripper
}

func (t *scriptRT) RoundTrip(req *http.Request) (*http.Response, error) {
	st := t.s.next(req)
	switch st.kind {
	case stepPass:
		return t.next.RoundTrip(req)
	case stepStatus:
		closeBody(req)
		return newResponse(req, st.code, st.header, []byte(st.body)), nil
	case stepReset:
		closeBody(req)
		return nil, ResetError(req.URL.Host)
	case stepHang:
		closeBody(req)
		<-req.Context().Done()
		return nil, context.Cause(req.Context())
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	switch st.kind {
	case stepAppliedButLost:
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil, ResetError(req.URL.Host)
	case stepTruncate:
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		full := max(len(body), st.n+1)
		resp.Body = &cutBody{r: bytes.NewReader(body[:min(st.n, len(body))])}
		setLength(resp, int64(full))
		return resp, nil
	default: // stepSlowBody
		resp.Body = &slowBody{ctx: req.Context(), rc: resp.Body, chunk: st.n, every: st.every}
		return resp, nil
	}
}

// ResetError returns the error a client's read gets when the peer resets
// the connection: a *net.OpError of a read wrapping syscall.ECONNRESET,
// which rebound classifies as Connection, maybe processed. addr names the
// peer (host:port), or is empty.
func ResetError(addr string) error {
	var a net.Addr
	if addr != "" {
		a = stringAddr(addr)
	}
	return &net.OpError{Op: "read", Net: "tcp", Addr: a, Err: os.NewSyscallError("read", syscall.ECONNRESET)}
}

type stringAddr string

func (a stringAddr) Network() string { return "tcp" }
func (a stringAddr) String() string  { return string(a) }

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

func newResponse(req *http.Request, code int, header http.Header, body []byte) *http.Response {
	h := make(http.Header, len(header)+2)
	for k, v := range header {
		h[k] = append([]string(nil), v...)
	}
	if len(body) > 0 && h.Get("Content-Type") == "" {
		h.Set("Content-Type", http.DetectContentType(body))
	}
	resp := &http.Response{
		Status:     strconv.Itoa(code) + " " + http.StatusText(code),
		StatusCode: code,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
		Body:       io.NopCloser(bytes.NewReader(body)),
		Request:    req,
	}
	setLength(resp, int64(len(body)))
	return resp
}

func setLength(resp *http.Response, n int64) {
	resp.ContentLength = n
	resp.Header.Set("Content-Length", strconv.FormatInt(n, 10))
	resp.TransferEncoding = nil
}

// cutBody reads r, then io.ErrUnexpectedEOF: a body whose connection
// closed before its announced length.
type cutBody struct{ r *bytes.Reader }

func (b *cutBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *cutBody) Close() error { return nil }

// slowBody reads rc chunk bytes at a time, waiting every before each
// read, until ctx ends.
type slowBody struct {
	ctx   context.Context
	rc    io.ReadCloser
	chunk int
	every time.Duration
}

func (b *slowBody) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := wait(b.ctx, b.every); err != nil {
		return 0, err
	}
	return b.rc.Read(p[:min(len(p), b.chunk)])
}

func (b *slowBody) Close() error { return b.rc.Close() }

// wait waits d, or until ctx ends and returns its cause.
func wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return context.Cause(ctx)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// isHTTP2 reports whether req came over HTTP/2 (the server side cannot
// hijack it).
func isHTTP2(req *http.Request) bool {
	return req.ProtoMajor == 2 || strings.HasPrefix(req.Proto, "HTTP/2")
}
