// Package pgtest gives tests a PostgreSQL schema of their own in the
// database named by REBOUND_TEST_POSTGRES, so that tests and benchmarks
// running at the same time on one database never see each other's tables.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Env is the variable that names the test database.
const Env = "REBOUND_TEST_POSTGRES"

// URL returns the test database's URL, or skips tb with a message saying
// how to set it and what it would run.
func URL(tb testing.TB, what string) string {
	tb.Helper()
	u := os.Getenv(Env)
	if u == "" {
		tb.Skip(Env + " is not set: set it to a PostgreSQL URL, as CI does " +
			"(postgres://postgres@127.0.0.1:5432/test?sslmode=disable), to " + what)
	}
	return u
}

// Schema creates a schema named prefix plus a random suffix in the
// database at dbURL, drops it (with everything in it) when tb ends, and
// returns its name and a connection string whose sessions put it first in
// their search_path. Open what uses the schema after calling Schema, so
// that it is closed before the schema is dropped.
func Schema(tb testing.TB, dbURL, prefix string) (name, dsn string) {
	tb.Helper()
	ctx := context.Background()
	u, err := url.Parse(dbURL)
	if err != nil {
		tb.Fatal(err)
	}
	name = prefix + suffix()
	admin, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		tb.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx := context.Background()
		admin, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			tb.Errorf("dropping schema %s: %v", name, err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP SCHEMA "+name+" CASCADE"); err != nil {
			tb.Errorf("dropping schema %s: %v", name, err)
		}
	})
	q := u.Query()
	q.Set("options", "-csearch_path="+name)
	u.RawQuery = q.Encode()
	return name, u.String()
}

// suffix returns 12 random lowercase hex digits (48 bits), so that schemas
// created at the same time by concurrent tests never collide.
func suffix() string {
	var b [6]byte
	rand.Read(b[:]) // never fails: it crashes the program instead.
	return hex.EncodeToString(b[:])
}
