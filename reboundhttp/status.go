package reboundhttp

import (
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/internal/redact"
)

// ClassifyResponse judges a response. failed is false for a response the
// caller should get as a success; otherwise c says what kind of failure it
// is, whether it may be retried and any wait the server asked for.
type ClassifyResponse func(resp *http.Response) (c rebound.Classification, failed bool)

// DefaultClassifyResponse is the default status rule:
//
//   - 1xx, 2xx and 3xx: success.
//   - 429 Too Many Requests and 503 Service Unavailable: Response,
//     retryable, not processed, with the wait of a Retry-After header.
//   - 408 Request Timeout: Response, retryable, not processed.
//   - 409 Conflict with a Retry-After header, answering a request that
//     carries an Idempotency-Key (or X-Idempotency-Key): Response,
//     retryable, not processed, with that wait. It is the IETF
//     Idempotency-Key draft's answer to a request whose key's first request
//     is still running (idempotency.Middleware sends it with Retry-After:
//     1), typically because an earlier attempt timed out: a wait, not a
//     logic error. Read from resp.Request, which the Transport sets.
//   - other 5xx except 501: Response, retryable, maybe processed (a
//     non-idempotent request is not retried on them).
//   - 501 Not Implemented and every other 4xx (409 without Retry-After or
//     without a key included): Logic, never retried.
func DefaultClassifyResponse(resp *http.Response) (rebound.Classification, bool) {
	code := resp.StatusCode
	switch {
	case code < 400:
		return rebound.Classification{}, false
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		c := rebound.Classification{Class: rebound.Response, Retryable: true}
		if v := resp.Header.Get("Retry-After"); v != "" {
			if wait, ok := ParseRetryAfter(v, resp.Header.Get("Date"), time.Now()); ok {
				c.RetryAfter = wait
			}
		}
		return c, true
	case code == http.StatusRequestTimeout:
		return rebound.Classification{Class: rebound.Response, Retryable: true}, true
	case code == http.StatusConflict:
		if resp.Request != nil && hasIdempotencyKey(resp.Request.Header) {
			if wait, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), resp.Header.Get("Date"), time.Now()); ok {
				return rebound.Classification{Class: rebound.Response, Retryable: true, RetryAfter: wait}, true
			}
		}
	case code >= 500 && code != http.StatusNotImplemented:
		return rebound.Classification{Class: rebound.Response, Retryable: true, MaybeProcessed: true}, true
	}
	return rebound.Classification{Class: rebound.Logic}, true
}

// StatusError is the error of an attempt whose response was judged a
// failure: a bad status, or (in the JSON helpers) an empty or malformed
// body. It classifies itself (rebound.Classified). Its text names the
// request (with the URL redacted), the status, the content type and the
// first 64 bytes of the body when they were read.
type StatusError struct {
	Method      string
	URL         string // redacted: no user info, no query
	StatusCode  int
	Status      string
	ContentType string
	// Body holds the start of the body, when it was read: at most
	// MaxStatusErrorBody bytes, enough to decode a typical JSON error
	// document (problem+json) of a 4xx. They are the bytes read to drain
	// the response anyway: a failed response's body is read that far, and
	// no further, whether or not it is returned.
	Body string
	// Err is the decoding error, for JSON failures.
	Err error

	class rebound.Classification
}

// Error implements error.
func (e *StatusError) Error() string {
	s := e.Method + " " + e.URL + ": "
	if e.Err != nil {
		s += "decoding body: " + e.Err.Error() + "; "
	}
	s += "status " + strconv.Itoa(e.StatusCode)
	if e.ContentType != "" {
		s += ", content type " + strconv.Quote(e.ContentType)
	}
	if e.Body != "" {
		snippet := e.Body
		if len(snippet) > snippetLen {
			n := snippetLen
			for n > 0 && !utf8.RuneStart(snippet[n]) {
				n-- // do not cut a character in two
			}
			snippet = snippet[:n]
		}
		s += ", body starts " + strconv.Quote(snippet)
	} else if e.Err != nil {
		s += ", empty body"
	}
	return s
}

// Unwrap returns Err.
func (e *StatusError) Unwrap() error { return e.Err }

// Classification implements rebound.Classified.
func (e *StatusError) Classification() rebound.Classification { return e.class }

// MaxStatusErrorBody bounds StatusError.Body.
const MaxStatusErrorBody = maxDrain

// snippetLen bounds the body bytes StatusError's text shows.
const snippetLen = 64

func newStatusError(resp *http.Response, c rebound.Classification, err error, peek []byte) *StatusError {
	e := &StatusError{
		StatusCode:  resp.StatusCode,
		Status:      resp.Status,
		ContentType: resp.Header.Get("Content-Type"),
		Err:         err,
		class:       c,
	}
	if req := resp.Request; req != nil {
		e.Method, e.URL = req.Method, redact.URL(req.URL)
	}
	if len(peek) > MaxStatusErrorBody {
		peek = peek[:MaxStatusErrorBody]
	}
	e.Body = string(peek)
	return e
}
