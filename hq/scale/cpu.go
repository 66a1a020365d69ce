package scale

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// userHZ is the unit of the CPU times in /proc/PID/stat (USER_HZ, 100 on
// every Linux architecture).
const userHZ = 100

// statFields are the fields of /proc/PID/stat after the command name
// (fields[0] is field 3, the state).
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return nil, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	return f, nil
}

func field(f []string, n int) uint64 {
	v, _ := strconv.ParseUint(f[n-3], 10, 64)
	return v
}

// TreeCPU is the CPU time (user and system, seconds) used so far by pid,
// its children that have ended, and every live descendant: a PostgreSQL
// server with its backends, a storeedge-hq process.
func TreeCPU(pid int) (float64, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, fmt.Errorf("scale: cpu: %w", err)
	}
	ticks := field(f, 14) + field(f, 15) + field(f, 16) + field(f, 17)
	children := map[int][]int{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		p, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		cf, err := statFields(p)
		if err != nil {
			continue // ended meanwhile
		}
		ppid := int(field(cf, 4))
		children[ppid] = append(children[ppid], p)
	}
	var walk func(int)
	walk = func(p int) {
		for _, c := range children[p] {
			if cf, err := statFields(c); err == nil {
				ticks += field(cf, 14) + field(cf, 15)
			}
			walk(c)
		}
	}
	walk(pid)
	return float64(ticks) / userHZ, nil
}

// ListenerPID finds the PostgreSQL server (postgres … -p port) whose
// command line names port.
func ListenerPID(port string) (int, error) {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) == 0 || filepath.Base(args[0]) != "postgres" {
			continue
		}
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-p" && args[i+1] == port {
				return strconv.Atoi(filepath.Base(d))
			}
		}
	}
	return 0, fmt.Errorf("scale: no postgres process listening on port %s", port)
}
