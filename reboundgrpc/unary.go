package reboundgrpc

import (
	"context"
	"strconv"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/rebound-go/rebound"
)

// UnaryClientInterceptor returns the interceptor that runs every unary
// call under rebound.Do: each attempt invokes the rest of the chain, and
// its status is classified by the package doc's table.
//
// When the call fails, the error is the *rebound.Error saying why retrying
// stopped; status.Code and status.FromError on it report the status of the
// last attempt (see Client.handOver).
func (c *Client) UnaryClientInterceptor() grpc.UnaryClientInterceptor {
	return c.unary
}

func (c *Client) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	p := c.policy(method, opts)
	if p.Hedger != nil {
		if rm, ok := reply.(proto.Message); ok {
			return c.unaryHedged(ctx, method, req, rm, cc, invoker, p, opts)
		}
		p.Hedger = nil
	}
	// Each attempt reads its trailer, for the server's pushback. The
	// trailer and the options that ask for it come from a pool: grpc-go
	// writes the trailer before invoker returns, and the attempts run on
	// this goroutine, so nothing holds them once Do has returned.
	u := unaryCalls.Get().(*unaryCall)
	u.opts = append(append(u.opts[:0], opts...), grpc.Trailer(&u.trailer))
	n := 0
	_, err := rebound.Do(ctx, p, func(actx context.Context) (struct{}, error) {
		n++
		if n > 1 {
			actx = metadata.AppendToOutgoingContext(actx, PreviousAttemptsKey, strconv.Itoa(n-1))
		}
		u.trailer = nil
		err := invoker(actx, method, req, reply, cc, u.opts...)
		if err != nil {
			return struct{}{}, attemptError(ctx, err, u.trailer)
		}
		return struct{}{}, nil
	})
	clear(u.opts) // drop the caller's options
	u.trailer = nil
	unaryCalls.Put(u)
	if err != nil {
		return c.handOver(ctx, method, err)
	}
	return nil
}

// unaryCall is the per-call state of a unary call that is not hedged,
// pooled: the call options with the trailer option added, and the
// trailer.
type unaryCall struct {
	opts    []grpc.CallOption
	trailer metadata.MD
}

var unaryCalls = sync.Pool{New: func() any { return &unaryCall{opts: make([]grpc.CallOption, 0, 4)} }}
