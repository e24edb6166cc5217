package redact

import (
	"net/url"
	"testing"
)

func TestURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:pw@host/p?token=x#frag": "https://host/p",
		"http://host:8080/a/b?":               "http://host:8080/a/b",
		"https://host/p":                      "https://host/p",
	} {
		u, err := url.Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := URL(u); got != want {
			t.Errorf("URL(%q) = %q, want %q", in, got, want)
		}
	}
	if got := URL(nil); got != "" {
		t.Errorf("URL(nil) = %q, want empty", got)
	}
}
