package reboundtest

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// A Step is what a Script does to the requests it applies to: answer
// them itself (Status, RetryAfter, RetryAt), fail them (Reset, Hang,
// Truncate, AppliedButLost), slow them (SlowBody) or let them through
// (Pass). A step applies to one request; Repeat and Fail make it apply to
// several. The zero Step is Pass.
type Step struct {
	kind   stepKind
	times  int // requests the step applies to; 0: one, or every one when last
	code   int
	body   string
	header http.Header
	n      int
	every  time.Duration
}

type stepKind uint8

const (
	stepPass stepKind = iota
	stepStatus
	stepReset
	stepHang
	stepTruncate
	stepSlowBody
	stepAppliedButLost
)

// String names the step as Script.Faults reports it: "pass", "status
// 503", "reset", "hang", "truncate 6", "slow-body 4/1s",
// "applied-but-lost".
func (s Step) String() string {
	switch s.kind {
	case stepStatus:
		if s.header != nil {
			return "status " + strconv.Itoa(s.code) + " retry-after " + s.header.Get("Retry-After")
		}
		return "status " + strconv.Itoa(s.code)
	case stepReset:
		return "reset"
	case stepHang:
		return "hang"
	case stepTruncate:
		return "truncate " + strconv.Itoa(s.n)
	case stepSlowBody:
		return "slow-body " + strconv.Itoa(s.n) + "/" + s.every.String()
	case stepAppliedButLost:
		return "applied-but-lost"
	}
	return "pass"
}

// Pass lets the request through to the next RoundTripper or Handler.
func Pass() Step { return Step{} }

// Status answers with code and body, without passing the request on.
// It panics if code is not a valid status (100 to 999).
func Status(code int, body string) Step {
	checkCode(code)
	return Step{kind: stepStatus, code: code, body: body}
}

// Fail answers n requests with code and an empty body: Fail(2, 503) is
// Repeat(2, Status(503, "")).
func Fail(n, code int) Step { return Repeat(n, Status(code, "")) }

// RetryAfter answers with code and a Retry-After header of d in
// delay-seconds, rounded up to a whole second (0 stays 0).
func RetryAfter(code int, d time.Duration) Step {
	if d < 0 {
		panic("reboundtest: RetryAfter with a negative wait")
	}
	secs := (d + time.Second - 1) / time.Second
	return retryAfter(code, strconv.FormatInt(int64(secs), 10))
}

// RetryAt answers with code and a Retry-After header holding the
// HTTP-date at (second resolution). A client waits from the response's
// Date header to at, or from its own clock when there is no Date header
// (the RoundTripper side sends none; net/http's server sends one).
func RetryAt(code int, at time.Time) Step {
	return retryAfter(code, at.UTC().Format(http.TimeFormat))
}

func retryAfter(code int, value string) Step {
	s := Status(code, "")
	s.header = http.Header{"Retry-After": {value}}
	return s
}

// Reset resets the connection before any response: the request was sent
// and the client learns nothing of its fate. The request does not reach
// the next RoundTripper or Handler. See the package doc for what each
// side does.
func Reset() Step { return Step{kind: stepReset} }

// Hang never answers: the request waits until its context ends (the
// client's timeout or cancellation) and does not reach the next
// RoundTripper or Handler.
func Hang() Step { return Step{kind: stepHang} }

// Truncate passes the request on and cuts the response's body after n
// bytes: the headers announce the whole body (n+1 bytes when it has no
// more than n), the first n bytes are sent, and the connection closes.
// The client sees io.ErrUnexpectedEOF while reading the body. The
// request's effect happens.
func Truncate(n int) Step {
	if n < 0 {
		panic("reboundtest: Truncate with a negative length")
	}
	return Step{kind: stepTruncate, n: n}
}

// SlowBody passes the request on and delivers the response's body chunk
// bytes at a time, waiting every before each chunk. Under testing/synctest
// on the RoundTripper side the waits take no real time.
func SlowBody(chunk int, every time.Duration) Step {
	if chunk < 1 || every < 0 {
		panic("reboundtest: SlowBody wants a chunk of at least 1 byte and a wait of at least 0")
	}
	return Step{kind: stepSlowBody, n: chunk, every: every}
}

// AppliedButLost passes the request on, lets the next RoundTripper or
// Handler run to its end (its effect happens), drops the response and
// resets the connection: the client sees the same reset as with Reset
// but the server has acted. It is the failure Idempotency-Key exists for.
func AppliedButLost() Step { return Step{kind: stepAppliedButLost} }

// Repeat makes step apply to n successive requests. It panics if n < 1.
func Repeat(n int, step Step) Step {
	if n < 1 {
		panic("reboundtest: Repeat wants n >= 1, got " + strconv.Itoa(n))
	}
	step.times = n
	return step
}

func checkCode(code int) {
	if code < 100 || code > 999 {
		panic("reboundtest: invalid status code " + strconv.Itoa(code))
	}
}

// A Script applies its steps to successive requests, in the order they
// arrive, counting across every RoundTripper and Handler made from it.
//
// Each step applies to one request, or to n with Repeat and Fail. The
// last step of the script, when it has no count, applies to every request
// after it: NewScript(Status(503, "")) answers 503 for ever. When the last
// step has a count, the requests after it pass through:
// NewScript(Fail(2, 503)) is NewScript(Fail(2, 503), Pass()).
//
// A Script is safe for concurrent use; concurrent requests take steps in
// the order the Script sees them arrive.
type Script struct {
	steps []Step

	mu     sync.Mutex
	pos    int // index of the current step
	used   int // requests the current step has taken
	log    []Request
	counts []int
}

// Request records a request a Script saw.
type Request struct {
	// N numbers the request from 1.
	N int
	// Step is the index of the step applied, or -1 for a request that
	// passed through after the script's last counted step.
	Step int
	// Fault is what was done: the step's String.
	Fault string
	// Method and Path are the request's; IdempotencyKey is its
	// Idempotency-Key header.
	Method, Path, IdempotencyKey string
}

// NewScript returns a Script of steps. With no steps every request passes.
func NewScript(steps ...Step) *Script {
	return &Script{steps: steps, counts: make([]int, len(steps))}
}

// next takes the step for req and records it.
func (s *Script) next(req *http.Request) Step {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, st := -1, Step{}
	for s.pos < len(s.steps) {
		cur := s.steps[s.pos]
		last := s.pos == len(s.steps)-1
		if (cur.times == 0 && last) || s.used < max(cur.times, 1) {
			i, st = s.pos, cur
			s.used++
			break
		}
		s.pos++
		s.used = 0
	}
	if i >= 0 {
		s.counts[i]++
	}
	s.log = append(s.log, Request{
		N:              len(s.log) + 1,
		Step:           i,
		Fault:          st.String(),
		Method:         req.Method,
		Path:           req.URL.Path,
		IdempotencyKey: req.Header.Get("Idempotency-Key"),
	})
	return st
}

// Count returns the number of requests the script has seen.
func (s *Script) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.log)
}

// Requests returns the requests the script has seen, in order.
func (s *Script) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// Faults returns what was done to each request, in order: the String of
// each step applied, such as ["status 503" "status 503" "pass"].
func (s *Script) Faults() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.log))
	for i, r := range s.log {
		out[i] = r.Fault
	}
	return out
}

// StepCounts returns, for each step, the number of requests it applied
// to. Requests that passed after a counted last step are in Count only.
func (s *Script) StepCounts() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.counts...)
}
