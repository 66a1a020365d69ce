package timesync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Source reads the clock's state; Kernel is the box's.
type Source func() (Status, error)

// Settable is a Source a test sets: it reads what Set last said.
type Settable struct {
	mu  sync.Mutex
	st  Status
	err error
}

// NewSettable returns a source reading synced (Source "test").
func NewSettable(synced bool) *Settable {
	return &Settable{st: Status{Synced: synced, Source: "test"}}
}

// Set says whether the clock is synced from now on.
func (s *Settable) Set(synced bool) {
	s.mu.Lock()
	s.st.Synced, s.err = synced, nil
	s.mu.Unlock()
}

// Fail makes the next reads fail with err (nil: read again).
func (s *Settable) Fail(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

// Read is the Source.
func (s *Settable) Read() (Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st, s.err
}

// Defaults of WatcherOptions.
const (
	DefaultInterval      = 10 * time.Second
	DefaultJumpThreshold = 5 * time.Second
)

// WatcherOptions configure NewWatcher.
type WatcherOptions struct {
	// Source is polled for the clock's state (default Kernel).
	Source Source
	// Interval is how often Run polls (default 10 s).
	Interval time.Duration
	// JumpThreshold: a poll whose wall-clock delta differs from the
	// monotonic delta by more than this, either way, is a jump (default
	// 5 s). NTP slews small offsets; it steps large ones.
	JumpThreshold time.Duration
	// Wall reads the wall clock (default time.Now); Mono reads a clock
	// that never jumps, as a duration since any fixed point (default the
	// monotonic reading of time.Now). Tests set both.
	Wall func() time.Time
	Mono func() time.Duration
	// Log receives a line in words for every jump and every change of
	// state (default slog.Default()).
	Log *slog.Logger
}

// Jump is a step of the wall clock seen between two polls.
type Jump struct {
	// At is the wall clock after the jump.
	At time.Time
	// By is how far the wall clock moved beyond the monotonic time that
	// passed: positive forward, negative backward.
	By time.Duration
}

// Watcher polls a Source, tells subscribers when the state changes and
// detects jumps of the wall clock. It is safe for concurrent use.
type Watcher struct {
	o WatcherOptions

	mu       sync.Mutex
	st       Status
	readErr  error
	polled   bool
	lastWall time.Time
	lastMono time.Duration
	subs     []func(Status)
	jumps    uint64
	fwd, bwd uint64
	lastJump *Jump

	// pollMu serialises polls, so subscribers hear the changes in order.
	pollMu sync.Mutex
}

// NewWatcher returns a watcher that has polled once.
func NewWatcher(o WatcherOptions) (*Watcher, error) {
	if o.Interval < 0 || o.JumpThreshold < 0 {
		return nil, errors.New("timesync: interval and jump threshold must not be negative (0 = default)")
	}
	if o.Source == nil {
		o.Source = Kernel
	}
	if o.Interval == 0 {
		o.Interval = DefaultInterval
	}
	if o.JumpThreshold == 0 {
		o.JumpThreshold = DefaultJumpThreshold
	}
	if o.Wall == nil {
		o.Wall = time.Now
	}
	if o.Mono == nil {
		start := time.Now()
		o.Mono = func() time.Duration { return time.Since(start) }
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	w := &Watcher{o: o}
	w.Poll()
	return w, nil
}

// Subscribe calls fn with the state after every poll that changed it
// (synced to unsynced or back). fn must not block.
func (w *Watcher) Subscribe(fn func(Status)) {
	w.mu.Lock()
	w.subs = append(w.subs, fn)
	w.mu.Unlock()
}

// Status is the state of the last poll. A source that failed reads as not
// synced, with the error.
func (w *Watcher) Status() (Status, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.st, w.readErr
}

// Synced is Status().Synced.
func (w *Watcher) Synced() bool {
	st, _ := w.Status()
	return st.Synced
}

// LastJump is the latest jump seen and how many there were; nil when none.
func (w *Watcher) LastJump() (*Jump, uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lastJump == nil {
		return nil, w.jumps
	}
	j := *w.lastJump
	return &j, w.jumps
}

// Poll reads the source and the clocks once: it logs and counts a jump,
// and tells the subscribers when the state changed.
func (w *Watcher) Poll() {
	w.pollMu.Lock()
	defer w.pollMu.Unlock()
	st, err := w.o.Source()
	if err != nil {
		st.Synced = false
	}
	wall, mono := w.o.Wall().Round(0), w.o.Mono()

	w.mu.Lock()
	changed := w.polled && st.Synced != w.st.Synced
	first := !w.polled
	var jump *Jump
	if w.polled {
		by := wall.Sub(w.lastWall) - (mono - w.lastMono)
		if by > w.o.JumpThreshold || -by > w.o.JumpThreshold {
			jump = &Jump{At: wall, By: by}
			w.jumps++
			if by > 0 {
				w.fwd++
			} else {
				w.bwd++
			}
			w.lastJump = jump
		}
	}
	hadErr := w.readErr != nil
	w.st, w.readErr, w.polled = st, err, true
	w.lastWall, w.lastMono = wall, mono
	subs := append([]func(Status){}, w.subs...)
	w.mu.Unlock()

	if jump != nil {
		w.o.Log.Warn(describeJump(*jump), "by", jump.By.String(), "now", jump.At.Format(time.RFC3339))
	}
	switch {
	case err != nil && !hadErr:
		w.o.Log.Warn("cannot tell whether the clock is set; treating it as not set", "err", err)
	case first && !st.Synced:
		w.o.Log.Warn("the clock has not been set from a time source yet: what the store stamps now is marked for HQ as unsynced")
	case changed && st.Synced:
		w.o.Log.Info("the clock is now set from a time source")
	case changed:
		w.o.Log.Warn("the clock is no longer kept in step with a time source")
	}
	if changed {
		for _, fn := range subs {
			fn(st)
		}
	}
}

// describeJump says a jump in words.
func describeJump(j Jump) string {
	by := j.By.Round(time.Second)
	if by == 0 {
		by = j.By
	}
	if j.By > 0 {
		return fmt.Sprintf("the clock jumped forward by %s", by)
	}
	return fmt.Sprintf("the clock jumped back by %s", -by)
}

// Run polls every Interval until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	t := time.NewTicker(w.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.Poll()
		}
	}
}

