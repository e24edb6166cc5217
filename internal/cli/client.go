package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/internal/api"
	"github.com/rebound-go/rebound/internal/redact"
	"github.com/rebound-go/rebound/reboundhttp"
)

// defaultServer is the relay's API when neither --server nor
// REBOUND_SERVER names one: the daemon's default listen address.
const defaultServer = "http://127.0.0.1:8080"

// apiAttempts is how many times an API command sends a request, the first
// included.
const apiAttempts = 3

// maxAnswer bounds the body of an API answer that is read.
const maxAnswer = 4 << 20

// apiEnv holds what tests replace; its zero value is what Enqueue and Dead
// use.
type apiEnv struct {
	getenv  func(string) string // default os.Getenv
	base    http.RoundTripper   // default http.DefaultTransport
	backoff rebound.Backoff     // default rebound's: 1 s doubling to 10 s, full jitter
	page    int                 // messages asked for per page of a list; default listPage
}

func (e apiEnv) env(name string) string {
	if e.getenv == nil {
		return os.Getenv(name)
	}
	return e.getenv(name)
}

// apiFlags are the flags of every command that talks to a relay's API.
type apiFlags struct {
	server string
	token  string
}

// apiFlagsFrom returns the flags' defaults, from the environment.
func apiFlagsFrom(env apiEnv) apiFlags {
	f := apiFlags{server: env.env("REBOUND_SERVER"), token: env.env("REBOUND_TOKEN")}
	if f.server == "" {
		f.server = defaultServer
	}
	return f
}

// define adds --server and --token to fs, with f's values as defaults.
func (f *apiFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&f.server, "server", f.server, "")
	fs.StringVar(&f.token, "token", f.token, "")
}

// check validates the flags after parsing. Its errors never show the token.
func (f *apiFlags) check() error {
	if err := checkURL(f.server); err != nil {
		return fmt.Errorf("--server: %w", err)
	}
	if strings.ContainsFunc(f.token, func(r rune) bool { return r <= ' ' || r > '~' }) {
		return errors.New("--token: want printable ASCII without spaces")
	}
	return nil
}

// apiFlagsUsage documents the flags of apiFlags, for the usage texts.
const apiFlagsUsage = `      --server URL          the relay's API (default $REBOUND_SERVER, else ` + defaultServer + `)
      --token TOKEN         sent as Authorization: Bearer (default $REBOUND_TOKEN)
`

// apiExitCodes documents the exit codes of the API commands.
const apiExitCodes = `Exit status: 0 success, 1 error, 2 usage, 3 the API refused the request
(4xx), 4 gave up after server errors (5xx), 5 the API could not be
reached, 6 canceled.
`

// parseArgs parses args with fs, allowing flags before and after the
// arguments; everything after "--" is an argument.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, flagError(fs, err)
		}
		left := fs.Args()
		if len(left) == 0 {
			return rest, nil
		}
		if used := len(args) - len(left); used > 0 && args[used-1] == "--" {
			return append(rest, left...), nil
		}
		rest = append(rest, left[0])
		args = left[1:]
	}
}

// newFlagSet returns a flag set that reports errors to its caller only.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// apiClient sends requests to a relay's JSON API through a retrying
// transport. Messages it writes start with name, such as "rebound enqueue".
type apiClient struct {
	name   string
	server string // without a trailing slash
	token  string
	http   *http.Client
}

func newAPIClient(name string, f apiFlags, env apiEnv, stderr io.Writer) (*apiClient, error) {
	t, err := reboundhttp.NewTransport(reboundhttp.Config{
		Base: env.base,
		Policy: rebound.Policy{
			MaxAttempts: apiAttempts,
			Backoff:     env.backoff,
			Observer:    retryNotes{w: stderr, name: name},
		},
		Endpoint: func(r *http.Request) string { return r.Method + " " + r.URL.Path },
	})
	if err != nil {
		return nil, err
	}
	return &apiClient{
		name:   name,
		server: strings.TrimRight(f.server, "/"),
		token:  f.token,
		http:   &http.Client{Transport: t},
	}, nil
}

// retryNotes writes a line to stderr for each retry, so that a slow
// command says why.
type retryNotes struct {
	w    io.Writer
	name string
}

func (n retryNotes) Observe(ctx context.Context, e rebound.Event) {
	if e.Kind != rebound.RetryScheduled {
		return
	}
	why := "failed"
	var se *reboundhttp.StatusError
	switch {
	case errors.As(e.Err, &se):
		why = strconv.Itoa(se.StatusCode) + " " + http.StatusText(se.StatusCode)
	case isTimeout(e.Err):
		why = "no answer in time"
	case e.Err != nil:
		why = e.Err.Error()
	}
	fmt.Fprintf(n.w, "%s: attempt %d/%d %s: %s; retrying in %s\n", n.name, e.Attempt, apiAttempts, e.Endpoint, why, roundDuration(e.Wait))
}

