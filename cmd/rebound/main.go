// Command rebound is the rebound daemon and CLI.
//
//	rebound relay    deliver the outbox: API, status page, /metrics
//	rebound migrate  bring the store's schema up to date, then exit
//	rebound call     a curl-like client that retries what can succeed
//	rebound enqueue  enqueue a message through a relay's API
//	rebound dead     list, replay or discard dead messages through a relay's API
//	rebound version  print the version
//
// Run "rebound COMMAND -h" for a command's flags.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/rebound-go/rebound/internal/cli"
)

const usage = `usage: rebound COMMAND [flags]

commands:
  relay    deliver the outbox: JSON API, status page, /metrics (default store: sqlite:rebound.db)
  migrate  bring the store's schema up to date, then exit
  call     a curl-like HTTP client that retries what can succeed (exit codes by outcome)
  enqueue  enqueue a message through a relay's API
  dead     list, replay or discard dead messages through a relay's API
  version  print the version

Run "rebound COMMAND -h" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], cli.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, StderrIsTerminal: isTerminal(os.Stderr)})
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, io cli.IO) int {
	if len(args) == 0 {
		fmt.Fprint(io.Stderr, usage)
		return 2
	}
	switch args[0] {
	case "relay":
		return relay(ctx, args[1:], io, false)
	case "migrate":
		return relay(ctx, args[1:], io, true)
	case "call":
		return cli.Call(ctx, args[1:], io)
	case "enqueue":
		return cli.Enqueue(ctx, args[1:], io)
	case "dead":
		return cli.Dead(ctx, args[1:], io)
	case "version", "--version", "-version":
		fmt.Fprintln(io.Stdout, "rebound", version())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(io.Stdout, usage)
		return 0
	}
	fmt.Fprintf(io.Stderr, "rebound: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// version is the module version this binary was built from.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		v := bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		return v
	}
	return "(devel)"
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