var (
	descSynced = prometheus.NewDesc("storeedge_clock_synced", "1 when the clock is set from a time source (NTP), 0 before.", nil, nil)
	descJumps  = prometheus.NewDesc("storeedge_clock_jumps_total", "Jumps of the wall clock seen between two polls, by direction.", []string{"direction"}, nil)
	descLast   = prometheus.NewDesc("storeedge_clock_last_jump_seconds", "How far the last jump moved the clock (negative: back); 0 before any.", nil, nil)
)

// Collector exposes the state and the jumps to /metrics.
func (w *Watcher) Collector() prometheus.Collector { return collector{w} }

type collector struct{ w *Watcher }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descSynced
	ch <- descJumps
	ch <- descLast
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	w := c.w
	w.mu.Lock()
	synced, fwd, bwd := 0.0, float64(w.fwd), float64(w.bwd)
	if w.st.Synced {
		synced = 1
	}
	last := 0.0
	if w.lastJump != nil {
		last = w.lastJump.By.Seconds()
	}
	w.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(descSynced, prometheus.GaugeValue, synced)
	ch <- prometheus.MustNewConstMetric(descJumps, prometheus.CounterValue, fwd, "forward")
	ch <- prometheus.MustNewConstMetric(descJumps, prometheus.CounterValue, bwd, "backward")
	ch <- prometheus.MustNewConstMetric(descLast, prometheus.GaugeValue, last)
}
