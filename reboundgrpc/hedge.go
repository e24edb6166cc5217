package reboundgrpc

import (
	"context"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/rebound-go/rebound"
)

// runOptions returns opts for one run of a hedged call: the caller's
// Header, Trailer and Peer options, which concurrent runs would write at
// once, are replaced by the run's own, whose values the winner copies to
// the caller's (see handOverOptions).
func runOptions(opts []grpc.CallOption, header, trailer *metadata.MD, p *peer.Peer) []grpc.CallOption {
	out := make([]grpc.CallOption, 0, len(opts)+3)
	for _, o := range opts {
		switch o.(type) {
		case grpc.HeaderCallOption, grpc.TrailerCallOption, grpc.PeerCallOption:
			continue
		}
		out = append(out, o)
	}
	return append(out, grpc.Header(header), grpc.Trailer(trailer), grpc.Peer(p))
}

// handOverOptions copies the winner's header, trailer and peer into the
// caller's Header, Trailer and Peer options.
func handOverOptions(opts []grpc.CallOption, header, trailer metadata.MD, p *peer.Peer) {
	for _, o := range opts {
		switch o := o.(type) {
		case grpc.HeaderCallOption:
			*o.HeaderAddr = header
		case grpc.TrailerCallOption:
			*o.TrailerAddr = trailer
		case grpc.PeerCallOption:
			*o.PeerAddr = *p
		}
	}
}

// unaryRun is what one run of a hedged unary call got.
type unaryRun struct {
	reply           proto.Message
	header, trailer metadata.MD
	peer            peer.Peer
}

// unaryHedged runs an idempotent unary call under rebound.DoHedged: each
// run has its own reply message, header, trailer and peer, and the
// winner's are copied into the caller's.
func (c *Client) unaryHedged(ctx context.Context, method string, req any, reply proto.Message, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, p rebound.Policy, opts []grpc.CallOption) error {
	var runs atomic.Int32
	won, err := rebound.DoHedged(ctx, p, func(actx context.Context) (*unaryRun, error) {
		if n := runs.Add(1); n > 1 {
			actx = metadata.AppendToOutgoingContext(actx, PreviousAttemptsKey, strconv.Itoa(int(n-1)))
		}
		r := &unaryRun{reply: reply.ProtoReflect().New().Interface()}
		err := invoker(actx, method, req, r.reply, cc, runOptions(opts, &r.header, &r.trailer, &r.peer)...)
		if err != nil {
			return nil, attemptError(ctx, err, r.trailer)
		}
		return r, nil
	})
	if err != nil {
		return c.handOver(ctx, method, err)
	}
	proto.Reset(reply)
	proto.Merge(reply, won.reply)
	handOverOptions(opts, won.header, won.trailer, &won.peer)
	return nil
}

// hedgedStream is a server-streaming call that may be hedged: its request
// is kept (SendMsg, CloseSend) and the streams are opened at the caller's
// first RecvMsg or Header, under rebound.DoHedged. A run's stream commits
// when its response header arrives, or when it ends OK without one; the
// first to commit is the caller's stream, and the others are canceled. The
// winner's context stays live until its stream ends (RecvMsg returns an
// error, io.EOF included) or the caller's context ends.
type hedgedStream struct {
	c        *Client
	ctx      context.Context // the caller's
	desc     *grpc.StreamDesc
	cc       *grpc.ClientConn
	method   string
	streamer grpc.Streamer
	opts     []grpc.CallOption
	p        rebound.Policy

	mu        sync.Mutex
	msgs      []any
	size      int
	closeSent bool
	once      sync.Once
	won       *streamRun // the committed stream, after start
	err       error      // the call's error, when no stream committed
}

// streamRun is one run's stream.
type streamRun struct {
	grpc.ClientStream
	release func()
	empty   bool // it ended OK before any header or message
}

