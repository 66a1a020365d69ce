// Package metrics records the latency and throughput of a simulated store:
// every operation the simulated devices make (a connect, a publish, a
// service call) is observed with its duration and outcome, and the Recorder
// turns them into a live progress line, a per-second time series for charts
// and a summary table or JSON report at the end of a run.
//
// Percentiles come from the observations themselves, kept in log-linear
// histograms (64 buckets per power of two, so a reported percentile is
// within 1 % of the true nearest-rank value). Memory does not grow with the
// number of observations: each op has one histogram for the whole run and
// one for each of the last few seconds; older seconds are reduced to their
// series point (count, errors, p50, p99).
//
// Observations are filed under the second in which the Recorder sees them,
// counted from the run's start; the clock is read under the Recorder's lock
// and never goes back, so concurrent observers cannot reopen a second that
// was already reduced.
package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// Window is how many whole seconds Progress looks back over for its rate
// and percentiles.
const Window = 5

// Millis is a duration that JSON encodes as a number of milliseconds (a
// float, to the nanosecond).
type Millis time.Duration

// Duration is m as a time.Duration.
func (m Millis) Duration() time.Duration { return time.Duration(m) }

// MarshalJSON encodes m as float milliseconds.
func (m Millis) MarshalJSON() ([]byte, error) {
	return json.Marshal(float64(m) / float64(time.Millisecond))
}

// UnmarshalJSON decodes float milliseconds.
func (m *Millis) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("metrics: milliseconds: %w", err)
	}
	*m = Millis(math.Round(f * float64(time.Millisecond)))
	return nil
}

// String formats m for people: "0.42ms", "3.1ms", "18ms", "1.25s".
func (m Millis) String() string { return fmtDur(time.Duration(m)) }

// Point is one second of one op.
type Point struct {
	Second int    `json:"t"` // seconds since the start of the run
	Count  int    `json:"count"`
	Errors int    `json:"errors"`
	P50    Millis `json:"p50_ms"`
	P99    Millis `json:"p99_ms"`
}

// Series is the per-second history of one op: a point for every second
// in which it was observed, in order.
type Series struct {
	Op     string  `json:"op"`
	Points []Point `json:"points"`
}

// Row is one op's figures over the whole run.
type Row struct {
	Op     string  `json:"op"`
	Count  int     `json:"count"`
	Errors int     `json:"errors"`
	Rate   float64 `json:"rate"` // operations per second over the whole run
	P50    Millis  `json:"p50_ms"`
	P90    Millis  `json:"p90_ms"`
	P99    Millis  `json:"p99_ms"`
	Max    Millis  `json:"max_ms"`
}

// Report is a run's summary.
type Report struct {
	Start      time.Time `json:"start"`
	Duration   Millis    `json:"duration_ms"`
	Devices    int       `json:"devices"`     // connected when the report was made
	MaxDevices int       `json:"max_devices"` // most connected at once
	Ops        []Row     `json:"ops"`         // by op name
	Total      Row       `json:"total"`       // every op together, Op "total"
	Series     []Series  `json:"series"`      // by op name
}

// Recorder collects observations. It is safe for concurrent use.
type Recorder struct {
	start time.Time
	now   func() time.Time

	mu        sync.Mutex
	last      time.Duration // latest clock reading, since start
	reducedAt int           // the second reduce last ran for
	ops       map[string]*opStats
	total     hist
	count     int
	errors    int
	connected int
	maxConn   int
	target    int
}

type opStats struct {
	all    hist
	count  int
	errors int
	recent map[int]*second // seconds not yet reduced to a point
	done   []Point         // reduced seconds, in order
}

type second struct {
	h      hist
	errors int
}

// New returns a Recorder for a run that starts at start, reading the
// time with time.Now.
func New(start time.Time) *Recorder { return NewWithClock(start, time.Now) }

