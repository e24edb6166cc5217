package reboundgrpc

import (
	"context"
	"io"
	"strconv"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/rebound-go/rebound"
)

// StreamClientInterceptor returns the interceptor that retries streams
// before their commit point (see the package doc).
//
// A stream is one rebound.Do call, run on a goroutine of its own from
// NewStream to the commit point: each attempt opens a stream, replays the
// request messages sent so far (and CloseSend), and ends when the caller's
// RecvMsg or Header sees the first response header or message (the call
// succeeds: the stream is committed), or sees the stream fail before it (the
// attempt fails). The goroutine ends at the commit point or when retrying
// stops, and every abandoned attempt's stream is canceled. After the commit
// point the stream is the last attempt's, unchanged.
//
// NewStream returns once an attempt's stream is open, or the
// *rebound.Error when none could be opened. When retrying stops after
// NewStream returned, RecvMsg returns that *rebound.Error and SendMsg
// io.EOF. As with any gRPC stream, the caller must call RecvMsg until it
// returns an error or cancel the context, or the stream leaks.
func (c *Client) StreamClientInterceptor() grpc.StreamClientInterceptor {
	return c.stream
}

func (c *Client) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	p := c.policy(method, opts)
	if p.Hedger != nil && desc.ServerStreams && !desc.ClientStreams && c.bufLimit >= 0 {
		return &hedgedStream{c: c, ctx: ctx, desc: desc, cc: cc, method: method, streamer: streamer, opts: opts, p: p}, nil
	}
	p.Hedger = nil
	s := &clientStream{
		c:        c,
		ctx:      ctx,
		desc:     desc,
		cc:       cc,
		method:   method,
		streamer: streamer,
		opts:     opts,
		changed:  make(chan struct{}),
		done:     make(chan struct{}),
	}
	go s.run(p)
	if _, err := s.live(); err != nil {
		return nil, err
	}
	return s, nil
}

// clientStream is the stream the caller sees. Its attempts come from the
// goroutine that runs rebound.Do (run); the caller's calls find the
// current attempt with live and settle its outcome with decide.
//
// Locks: sendMu, then mu. sendMu keeps SendMsg and CloseSend apart from
// the replay of a new attempt, so that every message reaches every attempt
// once and in order.
type clientStream struct {
	c        *Client
	ctx      context.Context // the caller's
	desc     *grpc.StreamDesc
	cc       *grpc.ClientConn
	method   string
	streamer grpc.Streamer
	opts     []grpc.CallOption

	sendMu sync.Mutex
	n      int // attempts so far, for run's goroutine alone

	mu        sync.Mutex
	cur       *attempt      // the latest attempt shown to the caller
	committed atomic.Bool   // cur is committed: no more retries (written under mu)
	final     error         // the call's error, once retrying stopped before the commit point
	buf       []any         // messages sent before the commit point, to replay
	bufSize   int           // their proto.Size
	closeSent bool          // the caller called CloseSend
	changed   chan struct{} // closed and replaced when cur, an attempt's outcome or final changes
	done      chan struct{} // closed when rebound.Do has returned
}

// attempt is one attempt's stream.
type attempt struct {
	grpc.ClientStream
	cancel  context.CancelFunc
	decided bool       // under clientStream.mu: its outcome is in result
	result  chan error // its outcome, sent once: nil for committed
}

// run runs the call's rebound.Do.
func (s *clientStream) run(p rebound.Policy) {
	_, err := rebound.Do(s.ctx, p, s.attempt)
	s.mu.Lock()
	if err != nil {
		s.final = s.c.handOver(s.ctx, s.method, err)
	}
	s.signalLocked()
	s.mu.Unlock()
	close(s.done)
}

