package metrics

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable clock for a Recorder.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(d time.Duration, start time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = start.Add(d)
}

var t0 = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

func newRec() (*Recorder, func(time.Duration)) {
	c := &clock{t: t0}
	return NewWithClock(t0, c.now), func(d time.Duration) { c.set(d, t0) }
}

// nearestRank is the exact q-quantile of sorted.
func nearestRank(sorted []int64, q float64) int64 {
	r := int(math.Ceil(q * float64(len(sorted))))
	r = min(max(r, 1), len(sorted))
	return sorted[r-1]
}

// The histogram's percentiles are within 1 % of the exact ones, over six
// decades of latencies, and merging histograms loses nothing.
func TestHistogramPercentilesWithinOnePercent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var a, b, all hist
	var raw []int64
	for i := range 200_000 {
		// log-uniform from 10 µs to 10 s
		v := int64(math.Exp(math.Log(10e3) + rng.Float64()*(math.Log(10e9)-math.Log(10e3))))
		raw = append(raw, v)
		all.add(v)
		if i%2 == 0 {
			a.add(v)
		} else {
			b.add(v)
		}
	}
	slices.Sort(raw)
	var merged hist
	merged.merge(&a)
	merged.merge(&b)
	for _, q := range []float64{0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 1} {
		want := nearestRank(raw, q)
		for name, h := range map[string]*hist{"one": &all, "merged": &merged} {
			got := h.quantile(q)
			if rel := math.Abs(float64(got-want)) / float64(want); rel > 0.01 {
				t.Errorf("%s q=%v: got %d, exact %d (%.2f %% off)", name, q, got, want, rel*100)
			}
		}
	}
	if all.max != raw[len(raw)-1] || all.min != raw[0] || merged.max != all.max || merged.min != all.min {
		t.Errorf("min/max: %d/%d merged %d/%d, exact %d/%d", all.min, all.max, merged.min, merged.max, raw[0], raw[len(raw)-1])
	}
	// Six decades take about 20 powers of two: the histogram stays small.
	if n := len(all.counts); n > 22*subCount {
		t.Errorf("histogram holds %d buckets for 200 000 values", n)
	}
}

// Every bucket's bounds contain exactly the values bucketOf maps to it.
func TestBucketBounds(t *testing.T) {
	for _, v := range []int64{0, 1, 63, 64, 65, 127, 128, 129, 1000, 1 << 20, 1<<20 + 12345, 3e9, math.MaxInt64} {
		b := bucketOf(v)
		lo, hi := bucketBounds(b)
		if v < lo || v > hi {
			t.Errorf("value %d in bucket %d [%d, %d]", v, b, lo, hi)
		}
		if b > 0 {
			if _, phi := bucketBounds(b - 1); phi != lo-1 {
				t.Errorf("bucket %d starts at %d, the one before ends at %d", b, lo, phi)
			}
		}
	}
	if bucketOf(-5) != 0 {
		t.Error("a negative duration is not filed as 0")
	}
}

func TestSummaryAndSeries(t *testing.T) {
	r, at := newRec()
	r.SetTarget(3)
	r.AddConnected(2)
	r.AddConnected(1)
	r.AddConnected(-1)
	fail := errors.New("refused")
	// second 0: ten connects of 1..10 ms, the last one failed
	for i := 1; i <= 10; i++ {
		var err error
		if i == 10 {
			err = fail
		}
		r.Observe("connect", time.Duration(i)*time.Millisecond, err)
	}
	// second 2: a hundred calls of 1..100 ms
	at(2500 * time.Millisecond)
	for i := 1; i <= 100; i++ {
		r.Observe("call", time.Duration(i)*time.Millisecond, nil)
	}
	at(4 * time.Second)
	rep := r.Summary()

	if rep.Duration.Duration() != 4*time.Second || rep.Devices != 2 || rep.MaxDevices != 3 || !rep.Start.Equal(t0) {
		t.Errorf("report header: %+v", rep)
	}
	if len(rep.Ops) != 2 || rep.Ops[0].Op != "call" || rep.Ops[1].Op != "connect" {
		t.Fatalf("ops not sorted by name: %+v", rep.Ops)
	}
	call, conn := rep.Ops[0], rep.Ops[1]
	if call.Count != 100 || call.Errors != 0 || call.Rate != 25 {
		t.Errorf("call row: %+v", call)
	}
	if conn.Count != 10 || conn.Errors != 1 || conn.Rate != 2.5 {
		t.Errorf("connect row: %+v", conn)
	}
	near := func(what string, got Millis, want time.Duration) {
		t.Helper()
		if rel := math.Abs(float64(got)-float64(want)) / float64(want); rel > 0.01 {
			t.Errorf("%s = %v, want %v", what, got.Duration(), want)
		}
	}
	near("call p50", call.P50, 50*time.Millisecond)
	near("call p90", call.P90, 90*time.Millisecond)
	near("call p99", call.P99, 99*time.Millisecond)
	near("call max", call.Max, 100*time.Millisecond)
	near("connect p50", conn.P50, 5*time.Millisecond)
	near("connect max", conn.Max, 10*time.Millisecond)
	if tot := rep.Total; tot.Op != "total" || tot.Count != 110 || tot.Errors != 1 || tot.Rate != 27.5 {
		t.Errorf("total: %+v", tot)
	}
	near("total max", rep.Total.Max, 100*time.Millisecond)

	if len(rep.Series) != 2 || rep.Series[0].Op != "call" || rep.Series[1].Op != "connect" {
		t.Fatalf("series: %+v", rep.Series)
	}
	cp := rep.Series[0].Points
	if len(cp) != 1 || cp[0].Second != 2 || cp[0].Count != 100 {
		t.Fatalf("call points: %+v", cp)
	}
	near("call second 2 p50", cp[0].P50, 50*time.Millisecond)
	near("call second 2 p99", cp[0].P99, 99*time.Millisecond)
	kp := rep.Series[1].Points
	if len(kp) != 1 || kp[0].Second != 0 || kp[0].Count != 10 || kp[0].Errors != 1 {
		t.Fatalf("connect points: %+v", kp)
	}
}

