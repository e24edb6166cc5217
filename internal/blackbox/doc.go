// Package blackbox holds tests that build the rebound binary and use it as
// a user would: a relay in its own process, loopback receivers that misbehave,
// the JSON API, /metrics and, when REBOUND_TEST_PROMETHEUS_BIN names a
// Prometheus server, the shipped alert rules evaluated by it. It has no
// non-test code.
package blackbox
