package reboundhttp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/rebound-go/rebound"
)

// DefaultMaxJSONBody is the largest response body the JSON helpers decode.
// A larger body is a Logic failure, never retried.
const DefaultMaxJSONBody = 10 << 20

type acceptKey struct{}

var (
	defaultOnce   sync.Once
	defaultClient *http.Client
)

// DoJSON sends req through c and decodes the JSON body of its 2xx response
// into a T, inside the retry: an empty or malformed body is a retryable
// Response failure like a 503, and is retried under the transport's policy.
// A body that does not fit T (a type mismatch) or exceeds
// DefaultMaxJSONBody is a Logic failure. 204 and 205 responses give the zero
// T. Any other status that retrying could not fix is an error that names the
// status, the content type and the first bytes of the body.
//
// c's Transport should be a *Transport; any other transport (or a nil c,
// which means a client with NewTransport(Config{})) is wrapped in a
// Transport with the default configuration for this call.
func DoJSON[T any](c *http.Client, req *http.Request) (T, error) {
	var v T
	c = jsonClient(c)
	accept := func(resp *http.Response) error {
		if resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusResetContent {
			return nil
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, DefaultMaxJSONBody+1))
		resp.Body.Close()
		if err != nil {
			return err // a connection failure mid-body: classified as such
		}
		if len(body) > DefaultMaxJSONBody {
			return newStatusError(resp, rebound.Classification{Class: rebound.Logic},
				errors.New("body exceeds "+strconv.Itoa(DefaultMaxJSONBody)+" bytes"), body)
		}
		var x T
		if err := json.Unmarshal(body, &x); err != nil {
			c := rebound.Classification{Class: rebound.Response, Retryable: true, MaybeProcessed: true}
			var typeErr *json.UnmarshalTypeError
			if errors.As(err, &typeErr) {
				c = rebound.Classification{Class: rebound.Logic}
			}
			return newStatusError(resp, c, err, body)
		}
		v = x
		return nil
	}
	req = req.WithContext(context.WithValue(req.Context(), acceptKey{}, accept))
	resp, err := c.Do(req)
	if err != nil {
		var zero T
		return zero, err
	}
	defer discard(resp)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var zero T
		peek := peekBody(resp)
		return zero, newStatusError(resp, rebound.Classification{Class: rebound.Logic}, fmt.Errorf("unexpected status %s", resp.Status), peek)
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

func jsonClient(c *http.Client) *http.Client {
	if c == nil {
		defaultOnce.Do(func() {
			t, _ := NewTransport(Config{}) // the zero Config is valid
			defaultClient = &http.Client{Transport: t}
		})
		return defaultClient
	}
	if _, ok := c.Transport.(*Transport); ok {
		return c
	}
	t, _ := NewTransport(Config{Base: c.Transport})
	c2 := *c
	c2.Transport = t
	return &c2
}

// acceptFrom returns the in-attempt body check the JSON helpers put on the
// request's context.
func acceptFrom(ctx context.Context) func(*http.Response) error {
	if ctx == context.Background() {
		return nil
	}
	f, _ := ctx.Value(acceptKey{}).(func(*http.Response) error)
	return f
}
