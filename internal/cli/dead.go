package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"text/tabwriter"

	"github.com/rebound-go/rebound/internal/api"
)

const deadUsage = `usage: rebound dead list [--destination D] [--limit N] [--json]
       rebound dead replay ID... | --all | --destination D
       rebound dead discard ID...

Lists, replays or discards dead messages through a relay's JSON API.

  list       print the dead messages, oldest first, as a table; with --json
             one JSON object a line
               --destination D   only the messages of destination D
               --limit N         print at most N messages (default 100)
  replay     make dead messages pending again: those named, every one with
             --all, or those of one destination with --destination D
  discard    delete dead messages

` + apiFlagsUsage + `
` + apiExitCodes + `
replay and discard go on after an ID the API refuses (not found, not
dead), and exit with 3 at the end.
`

// Dead runs `rebound dead list|replay|discard [flags]` and returns the
// process exit code.
func Dead(ctx context.Context, args []string, io IO) int {
	return dead(ctx, args, io, apiEnv{})
}

// listPage is the most messages asked for in one page.
const listPage = 1000

// lastErrorWidth is how many characters of a last error the table shows.
const lastErrorWidth = 60

func dead(ctx context.Context, args []string, stdio IO, env apiEnv) int {
	stdio = stdio.orDefaults()
	// --server and --token may come before the subcommand too.
	af := apiFlagsFrom(env)
	fs := newFlagSet("rebound dead")
	af.define(fs)
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdio.Stdout, deadUsage)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stdio.Stderr, "rebound dead: %v\n\n%s", flagError(fs, err), deadUsage)
		return exitUsage
	}
	args = fs.Args()
	if len(args) == 0 {
		fmt.Fprintf(stdio.Stderr, "rebound dead: missing a subcommand: list, replay or discard\n\n%s", deadUsage)
		return exitUsage
	}
	switch args[0] {
	case "list":
		return deadList(ctx, args[1:], stdio, af, env)
	case "replay":
		return deadReplay(ctx, args[1:], stdio, af, env)
	case "discard":
		return deadDiscard(ctx, args[1:], stdio, af, env)
	case "help":
		fmt.Fprint(stdio.Stdout, deadUsage)
		return exitOK
	}
	fmt.Fprintf(stdio.Stderr, "rebound dead: unknown subcommand %q: want list, replay or discard\n\n%s", args[0], deadUsage)
	return exitUsage
}

// parseDead parses a subcommand's command line with the flags define adds,
// writing the usage on a usage error or -h. It returns the arguments and
// the client; on nil, code is the exit code.
func parseDead(sub string, args []string, stdio IO, af apiFlags, env apiEnv, define func(*flag.FlagSet), check func(rest []string) error) (rest []string, c *apiClient, code int) {
	name := "rebound dead " + sub
	fs := newFlagSet(name)
	af.define(fs)
	define(fs)
	rest, err := parseArgs(fs, args)
	if err == nil {
		err = check(rest)
	}
	if err == nil {
		err = af.check()
	}
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdio.Stdout, deadUsage)
		return nil, nil, exitOK
	}
	if err != nil {
		fmt.Fprintf(stdio.Stderr, "%s: %v\n\n%s", name, err, deadUsage)
		return nil, nil, exitUsage
	}
	c, err = newAPIClient(name, af, env, stdio.Stderr)
	if err != nil {
		fmt.Fprintf(stdio.Stderr, "%s: %v\n", name, err)
		return nil, nil, exitError
	}
	return rest, c, exitOK
}

