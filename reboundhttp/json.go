package reboundhttp

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/internal/redact"
)

// DefaultMaxJSONBody is the largest response body the JSON helpers decode.
// A larger body is a Logic failure, never retried.
const DefaultMaxJSONBody = 10 << 20

// errNotRetried is the advice added to a failure that a Transport would
// have retried, when the request went through none.
const errNotRetried = "not retried: the client's chain of RoundTrippers holds no *reboundhttp.Transport; " +
	"use a client from reboundhttp.NewClient, or put a Transport under the client's wrappers"

type jsonKey struct{}

// jsonCall is what DoJSON shares with the Transport that sends its request,
// wherever that Transport sits in the client's chain of RoundTrippers. It
// carries no decoding: DoJSON decodes the response it gets back, whoever
// sent it.
type jsonCall struct {
	sent   atomic.Bool                   // a Transport sent the request
	gaveUp atomic.Pointer[rebound.Error] // why it stopped retrying, when it stopped on a response
}

// jsonCallFrom returns the jsonCall DoJSON put on the request's context.
func jsonCallFrom(ctx context.Context) *jsonCall {
	if ctx == context.Background() {
		return nil
	}
	jc, _ := ctx.Value(jsonKey{}).(*jsonCall)
	return jc
}

var (
	defaultOnce   sync.Once
	defaultClient *http.Client
)

// DoJSON sends req through c and decodes the JSON body of its 2xx response
// into a T. 204 and 205 responses give the zero T.
//
// Retries come from the *Transport in c's chain of RoundTrippers, wherever
// it sits: c.Transport itself (a client from NewClient), or under wrappers
// such as a tracing or logging RoundTripper. That Transport is the only
// retry layer, with its own policy; DoJSON adds none. It also checks, inside
// each attempt, that a 2xx body is JSON, so that an empty or malformed body
// is retried like a 503 (a wrapper that reads the body itself sees it
// whole). A body that does not fit T (a type mismatch) or exceeds
// DefaultMaxJSONBody is a Logic failure, never retried.
//
// When retrying stops on a response (a 404, the last of the attempts, a
// malformed body on the last attempt) the error is the Transport's
// *rebound.Error, whose Last is a *StatusError naming the status, the
// content type and the start of the body.
//
// A nil c means a client with NewTransport(Config{}). A client whose chain
// holds no Transport, such as &http.Client{}, sends the request once:
// nothing is retried, and the error of a failure that would have been
// retried (a 503, a malformed body) says so. Other errors are those of
// c.Do, with the URL's user info and query removed.
func DoJSON[T any](c *http.Client, req *http.Request) (T, error) {
	var v T
	if c == nil {
		c = jsonDefaultClient()
	}
	jc := new(jsonCall)
	resp, err := c.Do(req.WithContext(context.WithValue(req.Context(), jsonKey{}, jc)))
	if err != nil {
		if ue, ok := err.(*url.Error); ok {
			ue.URL = redact.URL(req.URL)
		}
		return v, err
	}
	defer discard(resp)
	if e := jc.gaveUp.Load(); e != nil {
		return v, e
	}
	if resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusResetContent {
		return v, nil
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		c, failed := DefaultClassifyResponse(resp)
		if !failed {
			c = rebound.Classification{Class: rebound.Logic} // a redirect not followed, say
		}
		return v, jc.unretried(newStatusError(resp, c, nil, peekBody(resp)))
	}
	body, err := readJSONBody(resp)
	if err != nil {
		return v, jc.unretried(err)
	}
	if err := json.Unmarshal(body, &v); err != nil {
		var zero T
		c := rebound.Classification{Class: rebound.Response, Retryable: true, MaybeProcessed: true}
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			c = rebound.Classification{Class: rebound.Logic}
		}
		return zero, jc.unretried(newStatusError(resp, c, err, body))
	}
	return v, nil
}

// GetJSON GETs url through c and decodes its JSON body into a T, as DoJSON.
func GetJSON[T any](ctx context.Context, c *http.Client, url string) (T, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		var zero T
		return zero, err
	}
	req.Header.Set("Accept", "application/json")
	return DoJSON[T](c, req)
}

func jsonDefaultClient() *http.Client {
	defaultOnce.Do(func() {
		t, _ := NewTransport(Config{}) // the zero Config is valid
		defaultClient = &http.Client{Transport: t}
	})
	return defaultClient
}

// unretried adds errNotRetried to err when no Transport sent the request
// and err is a failure one would have retried.
func (jc *jsonCall) unretried(err error) error {
	if jc.sent.Load() {
		return err
	}
	if c := rebound.Classify(err); !c.Retryable || (c.Class != rebound.Connection && c.Class != rebound.Response) {
		return err
	}
	return &notRetriedError{err: err}
}

// notRetriedError is a failure a Transport would have retried, of a request
// that went through none.
type notRetriedError struct{ err error }

func (e *notRetriedError) Error() string { return e.err.Error() + "; " + errNotRetried }
func (e *notRetriedError) Unwrap() error { return e.err }

// wantsJSONBody reports whether a successful response carries a body for
// DoJSON to decode: a 2xx other than 204 and 205, to a request other than
// HEAD.
func wantsJSONBody(resp *http.Response) bool {
	if resp.StatusCode < 200 || resp.StatusCode > 299 ||
		resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusResetContent {
		return false
	}
	return resp.Request == nil || resp.Request.Method != http.MethodHead
}

// checkJSON reads resp's body, inside the attempt, and fails the attempt
// when it is not JSON: a Response failure, retryable, or a Logic one when it
// exceeds DefaultMaxJSONBody. A body that cannot be read fails the attempt
// with the read error, classified as any other. The body stays readable for
// DoJSON: the bytes read, or the read error.
func checkJSON(resp *http.Response) error {
	body, err := io.ReadAll(io.LimitReader(resp.Body, DefaultMaxJSONBody+1))
	resp.Body.Close()
	if err != nil {
		resp.Body = &errBody{err: err}
		return err
	}
	if len(body) > DefaultMaxJSONBody {
		err := newStatusError(resp, rebound.Classification{Class: rebound.Logic},
			errors.New("body exceeds "+strconv.Itoa(DefaultMaxJSONBody)+" bytes"), body)
		resp.Body = &errBody{err: err}
		return err
	}
	resp.Body = newPeekedBody(body)
	if !json.Valid(body) {
		syntax := json.Unmarshal(body, new(json.RawMessage)) // the reason, without a copy
		return newStatusError(resp, rebound.Classification{Class: rebound.Response, Retryable: true, MaybeProcessed: true}, syntax, body)
	}
	return nil
}

// readJSONBody reads a response body of at most DefaultMaxJSONBody bytes;
// a body checkJSON already holds is not copied.
func readJSONBody(resp *http.Response) ([]byte, error) {
	if pb, ok := resp.Body.(*peekedBody); ok && pb.Len() == len(pb.b) {
		return pb.b, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, DefaultMaxJSONBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > DefaultMaxJSONBody {
		return nil, newStatusError(resp, rebound.Classification{Class: rebound.Logic},
			errors.New("body exceeds "+strconv.Itoa(DefaultMaxJSONBody)+" bytes"), body)
	}
	return body, nil
}

// errBody is a response body whose reading failed inside the attempt.
type errBody struct{ err error }

func (b *errBody) Read([]byte) (int, error) { return 0, b.err }
func (*errBody) Close() error               { return nil }
