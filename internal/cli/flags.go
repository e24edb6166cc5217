package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/internal/redact"
)

// parseCall parses the command line of `rebound call`. Flags may come before
// and after the URL. An error names the flag and what it expected;
// flag.ErrHelp asks for the usage.
func parseCall(args []string) (*callFlags, error) {
	f := &callFlags{
		attempts: rebound.DefaultMaxAttempts,
		timeout:  5 * time.Second,
		maxWait:  rebound.DefaultMaxRetryAfter,
	}
	fs := flag.NewFlagSet("rebound call", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the caller prints the error and the usage
	fs.Usage = func() {}
	method := &methodValue{}
	fs.Var(method, "X", "")
	fs.Var(&f.headers, "H", "")
	for _, name := range []string{"d", "data", "data-binary"} {
		fs.Var(&dataValue{arg: &f.data, name: dashed(name)}, name, "")
	}
	fs.BoolVar(&f.location, "L", false, "")
	fs.BoolVar(&f.location, "location", false, "")
	fs.Var(&intValue{p: &f.attempts, min: 1, max: rebound.MaxAttemptsLimit}, "attempts", "")
	fs.Var(&durationValue{p: &f.timeout, min: time.Nanosecond}, "timeout", "")
	fs.Var(&durationValue{p: &f.maxTime}, "max-time", "")
	fs.Var(&durationValue{p: &f.maxWait, min: time.Nanosecond}, "max-wait", "")
	fs.Var(&keyValue{p: &f.key}, "idempotency-key", "")
	fs.BoolVar(&f.json, "json", false, "")
	fs.BoolVar(&f.quiet, "q", false, "")
	fs.BoolVar(&f.quiet, "quiet", false, "")

	var urls []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, flagError(fs, err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			urls = append(urls, rest...) // after "--", nothing is a flag
			break
		}
		urls = append(urls, rest[0])
		args = rest[1:]
	}
	switch len(urls) {
	case 0:
		return nil, errors.New("missing URL: want an http:// or https:// URL")
	case 1:
	default:
		return nil, fmt.Errorf("want one URL, got %d", len(urls))
	}
	if err := checkURL(urls[0]); err != nil {
		return nil, err
	}
	f.url = urls[0]
	f.method = method.s
	if f.method == "" {
		f.method = "GET"
		if f.data.set {
			f.method = "POST"
		}
	}
	return f, nil
}

// checkURL accepts absolute http and https URLs. Its errors show the URL
// without user info or query.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("bad URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("bad URL %q: want an http:// or https:// URL", redact.URL(u))
	}
	if u.Host == "" {
		return fmt.Errorf("bad URL %q: no host", redact.URL(u))
	}
	return nil
}

// flagError rewrites the flag package's error to show long flags with two
// dashes, as the usage does.
func flagError(fs *flag.FlagSet, err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	msg := err.Error()
	fs.VisitAll(func(fl *flag.Flag) {
		if len(fl.Name) > 1 {
			msg = strings.Replace(msg, "flag -"+fl.Name+":", "flag "+dashed(fl.Name)+":", 1)
		}
	})
	return errors.New(msg)
}

func dashed(name string) string {
	if len(name) > 1 {
		return "--" + name
	}
	return "-" + name
}

type methodValue struct{ s string }

func (v *methodValue) String() string { return v.s }

func (v *methodValue) Set(s string) error {
	if !isToken(s) {
		return errors.New("want a method such as GET or POST")
	}
	v.s = s
	return nil
}

// header is one -H flag.
type header struct{ name, value string }

// headerList collects the -H flags in order.
type headerList []header

func (l *headerList) String() string { return "" }

func (l *headerList) Set(s string) error {
	name, value, ok := strings.Cut(s, ":")
	name = strings.TrimSpace(name)
	if !ok || !isToken(name) {
		return errors.New(`want "Name: value"`)
	}
	value = strings.TrimSpace(value)
	if strings.ContainsAny(value, "\r\n\x00") {
		return errors.New("want a value without line breaks")
	}
	*l = append(*l, header{name, value})
	return nil
}

// dataArg is the request body flag: text as given, @FILE, or @- for stdin.
type dataArg struct {
	set  bool
	flag string // the flag that set it, for messages
	text string
}

// read returns the body the flag names, or nil when it was not given.
func (a *dataArg) read(stdin io.Reader) ([]byte, error) {
	switch {
	case !a.set:
		return nil, nil
	case a.text == "@-":
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("%s @-: reading stdin: %w", a.flag, err)
		}
		return b, nil
	case strings.HasPrefix(a.text, "@"):
		b, err := os.ReadFile(a.text[1:])
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", a.flag, a.text, err)
		}
		return b, nil
	}
	return []byte(a.text), nil
}

type dataValue struct {
	arg  *dataArg
	name string
}

func (v *dataValue) String() string { return "" }

func (v *dataValue) Set(s string) error {
	if v.arg.set {
		return fmt.Errorf("want one body, already given by %s", v.arg.flag)
	}
	if s == "@" {
		return errors.New("want @FILE or @- after @")
	}
	*v.arg = dataArg{set: true, flag: v.name, text: s}
	return nil
}

type intValue struct {
	p        *int
	min, max int
}

func (v *intValue) String() string { return "" }

func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < v.min || n > v.max {
		return fmt.Errorf("want a whole number from %d to %d", v.min, v.max)
	}
	*v.p = n
	return nil
}

type durationValue struct {
	p   *time.Duration
	min time.Duration
}

func (v *durationValue) String() string { return "" }

func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil || d < v.min {
		if v.min > 0 {
			return errors.New("want a duration above zero, such as 500ms, 5s or 1m30s")
		}
		return errors.New("want a duration such as 500ms, 5s or 1m30s (0 for none)")
	}
	*v.p = d
	return nil
}

type keyValue struct{ p *string }

func (v *keyValue) String() string { return "" }

func (v *keyValue) Set(s string) error {
	if s == "" {
		return errors.New("want auto or a key")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return errors.New("want auto or a key of printable ASCII characters")
		}
	}
	*v.p = s
	return nil
}

// isToken reports whether s is an HTTP token (RFC 9110 §5.6.2), as method
// and header names must be.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
