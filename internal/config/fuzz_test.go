package config

import (
	"strings"
	"testing"
)

// FuzzParse: no input makes Parse or Finish panic, and a configuration that
// passes Finish passes it again unchanged (defaults are stable).
func FuzzParse(f *testing.F) {
	f.Add(example)
	f.Add("relay: {workers: 4}\n")
	f.Add("destinations: {a: {url: https://x/, retry: {backoff: {initial: 1s}}}}\n")
	f.Add("db: 'sqlite:'\n")
	f.Add("&a [*a, *a]")
	f.Fuzz(func(t *testing.T, in string) {
		c, err := Parse("fuzz.yaml", strings.NewReader(in))
		if err != nil {
			return
		}
		if c.Finish() != nil {
			return
		}
		if err := c.Finish(); err != nil {
			t.Fatalf("a finished configuration fails a second Finish: %v", err)
		}
	})
}
