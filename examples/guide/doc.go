// Command guide runs the design guide's example end to end on loopback: a
// flaky user service that drops the first connections and then answers, and
// a client that fetches users through reboundhttp with the guide's policy —
// 3 attempts, exponential backoff from 1 s to 10 s with jitter, retries only
// on connection errors and timeouts, 5 s per attempt — logging every retry.
//
//	go run ./examples/guide
//
// Flags choose how many connections the service drops (-drop) and how many
// users to fetch (-users).
package main
