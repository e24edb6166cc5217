// Package reboundnet gives socket clients rebound's recovery behaviour: a
// Dialer that retries failed dials under a rebound.Policy, a Supervisor
// that keeps one long-lived connection up across the failures and
// restarts of its peer, and IdleTimeout, which turns a silent half-open
// connection into a read error.
//
//	d, err := reboundnet.NewDialer(reboundnet.DialerConfig{})
//	conn, err := d.DialContext(ctx, "tcp", "db.internal:5432")
//
// The package imports only the standard library and rebound.
//
// # Dialing
//
// Dialer.DialContext has net.Dialer.DialContext's signature, so a Dialer
// is an http.Transport's DialContext or pgx's pgconn.Config.DialFunc as it
// is; Dialer.Dial, with context.Background(), is amqp091-go's Config.Dial.
// Each dial runs under rebound.Do with DialerConfig.Policy and the
// endpoint's breaker and budget (DialerConfig.Breakers, Budgets), and emits
// the events of any call, labelled with the endpoint: DialerConfig.Endpoint,
// else Policy.Endpoint, else the network and the address ("tcp
// db.internal:5432"). With DialerConfig.TLS, the TLS handshake is part of
// the dial. When retrying stops, the error is the *rebound.Error, which
// wraps the last dial's error.
//
// Dial errors are classified by rebound's rules:
//
//	error (as a dial returns it)                        class       retried
//	connection refused (ECONNREFUSED)                   Connection  yes
//	host or network unreachable (EHOSTUNREACH,
//	  ENETUNREACH)                                      Connection  yes
//	dial timeout (i/o timeout: net.Dialer.Timeout,
//	  Policy.AttemptTimeout)                            Connection  yes
//	DNS server failure (SERVFAIL)                       Connection  yes
//	DNS name not found (NXDOMAIN)                       Logic       no
//	TLS: certificate signed by an unknown authority     Logic       no
//	TLS: certificate not valid for the host name        Logic       no
//	TLS handshake cut by the peer (EOF, reset)          Connection  yes
//	the caller's context canceled or past its deadline  Canceled    no
//
// A failed dial sent nothing of the caller's, so Policy.NonIdempotent is
// ignored: every dial failure is retried as one that was not processed.
// rebound says so itself of a refused dial and of a dial timeout
// (Classification.MaybeProcessed is false), but not of a TLS handshake cut
// by the peer (an error of a read after the connect): under a
// NonIdempotent policy Do alone would not retry that one, and the Dialer
// does. What is sent on the connection once it is returned is the
// caller's to retry.
//
// An open breaker refuses a dial at once without touching the network
// (rebound.ErrCircuitOpen).
//
// # Supervising a long-lived connection
//
// A Supervisor keeps one connection up: a feed subscription, a replication
// stream, a broker's consumer. SupervisorConfig.Dial opens the connection
// (a Dialer's To(network, address) does), and SupervisorConfig.Session
// runs on it: it does the handshake, subscribes, reads until the connection
// fails, and returns the error that ended it. The supervisor then
// classifies that error and, when it reconnects on it, waits the backoff and
// dials again, and runs the Session anew: a Session must set up from
// scratch what its connection held (subscriptions, prepared statements).
//
// Failures count from the last healthy session, one that ran at least
// SupervisorConfig.HealthyAfter (default 30 s): the backoff
// (SupervisorConfig.Backoff, default 1 s doubling to 30 s with full jitter)
// grows with each dial or session that fails, and a connection that keeps
// dropping right after it is made backs off as a refused one does.
//
// Errors of the classes in SupervisorConfig.ReconnectOn reconnect:
// Connection, Response and Unknown by default. Unknown is there, unlike in
// a Policy's default, because a long-lived connection that stops on an
// error nothing recognised is an outage that lasts until the program
// restarts. A Logic error (a certificate that does not verify, a
// subscription the server refuses, an error marked rebound.Permanent)
// stops the supervisor: Err returns a *rebound.Error with ReasonPermanent
// wrapping it, and Done is closed. A Session that returns nil while the
// supervisor runs is reconnected as for ErrSessionEnded (a Connection
// error); a context error from Dial or Session while the supervisor runs
// (their own timeouts) is a Connection error, as in rebound.Do.
//
// The supervisor is a background service, like the outbox's Relay: Start
// launches it, and Stop cancels the dial, the session's context or the
// wait, closes the connection, and returns once its goroutine has ended;
// Start after Stop is an error. State reports Idle, Connecting, Up,
// BackingOff or Stopped, Ready reports Up for readiness checks, and
// SupervisorConfig.OnState is told each change.
//
// # Events
//
// The supervisor reports to SupervisorConfig.Observer with rebound's event
// kinds, labelled with SupervisorConfig.Name as Endpoint, so that
// rebound.SlogObserver and reboundprom work unchanged:
//
//   - RetryScheduled when a dial or a session failed and the supervisor
//     will dial again: Attempt is the number of failures since the last
//     healthy session (the backoff's retry number), Class and Err are the
//     failure's, Wait is the backoff, and Elapsed the time since the
//     connection was lost (or since Start).
//   - CallFinished with ResultSuccess when a connection is up: Attempt is
//     that number plus one (1 for a first dial that succeeded), Elapsed the
//     downtime.
//   - CallFinished with ResultFailure and ReasonPermanent when it stops on
//     an error it does not reconnect on: Attempt, Class, Err, Elapsed.
//
// It emits no AttemptFinished (a session's length is no attempt's
// duration), and nothing on Stop.
//
// The slog observer thus logs each scheduled reconnect at INFO ("retrying",
// with the class as reason, the attempt, the wait and the elapsed time), a
// connection back up after failures at INFO ("succeeded after retries"),
// and a supervisor that stopped on a Logic or Unknown error at WARN
// ("failed"). The first connection is a success at attempt 1, which it does
// not log.
//
// # Half-open connections
//
// A peer whose host died, or a flow a NAT or load balancer forgot, sends
// neither data nor a reset: a read on such a connection blocks until the
// kernel's keep-alive gives up, many minutes later. IdleTimeout(conn, d)
// sets a read deadline of d before every Read, so that a peer silent for d
// fails the read with os.ErrDeadlineExceeded, a Connection error that makes
// a Supervisor reconnect. Use it when the protocol has the peer send
// something (data or heartbeats) at least every d.
package reboundnet