func deadList(ctx context.Context, args []string, stdio IO, af apiFlags, env apiEnv) int {
	var (
		destination string
		limit       = 100
		asJSON      bool
	)
	_, c, code := parseDead("list", args, stdio, af, env, func(fs *flag.FlagSet) {
		fs.StringVar(&destination, "destination", "", "")
		fs.Var(&intValue{p: &limit, min: 1, max: 1_000_000}, "limit", "")
		fs.BoolVar(&asJSON, "json", false, "")
	}, func(rest []string) error {
		if len(rest) > 0 {
			return fmt.Errorf("unexpected argument %q", rest[0])
		}
		return nil
	})
	if c == nil {
		return code
	}

	var (
		msgs   []api.Message
		cursor string
		more   bool
	)
	page := listPage
	if env.page > 0 {
		page = env.page
	}
	for len(msgs) < limit {
		q := url.Values{"state": {"dead"}, "limit": {strconv.Itoa(min(limit-len(msgs), page))}}
		if destination != "" {
			q.Set("destination", destination)
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page api.List
		if err := c.do(ctx, http.MethodGet, "/v1/messages?"+q.Encode(), nil, nil, &page); err != nil {
			return c.report(ctx, stdio.Stderr, err)
		}
		msgs = append(msgs, page.Messages...)
		cursor, more = page.NextCursor, page.NextCursor != ""
		if !more || len(page.Messages) == 0 {
			break
		}
	}
	if len(msgs) > limit {
		msgs = msgs[:limit]
	}

	out := &errWriter{w: stdio.Stdout}
	if asJSON {
		enc := json.NewEncoder(out)
		for _, m := range msgs {
			enc.Encode(m)
		}
	} else if len(msgs) > 0 {
		writeDeadTable(out, msgs)
	}
	if out.err != nil {
		fmt.Fprintf(stdio.Stderr, "%s: writing the list: %v\n", c.name, out.err)
		return exitError
	}
	switch {
	case len(msgs) == 0:
		fmt.Fprintf(stdio.Stderr, "%s: no dead messages\n", c.name)
	case more:
		fmt.Fprintf(stdio.Stderr, "%s: showing the first %d; there may be more (see --limit)\n", c.name, len(msgs))
	}
	return exitOK
}

// writeDeadTable writes msgs as a table with a header line.
func writeDeadTable(w io.Writer, msgs []api.Message) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tDESTINATION\tATTEMPTS\tREASON\tSTATUS\tLAST ERROR")
	for _, m := range msgs {
		status := "-"
		if m.LastStatus != 0 {
			status = strconv.Itoa(m.LastStatus)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", cell(m.ID), cell(m.Destination), m.Attempt,
			cell(m.DeadReason), status, cell(truncate(m.LastError, lastErrorWidth)))
	}
	tw.Flush()
}

// cell is s for a table cell: one line without tabs, "-" when empty.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return oneLine(s)
}

func deadReplay(ctx context.Context, args []string, stdio IO, af apiFlags, env apiEnv) int {
	var (
		destination string
		all         bool
	)
	ids, c, code := parseDead("replay", args, stdio, af, env, func(fs *flag.FlagSet) {
		fs.StringVar(&destination, "destination", "", "")
		fs.BoolVar(&all, "all", false, "")
	}, func(rest []string) error {
		switch n := len(rest); {
		case all && destination != "":
			return errors.New("give --all or --destination, not both")
		case (all || destination != "") && n > 0:
			return errors.New("give IDs, or --all, or --destination, not several")
		case !all && destination == "" && n == 0:
			return errors.New("missing what to replay: give IDs, --all or --destination D")
		}
		return nil
	})
	if c == nil {
		return code
	}
	if len(ids) == 0 {
		var resp api.ReplayResponse
		err := c.do(ctx, http.MethodPost, "/v1/replay", nil, api.ReplayRequest{Destination: destination, All: all}, &resp)
		if err != nil {
			return c.report(ctx, stdio.Stderr, err)
		}
		what := "dead message"
		if resp.Replayed != 1 {
			what += "s"
		}
		if destination != "" {
			what += " of " + strconv.Quote(destination)
		}
		fmt.Fprintf(stdio.Stdout, "replayed %d %s\n", resp.Replayed, what)
		return exitOK
	}
	return eachID(ctx, c, ids, stdio, "replayed", func(id string) error {
		return c.do(ctx, http.MethodPost, "/v1/messages/"+escapeID(id)+"/replay", nil, nil, nil)
	})
}

func deadDiscard(ctx context.Context, args []string, stdio IO, af apiFlags, env apiEnv) int {
	ids, c, code := parseDead("discard", args, stdio, af, env, func(*flag.FlagSet) {}, func(rest []string) error {
		if len(rest) == 0 {
			return errors.New("missing the IDs of the messages to discard")
		}
		return nil
	})
	if c == nil {
		return code
	}
	return eachID(ctx, c, ids, stdio, "discarded", func(id string) error {
		return c.do(ctx, http.MethodDelete, "/v1/messages/"+escapeID(id), nil, nil, nil)
	})
}

// eachID runs op on each ID and prints "done ID" for each that succeeds.
// An ID the API refuses (a 4xx) is reported and the others go on; any other
// failure stops. The exit code is that of the first failure.
func eachID(ctx context.Context, c *apiClient, ids []string, stdio IO, done string, op func(id string) error) int {
	code := exitOK
	for _, id := range ids {
		err := op(id)
		if err == nil {
			fmt.Fprintln(stdio.Stdout, done, id)
			continue
		}
		n := c.report(ctx, stdio.Stderr, fmt.Errorf("%s: %w", id, err))
		if code == exitOK {
			code = n
		}
		if n != exitLogic {
			return code
		}
	}
	return code
}