// Seconds that leave the window are reduced to points; the series reads
// the same before and after, and later observations go to later seconds.
func TestOldSecondsAreReducedUnchanged(t *testing.T) {
	r, at := newRec()
	for sec := range 3 {
		at(time.Duration(sec) * time.Second)
		for i := 1; i <= 10*(sec+1); i++ {
			r.Observe("op", time.Duration(i)*time.Millisecond, nil)
		}
	}
	before := r.Series()
	at(60 * time.Second)
	after := r.Series()
	if len(r.ops["op"].recent) != 0 || len(r.ops["op"].done) != 3 {
		t.Fatalf("not reduced: %d recent, %d done", len(r.ops["op"].recent), len(r.ops["op"].done))
	}
	if !slices.EqualFunc(before, after, func(a, b Series) bool { return a.Op == b.Op && slices.Equal(a.Points, b.Points) }) {
		t.Errorf("series changed by the reduction:\n%+v\n%+v", before, after)
	}
	r.Observe("op", time.Millisecond, nil)
	pts := r.Series()[0].Points
	if len(pts) != 4 || pts[3].Second != 60 || pts[2].Second != 2 {
		t.Errorf("points after: %+v", pts)
	}
}

// A clock that steps back does not reopen a reduced second.
func TestClockNeverGoesBack(t *testing.T) {
	r, at := newRec()
	at(30 * time.Second)
	r.Observe("op", time.Millisecond, nil)
	at(10 * time.Second)
	r.Observe("op", time.Millisecond, nil)
	pts := r.Series()[0].Points
	if len(pts) != 1 || pts[0].Second != 30 || pts[0].Count != 2 {
		t.Errorf("points: %+v", pts)
	}
}

func TestProgress(t *testing.T) {
	r, at := newRec()
	r.SetTarget(40)
	r.SetConnected(37)
	at(500 * time.Millisecond)
	for range 50 {
		r.Observe("a", 3*time.Millisecond, nil)
	}
	// During the first second the rate is over the time run so far.
	if got, want := r.Progress(), "t=0s devices=37/40 ops/s=100 errors=0 p50=3.0ms p99=3.0ms"; got != want {
		t.Errorf("progress:\n got %q\nwant %q", got, want)
	}
	// Seconds 0..11 hold 100 ops each, second 11 ends slow and with errors.
	for sec := 1; sec < 12; sec++ {
		at(time.Duration(sec) * time.Second)
		n := 100
		if sec == 1 {
			n = 50
		}
		for i := range n {
			d, err := 3*time.Millisecond, error(nil)
			if sec == 11 && i >= 90 {
				d, err = 18*time.Millisecond, errors.New("timeout")
			}
			r.Observe("b", d, err)
		}
	}
	at(12*time.Second + 300*time.Millisecond)
	// Window: seconds 7..11, 500 ops, 10 of them 18 ms (p99 = the 495th).
	if got, want := r.Progress(), "t=12s devices=37/40 ops/s=100 errors=10 p50=3.0ms p99=18ms"; got != want {
		t.Errorf("progress:\n got %q\nwant %q", got, want)
	}
	// Nothing for a while: the window is empty.
	at(30 * time.Second)
	r.SetTarget(0)
	if got, want := r.Progress(), "t=30s devices=37 ops/s=0.0 errors=10 p50=0.00ms p99=0.00ms"; got != want {
		t.Errorf("progress:\n got %q\nwant %q", got, want)
	}
}

