package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// userHZ is the unit of utime/stime in /proc/PID/stat. The kernel reports
// these in USER_HZ, which is 100 on every Linux architecture we run on.
const userHZ = 100

// procCPUSeconds returns the user+system CPU time the process has used so far.
func procCPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	ticks, err := parseStatCPU(b)
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return float64(ticks) / userHZ, nil
}

// parseStatCPU returns utime+stime (fields 14 and 15) from a /proc/PID/stat
// line. The command name (field 2) may contain spaces and parentheses, so the
// fields are counted from the last ')'.
func parseStatCPU(b []byte) (uint64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("no ')' in stat line")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 13 {
		return 0, fmt.Errorf("stat line has %d fields after comm, want >= 13", len(f))
	}
	ut, err := strconv.ParseUint(f[14-3], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("utime: %w", err)
	}
	st, err := strconv.ParseUint(f[15-3], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stime: %w", err)
	}
	return ut + st, nil
}

// procRSS returns the resident set size (VmRSS) of the process in bytes.
func procRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	rss, err := parseVmRSS(b)
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	return rss, nil
}

// parseVmRSS extracts "VmRSS:   1234 kB" from /proc/PID/status, in bytes.
func parseVmRSS(b []byte) (int64, error) {
	return parseStatusBytes(b, "VmRSS")
}

// parseStatusBytes extracts the line "key:   1234 kB" (VmRSS, VmHWM, …) from
// /proc/PID/status, in bytes.
func parseStatusBytes(b []byte, key string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, key+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("unexpected %s line %q", key, line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", key, err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("no %s line (process exited or is a zombie?)", key)
}

// systemBusySeconds returns the CPU time all processes on the machine have
// used so far (every "cpu" state of /proc/stat except idle and iowait).
func systemBusySeconds() (float64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	ticks, err := parseProcStatBusy(b)
	if err != nil {
		return 0, fmt.Errorf("/proc/stat: %w", err)
	}
	return float64(ticks) / userHZ, nil
}

// parseProcStatBusy sums user, nice, system, irq, softirq and steal from the
// aggregate "cpu" line of /proc/stat (guest time is already in user).
func parseProcStatBusy(b []byte) (uint64, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("unexpected first line %q", line)
	}
	var sum uint64
	for _, i := range []int{1, 2, 3, 6, 7, 8} { // user nice system [idle iowait] irq softirq steal
		v, err := strconv.ParseUint(f[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("field %d: %w", i, err)
		}
		sum += v
	}
	return sum, nil
}

// cpuMark is the CPU time the broker, the bench itself and the whole machine
// had used when it was taken; two marks bracket a measured window.
type cpuMark struct {
	broker, bench, all float64
	err                error // reading the broker's own figure
}

func markCPU(brokerPID int) cpuMark {
	b, err := procCPUSeconds(brokerPID)
	s, _ := procCPUSeconds(selfPID)
	a, _ := systemBusySeconds()
	return cpuMark{broker: b, bench: s, all: a, err: err}
}

// cpuBetween is the CPU spent from m0 to m1: the broker's, the bench's and
// everything else's on the machine.
func cpuBetween(m0, m1 cpuMark) (broker, bench, other float64) {
	broker, bench = m1.broker-m0.broker, m1.bench-m0.bench
	return broker, bench, max(0, (m1.all-m0.all)-broker-bench)
}
