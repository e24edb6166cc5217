package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/rebound-go/rebound/internal/api"
)

const enqueueUsage = `usage: rebound enqueue --destination NAME --data JSON [flags]

Enqueues one message through a relay's JSON API and prints its ID. The
request carries an Idempotency-Key, the same on every attempt, so that a
retried enqueue never enqueues twice.

      --destination NAME    the destination (required)
  -d, --data JSON           the payload, which must be JSON: JSON as given,
                            @FILE, or @- for stdin; sent compacted
      --data-binary DATA    the payload as bytes, JSON or not: DATA as given,
                            @FILE, or @- for stdin; sent byte for byte
  -H 'Name: value'          a header delivered with the message; repeatable
      --ordering-key KEY    deliver in order with the other messages of KEY
      --id ID               the message's ID (default: the relay makes one)
      --not-before TIME     no delivery before TIME, in RFC 3339 such as
                            2026-01-02T15:04:05Z
      --idempotency-key KEY the Idempotency-Key (default: a random one); run
                            again with the same key and the same flags to
                            get the first answer without enqueueing twice
      --json                print the API's whole answer, not only the ID
` + apiFlagsUsage + `
` + apiExitCodes

// Enqueue runs `rebound enqueue [flags]` and returns the process exit code.
func Enqueue(ctx context.Context, args []string, io IO) int {
	return enqueue(ctx, args, io, apiEnv{})
}

// enqueueFlags is a parsed command line.
type enqueueFlags struct {
	api         apiFlags
	destination string
	data        dataArg
	headers     headerList
	orderingKey string
	id          string
	notBefore   *time.Time
	key         string
	json        bool
}

func enqueue(ctx context.Context, args []string, stdio IO, env apiEnv) int {
	const name = "rebound enqueue"
	stdio = stdio.orDefaults()
	f, err := parseEnqueue(args, env)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdio.Stdout, enqueueUsage)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stdio.Stderr, "%s: %v\n\n%s", name, err, enqueueUsage)
		return exitUsage
	}
	body, err := f.data.read(stdio.Stdin)
	if err != nil {
		fmt.Fprintf(stdio.Stderr, "%s: %v\n", name, err)
		return exitError
	}
	req := api.EnqueueRequest{
		Destination: f.destination,
		OrderingKey: f.orderingKey,
		ID:          f.id,
		NotBefore:   f.notBefore,
	}
	if f.data.flag == "--data-binary" {
		req.PayloadBase64 = base64.StdEncoding.EncodeToString(body)
	} else {
		if err := checkJSON(f.data, body); err != nil {
			fmt.Fprintf(stdio.Stderr, "%s: %v\n", name, err)
			return exitUsage
		}
		req.Payload = body
	}
	if len(f.headers) > 0 {
		req.Headers = make(map[string]string, len(f.headers))
		for _, h := range f.headers {
			req.Headers[h.name] = h.value
		}
	}
	key := f.key
	if key == "" || key == "auto" {
		key = newKey()
	}

	c, err := newAPIClient(name, f.api, env, stdio.Stderr)
	if err != nil {
		fmt.Fprintf(stdio.Stderr, "%s: %v\n", name, err)
		return exitError
	}
	var resp api.EnqueueResponse
	err = c.do(ctx, http.MethodPost, "/v1/messages", http.Header{"Idempotency-Key": {key}}, req, &resp)
	if err != nil {
		return c.report(ctx, stdio.Stderr, err)
	}
	if f.json {
		err = json.NewEncoder(stdio.Stdout).Encode(resp)
	} else {
		_, err = fmt.Fprintln(stdio.Stdout, resp.ID)
	}
	if err != nil {
		fmt.Fprintf(stdio.Stderr, "%s: enqueued %s but could not write it: %v\n", name, resp.ID, err)
		return exitError
	}
	return exitOK
}

// parseEnqueue parses the command line of `rebound enqueue`. An error names
// the flag and what it expected; flag.ErrHelp asks for the usage.
func parseEnqueue(args []string, env apiEnv) (*enqueueFlags, error) {
	f := &enqueueFlags{api: apiFlagsFrom(env)}
	fs := newFlagSet("rebound enqueue")
	f.api.define(fs)
	fs.StringVar(&f.destination, "destination", "", "")
	for _, name := range []string{"d", "data", "data-binary"} {
		flagName := dashed(name)
		if name == "d" {
			flagName = "--data"
		}
		fs.Var(&dataValue{arg: &f.data, name: flagName}, name, "")
	}
	fs.Var(&f.headers, "H", "")
	fs.StringVar(&f.orderingKey, "ordering-key", "", "")
	fs.StringVar(&f.id, "id", "", "")
	fs.Var(timeValue{&f.notBefore}, "not-before", "")
	fs.Var(&keyValue{p: &f.key}, "idempotency-key", "")
	fs.BoolVar(&f.json, "json", false, "")

	rest, err := parseArgs(fs, args)
	switch {
	case err != nil:
		return nil, err
	case len(rest) > 0:
		return nil, fmt.Errorf("unexpected argument %q: the payload goes in --data", rest[0])
	case f.destination == "":
		return nil, errors.New("missing --destination")
	case !f.data.set:
		return nil, errors.New("missing the payload: give --data JSON or --data-binary DATA")
	}
	seen := make(map[string]bool, len(f.headers))
	for _, h := range f.headers {
		k := strings.ToLower(h.name)
		if seen[k] {
			return nil, fmt.Errorf("-H: header %s given twice", h.name)
		}
		seen[k] = true
	}
	return f, f.api.check()
}

// checkJSON reports whether body, read from arg, is one JSON value.
func checkJSON(arg dataArg, body []byte) error {
	if len(strings.TrimSpace(string(body))) == 0 {
		return fmt.Errorf("%s: the payload is empty; want a JSON value", arg.flag)
	}
	err := json.Unmarshal(body, new(json.RawMessage))
	if err == nil {
		return nil
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		err = fmt.Errorf("%v (at byte %d)", err, se.Offset)
	}
	return fmt.Errorf("%s: the payload is not JSON: %v; send bytes that are not JSON with --data-binary", arg.flag, err)
}

// newKey returns a random Idempotency-Key.
func newKey() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// timeValue is an RFC 3339 time flag.
type timeValue struct{ p **time.Time }

func (v timeValue) String() string { return "" }

func (v timeValue) Set(s string) error {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return errors.New("want an RFC 3339 time such as 2026-01-02T15:04:05Z")
	}
	*v.p = &t
	return nil
}
