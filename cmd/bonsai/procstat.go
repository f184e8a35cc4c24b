package main

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"time"
)

// peakRSS returns the process's peak resident set size in bytes (VmHWM of
// /proc/self/status), or 0 where that is not available.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			f := strings.Fields(rest) // "123456 kB"
			if len(f) == 2 && f[1] == "kB" {
				if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return kb * 1024
				}
			}
		}
	}
	return 0
}

// machineBusy returns the CPU time that other processes used during the last half second,
// as a fraction of one core (from /proc/stat minus this process's own /proc/self/stat), or
// 0 where /proc is not available.
func machineBusy() float64 {
	const span = 500 * time.Millisecond
	busy0, ok0 := cpuBusyTicks()
	self0, ok1 := selfTicks()
	time.Sleep(span)
	busy1, ok2 := cpuBusyTicks()
	self1, ok3 := selfTicks()
	if !ok0 || !ok1 || !ok2 || !ok3 {
		return 0
	}
	const hz = 100 // USER_HZ on Linux
	other := float64((busy1-busy0)-(self1-self0)) / hz
	return max(0, other/span.Seconds())
}

// cpuBusyTicks returns the busy clock ticks of all CPUs (user, nice, system, irq, softirq,
// steal) from /proc/stat.
func cpuBusyTicks() (int64, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := bytes.Cut(b, []byte{'\n'})
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return 0, false
	}
	var sum int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, false
		}
		sum += v
	}
	return sum, true
}

// selfTicks returns this process's user and system clock ticks from /proc/self/stat.
func selfTicks() (int64, bool) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, false
	}
	// The command name may hold spaces: fields count from after its closing parenthesis.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return u + s, true
}
