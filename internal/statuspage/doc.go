// Package statuspage is the relay daemon's status page: per destination
// the backlog, the oldest message's age, the delivery and failure rates of
// the last five minutes and the breaker's state, with the messages waiting
// on it while it is not closed; a chart of deliveries and
// failures; and the dead letters, with replay and discard.
//
// The page is rendered on the server with html/template, which escapes
// everything it shows; a small script, served with the style sheet from
// the binary, refreshes its live part every 5 s and confirms replays and
// discards. No resource comes from elsewhere, and the Content-Security-Policy
// says so.
//
// # Activity
//
// The store knows the backlog but not the rates. An Activity, given to
// outbox.RelayConfig.Observer, counts each destination's deliveries and
// failed attempts in 10-second buckets over the last hour. A delivery is
// an attempt that succeeded; the failure rate is failed attempts over
// attempts. A message an open breaker holds back is no attempt and counts
// in neither (see Activity.Observe); instead, while a destination's
// breaker is open or half-open, the page shows how many of its messages
// wait: those pending or retrying in the store.
//
// # Whose numbers
//
// Several relays may share one store. The backlog, the oldest unsent
// message's age, the waiting count and the dead letters come from the
// store and cover them all. The rates, the failure rate, the breakers and
// the chart are the serving relay's own, since it started: its Activity
// and its Breakers. The page says which is which and names the relay
// (Config.Instance, by default the host name). Fleet-wide rates would
// need the store to count deliveries by time, which outbox.Store does not
// offer; the relays' metrics, summed by Prometheus, give them.
//
// # Authentication
//
// With Config.Tokens set, a browser signs in once through the login form
// with a token; the page keeps it in an HttpOnly, SameSite=Strict cookie
// (auth.CookieName; Secure over TLS). A bearer Authorization header works
// too. A read token may view the page; replay and discard need an admin
// token. Without tokens, authentication is off and everyone is admin.
//
// # Cross-site request forgery
//
// Replay and discard are POSTs that must carry the session's CSRF token, in
// the csrf form field or the X-CSRF-Token header: an HMAC of the session's
// credential under a key drawn when the handler is built, so a token is
// worth nothing in another session or after a restart. Every POST (login
// and logout too) must also come from the page's own origin, by its
// Sec-Fetch-Site or Origin header (http.CrossOriginProtection).
//
// # Redaction
//
// Dead letters' payloads are shown only with Config.ShowPayloads; otherwise
// their size and content type stand in. Headers whose names suggest a
// credential (Authorization, Cookie, anything with secret, token, key,
// auth, pass, signature, session or credential) show as "[redacted]", and
// the paths, queries and user information of URLs in error texts are cut.
// Tokens never reach the page or the log.
package statuspage
