// Package reboundgrpc gives gRPC clients rebound's retries.
package reboundgrpc
