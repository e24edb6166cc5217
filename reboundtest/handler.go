package reboundtest

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"
)

// Handler returns an http.Handler that applies the script's steps to the
// requests it serves, before or around next. Put it in front of a real
// handler behind httptest.NewServer, so that the client under test meets
// the faults on a real connection.
//
// On this side Reset and AppliedButLost hijack the connection and close
// it with SO_LINGER 0, so that the client's read gets ECONNRESET (over
// HTTP/2, which cannot hijack, they panic with http.ErrAbortHandler and
// the client's stream is reset); Hang waits for the request's context
// (the client going away, or the server closing); Truncate and SlowBody
// run next into a buffer and then send its response cut or in chunks.
//
// net/http's client itself sends a request again, once, when a reused
// keep-alive connection is reset before any byte of the response and the
// request can be replayed (a GET, or a request with an Idempotency-Key):
// a Reset on a reused connection may then cost two requests of the
// script for one attempt of the client. A script's first request always
// comes on a new connection.
func (s *Script) Handler(next http.Handler) http.Handler {
	if next == nil {
		panic("reboundtest: Script.Handler with a nil handler")
	}
	return &scriptHandler{s: s, next: next}
}

type scriptHandler struct {
	s    *Script
	next http.Handler
}

func (h *scriptHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := h.s.next(r)
	switch st.kind {
	case stepPass:
		h.next.ServeHTTP(w, r)
	case stepStatus:
		for k, v := range st.header {
			w.Header()[k] = append([]string(nil), v...)
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(st.body)))
		w.WriteHeader(st.code)
		_, _ = w.Write([]byte(st.body))
	case stepReset:
		resetConn(w, r)
	case stepHang:
		<-r.Context().Done()
	case stepAppliedButLost:
		h.next.ServeHTTP(httptest.NewRecorder(), r)
		resetConn(w, r)
	case stepTruncate:
		rec := httptest.NewRecorder()
		h.next.ServeHTTP(rec, r)
		truncate(w, r, rec, st.n)
	case stepSlowBody:
		rec := httptest.NewRecorder()
		h.next.ServeHTTP(rec, r)
		slowWrite(w, r, rec, st.n, st.every)
	}
}

// hijack takes the connection over, or panics with http.ErrAbortHandler
// where it cannot (HTTP/2), which resets the stream.
func hijack(w http.ResponseWriter, r *http.Request) (net.Conn, *bufio.ReadWriter) {
	if isHTTP2(r) {
		panic(http.ErrAbortHandler)
	}
	c, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	return c, buf
}

func resetConn(w http.ResponseWriter, r *http.Request) {
	c, _ := hijack(w, r)
	resetClose(c)
}

// resetClose closes c with an RST where it can: a *net.TCPConn, or a
// connection of this package over one (anything with SetLinger).
func resetClose(c net.Conn) {
	if l, ok := c.(interface{ SetLinger(int) error }); ok {
		_ = l.SetLinger(0)
	}
	_ = c.Close()
}

// truncate writes rec's response with its full length announced and only
// n bytes of its body, then closes the connection.
func truncate(w http.ResponseWriter, r *http.Request, rec *httptest.ResponseRecorder, n int) {
	body := rec.Body.Bytes()
	full := max(len(body), n+1)
	c, buf := hijack(w, r)
	defer c.Close()
	h := rec.Header().Clone()
	h.Del("Transfer-Encoding")
	h.Set("Content-Length", strconv.Itoa(full))
	h.Set("Connection", "close")
	fmt.Fprintf(buf, "HTTP/1.1 %03d %s\r\n", rec.Code, http.StatusText(rec.Code))
	_ = h.Write(buf)
	_, _ = buf.WriteString("\r\n")
	_, _ = buf.Write(body[:min(n, len(body))])
	_ = buf.Flush()
}

// slowWrite writes rec's response, its body chunk bytes at a time with a
// wait of every before each chunk, until the request's context ends.
func slowWrite(w http.ResponseWriter, r *http.Request, rec *httptest.ResponseRecorder, chunk int, every time.Duration) {
	body := rec.Body.Bytes()
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Del("Transfer-Encoding")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rec.Code)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	for len(body) > 0 {
		if wait(r.Context(), every) != nil {
			return
		}
		n := min(chunk, len(body))
		if _, err := w.Write(body[:n]); err != nil {
			return
		}
		_ = rc.Flush()
		body = body[n:]
	}
}
