package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rebound-go/rebound/internal/cli"
)

func runArgs(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, cli.IO{Stdout: &out, Stderr: &errb})
	return code, out.String(), errb.String()
}

func TestBadConfigurationExits2NamingTheKey(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("relay:\n  workers: -4\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	unknown := filepath.Join(dir, "unknown.yaml")
	if err := os.WriteFile(unknown, []byte("relays: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"relay", "--config", bad}, "relay.workers"},
		{[]string{"relay", "--config", unknown}, "field relays not found"},
		{[]string{"relay", "--config", filepath.Join(dir, "missing.yaml")}, "missing.yaml"},
		{[]string{"relay", "--db", "mysql://x"}, "db: want sqlite:PATH or postgres://"},
		{[]string{"relay", "--relay-lease", "soon"}, "--relay-lease"},
		{[]string{"relay", "--log-format", "xml"}, "log.format"},
		{[]string{"relay", "--destination", "nourl"}, "NAME=URL"},
		{[]string{"relay", "--destination", "d=ftp://x/"}, "destinations.d.url"},
		{[]string{"relay", "--listen", "0.0.0.0:0", "--db", "sqlite:" + filepath.Join(dir, "x.db")}, "listen: want a loopback address when no tokens"},
		{[]string{"relay", "extra"}, `unexpected argument "extra"`},
		{[]string{"migrate", "--db", "nope"}, "db: want"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{nil, "usage: rebound COMMAND"},
	} {
		code, _, stderr := runArgs(t, c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("rebound %v: exit %d, stderr %q; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
}

func TestVersionAndHelp(t *testing.T) {
	if code, out, _ := runArgs(t, "version"); code != 0 || !strings.HasPrefix(out, "rebound ") {
		t.Errorf("version: %d %q", code, out)
	}
	if code, out, _ := runArgs(t, "help"); code != 0 || !strings.Contains(out, "relay") {
		t.Errorf("help: %d %q", code, out)
	}
}

func TestMigrateCreatesTheSchema(t *testing.T) {
	db := filepath.Join(t.TempDir(), "m.db")
	if code, _, stderr := runArgs(t, "migrate", "--db", "sqlite:"+db); code != 0 {
		t.Fatalf("migrate: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(db); err != nil {
		t.Fatal(err)
	}
}
