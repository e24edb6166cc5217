// Package reboundotel records rebound's retries with OpenTelemetry: a
// CLIENT span per HTTP attempt (NewTransport, as reboundhttp's Base), the
// metrics of reboundprom through the OpenTelemetry metric API, and
// rebound's decisions as events on the current span (Observer), with an
// optional logical span around rebound.Do (Do).
package reboundotel