// attempt runs one attempt: it opens a stream, replays what the caller
// sent, shows it to the caller and waits for its outcome.
func (s *clientStream) attempt(actx context.Context) (struct{}, error) {
	s.n++
	n := s.n
	ctx := s.ctx
	if n > 1 {
		ctx = metadata.AppendToOutgoingContext(ctx, PreviousAttemptsKey, strconv.Itoa(n-1))
	}
	// The stream's context is not actx, which rebound.Do cancels when the
	// attempt returns: a committed stream outlives its attempt. The
	// attempt's timeout bounds it only up to its commit point.
	sctx, cancel := context.WithCancel(ctx)
	a := &attempt{cancel: cancel, result: make(chan error, 1)}
	stop := context.AfterFunc(actx, func() { s.expire(a) })
	cs, err := s.streamer(sctx, s.desc, s.cc, s.method, s.opts...)
	if err != nil {
		s.decide(a, attemptError(s.ctx, err, nil))
	} else {
		a.ClientStream = cs
		s.replay(a)
	}
	select {
	case err = <-a.result:
	case <-s.ctx.Done():
		// The caller gave up while no call of theirs was waiting on the
		// stream.
		s.decide(a, status.FromContextError(s.ctx.Err()).Err())
		err = <-a.result
	}
	stop()
	if err != nil {
		cancel()
	}
	return struct{}{}, err
}

// replay shows a new attempt to the caller after sending it the messages
// sent so far, and CloseSend if the caller called it.
func (s *clientStream) replay(a *attempt) {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	s.mu.Lock()
	if a.decided { // timed out while opening
		s.mu.Unlock()
		return
	}
	s.cur = a
	s.signalLocked()
	msgs, closeSent := s.buf, s.closeSent
	s.mu.Unlock()
	for _, m := range msgs {
		if err := a.SendMsg(m); err != nil {
			return // the stream failed: RecvMsg will tell how
		}
	}
	if closeSent {
		_ = a.CloseSend()
	}
}

// expire ends an attempt whose context is done before its commit point:
// its own timeout ran out (DEADLINE_EXCEEDED, retried as rebound.Do
// retries timed-out attempts), or the caller's context is done.
func (s *clientStream) expire(a *attempt) {
	err := status.Error(codes.DeadlineExceeded, "rebound: attempt timed out before the stream's commit point")
	if s.ctx.Err() != nil {
		err = status.FromContextError(s.ctx.Err()).Err()
	}
	if s.decide(a, classifyError(err, nil)) {
		return
	}
	a.cancel()
}

// decide settles attempt a's outcome, unless it is already settled:
// committed when outcome is nil, failed otherwise. It reports whether a is
// the committed attempt, now or before, so that the caller hands its
// result over rather than waiting for another attempt.
func (s *clientStream) decide(a *attempt, outcome error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.decideLocked(a, outcome)
}

func (s *clientStream) decideLocked(a *attempt, outcome error) bool {
	if a.decided {
		return s.committed.Load() && s.cur == a
	}
	a.decided = true
	if outcome == nil {
		s.committed.Store(true)
		s.buf, s.bufSize = nil, 0
	}
	a.result <- outcome
	s.signalLocked()
	return outcome == nil
}

// state reports whether a is the committed attempt, and whether its
// outcome is settled.
func (s *clientStream) state(a *attempt) (committed, decided bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.committed.Load() && s.cur == a, a.decided
}

func (s *clientStream) signalLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// live waits for an attempt the caller can use: the committed one, or the
// latest while its outcome is open. It returns the call's error once
// retrying has stopped.
func (s *clientStream) live() (*attempt, error) {
	for {
		s.mu.Lock()
		a := s.cur
		switch {
		case s.committed.Load():
			s.mu.Unlock()
			return a, nil
		case s.final != nil:
			err := s.final
			s.mu.Unlock()
			return nil, err
		case a != nil && !a.decided:
			s.mu.Unlock()
			return a, nil
		}
		ch := s.changed
		s.mu.Unlock()
		<-ch // rebound.Do always moves on: to another attempt or to its end
	}
}

// RecvMsg receives a message. Before the commit point, a failed attempt
// is retried as rebound.Do decides, and RecvMsg goes on with the next.
func (s *clientStream) RecvMsg(m any) error {
	if s.committed.Load() {
		return s.committedRecv(m)
	}
	for {
		a, err := s.live()
		if err != nil {
			return err
		}
		err = a.RecvMsg(m)
		var outcome error
		switch {
		case err == nil || err == io.EOF:
			// A message, or the end of a stream that sent none: committed.
		default:
			if md, _ := a.Header(); md == nil {
				// The stream failed before any header: not committed.
				outcome = attemptError(s.ctx, err, a.Trailer())
			}
		}
		if s.decide(a, outcome) {
			if err != nil {
				a.cancel()
			}
			<-s.done // the call's events are out
			return err
		}
		// a failed, or was abandoned: wait for the next attempt.
	}
}

