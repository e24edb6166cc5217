package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/internal/cli"
	"github.com/rebound-go/rebound/internal/config"
	"github.com/rebound-go/rebound/internal/daemon"
)

// destFlag collects --destination NAME=URL.
type destFlag map[string]string

func (d destFlag) String() string { return "" }
func (d destFlag) Set(v string) error {
	name, u, ok := strings.Cut(v, "=")
	if !ok || name == "" || u == "" {
		return errors.New("want NAME=URL")
	}
	d[name] = u
	return nil
}

// relay runs `rebound relay` (or, with migrateOnly, `rebound migrate`):
// flags, configuration, then the daemon. Most of its length is the flag
// definitions and their help, kept in one place so that -h matches them.
func relay(ctx context.Context, args []string, io cli.IO, migrateOnly bool) int {
	name := "relay"
	if migrateOnly {
		name = "migrate"
	}
	fs := flag.NewFlagSet("rebound "+name, flag.ContinueOnError)
	fs.SetOutput(io.Stderr)
	configPath := fs.String("config", os.Getenv("REBOUND_CONFIG"), "YAML configuration file (env REBOUND_CONFIG)")
	dests := destFlag{}
	var wait time.Duration
	if migrateOnly {
		fs.DurationVar(&wait, "wait", 0, "wait up to this long (e.g. 60s) for a store that cannot be reached yet, retrying with backoff; 0 tries once")
	} else {
		fs.Var(dests, "destination", "add a destination NAME=URL (repeatable; overrides the file's URL)")
	}
	set := map[string]*string{}
	for _, s := range config.Settings() {
		if migrateOnly && s.Key != "db" {
			continue
		}
		set[s.Flag] = fs.String(s.Flag, "", s.Help+" (env "+s.Env+")")
	}
	fs.Usage = func() {
		fmt.Fprintf(io.Stderr, "usage: rebound %s [flags]\n\n", name)
		if migrateOnly {
			fmt.Fprint(io.Stderr, migrateHelp)
		} else {
			fmt.Fprint(io.Stderr, relayHelp)
		}
		fmt.Fprint(io.Stderr, "Settings come from the --config file, then REBOUND_* variables, then flags.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(io.Stderr, "rebound %s: unexpected argument %q\n", name, fs.Arg(0))
		return 2
	}
	cfg, err := config.Load(*configPath)
	if err == nil {
		err = cfg.ApplyEnv(os.Getenv)
	}
	if err == nil {
		fs.Visit(func(f *flag.Flag) {
			if p, ok := set[f.Name]; ok && err == nil {
				err = cfg.Set(f.Name, *p)
			}
		})
	}
	if err == nil {
		for n, u := range dests {
			cfg.SetDestinationURL(n, u)
		}
		err = cfg.Finish()
	}
	if err != nil {
		fmt.Fprintf(io.Stderr, "rebound %s: %v\n", name, err)
		return 2
	}
	if wait < 0 {
		fmt.Fprintf(io.Stderr, "rebound %s: --wait: want a duration of 0 or more, got %v\n", name, wait)
		return 2
	}
	log := newLogger(cfg, io)
	if migrateOnly {
		return migrate(ctx, cfg, wait, log, io)
	}
	err = daemon.Run(ctx, cfg, daemon.Options{Logger: log, Getenv: os.Getenv, Version: version()})
	var (
		ce *config.Error
		se *daemon.StoreError
	)
	switch {
	case errors.As(err, &ce), errors.As(err, &se):
		fmt.Fprintf(io.Stderr, "rebound relay: %v\n", err)
		return 2
	case err != nil:
		log.Error("rebound relay failed", "error", err.Error())
		return 1
	}
	return 0
}

// migrate runs `rebound migrate`: exit 0 once the schema is up to date,
// 2 when the store fails in a way that cannot heal, 1 when it could not be
// reached (within --wait).
func migrate(ctx context.Context, cfg *config.Config, wait time.Duration, log *slog.Logger, io cli.IO) int {
	kind, addr, _ := cfg.Store()
	be, err := daemon.Open(ctx, kind, addr)
	if err == nil {
		err = daemon.Migrate(ctx, be, daemon.Wait{For: wait, Observer: rebound.NewSlogObserver(log)})
		be.Close()
	}
	var se *daemon.StoreError
	switch {
	case errors.As(err, &se):
		fmt.Fprintf(io.Stderr, "rebound migrate: %v\n", err)
		return 2
	case err != nil:
		log.Error("migration failed: the store could not be reached", "store", kind, "wait", wait, "error", err.Error())
		return 1
	}
	log.Info("store schema up to date", "store", kind)
	return 0
}

const relayHelp = `Deliver the outbox: the JSON API, the status page, /metrics, /livez and
/readyz on one listener.

The relay listens first, then reaches and migrates its store. While the
store cannot be reached or cannot serve yet (refused, DNS failures,
timeouts, a server starting up or shutting down, too many connections) it
retries every few seconds (at most 5 s apart), logging each retry; /livez
answers 200 and /readyz, the API and the status page 503 with the reason
or a Retry-After. It migrates and delivers as soon as the store answers,
without a restart. Errors that waiting cannot heal (a malformed --db, an
authentication failure, an unknown database, a schema newer than this
build, a SQLite file that cannot be opened) exit 2 at once with the
reason, as a bad setting does.

`

const migrateHelp = `Bring the store's schema up to date, then exit: 0 when it is, 2 when the
store fails in a way that waiting cannot heal (a malformed --db, an
authentication failure, an unknown database, a schema newer than this
build), 1 when the store could not be reached. With --wait, a store that
cannot be reached yet is retried with backoff, each retry logged, until
it answers or the wait runs out (then exit 1 with the last error).

`

func newLogger(cfg *config.Config, io cli.IO) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(io.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(io.Stderr, opts))
}
