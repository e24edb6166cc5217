// Package redact removes secrets from URLs before they reach a log line or
// an error message. reboundhttp and the rebound command share it, so a URL
// reads the same in both.
package redact

import "net/url"

// URL returns u as text with its user info, query and fragment removed:
// "https://user:pw@host/p?token=x#f" becomes "https://host/p". A nil u
// gives "".
func URL(u *url.URL) string {
	if u == nil {
		return ""
	}
	r := *u
	r.User = nil
	r.RawQuery = ""
	r.ForceQuery = false
	r.Fragment, r.RawFragment = "", ""
	return r.String()
}
