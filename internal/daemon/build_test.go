package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/rebound-go/rebound/internal/config"
)

func finished(t *testing.T, cfg *config.Config) *config.Config {
	t.Helper()
	if err := cfg.Finish(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// build opens no listener: it succeeds on an address another listener
// holds, and serve is what fails on it, naming listen.
func TestBuildOpensNoListener(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	cfg := finished(t, &config.Config{DB: "sqlite:" + filepath.Join(t.TempDir(), "rebound.db"), Listen: held.Addr().String()})
	d, err := build(context.Background(), cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("build on an address in use: %v; want no error, since build does not listen", err)
	}
	defer d.close()
	err = d.serve(context.Background())
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Key != "listen" {
		t.Fatalf("serve = %v; want a config error naming listen", err)
	}
}

// A configuration build refuses leaves nothing behind: no store is opened
// (no SQLite file created) when the tokens cannot be read or the listen
// address would be open to anyone.
func TestBuildRefusesBeforeOpeningTheStore(t *testing.T) {
	for _, c := range []struct {
		name, key string
		cfg       config.Config
	}{
		{name: "tokens file missing", key: "auth.tokens_file", cfg: config.Config{Listen: "127.0.0.1:0", Auth: config.Auth{TokensFile: filepath.Join(t.TempDir(), "missing")}}},
		{name: "open listener without tokens", key: "listen", cfg: config.Config{Listen: "0.0.0.0:0"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "rebound.db")
			c.cfg.DB = "sqlite:" + path
			_, err := build(context.Background(), finished(t, &c.cfg), Options{Logger: slog.New(slog.DiscardHandler)})
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Key != c.key {
				t.Fatalf("build = %v; want a config error naming %s", err, c.key)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the SQLite file exists after build failed (%v); want the store not opened", err)
			}
		})
	}
}
