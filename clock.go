package rebound

import "time"

// anchor is the zero of the package's internal clock. Instants are kept as
// durations since anchor: reading one costs a single monotonic clock read
// (time.Since), half of time.Now, which also reads the wall clock. Inside a
// testing/synctest bubble time.Since follows the bubble's fake clock, and
// since every instant of a bubble is read the same way, differences between
// them stay exact.
var anchor = time.Now()

// now returns the current instant of the internal clock.
func now() time.Duration { return time.Since(anchor) }