// NewWithClock is New with the clock given (tests move their own).
func NewWithClock(start time.Time, now func() time.Time) *Recorder {
	if now == nil {
		now = time.Now
	}
	return &Recorder{start: start, now: now, ops: map[string]*opStats{}}
}

// elapsed reads the clock; it never goes back. Called with mu held.
func (r *Recorder) elapsed() time.Duration {
	if d := r.now().Sub(r.start); d > r.last {
		r.last = d
	}
	return r.last
}

// Observe records one operation that took d; err != nil counts it as an
// error (its latency is recorded all the same).
func (r *Recorder) Observe(op string, d time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sec := int(r.elapsed() / time.Second)
	s := r.ops[op]
	if s == nil {
		s = &opStats{recent: map[int]*second{}}
		r.ops[op] = s
	}
	r.reduce(sec)
	cur := s.recent[sec]
	if cur == nil {
		cur = &second{}
		s.recent[sec] = cur
	}
	ns := int64(d)
	cur.h.add(ns)
	s.all.add(ns)
	r.total.add(ns)
	s.count++
	r.count++
	if err != nil {
		cur.errors++
		s.errors++
		r.errors++
	}
}

// reduce turns every op's seconds older than the window before now (a
// second index) into points. It does the work once per second. Called
// with mu held.
func (r *Recorder) reduce(now int) {
	if now == r.reducedAt {
		return
	}
	r.reducedAt = now
	for _, s := range r.ops {
		var old []int
		for sec := range s.recent {
			if sec < now-Window {
				old = append(old, sec)
			}
		}
		slices.Sort(old) // every second left in recent is newer
		for _, sec := range old {
			s.done = append(s.done, s.recent[sec].point(sec))
			delete(s.recent, sec)
		}
	}
}

func (st *second) point(sec int) Point {
	return Point{Second: sec, Count: int(st.h.n), Errors: st.errors,
		P50: Millis(st.h.quantile(0.50)), P99: Millis(st.h.quantile(0.99))}
}

// SetTarget sets how many devices the run means to connect (shown in
// Progress as devices=connected/target; 0 shows the count alone).
func (r *Recorder) SetTarget(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.target = n
}

// SetConnected sets the number of connected devices.
func (r *Recorder) SetConnected(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.setConnected(n)
}

// AddConnected adds delta (negative for disconnects) to the number of
// connected devices.
func (r *Recorder) AddConnected(delta int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.setConnected(r.connected + delta)
}

func (r *Recorder) setConnected(n int) {
	r.connected = max(n, 0)
	r.maxConn = max(r.maxConn, r.connected)
}

// Progress is one line for a live display, e.g.
//
//	t=12s devices=37/40 ops/s=142 errors=0 p50=3.1ms p99=18ms
//
// ops/s, p50 and p99 cover the last Window whole seconds (the seconds run
// so far while the run is younger than that, and the current partial
// second during the first one); errors counts the whole run.
func (r *Recorder) Progress() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	el := r.elapsed()
	cur := int(el / time.Second)
	r.reduce(cur)
	from, to, span := cur-Window, cur-1, float64(min(cur, Window))
	if cur == 0 {
		from, to, span = 0, 0, el.Seconds()
	}
	w := &hist{}
	for _, s := range r.ops {
		for sec, st := range s.recent {
			if sec >= from && sec <= to {
				w.merge(&st.h)
			}
		}
	}
	rate := 0.0
	if span > 0 {
		rate = float64(w.n) / span
	}
	var b strings.Builder
	fmt.Fprintf(&b, "t=%ds devices=%d", cur, r.connected)
	if r.target > 0 {
		fmt.Fprintf(&b, "/%d", r.target)
	}
	fmt.Fprintf(&b, " ops/s=%s errors=%d p50=%s p99=%s", fmtRate(rate), r.errors,
		fmtDur(time.Duration(w.quantile(0.50))), fmtDur(time.Duration(w.quantile(0.99))))
	return b.String()
}

