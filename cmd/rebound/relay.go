package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

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

// relay runs `rebound relay` (or, with migrateOnly, `rebound migrate`).
func relay(ctx context.Context, args []string, io cli.IO, migrateOnly bool) int {
	name := "relay"
	if migrateOnly {
		name = "migrate"
	}
	fs := flag.NewFlagSet("rebound "+name, flag.ContinueOnError)
	fs.SetOutput(io.Stderr)
	configPath := fs.String("config", os.Getenv("REBOUND_CONFIG"), "YAML configuration file (env REBOUND_CONFIG)")
	dests := destFlag{}
	if !migrateOnly {
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
		fmt.Fprintf(io.Stderr, "usage: rebound %s [flags]\n\nSettings come from the --config file, then REBOUND_* variables, then flags.\n\n", name)
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
	log := newLogger(cfg, io)
	if migrateOnly {
		kind, addr, _ := cfg.Store()
		be, err := daemon.Open(ctx, kind, addr)
		if err == nil {
			err = be.Migrate(ctx)
			be.Close()
		}
		if err != nil {
			log.Error("migration failed", "store", kind, "error", err.Error())
			return 1
		}
		log.Info("store schema up to date", "store", kind)
		return 0
	}
	err = daemon.Run(ctx, cfg, daemon.Options{Logger: log, Getenv: os.Getenv, Version: version()})
	var ce *config.Error
	switch {
	case errors.As(err, &ce):
		fmt.Fprintf(io.Stderr, "rebound relay: %v\n", err)
		return 2
	case err != nil:
		log.Error("rebound relay failed", "error", err.Error())
		return 1
	}
	return 0
}

func newLogger(cfg *config.Config, io cli.IO) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(io.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(io.Stderr, opts))
}
