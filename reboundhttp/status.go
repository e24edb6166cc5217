package reboundhttp

import (
	"net/http"
	"strconv"
	"time"

	"github.com/rebound-go/rebound"
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
//   - other 5xx except 501: Response, retryable, maybe processed (a
//     non-idempotent request is not retried on them).
//   - 501 Not Implemented and every other 4xx: Logic, never retried.
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
	case code >= 500 && code != http.StatusNotImplemented:
		return rebound.Classification{Class: rebound.Response, Retryable: true, MaybeProcessed: true}, true
	}
	return rebound.Classification{Class: rebound.Logic}, true
}

// StatusError is the error of an attempt whose response was judged a
// failure: a bad status, or (in the JSON helpers) an empty or malformed
// body. It classifies itself (rebound.Classified). Its text names the
// request (with the URL redacted), the status, the content type and the
// first bytes of the body when they were read.
type StatusError struct {
	Method      string
	URL         string // redacted: no user info, no query
	StatusCode  int
	Status      string
	ContentType string
	// Body holds the first bytes of the body (at most 64), when read.
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
		s += ", body starts " + strconv.Quote(e.Body)
	} else if e.Err != nil {
		s += ", empty body"
	}
	return s
}

// Unwrap returns Err.
func (e *StatusError) Unwrap() error { return e.Err }

// Classification implements rebound.Classified.
func (e *StatusError) Classification() rebound.Classification { return e.class }

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
		e.Method, e.URL = req.Method, Redact(req.URL)
	}
	if len(peek) > snippetLen {
		peek = peek[:snippetLen]
	}
	e.Body = string(peek)
	return e
}
