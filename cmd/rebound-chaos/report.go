package main

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// row is one line of the summary: a name and its value.
type row struct{ name, value string }

func rows(r *Result) []row {
	o := r.Opts
	kinds := map[string]int{}
	for _, f := range r.Faults {
		kinds[f.Kind]++
	}
	var pgTook, natsTook, amqpTook time.Duration
	for _, f := range r.Faults {
		switch f.Kind {
		case "pg-restart":
			pgTook = f.Took
		case "nats-restart":
			natsTook = f.Took
		case "amqp-restart":
			amqpTook = f.Took
		}
	}
	out := []row{
		{"store", fmt.Sprintf("%s, %d relay(s), lease %s, delivery timeout %s", o.Store, o.Relays, o.Lease, o.Timeout)},
		{"seed", fmt.Sprint(o.Seed)},
		{"messages", fmt.Sprintf("%d at %.0f/s", o.Messages, o.Rate)},
		{"relays killed (SIGKILL) and restarted", fmt.Sprintf("%d / %d", kinds["kill"], kinds["restart"])},
		{"relays paused (SIGSTOP) past the lease", fmt.Sprintf("%d (for %s)", kinds["pause"], 2*o.Lease)},
		{"PostgreSQL restarts", fmt.Sprint(kinds["pg-restart"])},
	}
	if pgTook > 0 {
		out = append(out, row{"PostgreSQL restart took", pgTook.Round(time.Millisecond).String()})
	}
	if o.Broker == "nats" {
		out = append(out, row{"nats-server restarts", fmt.Sprint(kinds["nats-restart"])})
		if natsTook > 0 {
			out = append(out, row{"nats-server restart took (SIGTERM to JetStream ready)", natsTook.Round(time.Millisecond).String()})
		}
	}
	if o.Broker == "amqp" {
		out = append(out, row{"RabbitMQ restarts (stop_app, start_app)", fmt.Sprint(kinds["amqp-restart"])})
		if amqpTook > 0 {
			out = append(out, row{"RabbitMQ restart took (stop_app to start_app done)", amqpTook.Round(time.Millisecond).String()})
		}
	}
	out = append(out,
		row{"enqueue took", r.EnqueueTook.Round(time.Millisecond).String()},
		row{"enqueue acknowledged p50 / p99 (retries included)", fmt.Sprintf("%s / %s", r.EnqueueP50.Round(time.Microsecond), r.EnqueueP99.Round(time.Microsecond))},
		row{"enqueue requests retried", fmt.Sprint(r.Retries)},
		row{"time to drain (after the last enqueue)", r.DrainTook.Round(time.Millisecond).String()},
		row{"whole run", r.TotalTook.Round(time.Second).String()},
	)
	if s := r.Stream; s != nil {
		out = append(out,
			row{"stream", fmt.Sprintf("%s, file storage, duplicate window %s", s.Name, s.Window)},
			row{"messages in the stream / read by the consumer", fmt.Sprintf("%d / %d", s.Messages, s.Read)},
			row{"unique IDs in the stream", fmt.Sprint(s.UniqueIDs)},
			row{"duplicates in the stream (messages - unique IDs)", fmt.Sprint(s.Duplicates)},
		)
	}
	if q := r.Queue; q != nil {
		out = append(out,
			row{"queue", fmt.Sprintf("%s, durable classic, default exchange", q.Name)},
			row{"deliveries to the consumer / unique IDs", fmt.Sprintf("%d / %d", q.Deliveries, q.UniqueIDs)},
			row{"duplicates in the queue (deliveries - unique IDs)", fmt.Sprint(q.Duplicates)},
			row{"  of them published again at a later attempt (a confirm lost)", fmt.Sprint(q.Republished)},
			row{"  of them redelivered by the broker (the consumer's ack lost)", fmt.Sprint(q.Redelivered)},
			row{"applied once by a consumer deduping by message_id", fmt.Sprint(q.Applied)},
			row{"consumer reconnections", fmt.Sprint(q.Reconnects)},
		)
	}
	if l := r.Ledger; l != nil {
		if r.Stream == nil && r.Queue == nil {
			out = append(out,
				row{"deliveries received", fmt.Sprint(l.Deliveries)},
				row{"answered 204 / 503 / reset / stalled", fmt.Sprintf("%d / %d / %d / %d", l.Outcomes[OK], l.Outcomes[Failed503], l.Outcomes[Reset], l.Outcomes[Stalled])},
			)
		}
		out = append(out,
			row{"enqueued (acknowledged)", fmt.Sprint(l.Enqueued)},
			row{"delivered-unique", fmt.Sprint(l.Delivered)},
			row{"dead", fmt.Sprint(l.Dead)},
			row{"still pending", fmt.Sprint(l.Pending)},
			row{"sent in the store", fmt.Sprint(l.Sent)},
			row{"lost", fmt.Sprint(len(l.Lost))},
			row{"unknown IDs received", fmt.Sprint(len(l.Unknown))},
			row{"duplicates (204s beyond the first, messages)", fmt.Sprintf("%d (%d)", l.Duplicates, l.DuplicateIDs)},
			row{"duplicates by nearest fault", causes(r.Duplicates)},
			row{"late 204s after the relay gave up (duplicate risk)", fmt.Sprint(l.Stalls)},
			row{"late 204s the relay still took (it was paused)", fmt.Sprint(l.LateAccepted)},
			row{"repeated (ID, attempt) deliveries", fmt.Sprint(l.Replays)},
			row{"sent at an attempt the receiver did not answer 204", fmt.Sprint(len(l.SentUnacked))},
		)
		if r.Stream != nil {
			out = append(out, row{"sent at a later attempt than its copy in the stream (re-publish deduplicated)", fmt.Sprint(l.AckedByDedupe)})
		}
		out = append(out,
			row{"attempt numbers above the store's", fmt.Sprint(len(l.AttemptAhead))},
			row{"stale-lease deliveries after a newer attempt succeeded", fmt.Sprint(len(l.StaleAfterSuccess))},
		)
	}
	if len(r.RelayLogs) > 0 {
		var keys []string
		for k := range r.RelayLogs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = append(out, row{"relay logs: " + k, fmt.Sprint(r.RelayLogs[k])})
		}
	}
	verdict := "balanced"
	if !r.OK() {
		verdict = "NOT BALANCED"
	}
	out = append(out, row{"ledger", verdict})
	return out
}