// Series is the per-second history of every op, by op name.
func (r *Recorder) Series() []Series {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reduce(int(r.elapsed() / time.Second))
	return r.series()
}

func (r *Recorder) series() []Series {
	out := make([]Series, 0, len(r.ops))
	for _, op := range r.opNames() {
		s := r.ops[op]
		pts := slices.Clone(s.done)
		for sec, st := range s.recent {
			pts = append(pts, st.point(sec))
		}
		slices.SortFunc(pts, func(a, b Point) int { return a.Second - b.Second })
		if pts == nil {
			pts = []Point{}
		}
		out = append(out, Series{Op: op, Points: pts})
	}
	return out
}

func (r *Recorder) opNames() []string {
	names := make([]string, 0, len(r.ops))
	for op := range r.ops {
		names = append(names, op)
	}
	slices.Sort(names)
	return names
}

// Summary reports the run so far.
func (r *Recorder) Summary() Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	el := r.elapsed()
	r.reduce(int(el / time.Second))
	rep := Report{Start: r.start, Duration: Millis(el), Devices: r.connected, MaxDevices: r.maxConn,
		Ops: make([]Row, 0, len(r.ops)), Series: r.series()}
	for _, op := range r.opNames() {
		s := r.ops[op]
		rep.Ops = append(rep.Ops, row(op, &s.all, s.count, s.errors, el))
	}
	rep.Total = row("total", &r.total, r.count, r.errors, el)
	return rep
}

func row(op string, h *hist, count, errors int, el time.Duration) Row {
	rate := 0.0
	if el > 0 {
		rate = float64(count) / el.Seconds()
	}
	return Row{Op: op, Count: count, Errors: errors, Rate: rate,
		P50: Millis(h.quantile(0.50)), P90: Millis(h.quantile(0.90)),
		P99: Millis(h.quantile(0.99)), Max: Millis(h.max)}
}

// Table writes the report as an aligned text table: one row per op and a
// total, latencies in milliseconds.
func (rep Report) Table(w io.Writer) error {
	// Cells are right-aligned; op names are padded to one width first, so
	// they read from the left.
	width := len("total")
	for _, r := range rep.Ops {
		width = max(width, len(r.Op))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\tcount\terrors\tops/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\t\n", width, "op")
	line := func(r Row) {
		fmt.Fprintf(tw, "%-*s\t%d\t%d\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", width, r.Op, r.Count, r.Errors, r.Rate,
			ms(r.P50), ms(r.P90), ms(r.P99), ms(r.Max))
	}
	for _, r := range rep.Ops {
		line(r)
	}
	line(rep.Total)
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("metrics: write table: %w", err)
	}
	_, err := fmt.Fprintf(w, "run %s, devices %d (most at once %d)\n",
		time.Duration(rep.Duration).Round(time.Millisecond), rep.Devices, rep.MaxDevices)
	if err != nil {
		return fmt.Errorf("metrics: write table: %w", err)
	}
	return nil
}

// WriteJSON writes the report as indented JSON.
func (rep Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return fmt.Errorf("metrics: write JSON report: %w", err)
	}
	return nil
}

func ms(m Millis) float64 { return float64(m) / float64(time.Millisecond) }

// fmtDur formats a latency with two or three significant digits.
func fmtDur(d time.Duration) string {
	m := float64(d) / float64(time.Millisecond)
	switch {
	case m < 1:
		return fmt.Sprintf("%.2fms", m)
	case m < 10:
		return fmt.Sprintf("%.1fms", m)
	case m < 1000:
		return fmt.Sprintf("%.0fms", m)
	default:
		return fmt.Sprintf("%.2fs", m/1000)
	}
}

func fmtRate(r float64) string {
	if r < 10 {
		return fmt.Sprintf("%.1f", r)
	}
	return fmt.Sprintf("%.0f", r)
}
