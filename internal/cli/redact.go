package cli

import "net/url"

// redact returns u as text with its user info, query and fragment
// removed, for messages: "https://user:pw@host/p?token=x" becomes
// "https://host/p". reboundhttp redacts the URLs in its errors the same
// way.
func redact(u *url.URL) string {
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