func causes(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var s []string
	for _, k := range keys {
		s = append(s, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(s, ", ")
}

// problems lists why the run failed, if it did.
func problems(r *Result) []string {
	var p []string
	if r.Err != nil {
		p = append(p, "the run did not complete: "+r.Err.Error())
	}
	for _, e := range r.FaultErrors {
		p = append(p, "fault: "+e.Error())
	}
	if len(r.Failed) > 0 {
		var seqs []int
		for s := range r.Failed {
			seqs = append(seqs, s)
		}
		sort.Ints(seqs)
		var s []string
		for _, q := range seqs {
			s = append(s, fmt.Sprintf("%d (%s)", q, r.Failed[q]))
		}
		p = append(p, fmt.Sprintf("%d enqueues never acknowledged: %s", len(seqs), sample(s)))
	}
	if r.Ledger != nil {
		p = append(p, r.Ledger.Problems()...)
	}
	if r.Stream != nil {
		p = append(p, r.Stream.Problems()...)
	} else if r.Opts.Broker == "nats" && r.Err == nil {
		p = append(p, "the stream was not read after the drain")
	}
	if r.Queue != nil {
		p = append(p, r.Queue.Problems()...)
	} else if r.Opts.Broker == "amqp" && r.Err == nil {
		p = append(p, "the queue was not read after the drain")
	}
	if n := r.RelayLogs["NATS duplicate-window warnings"]; n > 0 {
		p = append(p, fmt.Sprintf("the relays warned %d times that the stream's duplicate window is too short", n))
	}
	return p
}

// Summary is the run's report as text.
func Summary(r *Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nrebound-chaos: %s\n", r.Command)
	for _, x := range rows(r) {
		fmt.Fprintf(&b, "  %-72s %s\n", x.name, x.value)
	}
	for _, p := range problems(r) {
		fmt.Fprintf(&b, "  PROBLEM: %s\n", p)
	}
	return b.String()
}

// Markdown is the run's report as a markdown table.
func Markdown(r *Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "```sh\n%s\n```\n\n| | |\n|---|---|\n", r.Command)
	for _, x := range rows(r) {
		fmt.Fprintf(&b, "| %s | %s |\n", x.name, x.value)
	}
	for _, p := range problems(r) {
		fmt.Fprintf(&b, "\n**Problem:** %s\n", p)
	}
	return b.String()
}
