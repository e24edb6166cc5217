package cli

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundhttp"
)

// clearLine returns a terminal's cursor to the start of the line and erases
// the line.
const clearLine = "\r\x1b[K"

// progress is the Observer of a call: it writes a line per attempt to
// stderr, and remembers how the last call through the transport ended.
//
// Plain lines read
//
//	rebound: attempt 1/3 GET http://host/path: 503 Service Unavailable (response); retrying in 1.2s
//	rebound: gave up after 3 attempts in 3.4s: exhausted (last: 503)
//
// A successful first attempt writes nothing; a success after retries
// writes its own attempt line. On a terminal the attempt lines (without
// the method and URL) rewrite one line, which is cleared when the call
// ends; the final line stays. Quiet drops the attempt lines but not the
// final line of a failure.
//
// With -L each redirect is a call of its own, and its attempts count from 1.
type progress struct {
	w        io.Writer
	terminal bool
	quiet    bool
	flags    *callFlags
	judge    *judge

	pending string // the last attempt's line, until its outcome is known
	shown   bool   // a progress line is on the terminal

	done bool          // a call has finished
	last rebound.Event // the CallFinished event of the last call
}

// Observe implements rebound.Observer. Events arrive one at a time, on the
// goroutine of client.Do.
func (p *progress) Observe(ctx context.Context, e rebound.Event) {
	switch e.Kind {
	case rebound.AttemptFinished:
		p.pending = p.attemptLine(ctx, e)
	case rebound.RetryScheduled:
		p.attempt(p.pending + "; retrying in " + roundDuration(e.Wait))
		p.pending = ""
	case rebound.CallFinished:
		p.done, p.last = true, e
		if e.Result == rebound.ResultSuccess {
			if e.Attempt > 1 && !p.quiet {
				p.final(p.pending)
			} else {
				p.final("")
			}
		} else {
			if !p.terminal && p.pending != "" {
				p.attempt(p.pending)
			}
			p.final(p.gaveUpLine(ctx, e))
		}
		p.pending = ""
	}
}

// attempt writes an attempt's line: on a terminal over the previous one.
func (p *progress) attempt(line string) {
	if p.quiet {
		return
	}
	if !p.terminal {
		io.WriteString(p.w, line+"\n")
		return
	}
	io.WriteString(p.w, clearLine+line)
	p.shown = true
}

// final ends the call's output: it clears the terminal's progress line and
// writes line, if any, to stay.
func (p *progress) final(line string) {
	if p.shown {
		io.WriteString(p.w, clearLine)
		p.shown = false
	}
	if line != "" {
		io.WriteString(p.w, line+"\n")
	}
}

// attemptLine describes a finished attempt, without saying what follows.
func (p *progress) attemptLine(ctx context.Context, e rebound.Event) string {
	s := "rebound: attempt " + strconv.Itoa(e.Attempt) + "/" + strconv.Itoa(p.flags.attempts)
	if !p.terminal {
		s += " " + e.Endpoint
	}
	switch {
	case e.Err == nil:
		return s + ": " + p.judge.status
	case e.Class == rebound.Canceled:
		return s + ": " + canceledBy(ctx, p.flags) + " (" + e.Class.String() + ")"
	}
	return s + ": " + p.describeErr(e.Err) + " (" + e.Class.String() + ")"
}

// canceledBy says what ended the call whose context is ctx.
func canceledBy(ctx context.Context, f *callFlags) string {
	if errors.Is(context.Cause(ctx), errMaxTime) {
		return "--max-time " + roundDuration(f.maxTime) + " reached"
	}
	return "canceled"
}

// describeErr says what went wrong in an attempt or while reading a body.
func (p *progress) describeErr(err error) string {
	var se *reboundhttp.StatusError
	switch {
	case errors.As(err, &se):
		if se.Status == "" {
			return p.withNote(strconv.Itoa(se.StatusCode), se)
		}
		return p.withNote(se.Status, se)
	case errors.Is(err, reboundhttp.ErrAttemptTimeout) || errors.Is(err, context.DeadlineExceeded):
		// The attempt's own context ran out: the caller's is live, or
		// the attempt would be Canceled.
		return "no answer within --timeout " + roundDuration(p.flags.timeout)
	}
	return err.Error()
}

// withNote adds to status, which names se, why se's 2xx failed --json.
func (p *progress) withNote(status string, se *reboundhttp.StatusError) string {
	if se.StatusCode >= 200 && se.StatusCode <= 299 && p.judge.note != "" {
		return status + ", " + p.judge.note
	}
	return status
}

// gaveUpLine is the final line of a call that did not succeed.
func (p *progress) gaveUpLine(ctx context.Context, e rebound.Event) string {
	s := "rebound: gave up after " + strconv.Itoa(e.Attempt) + " attempt"
	if e.Attempt != 1 {
		s += "s"
	}
	s += " in " + roundDuration(e.Elapsed) + ": "
	var se *reboundhttp.StatusError
	isStatus := errors.As(e.Err, &se)
	switch {
	case e.Reason == rebound.ReasonCanceled:
		s += canceledBy(ctx, p.flags)
	case e.Reason == rebound.ReasonDeadline && p.flags.maxTime > 0:
		s += "deadline (the next attempt would start after --max-time " + roundDuration(p.flags.maxTime) + ")"
	case e.Reason == rebound.ReasonWaitTooLong && isStatus:
		s += "wait_too_long (the server asked to wait " + roundDuration(se.Classification().RetryAfter) +
			", above --max-wait " + roundDuration(p.flags.maxWait) + ")"
	default:
		s += e.Reason.String()
	}
	if e.Err != nil && e.Class != rebound.Canceled {
		s += " (last: " + p.shortErr(e.Err, se) + ")"
	}
	if e.Reason == rebound.ReasonPermanent && (e.Class == rebound.Connection || e.Class == rebound.Response) {
		// Retryable, but not for this method: the request may have been
		// processed and repeating it could do its effect twice.
		method, _, _ := strings.Cut(e.Endpoint, " ")
		s += "; a " + method + " without an Idempotency-Key is not retried once it may have been processed (see --idempotency-key)"
	}
	return s
}

// shortErr names the last failure briefly: a status code, or the heart of
// a connection error.
func (p *progress) shortErr(err error, se *reboundhttp.StatusError) string {
	var (
		errno syscall.Errno
		dns   *net.DNSError
	)
	switch {
	case se != nil:
		return p.withNote(strconv.Itoa(se.StatusCode), se)
	case isTimeout(err):
		return "timeout"
	case errors.As(err, &dns):
		return dns.Err
	case errors.As(err, &errno):
		return errno.Error()
	}
	return err.Error()
}

// isTimeout reports whether err is an attempt that ran out of its own time.
func isTimeout(err error) bool {
	if errors.Is(err, reboundhttp.ErrAttemptTimeout) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// roundDuration shows d to the millisecond below a second and to the tenth
// of a second above.
func roundDuration(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}
