package rebound

import (
	"strconv"
	"strings"
	"time"
)

// Class says what kind of failure an error is, and so whether retrying it can help.
type Class uint8

const (
	// Unknown is an error that no classifier recognised, such as a plain
	// errors.New from user code. It counts as a failure for circuit breakers
	// but is not retried by the default policy: add it to Policy.RetryOn, or
	// mark the error with Transient, to retry it.
	Unknown Class = iota
	// Connection means the request was not sent or got no answer: refused,
	// reset, timed out, unreachable, a temporary DNS failure, an unexpected EOF.
	Connection
	// Response means the peer answered badly: a 5xx (except 501), 429, 408,
	// an empty or malformed body.
	Response
	// Logic means the request itself is wrong: validation, a business-rule
	// conflict, a 4xx, an untrusted certificate. Retrying is useless; it is
	// reported for alerting.
	Logic
	// Canceled means the caller gave up: its context was canceled or its
	// deadline passed.
	Canceled

	numClasses
)

var classNames = [numClasses]string{"unknown", "connection", "response", "logic", "canceled"}

// String returns the lower-case name used in logs and metric labels.
func (c Class) String() string {
	if c < numClasses {
		return classNames[c]
	}
	return "class(" + strconv.Itoa(int(c)) + ")"
}

// ParseClass returns the Class whose String is name.
func ParseClass(name string) (Class, bool) {
	for i, n := range classNames {
		if strings.EqualFold(n, name) {
			return Class(i), true
		}
	}
	return Unknown, false
}

// ClassSet is a set of classes, built with Classes.
type ClassSet uint8

// Classes returns the set holding cs.
func Classes(cs ...Class) ClassSet {
	var s ClassSet
	for _, c := range cs {
		s |= 1 << c
	}
	return s
}

// DefaultRetryOn is the set a zero Policy.RetryOn stands for.
var DefaultRetryOn = Classes(Connection, Response)

// Has reports whether c is in s.
func (s ClassSet) Has(c Class) bool { return c < numClasses && s&(1<<c) != 0 }

// String lists the members, such as "connection|response".
func (s ClassSet) String() string {
	var b strings.Builder
	for c := Class(0); c < numClasses; c++ {
		if s.Has(c) {
			if b.Len() > 0 {
				b.WriteByte('|')
			}
			b.WriteString(c.String())
		}
	}
	return b.String()
}

// Classification is what a classifier says of one error.
type Classification struct {
	// Class is the kind of failure.
	Class Class
	// Retryable reports whether another attempt may succeed. The policy
	// retries an error only when it is Retryable and its Class is in
	// Policy.RetryOn (or it was marked with Transient or RetryAfter).
	Retryable bool
	// Marked is set for errors marked with Transient or RetryAfter: they are
	// retried whatever their Class.
	Marked bool
	// MaybeProcessed reports whether the peer may have acted on the request
	// (a reset after the request was written) as opposed to certainly not
	// (connection refused, DNS failure). Callers retry a non-idempotent
	// request only when this is false.
	MaybeProcessed bool
	// RetryAfter is the wait the server asked for; zero when it asked none.
	RetryAfter time.Duration
}

// A Classifier recognises some errors. It returns ok=false for errors it does
// not know, so that the next classifier in the chain is asked.
type Classifier interface {
	Classify(err error) (c Classification, ok bool)
}

// ClassifierFunc adapts a function to the Classifier interface.
type ClassifierFunc func(err error) (Classification, bool)

// Classify calls f(err).
func (f ClassifierFunc) Classify(err error) (Classification, bool) { return f(err) }

// Classified is implemented by errors that know their own classification,
// such as reboundhttp's errors for bad responses. The built-in rules use the
// first Classified error in a chain before any other rule except the
// Permanent, Transient and RetryAfter marks.
type Classified interface {
	error
	Classification() Classification
}
