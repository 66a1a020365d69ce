package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReadProcOfARealProcess checks the broker sampler against this test's
// own process, whose figures are known from other sources: CPU from
// getrusage, RSS from /proc/PID/statm and as the sum of its parts, and a
// high-water mark that must stay above the RSS after a large allocation is
// returned to the kernel. A parser that read another field of either file
// (cutime, VmPeak, VmSize, VmRSS for VmHWM, RssShmem for RssFile) fails here.
func TestReadProcOfARealProcess(t *testing.T) {
	pid := os.Getpid()

	// Burn CPU so that utime+stime is far from zero.
	cpuNow := func() float64 {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	for start := cpuNow(); cpuNow()-start < 0.3; {
		x := 0
		for i := range 1_000_000 {
			x += i
		}
		runtime.KeepAlive(x)
	}

	// Touch 64 MiB, give it back: RSS falls, the high-water mark stays.
	const big = 64 << 20
	buf := make([]byte, big)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 1
	}
	runtime.KeepAlive(buf)
	buf = nil
	debug.FreeOSMemory()

	before := cpuNow()
	s, err := readProc(pid)
	after := cpuNow()
	if err != nil {
		t.Fatal(err)
	}
	statm, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(statm))
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	statmRSS := pages * int64(os.Getpagesize())

	// /proc/PID/stat counts utime and stime each in whole 10 ms ticks;
	// getrusage in microseconds.
	const tick = 0.021
	if s.cpu < before-tick || s.cpu > after+tick {
		t.Errorf("CPU %.3f s, want between getrusage's %.3f and %.3f s", s.cpu, before, after)
	}
	if d := s.rss - statmRSS; d < -4<<20 || d > 4<<20 {
		t.Errorf("RSS %.1f MiB, /proc/self/statm says %.1f MiB", mb(s.rss), mb(statmRSS))
	}
	if s.hwm < s.rss+big*3/4 {
		t.Errorf("peak RSS %.1f MiB, want at least RSS %.1f MiB + most of the 64 MiB touched and freed", mb(s.hwm), mb(s.rss))
	}
	if d := s.rss - s.anon - s.file; d < 0 || d > 4<<20 { // VmRSS = RssAnon + RssFile + RssShmem
		t.Errorf("RssAnon %.1f MiB + RssFile %.1f MiB, want VmRSS %.1f MiB less the shared memory", mb(s.anon), mb(s.file), mb(s.rss))
	}
	if s.hwm > s.rss+big+64<<20 {
		t.Errorf("peak RSS %.1f MiB is far above RSS %.1f MiB + the 64 MiB touched: not the high-water mark", mb(s.hwm), mb(s.rss))
	}
}
