//go:build !linux

package bench

import "time"

type cpuSample struct{}

func sampleCPU(int) cpuSample      { return cpuSample{} }
func cpuUse(_, _ cpuSample) string { return "CPU use not measured off Linux" }

var _ = time.Second
