//go:build linux

package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// cpuSample is where a machine's CPU time has gone so far, read from
// /proc: the whole machine's busy and idle time, and the time of the
// processes a benchmark cares about.
type cpuSample struct {
	at               time.Time
	busy, idle       time.Duration // every CPU, from /proc/stat
	self, daemon, pg time.Duration // this process, the daemon's, PostgreSQL's processes
}

// clockTick is the unit of /proc's times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// sampleCPU reads the CPU times; daemonPID 0 leaves the daemon's out.
func sampleCPU(daemonPID int) cpuSample {
	s := cpuSample{at: time.Now()}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal
		for i := 1; i < len(f) && i <= 8; i++ {
			v, _ := strconv.ParseInt(f[i], 10, 64)
			if i == 4 || i == 5 {
				s.idle += time.Duration(v) * clockTick
			} else {
				s.busy += time.Duration(v) * clockTick
			}
		}
	}
	s.self = procCPU(os.Getpid())
	if daemonPID > 0 {
		s.daemon = procCPU(daemonPID)
	}
	if ents, err := os.ReadDir("/proc"); err == nil {
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if b, err := os.ReadFile("/proc/" + e.Name() + "/comm"); err == nil && strings.TrimSpace(string(b)) == "postgres" {
				s.pg += procCPU(pid)
			}
		}
	}
	return s
}

// procCPU is a process's user and system time, from /proc/PID/stat.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces; the fields after it are fixed.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b)[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * clockTick
}

// cpuUse is what the machine did between two samples, as shares of one
// CPU (1.0 = one core busy the whole time).
func cpuUse(a, b cpuSample) string {
	wall := b.at.Sub(a.at).Seconds()
	core := func(d time.Duration) float64 { return d.Seconds() / wall }
	total := (b.busy - a.busy) + (b.idle - a.idle)
	idle := 0.0
	if total > 0 {
		idle = float64(b.idle-a.idle) / float64(total) * 100
	}
	return fmt.Sprintf("CPU in cores: daemon %.2f, PostgreSQL %.2f, load generator and receiver %.2f; machine %.0f%% idle",
		core(b.daemon-a.daemon), core(b.pg-a.pg), core(b.self-a.self), idle)
}