func (s *clientStream) committedRecv(m any) error {
	a := s.cur // fixed once committed
	err := a.RecvMsg(m)
	if err != nil {
		a.cancel()
	}
	return err
}

// Header returns the response header. Before the commit point it waits for
// the current attempt's header, which commits the stream. When that
// attempt ends without a header (it failed, or ended with a status only),
// Header returns nil, nil, as grpc-go does: RecvMsg then reports the
// failure, and retries it before the commit point.
func (s *clientStream) Header() (metadata.MD, error) {
	for {
		a, err := s.live()
		if err != nil {
			return nil, err
		}
		md, err := a.Header()
		committed, decided := s.state(a)
		switch {
		case committed:
			if err != nil {
				a.cancel()
			}
			return md, err
		case decided:
			// a failed or timed out: ask the next attempt.
		case md != nil:
			if s.decide(a, nil) {
				<-s.done
				return md, err
			}
			// a timed out just then.
		default:
			return nil, nil
		}
	}
}

// Trailer returns the trailer of the latest attempt.
func (s *clientStream) Trailer() metadata.MD {
	s.mu.Lock()
	a := s.cur
	s.mu.Unlock()
	if a == nil {
		return nil
	}
	return a.Trailer()
}

// Context returns the latest attempt's context.
func (s *clientStream) Context() context.Context {
	s.mu.Lock()
	a := s.cur
	s.mu.Unlock()
	if a == nil {
		return s.ctx
	}
	return a.Context()
}

// SendMsg sends a message. Before the commit point it keeps the message
// for replay, up to Config.MaxBufferedStream bytes; a message that is not
// a proto.Message, or does not fit, commits the stream. As grpc-go says,
// the message must not be modified after SendMsg.
func (s *clientStream) SendMsg(m any) error {
	for {
		s.sendMu.Lock()
		s.mu.Lock()
		a := s.cur
		if s.committed.Load() {
			s.mu.Unlock()
			err := a.SendMsg(m)
			s.sendMu.Unlock()
			return err
		}
		if s.final != nil {
			s.mu.Unlock()
			s.sendMu.Unlock()
			return io.EOF // RecvMsg returns the call's error
		}
		if size, ok := s.fits(m); ok {
			s.buf = append(s.buf, m)
			s.bufSize += size
			live := !a.decided
			s.mu.Unlock()
			if live {
				// An error means the attempt failed: RecvMsg finds out
				// how, and the next attempt gets the message again.
				_ = a.SendMsg(m)
			}
			s.sendMu.Unlock()
			return nil
		}
		// m cannot be replayed: it commits the stream.
		if !a.decided {
			s.decideLocked(a, nil)
			s.mu.Unlock()
			err := a.SendMsg(m)
			s.sendMu.Unlock()
			<-s.done
			return err
		}
		// The current attempt failed: wait for the next.
		ch := s.changed
		s.mu.Unlock()
		s.sendMu.Unlock()
		<-ch
	}
}

// fits reports whether m can be kept for replay, and its size.
func (s *clientStream) fits(m any) (int, bool) {
	if s.c.bufLimit < 0 {
		return 0, false
	}
	pm, ok := m.(proto.Message)
	if !ok {
		return 0, false
	}
	size := proto.Size(pm)
	return size, s.bufSize+size <= s.c.bufLimit
}

// CloseSend closes the sending side; before the commit point, new
// attempts close it too once they have replayed the messages.
func (s *clientStream) CloseSend() error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	s.mu.Lock()
	s.closeSent = true
	a := s.cur
	committed := s.committed.Load()
	live := committed || (a != nil && !a.decided)
	s.mu.Unlock()
	if !live {
		return nil
	}
	err := a.CloseSend()
	if !committed {
		return nil
	}
	return err
}
