// Package bench compares rebound with other Go retry and circuit-breaker
// libraries in a single `go test -bench` run.
//
// It is a separate module (github.com/rebound-go/rebound/bench) so that the
// peers it imports never become dependencies of rebound itself, which
// imports only the standard library. Its go.mod replaces rebound with the
// parent directory, so the benchmarks always measure the working tree.
//
// The peers, at fixed versions:
//
//   - github.com/failsafe-go/failsafe-go (retrypolicy, circuitbreaker, budget)
//   - github.com/cenkalti/backoff/v5
//   - github.com/avast/retry-go/v4
//   - github.com/sethvargo/go-retry
//   - github.com/sony/gobreaker/v2 (composed with a retry library)
//   - github.com/hashicorp/go-retryablehttp and failsafe-go's failsafehttp
//     (HTTP benchmarks only)
//   - github.com/riverqueue/river with its riverpgxv5 driver (outbox
//     benchmarks only; it needs Go 1.26, hence this module's go line)
//   - github.com/cristalhq/hedgedhttp and failsafe-go's hedgepolicy
//     (hedging only)
//   - google.golang.org/grpc's service-config retry and
//     github.com/grpc-ecosystem/go-grpc-middleware/v2's retry interceptor
//     (gRPC only)
//
// The benchmarks:
//
//   - BenchmarkHappy: the function succeeds at once; each library is
//     configured for at most 3 attempts with exponential backoff.
//   - BenchmarkFailTwice: the function fails twice with a retryable error,
//     then succeeds; every wait is zero, so the loop's own cost is measured.
//   - BenchmarkComposed and BenchmarkComposedParallel: the happy path through
//     retry plus circuit breaker (plus, for rebound, a retry budget and a
//     slog observer), serially and under b.RunParallel, to show whether the
//     shared objects scale across cores.
//
// The HTTP benchmarks (http_test.go) compare reboundhttp with plain
// net/http, github.com/hashicorp/go-retryablehttp and failsafe-go's
// failsafehttp, each sending a GET through the same base transport:
//
//   - BenchmarkHTTPGetMemory: a successful GET over an in-memory
//     RoundTripper that builds a fresh 200 response with a 60-byte JSON
//     body per request, with a context.Background request.
//   - BenchmarkHTTPGetMemoryCtx: the same with a cancelable request
//     context, for which reboundhttp gives each attempt its own timeout
//     context.
//   - BenchmarkHTTPGetLoopback: the same against an httptest server on
//     loopback.
//   - BenchmarkHTTP503Memory: every 5th response is a 503, retried at once.
//
// The OpenTelemetry benchmarks (otel_test.go) measure reboundotel:
//
//   - BenchmarkOtelNoop: rebound.Do of a function that succeeds, with no
//     observer, with an observer that does nothing, and with reboundotel's
//     Observer over the no-op providers.
//   - BenchmarkOtelHTTPGet: a successful GET over the in-memory server with
//     the OpenTelemetry SDK (spans exported to memory, metrics to a manual
//     reader): otelhttp alone, reboundhttp with reboundotel's transport and
//     observer, and both, against net/http and reboundhttp with no
//     telemetry. TestOtelSameSemantics checks the spans each one makes.
//
// The hedging benchmark (hedge_test.go), BenchmarkHedgeTail: one loopback
// server answers 5% of requests after 100 ms and the rest after 1 ms;
// reboundhttp with Config.Hedgers (defaults, p95, a fixed delay),
// failsafe-go's hedgepolicy and hedgedhttp each make 4,000 GETs, and the
// benchmark reports latency percentiles and extra requests. It is skipped
// unless REBOUND_BENCH_HEDGE=1; TestHedgeTailHarness runs it small.
//
// The gRPC benchmarks (grpc_bench_test.go): BenchmarkGRPCUnary, a
// successful unary call on bufconn, plain and through reboundgrpc,
// grpc-go's service-config retry and go-grpc-middleware's retry;
// BenchmarkGRPCUnaryInterceptor, the same interceptors alone.
// TestGRPCRetryCompare (grpc_compare_test.go) runs the same scripted
// faults against the three and prints what each retried.
//
// TestHTTPSameSemantics checks that each 503-benchmark configuration retries
// a 503 without waiting and ends with the 200, and makes 3 attempts when
// every response is a 503.
//
// The outbox benchmarks (outbox_test.go) compare rebound's outbox relay, on
// PostgreSQL (outbox/postgres) and SQLite (outbox/sqlite, modernc.org/sqlite),
// with river on PostgreSQL, each delivering every message as a webhook POST
// to a loopback receiver that records each message ID it gets:
//
//   - BenchmarkOutboxBurnDown: a backlog enqueued first, then drained.
//   - BenchmarkOutboxSteady: 500 business transactions a second for 20 s;
//     the latency from each commit to its message's arrival.
//   - BenchmarkOutboxDegraded: a burn-down in which every fifth message's
//     first delivery gets a 503 and every retry waits 10 ms.
//
// Every run balances a ledger (enqueued = delivered + dead + pending, with
// duplicates counted) or fails. They take minutes, so they are skipped
// unless REBOUND_BENCH_OUTBOX=1 (and the PostgreSQL ones unless
// REBOUND_TEST_POSTGRES is set); TestOutboxHarness runs the same code at a
// tiny size on every test run. Run them, without -race, from this
// directory:
//
//	REBOUND_BENCH_OUTBOX=1 REBOUND_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//		go test -run '^$' -bench Outbox -benchtime 1x -timeout 30m ./...
//
// The daemon benchmarks measure `rebound relay`'s own pieces on PostgreSQL:
//
//   - BenchmarkAPIEnqueue (api_test.go): POST /v1/messages, open loop at
//     2,000 and 3,000 requests a second for 20 s, with and without an
//     Idempotency-Key, the daemon's grouped enqueue against a transaction
//     per request; off unless REBOUND_BENCH_API=1 (TestAPIEnqueueHarness
//     runs it small). Results in docs/BENCHMARKS.md.
//   - BenchmarkLoad (load_test.go): the whole daemon (API, relay, store)
//     under 60 s of enqueues at a fixed rate (default 1,000/s,
//     REBOUND_BENCH_LOAD_RATE) with the receiver healthy, then 60 s with
//     it degraded (20% 503s, 50 ms per answer), then the drain; off unless
//     REBOUND_BENCH_LOAD=1 (TestLoadHarness runs it small). Results in
//     docs/RELIABILITY.md.
//
// TestSameSemantics checks that every configuration used by the benchmarks
// makes exactly 3 attempts on the failure path and returns the success, so a
// benchmark cannot silently measure something else.
//
// Every configuration choice is explained next to the code that makes it.
// Run, from this directory:
//
//	go test -run '^$' -bench . -benchmem -count 6 -benchtime 200ms ./...
//
// The results and the machine they were measured on are in
// docs/BENCHMARKS.md at the repository root.
package bench
