package natssender

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// WindowError says that streams would let a redelivered message in twice:
// their duplicate window is shorter than the longest gap between two
// attempts of one message.
type WindowError struct {
	// Short lists the destinations whose stream's window is too short.
	Short []ShortWindow
	// Need is the least window that dedupes every redelivery.
	Need time.Duration
}

// ShortWindow is one destination whose stream dedupes for too short a time.
type ShortWindow struct {
	Destination, Stream string
	Window              time.Duration
}

func (e *WindowError) Error() string {
	var b strings.Builder
	for i, s := range e.Short {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "destination %s: stream %s dedupes for %s", s.Destination, s.Stream, s.Window)
	}
	fmt.Fprintf(&b, ", but a message may be published again up to %s after an attempt whose ack was lost: set the stream's duplicate window to at least that (nats stream edit --dupe-window %s), or retry sooner (a smaller maximum backoff or lease)", e.Need, e.Need)
	return "natssender: " + b.String()
}

// CheckWindows reads the stream of each destination and returns a
// *WindowError listing those whose duplicate window is shorter than need:
// the lease plus the largest backoff, the longest a message can wait
// between an attempt whose ack was lost and the next. JetStream drops a
// repeated Nats-Msg-Id only within the window, so a shorter one lets such
// a message into the stream twice. Any other error (the server is
// unreachable, no stream captures a subject) is an *Error.
func (s *Sender) CheckWindows(ctx context.Context, need time.Duration) error {
	names := make([]string, 0, len(s.dests))
	for name := range s.dests {
		names = append(names, name)
	}
	sort.Strings(names)
	werr := &WindowError{Need: need}
	for _, name := range names {
		subj := strings.Replace(s.dests[name].Subject, OrderingKeyToken, "k", 1)
		stream, err := s.js.StreamNameBySubject(ctx, subj)
		if err != nil {
			e := &Error{Destination: name, Subject: subj, Op: "check the stream", class: connection, Err: err}
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				e.class, e.Err = logic, errors.New("no stream captures this subject")
			}
			return e
		}
		info, err := s.js.Stream(ctx, stream)
		var cfg jetstream.StreamConfig
		if err == nil {
			var si *jetstream.StreamInfo
			si, err = info.Info(ctx)
			if err == nil {
				cfg = si.Config
			}
		}
		if err != nil {
			return &Error{Destination: name, Subject: subj, Op: "check the stream", class: connection, Err: err}
		}
		if cfg.Duplicates < need {
			werr.Short = append(werr.Short, ShortWindow{Destination: name, Stream: stream, Window: cfg.Duplicates})
		}
	}
	if len(werr.Short) > 0 {
		return werr
	}
	return nil
}
