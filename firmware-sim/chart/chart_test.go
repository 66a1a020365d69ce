package chart

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"testing"
	"time"

	"github.com/storeedge/storeedge/firmware-sim/metrics"
)

// synthetic is a minute of three ops: a steady one, a slow one that spikes
// at second 30, and one with a gap and some errors.
func synthetic() []metrics.Series {
	mk := func(op string, f func(sec int) (p50, p99 time.Duration, n, errs int, ok bool)) metrics.Series {
		s := metrics.Series{Op: op}
		for sec := range 60 {
			p50, p99, n, errs, ok := f(sec)
			if ok {
				s.Points = append(s.Points, metrics.Point{Second: sec, Count: n, Errors: errs,
					P50: metrics.Millis(p50), P99: metrics.Millis(p99)})
			}
		}
		return s
	}
	return []metrics.Series{
		mk("connect", func(sec int) (time.Duration, time.Duration, int, int, bool) {
			return 2 * time.Millisecond, 6 * time.Millisecond, 40, 0, true
		}),
		mk("svc/booking/services", func(sec int) (time.Duration, time.Duration, int, int, bool) {
			p99 := 40 * time.Millisecond
			if sec >= 28 && sec <= 32 {
				p99 = 900 * time.Millisecond
			}
			return 12 * time.Millisecond, p99, 100 + sec, 0, true
		}),
		mk("publish", func(sec int) (time.Duration, time.Duration, int, int, bool) {
			errs := 0
			if sec%10 == 0 {
				errs = 5
			}
			return 500 * time.Microsecond, time.Duration(1+sec%7) * time.Millisecond, 300, errs, sec < 20 || sec > 25
		}),
	}
}

func render(t *testing.T, series []metrics.Series) image.Image {
	t.Helper()
	var buf bytes.Buffer
	if err := WritePNG(&buf, "latency over time", series...); err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("CHART_OUT"); dir != "" { // to look at it
		_ = os.WriteFile(dir+"/"+t.Name()+".png", buf.Bytes(), 0o644)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	return img
}

// count is how many pixels of r in img have colour c exactly.
func count(img image.Image, r image.Rectangle, c color.RGBA) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if color.RGBAModel.Convert(img.At(x, y)).(color.RGBA) == c {
				n++
			}
		}
	}
	return n
}

func TestChartDrawsEveryOp(t *testing.T) {
	series := synthetic()
	img := render(t, series)
	if b := img.Bounds(); b.Dx() != Width || b.Dy() != Height {
		t.Fatalf("size %v, want %dx%d", b, Width, Height)
	}
	l := newLayout()
	for i, s := range series {
		// Each op's line is in the latency plot: at least a pixel per second.
		if n := count(img, l.lat, Color(i)); n < 59 {
			t.Errorf("op %s: %d pixels of its colour %v in the latency plot", s.Op, n, Color(i))
		}
		// ...and not in the ops/s plot.
		if n := count(img, l.rate, Color(i)); n != 0 {
			t.Errorf("op %s: %d pixels of its colour in the ops/s plot", s.Op, n)
		}
	}
	// connect's p50 (2 ms) is a dashed line: on its row, about 6 pixels
	// in 10 have the op's colour.
	lo, hi := decades(0.5, 900)
	y := int(math.Round(logScale{lo, hi, float64(l.lat.Max.Y - 1 - pad), float64(l.lat.Min.Y + pad)}.at(2)))
	row := image.Rect(l.lat.Min.X+10, y, l.lat.Max.X-10, y+1)
	if n, w := count(img, row, Color(0)), row.Dx(); n < w*4/10 || n > w*8/10 {
		t.Errorf("connect's p50 row %d: %d of %d pixels in its colour, want a dashed line", y, n, w)
	}
	if n := count(img, l.rate, TotalColor); n < 59 {
		t.Errorf("total ops/s line: %d pixels", n)
	}
	if n := count(img, l.rate, ErrorColor); n == 0 {
		t.Error("no error bars")
	}
	// The spike of svc/booking/services (900 ms) reaches the top decade:
	// its colour is in the upper tenth of the plot, and nothing else is.
	top := image.Rect(l.lat.Min.X, l.lat.Min.Y, l.lat.Max.X, l.lat.Min.Y+l.lat.Dy()/10)
	if count(img, top, Color(1)) == 0 || count(img, top, Color(0)) != 0 {
		t.Error("the 900 ms spike is not where a log axis up to 1000 ms puts it")
	}
	// Text: the title and the axis labels draw dark pixels outside the plots.
	if count(img, image.Rect(0, 0, Width, l.lat.Min.Y-14), ink) == 0 {
		t.Error("no title")
	}
	if count(img, image.Rect(0, l.lat.Min.Y, l.lat.Min.X-2, l.lat.Max.Y), ink) == 0 {
		t.Error("no y axis labels")
	}
	if count(img, image.Rect(l.rate.Min.X, l.rate.Max.Y+2, l.rate.Max.X, Height), ink) == 0 {
		t.Error("no x axis labels")
	}
	// Legend: a swatch of every op's colour to the right of the plots.
	legend := image.Rect(l.lat.Max.X+1, 0, Width, Height)
	for i, s := range series {
		if count(img, legend, Color(i)) == 0 {
			t.Errorf("op %s missing from the legend", s.Op)
		}
	}
}

