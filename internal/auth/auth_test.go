package auth

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestLookupRoles(t *testing.T) {
	var tk Tokens
	if err := tk.Load("tokens", strings.NewReader("# comment\nadmin adminadminadmin01\n\nread readreadreadread01\n")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		token string
		want  Role
	}{
		{"adminadminadmin01", Admin},
		{"readreadreadread01", Read},
		{"readreadreadread0", None},
		{"readreadreadread011", None},
		{"", None},
	} {
		if got := tk.Lookup(c.token); got != c.want {
			t.Errorf("Lookup(%q) = %v; want %v", c.token, got, c.want)
		}
	}
}

func TestFromRequest(t *testing.T) {
	var tk Tokens
	if err := tk.Add("readreadreadread01", Read); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		header, cookie string
		want           Role
	}{
		{"Bearer readreadreadread01", "", Read},
		{"bearer readreadreadread01", "", Read},
		{"Basic readreadreadread01", "", None},
		{"readreadreadread01", "", None},
		{"", "readreadreadread01", Read},
		{"Bearer wrongwrongwrongwrong", "readreadreadread01", None}, // a bad header is not rescued by a cookie
		{"", "", None},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if c.header != "" {
			r.Header.Set("Authorization", c.header)
		}
		if c.cookie != "" {
			r.Header.Set("Cookie", CookieName+"="+c.cookie)
		}
		if got := tk.FromRequest(r); got != c.want {
			t.Errorf("header %q cookie %q: role %v; want %v", c.header, c.cookie, got, c.want)
		}
	}
}

func TestLoadErrorsNameTheLine(t *testing.T) {
	for in, want := range map[string]string{
		"admin short":                     "tokens:1: token: want at least 16 bytes, got 5",
		"\nroot rootrootrootroot01":       `tokens:2: role "root": want read or admin`,
		"admin a b":                       `tokens:1: want "ROLE TOKEN"`,
		"read readreadread\x01readread01": "tokens:1: token: want printable ASCII without spaces",
	} {
		var tk Tokens
		err := tk.Load("tokens", strings.NewReader(in))
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Load(%q) = %v; want %q", in, err, want)
		}
	}
}

func TestLoadEnv(t *testing.T) {
	env := map[string]string{"REBOUND_ADMIN_TOKENS": "adminadminadmin01, adminadminadmin02", "REBOUND_READ_TOKENS": "short"}
	var tk Tokens
	err := tk.LoadEnv(func(k string) string { return env[k] })
	if err == nil || !strings.Contains(err.Error(), "REBOUND_READ_TOKENS (entry 1)") {
		t.Fatalf("err = %v; want one naming REBOUND_READ_TOKENS entry 1", err)
	}
	env["REBOUND_READ_TOKENS"] = ""
	tk = Tokens{}
	if err := tk.LoadEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if tk.Len() != 2 || tk.Lookup("adminadminadmin02") != Admin {
		t.Fatalf("got %d tokens; want both admin tokens", tk.Len())
	}
}
