// Package reboundtest injects the faults that rebound recovers from into
// your own code's tests, in process and deterministically: scripted HTTP
// failures, faulty connections and listeners, and assertions on rebound's
// events. It needs no proxy daemon and no container, and its timing faults
// run in virtual time inside a testing/synctest bubble.
//
// The package imports only the standard library and rebound.
//
// # Scripted HTTP faults
//
// A [Script] is a sequence of [Step]s applied to successive requests,
// counted across everything made from it and safe for concurrent use:
//
//	s := reboundtest.NewScript(reboundtest.Fail(2, 503), reboundtest.Pass())
//
// answers the first two requests 503 and lets the others through. The
// steps:
//
//   - [Status] answers with a status and body; [Fail] does it n times.
//   - [RetryAfter] and [RetryAt] answer with a Retry-After header, in
//     delay-seconds or as an HTTP-date.
//   - [Reset] resets the connection before any response.
//   - [Hang] never answers: the request waits for its context to end.
//   - [Truncate] cuts the response's body after n bytes: the client reads
//     io.ErrUnexpectedEOF.
//   - [SlowBody] trickles the body, chunk bytes every interval.
//   - [AppliedButLost] lets the request through, so that its effect
//     happens, then resets the connection: the response never reaches the
//     client. It is the failure Idempotency-Key exists for: without a key
//     the client cannot tell it from a Reset, and trying again does the
//     effect twice.
//   - [Pass] lets the request through.
//
// Each step applies to one request, or to n with [Repeat] (and [Fail]).
// An uncounted last step repeats for ever; after a counted last step the
// requests pass through, so that NewScript(Fail(2, 503)) drops the first
// two requests and no more (the fault toxiproxy, a TCP proxy, cannot
// script: its issue #404).
//
// A script is applied on either side of HTTP:
//
//   - [Script.RoundTripper] wraps the RoundTripper a client sends with,
//     in memory: put it in reboundhttp.Config.Base, under the retries. Its
//     Reset returns a *net.OpError wrapping syscall.ECONNRESET (see
//     [ResetError]), as net/http does. With an in-memory next (a
//     [HandlerTransport] serving your real handler) it runs inside
//     testing/synctest, where Hang, SlowBody and Retry-After waits take no
//     real time: the place for timing tests.
//   - [Script.Handler] wraps a real handler behind httptest.NewServer: the
//     client meets the faults on a real loopback connection, reset with
//     SO_LINGER 0 (an RST) for Reset and AppliedButLost.
//
// [Script.Count], [Script.Requests], [Script.Faults] and
// [Script.StepCounts] tell what happened, so that a test asserts "three
// requests, the third passed".
//
// # Connection faults
//
// [NewListener] wraps a net.Listener, and [NewConn] a net.Conn, under
// [Faults], the toxics of toxiproxy in process: Reset (an RST, or a plain
// close on a connection that is not TCP), Blackhole (reads block until
// their deadline or the close, writes vanish), Latency, SlowClose, and a
// byte limit per direction after which the connection is reset. Set
// changes the faults at run time, for the open connections and those to
// come. Give an httptest.Server a faulty listener with
//
//	srv := httptest.NewUnstartedServer(h)
//	fl := reboundtest.NewListener(srv.Listener, reboundtest.Faults{})
//	srv.Listener = fl
//	srv.Start()
//
// and call fl.Set(reboundtest.Faults{Reset: true}) when the test wants the
// server unreachable. Inside a testing/synctest bubble, wrap one end of
// net.Pipe: latency, slow closes and deadlines then take no real time.
//
// # Assertions from events
//
// A [Recorder] is a rebound.Observer that keeps the events of the calls it
// observes. Put it in the policy (reboundhttp.Config.Policy.Observer), and
// ask it what the calls did: [Recorder.Attempts], [Recorder.RetryReasons]
// (the class of the failure behind each retry), [Recorder.Waits],
// [Recorder.Last]; or assert with [Recorder.ExpectAttempts],
// [Recorder.ExpectRetryReasons], [Recorder.ExpectWaits] and
// [Recorder.ExpectResult], which fail the test with every event listed.
//
// # Databases
//
// [SQLFaults] wraps a database/sql driver (any: SQLite, pgx's stdlib) and
// fires faults by [SQLRule]: on a statement or a COMMIT, the nth one or
// every one, of transactions whose SQL a matcher picks. The faults are
// those reboundsql.RetryTx must get right: a serialization failure
// (SQLSTATE 40001) and a deadlock (40P01), as [SQLError]s with the
// SQLState method drivers give; a connection lost before the operation
// (not applied); and a connection lost after it, which on a COMMIT is the
// ambiguous commit: the inner driver commits, and the caller gets a
// [SQLConnLostError] it cannot tell from a commit lost before. RetryTx
// retries the first two and answers the ambiguous one with
// reboundsql.ErrCommitUnknown rather than running the transaction again.
// [SQLFaults.Counts] says what ran and what was applied.
//
// # Webhooks
//
// [WebhookReceiver] is an http.Handler for the receiving end of webhooks
// (put it behind httptest.NewServer): it verifies each delivery's Standard
// Webhooks signature with rebound's webhook package, answers 204 (or, by
// its Fail hook or [WebhookFailFirst], a status of the test's choice), and
// counts deliveries per message ID: [WebhookReceiver.Duplicates] lists
// messages accepted more than once, the bug an outbox consumer must
// survive, and [WebhookReceiver.Wait] waits for n distinct messages. It
// composes with a script: NewScript(AppliedButLost(), Pass()).Handler(r)
// makes a sender deliver a message it believes failed.
package reboundtest