// An op seen in one second only is drawn as a dot, and one whose latencies
// are all 0 sits on the bottom of the axis: both still show.
func TestChartSinglePointAndZeroLatency(t *testing.T) {
	img := render(t, []metrics.Series{
		{Op: "once", Points: []metrics.Point{{Second: 5, Count: 1, P50: metrics.Millis(time.Millisecond), P99: metrics.Millis(time.Millisecond)}}},
		{Op: "zero", Points: []metrics.Point{{Second: 5, Count: 3}, {Second: 6, Count: 3}}},
	})
	l := newLayout()
	if count(img, l.lat, Color(0)) == 0 || count(img, l.lat, Color(1)) == 0 {
		t.Error("a one-point or zero-latency op is not drawn")
	}
}

func TestChartWithoutDataIsAnError(t *testing.T) {
	for name, series := range map[string][]metrics.Series{
		"no series":   nil,
		"no points":   {{Op: "a"}, {Op: "b", Points: []metrics.Point{}}},
		"from a run":  metrics.New(time.Now()).Series(),
		"empty again": {},
	} {
		var buf bytes.Buffer
		err := WritePNG(&buf, "x", series...)
		if !errors.Is(err, ErrNoData) {
			t.Errorf("%s: err = %v, want ErrNoData", name, err)
		}
		if buf.Len() != 0 {
			t.Errorf("%s: wrote %d bytes", name, buf.Len())
		}
	}
	huge := []metrics.Series{{Op: "a", Points: []metrics.Point{{Second: 0}, {Second: MaxSeconds + 1}}}}
	if err := WritePNG(&bytes.Buffer{}, "x", huge...); err == nil {
		t.Error("a span of more than MaxSeconds was drawn")
	}
}

// A writer that fails makes WritePNG fail, wrapping its error.
func TestChartWriteError(t *testing.T) {
	boom := errors.New("disk full")
	if err := WritePNG(failWriter{boom}, "x", synthetic()...); !errors.Is(err, boom) {
		t.Errorf("err = %v, want it to wrap %v", err, boom)
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

// The first ops have colours of their own, none of them the colour of
// the total line, the error bars, the grid or the text.
func TestColorsDistinct(t *testing.T) {
	seen := map[color.RGBA]string{TotalColor: "total", ErrorColor: "errors", gridColor: "grid", ink: "ink", white: "background"}
	for i := range len(palette) {
		if other, ok := seen[Color(i)]; ok {
			t.Errorf("op %d has the colour of %s", i, other)
		}
		seen[Color(i)] = "op " + string(rune('0'+i))
	}
}

func TestTicks(t *testing.T) {
	if got := niceTicks(0, 59, 10); len(got) != 6 || got[1] != 10 || got[5] != 50 {
		t.Errorf("x ticks for 0..59: %v", got)
	}
	if got := niceTicks(3, 4, 10); len(got) != 2 || got[0] != 3 || got[1] != 4 {
		t.Errorf("x ticks for 3..4: %v", got)
	}
	lo, hi := decades(0.4, 900)
	if lo != 0.1 || math.Abs(hi-1000) > 1e-9 {
		t.Errorf("decades(0.4, 900) = %v, %v", lo, hi)
	}
	if ts := logTicks(lo, hi); len(ts) != 13 || !ts[0].label || ts[len(ts)-1].v < 999 {
		t.Errorf("log ticks: %v", ts)
	}
	if top, step := niceMax(437); top != 500 || step != 100 {
		t.Errorf("niceMax(437) = %v, %v", top, step)
	}
}