// do sends method to path (which starts with /v1/) with body, JSON-encoded
// when it is not nil, and decodes a 2xx answer into out when out is not
// nil. A non-2xx answer is a *problemError; no answer at all is an
// *unreachableError.
func (c *apiClient) do(ctx context.Context, method, path string, header http.Header, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b) // sets GetBody: every attempt sends it whole
	}
	req, err := http.NewRequestWithContext(ctx, method, c.server+path, r)
	if err != nil {
		return err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return &unreachableError{server: c.redactedServer(), err: err}
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return &unreachableError{server: c.redactedServer(), err: fmt.Errorf("reading the answer: %w", err)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return newProblemError(resp, answer)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(answer, out); err != nil {
		return fmt.Errorf("%s %s: %d answer is not the JSON expected: %v", method, path, resp.StatusCode, err)
	}
	return nil
}

func (c *apiClient) redactedServer() string {
	u, err := url.Parse(c.server)
	if err != nil {
		return "the server"
	}
	return redact.URL(u)
}

// report writes err as one line on stderr, unless ctx was canceled, and
// returns the exit code it stands for.
func (c *apiClient) report(ctx context.Context, stderr io.Writer, err error) int {
	if ctx.Err() != nil {
		return exitCanceled
	}
	msg := err.Error()
	var pe *problemError
	if errors.As(err, &pe) && pe.Status == http.StatusUnauthorized && c.token == "" {
		msg += " (no token given: use --token or set REBOUND_TOKEN)"
	}
	fmt.Fprintf(stderr, "%s: %s\n", c.name, msg)
	return exitCodeOf(err)
}

// exitCodeOf maps an error of apiClient.do to an exit code.
func exitCodeOf(err error) int {
	var (
		pe *problemError
		ue *unreachableError
	)
	switch {
	case errors.As(err, &pe):
		switch {
		case pe.Status == http.StatusRequestTimeout || pe.Status == http.StatusTooManyRequests:
			return exitResponse
		case pe.Status >= 400 && pe.Status <= 499, pe.Status == http.StatusNotImplemented:
			return exitLogic
		case pe.Status >= 500:
			return exitResponse
		}
	case errors.As(err, &ue):
		return exitConnection
	case errors.Is(err, context.Canceled):
		return exitCanceled
	}
	return exitError
}

// problemError is an answer of the API other than a 2xx, with its RFC 9457
// problem details when it had them.
type problemError struct {
	api.Problem
}

// newProblemError reads a problem from answer, or makes one from the
// status and the first bytes of a body that is not a problem.
func newProblemError(resp *http.Response, answer []byte) *problemError {
	var p api.Problem
	if json.Unmarshal(answer, &p) != nil || p.Title == "" {
		p = api.Problem{Title: http.StatusText(resp.StatusCode)}
		if text := strings.TrimSpace(string(answer)); text != "" {
			if len(text) > 200 {
				text = text[:200] + "…"
			}
			p.Detail = text
		}
	}
	p.Status = resp.StatusCode
	return &problemError{p}
}

// Error reads as one line, such as
//
//	422 Unknown destination (field destination): No destination is configured as "x".
func (e *problemError) Error() string {
	s := strconv.Itoa(e.Status) + " " + oneLine(e.Title)
	if e.Field != "" {
		s += " (field " + oneLine(e.Field) + ")"
	}
	if e.Detail != "" {
		s += ": " + oneLine(e.Detail)
	}
	return s
}

// unreachableError is a request that got no answer from the API.
type unreachableError struct {
	server string // redacted
	err    error
}

func (e *unreachableError) Error() string {
	var (
		re    *rebound.Error
		uerr  *url.Error
		cause = e.err
	)
	if errors.As(cause, &uerr) {
		cause = uerr.Err
	}
	attempts := ""
	if errors.As(cause, &re) {
		if re.Attempts > 1 {
			attempts = " (after " + strconv.Itoa(re.Attempts) + " attempts)"
		}
		if re.Last != nil {
			cause = re.Last
		}
	}
	why := cause.Error()
	if isTimeout(cause) {
		why = "no answer within " + roundDuration(reboundhttp.DefaultAttemptTimeout)
	}
	return "cannot reach the API at " + e.server + ": " + why + attempts
}

func (e *unreachableError) Unwrap() error { return e.err }

// oneLine replaces the line breaks and other control characters of s with
// spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// truncate shortens s to at most n runes, marking a cut with "…".
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// escapeID is id as one path segment.
func escapeID(id string) string { return url.PathEscape(id) }
