package timesync_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/storeedge/storeedge/internal/testkit/testclock"
	"github.com/storeedge/storeedge/internal/timesync"
)

// rig is a watcher over a settable source, a wall clock that jumps and a
// monotonic clock that only runs.
type rig struct {
	src  *timesync.Settable
	wall *testclock.Clock
	mono time.Duration
	mu   sync.Mutex
	log  bytes.Buffer
	w    *timesync.Watcher
	seen []bool
}

func newRig(t *testing.T, synced bool) *rig {
	t.Helper()
	r := &rig{src: timesync.NewSettable(synced), wall: testclock.New(time.Date(1970, 1, 1, 0, 0, 12, 0, time.UTC))}
	var err error
	r.w, err = timesync.NewWatcher(timesync.WatcherOptions{
		Source: r.src.Read, Wall: r.wall.Now, JumpThreshold: 2 * time.Second,
		Mono: func() time.Duration { r.mu.Lock(); defer r.mu.Unlock(); return r.mono },
		Log:  slog.New(slog.NewTextHandler(&r.log, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	r.w.Subscribe(func(st timesync.Status) { r.seen = append(r.seen, st.Synced) })
	return r
}

// pass lets d pass on both clocks.
func (r *rig) pass(d time.Duration) {
	r.mu.Lock()
	r.mono += d
	r.mu.Unlock()
	r.wall.Advance(d)
}

// A box that boots in 1970 and is then set by NTP: the watcher tells its
// subscribers once, counts the forward jump and says it in words; a later
// step back is counted the other way; the normal passing of time is no jump.
func TestWatcherJumpsBothWays(t *testing.T) {
	r := newRig(t, false)
	if r.w.Synced() {
		t.Fatal("synced before the source said so")
	}
	r.pass(10 * time.Second)
	r.w.Poll()
	if j, n := r.w.LastJump(); j != nil || n != 0 {
		t.Fatalf("time passing normally counted as a jump: %v %d", j, n)
	}

	// NTP syncs: the wall clock steps to 2026 and the kernel says synced.
	r.pass(10 * time.Second)
	set := time.Date(2026, 12, 7, 19, 0, 0, 0, time.UTC)
	r.wall.Set(set)
	r.src.Set(true)
	r.w.Poll()
	if !r.w.Synced() || len(r.seen) != 1 || !r.seen[0] {
		t.Fatalf("after the sync: synced %v, subscribers told %v", r.w.Synced(), r.seen)
	}
	j, n := r.w.LastJump()
	if n != 1 || j == nil || j.By < set.Sub(time.Unix(0, 0))-time.Minute || !j.At.Equal(set) {
		t.Fatalf("forward jump: %+v, %d", j, n)
	}
	if !strings.Contains(r.log.String(), "the clock jumped forward by") || !strings.Contains(r.log.String(), "the clock is now set") {
		t.Fatalf("log does not say it in words:\n%s", r.log.String())
	}

	// Polled again without a change: no one is told twice.
	r.pass(10 * time.Second)
	r.w.Poll()
	if len(r.seen) != 1 {
		t.Fatalf("subscribers told again without a change: %v", r.seen)
	}

	// A step back by an hour (a wrong NTP server, a person at the shell).
	r.pass(10 * time.Second)
	r.wall.Set(r.wall.Now().Add(-time.Hour))
	r.w.Poll()
	j, n = r.w.LastJump()
	if n != 2 || j == nil || j.By > -time.Hour+15*time.Second || j.By < -time.Hour-15*time.Second {
		t.Fatalf("backward jump: %+v, %d", j, n)
	}
	if !strings.Contains(r.log.String(), "the clock jumped back by 1h0m0s") {
		t.Fatalf("log does not say the jump back in words:\n%s", r.log.String())
	}
	// A small slew within the threshold is no jump.
	r.pass(10 * time.Second)
	r.wall.Advance(time.Second)
	r.w.Poll()
	if _, n := r.w.LastJump(); n != 2 {
		t.Fatalf("a 1 s slew counted as a jump (%d)", n)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(r.w.Collector())
	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "/" + l.GetValue()
			}
			got[name] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	if got["storeedge_clock_jumps_total/forward"] != 1 || got["storeedge_clock_jumps_total/backward"] != 1 ||
		got["storeedge_clock_synced"] != 1 || got["storeedge_clock_last_jump_seconds"] > -3590 {
		t.Fatalf("metrics: %v", got)
	}

	// The source losing sync is a change too.
	r.src.Set(false)
	r.pass(10 * time.Second)
	r.w.Poll()
	if r.w.Synced() || len(r.seen) != 2 || r.seen[1] {
		t.Fatalf("after losing sync: synced %v, told %v", r.w.Synced(), r.seen)
	}
}

// A source that cannot be read counts as not synced, and says why.
func TestWatcherSourceFails(t *testing.T) {
	r := newRig(t, true)
	r.src.Fail(errors.New("adjtimex: operation not permitted"))
	r.pass(time.Second)
	r.w.Poll()
	st, err := r.w.Status()
	if st.Synced || err == nil {
		t.Fatalf("a failing source reads %+v, %v", st, err)
	}
	if len(r.seen) != 1 || r.seen[0] {
		t.Fatalf("subscribers told %v", r.seen)
	}
	if !strings.Contains(r.log.String(), "cannot tell whether the clock is set") {
		t.Fatalf("log: %s", r.log.String())
	}
}

// The kernel answers on this machine (synced or not: both are states).
func TestKernel(t *testing.T) {
	st, err := timesync.Kernel()
	if err != nil {
		t.Fatal(err)
	}
	if st.Source != "kernel" {
		t.Fatalf("source %q", st.Source)
	}
}
