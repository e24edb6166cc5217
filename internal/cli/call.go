package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/internal/redact"
	"github.com/rebound-go/rebound/reboundhttp"
)

// The exit codes of Call; doc.go explains each.
const (
	exitOK         = 0
	exitError      = 1
	exitUsage      = 2
	exitLogic      = 3
	exitResponse   = 4
	exitConnection = 5
	exitCanceled   = 6
)

const callUsage = `usage: rebound call [flags] URL

Sends one HTTP request, retries what can succeed, and writes the response
body to stdout. Each failed attempt, its reason and the wait before the
next go to stderr.

  -X METHOD                 the method (default GET, or POST with a body)
  -H 'Name: value'          add a request header; repeatable
  -d, --data DATA           the request body: DATA as given, @FILE, or @- for
                            stdin; sent byte for byte (curl's --data-binary)
      --data-binary DATA    the same as -d
  -L, --location            follow redirects
      --attempts N          attempts in all, the first included, 1..1000 (default 3)
      --timeout D           limit of each attempt, reading the body included (default 5s)
      --max-time D          limit of the whole call (default none)
      --max-wait D          the longest Retry-After to honour; a longer one
                            gives up at once (default 60s)
      --idempotency-key auto|KEY
                            send an Idempotency-Key header so that a POST or
                            PATCH may be retried; auto makes a random key, the
                            same on every attempt
      --json                a 2xx response must have a JSON body; another is
                            retried like a 503
  -q, --quiet               no line per attempt; failures are still reported

Exit status: 0 success, 1 error, 2 usage, 3 logic error (4xx: not retried),
4 gave up after response errors, 5 gave up after connection errors,
6 canceled.
`

// Call runs `rebound call [flags] URL` and returns the process exit code.
func Call(ctx context.Context, args []string, io IO) int {
	return call(ctx, args, io, callEnv{})
}

// callEnv holds what tests replace; its zero value is what Call uses.
type callEnv struct {
	base    http.RoundTripper // default http.DefaultTransport
	backoff rebound.Backoff   // default rebound's: 1 s doubling to 10 s, full jitter
	rand    func() float64    // default math/rand/v2
}

// callFlags is a parsed command line.
type callFlags struct {
	method   string
	headers  headerList
	data     dataArg
	location bool
	attempts int
	timeout  time.Duration
	maxTime  time.Duration
	maxWait  time.Duration
	key      string
	json     bool
	quiet    bool
	url      string
}

// errMaxTime is the cause of the context of a call that ran out of --max-time.
var errMaxTime = errors.New("--max-time reached")

// call runs `rebound call`. It reads as the command's steps in order
// (flags, body, request, transport, the call, the answer), each a few lines that
// share the parsed flags, which is why it is longer than most functions.
func call(ctx context.Context, args []string, stdio IO, env callEnv) int {
	stdio = stdio.orDefaults()
	f, err := parseCall(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdio.Stdout, callUsage)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stdio.Stderr, "rebound call: %v\n\n%s", err, callUsage)
		return exitUsage
	}
	body, err := f.data.read(stdio.Stdin)
	if err != nil {
		fmt.Fprintf(stdio.Stderr, "rebound call: %v\n", err)
		return exitError
	}

	reqCtx := ctx
	if f.maxTime > 0 {
		var cancel context.CancelFunc
		reqCtx, cancel = context.WithTimeoutCause(ctx, f.maxTime, errMaxTime)
		defer cancel()
	}
	req, err := newRequest(reqCtx, f, body)
	if err != nil {
		fmt.Fprintf(stdio.Stderr, "rebound call: %v\n", err)
		return exitError
	}

	j := &judge{json: f.json}
	p := &progress{w: stdio.Stderr, terminal: stdio.StderrIsTerminal, quiet: f.quiet, flags: f, judge: j}
	t, err := reboundhttp.NewTransport(reboundhttp.Config{
		Base:           env.base,
		AttemptTimeout: f.timeout,
		Policy: rebound.Policy{
			MaxAttempts:   f.attempts,
			MaxRetryAfter: f.maxWait,
			Backoff:       env.backoff,
			Rand:          env.rand,
			Observer:      p,
		},
		// Events name the request itself: this program makes one call, so
		// there is no label cardinality to keep bounded.
		Endpoint:         func(r *http.Request) string { return r.Method + " " + redact.URL(r.URL) },
		ClassifyResponse: j.classify,
		IdempotencyKeys:  f.key == "auto",
	})
	if err != nil {
		fmt.Fprintf(stdio.Stderr, "rebound call: %v\n", err)
		return exitError
	}
	client := &http.Client{Transport: t}
	if !f.location {
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}

	resp, err := client.Do(req)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		if ctx.Err() != nil {
			return exitCanceled
		}
		if p.done && p.last.Result != rebound.ResultSuccess {
			return exitFor(p.last) // the transport gave up; progress said why
		}
		fmt.Fprintf(stdio.Stderr, "rebound: %s\n", redactedError(err))
		return exitError
	}
	defer resp.Body.Close()
	code := exitFor(p.last)
	if req.Method == http.MethodHead {
		return code
	}
	out := &errWriter{w: stdio.Stdout}
	if _, err := io.Copy(out, resp.Body); err != nil {
		switch {
		case out.err != nil:
			fmt.Fprintf(stdio.Stderr, "rebound: writing the body: %v\n", out.err)
			return exitError
		case ctx.Err() != nil:
			return exitCanceled
		}
		why := p.describeErr(err)
		if reqCtx.Err() != nil {
			why = canceledBy(reqCtx, f)
		}
		fmt.Fprintf(stdio.Stderr, "rebound: reading the body: %s\n", why)
		if code == exitOK {
			return exitConnection
		}
	}
	return code
}

// newRequest builds the request the flags describe, with body as its body
// when it is not nil.
func newRequest(ctx context.Context, f *callFlags, body []byte) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body) // sets GetBody: every attempt sends it whole
	}
	req, err := http.NewRequestWithContext(ctx, f.method, f.url, r)
	if err != nil {
		return nil, err
	}
	for _, h := range f.headers {
		if strings.EqualFold(h.name, "Host") {
			req.Host = h.value
			continue
		}
		req.Header.Add(h.name, h.value)
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded") // as curl -d
	}
	if f.json && req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	if f.key != "" && f.key != "auto" {
		req.Header.Set("Idempotency-Key", f.key)
	}
	return req, nil
}

// exitFor maps how the transport's last call ended to an exit code. A call
// that --max-time cut short during an attempt (Canceled while the caller's
// context is live) counts as a timed-out attempt: a connection error.
func exitFor(e rebound.Event) int {
	if e.Result == rebound.ResultSuccess {
		return exitOK
	}
	switch e.Class {
	case rebound.Logic:
		return exitLogic
	case rebound.Response:
		return exitResponse
	case rebound.Connection, rebound.Canceled:
		return exitConnection
	}
	return exitError
}

// errWriter keeps the error of its writer, to tell it from a read error
// after io.Copy.
type errWriter struct {
	w   io.Writer
	err error
}

func (w *errWriter) Write(b []byte) (int, error) {
	n, err := w.w.Write(b)
	if err != nil && w.err == nil {
		w.err = err
	}
	return n, err
}

// redactedError is err's text with the URL of a *url.Error redacted.
func redactedError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		s := ue.Op + " "
		if u, perr := url.Parse(ue.URL); perr == nil {
			s += redact.URL(u)
		}
		return s + ": " + ue.Err.Error()
	}
	return err.Error()
}