func TestJSONReport(t *testing.T) {
	r, at := newRec()
	r.Observe("svc/booking/services", 2500*time.Microsecond, nil)
	at(2 * time.Second)
	var buf bytes.Buffer
	if err := r.Summary().WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Duration float64 `json:"duration_ms"`
		Ops      []map[string]any
		Total    map[string]any
		Series   []struct {
			Op     string
			Points []map[string]any
		}
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, buf.Bytes())
	}
	if doc.Duration != 2000 || len(doc.Ops) != 1 || doc.Ops[0]["op"] != "svc/booking/services" {
		t.Fatalf("report: %s", buf.Bytes())
	}
	for _, k := range []string{"p50_ms", "p90_ms", "p99_ms", "max_ms"} {
		if v, ok := doc.Ops[0][k].(float64); !ok || math.Abs(v-2.5) > 0.025 {
			t.Errorf("%s = %v, want about 2.5", k, doc.Ops[0][k])
		}
	}
	if doc.Ops[0]["rate"] != 0.5 || doc.Total["count"] != 1.0 {
		t.Errorf("rate/total: %s", buf.Bytes())
	}
	if len(doc.Series) != 1 || len(doc.Series[0].Points) != 1 || doc.Series[0].Points[0]["t"] != 0.0 {
		t.Errorf("series: %s", buf.Bytes())
	}
	// Millis decodes what it encodes.
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Ops[0].P50 != r.Summary().Ops[0].P50 || back.Duration.Duration() != 2*time.Second {
		t.Errorf("round trip: %+v", back.Ops[0])
	}
	// An empty run still has arrays, not nulls.
	empty, _ := json.Marshal(New(t0).Summary())
	if !bytes.Contains(empty, []byte(`"ops":[]`)) || !bytes.Contains(empty, []byte(`"series":[]`)) {
		t.Errorf("empty report: %s", empty)
	}
}

func TestTable(t *testing.T) {
	r, at := newRec()
	for i := 1; i <= 100; i++ {
		r.Observe("publish", time.Duration(i)*time.Millisecond, nil)
	}
	r.Observe("connect", 12*time.Millisecond, errors.New("x"))
	at(10 * time.Second)
	r.SetConnected(4)
	var buf bytes.Buffer
	if err := r.Summary().Table(&buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("table:\n%s", buf.String())
	}
	fields := strings.Fields(lines[2])
	want := []string{"publish", "100", "0", "10.0", "50.00", "90.00", "99.00", "100.00"}
	for i := range want {
		if rel := relDiff(fields[i], want[i]); rel > 0.01 {
			t.Errorf("publish row %q, want about %q", lines[2], strings.Join(want, " "))
			break
		}
	}
	if f := strings.Fields(lines[3]); len(f) != 8 || f[0] != "total" || f[1] != "101" || f[2] != "1" {
		t.Errorf("total row %q", lines[3])
	}
	if lines[4] != "run 10s, devices 4 (most at once 4)" {
		t.Errorf("footer %q", lines[4])
	}
	// Op names start each row; the numbers are right-aligned.
	if !strings.HasPrefix(strings.TrimSpace(lines[1]), "connect ") || !strings.HasPrefix(strings.TrimSpace(lines[3]), "total ") {
		t.Errorf("op names not at the left:\n%s", buf.String())
	}
	// Every row ends at the same column.
	for _, l := range lines[1:4] {
		if len(l) != len(lines[0]) {
			t.Errorf("rows not aligned:\n%s", buf.String())
			break
		}
	}
}

// relDiff compares two table cells: numbers by relative difference,
// anything else by equality (0 or 1).
func relDiff(a, b string) float64 {
	var x, y float64
	if _, err := fmt.Sscan(a, &x); err != nil {
		if a == b {
			return 0
		}
		return 1
	}
	if _, err := fmt.Sscan(b, &y); err != nil || y == 0 {
		if x == y {
			return 0
		}
		return 1
	}
	return math.Abs(x-y) / math.Abs(y)
}

// Observers on many goroutines lose nothing (run with -race).
func TestConcurrentObservers(t *testing.T) {
	r := New(time.Now())
	const workers, each = 8, 20_000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				var err error
				if i%100 == 0 {
					err = errors.New("e")
				}
				r.Observe([]string{"a", "b", "c"}[(w+i)%3], time.Duration(i%50+1)*time.Millisecond, err)
				if i%5000 == 0 {
					r.AddConnected(1)
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 50 {
			_ = r.Progress()
			_ = r.Summary()
		}
	}()
	wg.Wait()
	<-done
	rep := r.Summary()
	if rep.Total.Count != workers*each || rep.Total.Errors != workers*each/100 || rep.Devices != workers*4 {
		t.Fatalf("total %+v devices %d", rep.Total, rep.Devices)
	}
	sum := 0
	for _, s := range rep.Series {
		for _, p := range s.Points {
			sum += p.Count
		}
	}
	if sum != workers*each {
		t.Errorf("series hold %d observations, want %d", sum, workers*each)
	}
}
