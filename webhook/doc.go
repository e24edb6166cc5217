// Package webhook signs and verifies webhooks and guards the requests that
// deliver them: Standard Webhooks signatures (Sign, Verify), a receiver's
// check of a whole request (VerifyRequest, VerifyMiddleware), signing
// secrets (NewSecret, ParseSecret), and an SSRF guard for requests to URLs
// that users supply (AddressPolicy, NewClient).
//
// A receiver of rebound's deliveries needs only this package, which imports
// nothing outside the standard library:
//
//	verified, err := webhook.VerifyMiddleware(secret) // "whsec_…", the destination's secret
//	if err != nil {
//		return err // a malformed secret
//	}
//	mux.Handle("POST /hooks/orders", verified(orders))
//
// The sending side is the outbox: its WebhookSender signs each delivery with
// Sign and dials through a client from NewClient.
//
// # Signatures
//
// Every delivery carries the three headers of the Standard Webhooks
// specification: webhook-id (HeaderID), the message ID, the same on every
// retry; webhook-timestamp (HeaderTimestamp), the attempt's time in Unix
// seconds; and webhook-signature (HeaderSignature), one
// "v1,<base64 HMAC-SHA256>" entry per secret. The HMAC covers
// "<webhook-id>.<webhook-timestamp>.<body>", so the ID and the timestamp
// are as authentic as the body. During a key rotation the sender signs with
// the new and the old secret, and a receiver that knows either accepts.
// Asymmetric "v1a" (ed25519) entries are neither produced nor checked.
//
// # Verifying
//
// Verify checks headers and a body already read, at a time the caller
// gives, within a tolerance (DefaultTolerance, 5 minutes, in either
// direction), so that a captured request cannot be replayed later. The
// signature is checked before the timestamp, and compared in constant
// time. VerifyRequest reads a request's body (at most MaxBodyBytes) and
// verifies it now; VerifyMiddleware does so before a handler runs and
// answers what it refuses with application/problem+json: 400 (missing or
// malformed headers), 401 (no signature matches, or the timestamp is
// outside the tolerance) or 413 (a body above MaxBodyBytes), answers a
// sender does not retry.
//
// A refusal is a *VerifyError naming the header, which unwraps to one of
// ErrMissingHeaders, ErrMalformedHeader, ErrInvalidSignature,
// ErrTimestampTooOld and ErrTimestampTooNew: test with errors.Is. No error
// ever contains a secret.
//
// Delivery is at least once: a receiver that must apply each message once
// records its webhook-id in the transaction of its effect
// (idempotency.MarkTx).
//
// # Secrets
//
// A secret is "whsec_" (SecretPrefix) followed by the padded standard
// base64 of MinSecretLen to MaxSecretLen random bytes. NewSecret draws 32
// bytes from crypto/rand; ParseSecret decodes a secret, with or without
// the prefix, and refuses asymmetric keys (whsk_, whpk_) and keys of the
// wrong length with an error wrapping ErrInvalidSecret.
//
// # The SSRF guard
//
// A webhook URL comes from a user, so a delivery is a request that user
// makes from inside your network. AddressPolicy checks the address actually
// dialled, after DNS resolution and for every connection, redirects
// included: its zero value refuses loopback, private, link-local, cloud
// metadata, shared, multicast, documentation and other reserved ranges,
// judges IPv4-mapped, NAT64 and 6to4 addresses by the IPv4 address they
// carry, and allows every other address; Allow lists exceptions.
// AddressPolicy.Dialer returns a net.Dialer that applies it, and NewClient
// an *http.Client built on that dialer, with no proxy and no redirects
// followed. A refusal is an *AddressError wrapping ErrAddressRefused: a
// permanent failure of the destination, not worth retrying.
//
// # Concurrency
//
// Every function of this package is safe for concurrent use, and so is a
// client from NewClient. An AddressPolicy is safe for concurrent use as
// long as its Allow is not modified; its Dialer works on a copy.
package webhook