// start runs the call up to its commit point, once.
func (h *hedgedStream) start() error {
	h.once.Do(func() {
		p := h.p
		h.mu.Lock()
		msgs, closeSent := h.msgs, h.closeSent
		if h.size > h.c.bufLimit {
			p.Hedger = nil // too large to send twice at once: retried only
		}
		h.mu.Unlock()
		timeout := p.AttemptTimeout
		p.AttemptTimeout = 0 // bounds each run up to its commit point only (open)
		var runs atomic.Int32
		won, err := rebound.DoHedged(h.ctx, p, func(actx context.Context) (*streamRun, error) {
			if n := runs.Add(1); n > 1 {
				actx = metadata.AppendToOutgoingContext(actx, PreviousAttemptsKey, strconv.Itoa(int(n-1)))
			}
			return h.open(actx, msgs, closeSent, timeout)
		})
		h.mu.Lock()
		defer h.mu.Unlock()
		if err != nil {
			h.err = h.c.handOver(h.ctx, h.method, err)
			return
		}
		h.won = won
	})
	return h.err
}

// committed returns the committed stream, or nil before the commit point.
func (h *hedgedStream) committed() *streamRun {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.won
}

// open opens one run's stream, sends the request and waits for its commit
// point: the response header, or the end of a stream that has none.
func (h *hedgedStream) open(actx context.Context, msgs []any, closeSent bool, timeout time.Duration) (*streamRun, error) {
	sctx, cancel := context.WithCancel(actx)
	var timedOut atomic.Bool
	if timeout > 0 {
		t := time.AfterFunc(timeout, func() { timedOut.Store(true); cancel() })
		defer t.Stop()
	}
	fail := func(err error, trailer metadata.MD) (*streamRun, error) {
		cancel()
		if timedOut.Load() && h.ctx.Err() == nil {
			err = status.Error(codes.DeadlineExceeded, "rebound: attempt timed out before the stream's commit point")
		}
		return nil, attemptError(h.ctx, err, trailer)
	}
	cs, err := h.streamer(sctx, h.desc, h.cc, h.method, h.opts...)
	if err != nil {
		return fail(err, nil)
	}
	for _, m := range msgs {
		if err := cs.SendMsg(m); err != nil {
			break // RecvMsg says how the stream failed
		}
	}
	if closeSent {
		_ = cs.CloseSend()
	}
	md, _ := cs.Header()
	r := &streamRun{ClientStream: cs}
	if md == nil {
		// Ended before any header: with its status, or OK and empty.
		err := cs.RecvMsg(new(emptypb.Empty))
		if err != io.EOF {
			return fail(err, cs.Trailer())
		}
		r.empty = true
	}
	if timedOut.Load() {
		return fail(context.DeadlineExceeded, nil)
	}
	stop := rebound.Hold(actx, cancel)
	r.release = func() { stop(); cancel() }
	return r, nil
}

// SendMsg keeps the request, sent when the streams open.
func (h *hedgedStream) SendMsg(m any) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.won != nil || h.err != nil {
		return io.EOF
	}
	if pm, ok := m.(proto.Message); ok {
		h.size += proto.Size(pm)
	} else {
		h.size = h.c.bufLimit + 1 // cannot be measured: never sent twice at once
	}
	h.msgs = append(h.msgs, m)
	return nil
}

// CloseSend is replayed on every run's stream.
func (h *hedgedStream) CloseSend() error {
	h.mu.Lock()
	h.closeSent = true
	h.mu.Unlock()
	return nil
}

// RecvMsg opens the streams at its first call, then receives from the
// committed one; its context ends with the stream.
func (h *hedgedStream) RecvMsg(m any) error {
	if err := h.start(); err != nil {
		return err
	}
	if h.won.empty {
		h.won.release()
		return io.EOF
	}
	err := h.won.RecvMsg(m)
	if err != nil {
		h.won.release()
	}
	return err
}

// Header opens the streams if needed and returns the committed stream's
// header.
func (h *hedgedStream) Header() (metadata.MD, error) {
	if err := h.start(); err != nil {
		return nil, err
	}
	if h.won.empty {
		return nil, nil
	}
	return h.won.Header()
}

// Trailer returns the committed stream's trailer.
func (h *hedgedStream) Trailer() metadata.MD {
	if w := h.committed(); w != nil {
		return w.Trailer()
	}
	return nil
}

// Context returns the committed stream's context, or the caller's before.
func (h *hedgedStream) Context() context.Context {
	if w := h.committed(); w != nil {
		return w.Context()
	}
	return h.ctx
}
