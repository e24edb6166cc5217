package reboundhttp

import (
	"context"
	"net/http"
)

type endpointKey struct{}

// WithEndpoint returns a context whose requests are labelled endpoint in
// events, logs and metrics. Use a route template such as "api/v1/user/{id}",
// never a raw URL, so that label values stay few.
func WithEndpoint(ctx context.Context, endpoint string) context.Context {
	return context.WithValue(ctx, endpointKey{}, endpoint)
}

// EndpointFrom returns the label set by WithEndpoint, if any.
func EndpointFrom(ctx context.Context) (string, bool) {
	e, ok := ctx.Value(endpointKey{}).(string)
	return e, ok
}

// DefaultEndpoint labels a request with its method and host, such as
// "GET api.example.com": bounded by the hosts a program talks to, and free of
// paths, queries and credentials.
func DefaultEndpoint(req *http.Request) string {
	host := req.Host
	if host == "" && req.URL != nil {
		host = req.URL.Host
	}
	return req.Method + " " + host
}
