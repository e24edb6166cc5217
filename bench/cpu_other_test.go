//go:build !linux

package bench

import "time"

// cpuSample is empty off Linux, but for when it was taken.
type cpuSample struct{ at time.Time }

func sampleCPU(int) cpuSample      { return cpuSample{at: time.Now()} }
func cpuUse(_, _ cpuSample) string { return "CPU use not measured off Linux" }
