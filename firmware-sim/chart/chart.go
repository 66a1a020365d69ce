// Package chart draws a simulated store's latency over time as a PNG a
// person can open: seconds of the run along the x axis, milliseconds up
// the y axis (log scale, ticks at 1, 2 and 5 of each decade), one colour
// per op with its p99 as a thick solid line and its p50 as a thin dashed
// one, and below it a second panel with the total operations per second
// (errors per second as light red bars, at least a few pixels tall). The legend sits to the right of
// the plots, outside them.
//
// Its input is the per-second series a metrics.Recorder keeps.
package chart

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"slices"
	"strconv"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/storeedge/storeedge/firmware-sim/metrics"
)

// Size of the image, in pixels.
const (
	Width  = 1000
	Height = 700
)

// MaxSeconds is the longest span of seconds Render draws.
const MaxSeconds = 1_000_000

// pad is how many pixels the scales keep inside the frames, so that lines
// at the ends of an axis are not hidden by it.
const pad = 5

// ErrNoData is returned when the series hold no point to draw.
var ErrNoData = errors.New("chart: no data points to draw")

// palette holds the ops' colours, used in order and then again.
var palette = []color.RGBA{
	{31, 119, 180, 255},  // blue
	{255, 127, 14, 255},  // orange
	{44, 160, 44, 255},   // green
	{214, 39, 40, 255},   // red
	{148, 103, 189, 255}, // purple
	{140, 86, 75, 255},   // brown
	{227, 119, 194, 255}, // pink
	{188, 189, 34, 255},  // olive
	{23, 190, 207, 255},  // cyan
}

var (
	white     = color.RGBA{255, 255, 255, 255}
	ink       = color.RGBA{40, 40, 40, 255}    // text and axes
	gridColor = color.RGBA{225, 225, 225, 255} // grid lines
	// TotalColor is the colour of the total ops/s line.
	TotalColor = color.RGBA{0, 0, 0, 255}
	// ErrorColor is the colour of the errors/s bars.
	ErrorColor = color.RGBA{250, 160, 160, 255}
)

// Color is the colour of the i-th op (in the order given to WritePNG).
func Color(i int) color.RGBA { return palette[i%len(palette)] }

// layout places the panels: lat is the latency plot, rate the ops/s plot,
// legend the top-left corner of the legend.
type layout struct {
	lat, rate image.Rectangle
	legend    image.Point
}

func newLayout() layout {
	return layout{
		lat:    image.Rect(72, 48, Width-220, 448),
		rate:   image.Rect(72, 498, Width-220, Height-52),
		legend: image.Pt(Width-200, 48),
	}
}

// WritePNG draws the series (one per op) and writes the chart to w as a PNG.
func WritePNG(w io.Writer, title string, series ...metrics.Series) error {
	img, err := Render(title, series...)
	if err != nil {
		return err
	}
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("chart: encode PNG: %w", err)
	}
	return nil
}

// Render draws the chart into an image of Width × Height pixels.
func Render(title string, series ...metrics.Series) (*image.RGBA, error) {
	minSec, maxSec, minMs, maxMs, ok := bounds(series)
	if !ok {
		return nil, ErrNoData
	}
	if maxSec-minSec > MaxSeconds {
		return nil, fmt.Errorf("chart: the series span %d seconds; at most %d can be drawn", maxSec-minSec, MaxSeconds)
	}
	if maxSec == minSec {
		maxSec = minSec + 1
	}
	series = sorted(series)
	l := newLayout()
	img := image.NewRGBA(image.Rect(0, 0, Width, Height))
	draw.Draw(img, img.Bounds(), image.NewUniform(white), image.Point{}, draw.Src)

	xs := linear{float64(minSec), float64(maxSec), float64(l.lat.Min.X + pad), float64(l.lat.Max.X - 1 - pad)}
	lo, hi := decades(minMs, maxMs)
	ys := logScale{lo, hi, float64(l.lat.Max.Y - 1 - pad), float64(l.lat.Min.Y + pad)}

	// Totals per second, zero where nothing was observed.
	n := maxSec - minSec + 1
	total, errs := make([]float64, n), make([]float64, n)
	for _, s := range series {
		for _, p := range s.Points {
			total[p.Second-minSec] += float64(p.Count)
			errs[p.Second-minSec] += float64(p.Errors)
		}
	}
	rateMax, rateStep := niceMax(slices.Max(total))
	rs := linear{0, rateMax, float64(l.rate.Max.Y - 1 - pad), float64(l.rate.Min.Y + pad)}

	// Grid and axes.
	xticks := niceTicks(float64(minSec), float64(maxSec), 10)
	for _, r := range []image.Rectangle{l.lat, l.rate} {
		for _, t := range xticks {
			x := int(math.Round(xs.at(t)))
			vline(img, x, r.Min.Y, r.Max.Y-1, gridColor)
			label(img, fmtNum(t), x, r.Max.Y+16, alignCenter, ink)
		}
	}
	for _, t := range logTicks(lo, hi) {
		y := int(math.Round(ys.at(t.v)))
		hline(img, l.lat.Min.X, l.lat.Max.X-1, y, gridColor)
		if t.label {
			label(img, fmtNum(t.v), l.lat.Min.X-6, y+4, alignRight, ink)
		}
	}
	for v := 0.0; v <= rateMax+rateStep/2; v += rateStep {
		y := int(math.Round(rs.at(v)))
		hline(img, l.rate.Min.X, l.rate.Max.X-1, y, gridColor)
		label(img, fmtNum(v), l.rate.Min.X-6, y+4, alignRight, ink)
	}
	frame(img, l.lat, ink)
	frame(img, l.rate, ink)
	label(img, title, Width/2, 20, alignCenter, ink)
	label(img, "latency, ms (log scale)", l.lat.Min.X, l.lat.Min.Y-8, alignLeft, ink)
	label(img, "operations per second", l.rate.Min.X, l.rate.Min.Y-8, alignLeft, ink)
	label(img, "seconds", (l.rate.Min.X+l.rate.Max.X)/2, Height-14, alignCenter, ink)

	// Errors per second as bars, then the total line, in the lower panel.
	rc := pen{img: img, clip: l.rate}
	half := max(int(xs.k()/2)-1, 0)
	for i, e := range errs {
		if e > 0 {
			x, y := int(math.Round(xs.at(float64(minSec+i)))), int(math.Round(rs.at(e)))
			y = min(y, l.rate.Max.Y-1-pad-4) // a few errors among many ops still show
			rc.fill(image.Rect(x-half, y, x+half+1, int(math.Round(rs.at(0)))+1), ErrorColor)
		}
	}
	var tl []fpt
	for i, v := range total {
		tl = append(tl, fpt{xs.at(float64(minSec + i)), rs.at(v)})
	}
	rc.polyline(tl, 2, TotalColor, false)

	// The ops' lines: p50 thin and dashed, then p99 thick and solid on top.
	lc := pen{img: img, clip: l.lat}
	for _, p99 := range []bool{false, true} {
		for i, s := range series {
			for _, run := range runs(s.Points) {
				var pts []fpt
				for _, p := range run {
					v := p.P50
					if p99 {
						v = p.P99
					}
					pts = append(pts, fpt{xs.at(float64(p.Second)), ys.at(ms(v))})
				}
				if p99 {
					lc.polyline(pts, 3, Color(i), false)
				} else {
					lc.polyline(pts, 1, Color(i), true)
				}
			}
		}
	}
	drawLegend(img, l.legend, series, errsAny(errs))
	return img, nil
}

// bounds is the range of seconds and of positive latencies (ms) in the
// series; ok is false when there is no point at all.
func bounds(series []metrics.Series) (minSec, maxSec int, minMs, maxMs float64, ok bool) {
	minMs, maxMs = math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for _, p := range s.Points {
			if !ok {
				minSec, maxSec, ok = p.Second, p.Second, true
			}
			minSec, maxSec = min(minSec, p.Second), max(maxSec, p.Second)
			for _, v := range []float64{ms(p.P50), ms(p.P99)} {
				if v > 0 {
					minMs, maxMs = min(minMs, v), max(maxMs, v)
				}
			}
		}
	}
	if math.IsInf(minMs, 1) { // every latency was 0
		minMs, maxMs = 1, 1
	}
	return minSec, maxSec, minMs, maxMs, ok
}

// sorted returns the series with their points in order of seconds (the
// caller's are left as they are).
func sorted(series []metrics.Series) []metrics.Series {
	out := make([]metrics.Series, len(series))
	for i, s := range series {
		pts := slices.Clone(s.Points)
		slices.SortStableFunc(pts, func(a, b metrics.Point) int { return a.Second - b.Second })
		out[i] = metrics.Series{Op: s.Op, Points: pts}
	}
	return out
}

// runs splits points into runs of consecutive seconds; a line is not drawn
// across a second without observations.
func runs(pts []metrics.Point) [][]metrics.Point {
	var out [][]metrics.Point
	start := 0
	for i := 1; i <= len(pts); i++ {
		if i == len(pts) || pts[i].Second != pts[i-1].Second+1 {
			out = append(out, pts[start:i])
			start = i
		}
	}
	return out
}

func errsAny(errs []float64) bool {
	return slices.ContainsFunc(errs, func(e float64) bool { return e > 0 })
}

func drawLegend(img *image.RGBA, at image.Point, series []metrics.Series, withErrors bool) {
	p := pen{img: img, clip: img.Bounds()}
	x, y := at.X, at.Y
	row := func(name string, c color.RGBA, width int, dashed bool) {
		p.polyline([]fpt{{float64(x), float64(y)}, {float64(x + 26), float64(y)}}, width, c, dashed)
		label(img, clipText(name, (Width-x-40)/7), x+34, y+4, alignLeft, ink)
		y += 18
	}
	for i, s := range series {
		row(s.Op, Color(i), 3, false)
	}
	y += 8
	row("p99 (solid)", ink, 3, false)
	row("p50 (dashed)", ink, 1, true)
	row("total ops/s", TotalColor, 2, false)
	if withErrors {
		p.fill(image.Rect(x+8, y-5, x+18, y+5), ErrorColor)
		label(img, "errors/s", x+34, y+4, alignLeft, ink)
	}
}

func clipText(s string, n int) string {
	if len(s) <= n || n < 3 {
		return s
	}
	return s[:n-2] + ".."
}

func ms(m metrics.Millis) float64 { return float64(m) / 1e6 }

// linear maps [d0, d1] onto [p0, p1].
type linear struct{ d0, d1, p0, p1 float64 }

func (s linear) at(v float64) float64 { return s.p0 + (v-s.d0)*s.k() }
func (s linear) k() float64           { return (s.p1 - s.p0) / (s.d1 - s.d0) }

// logScale maps [d0, d1] (both > 0) onto [p0, p1] logarithmically; values
// at or below 0 land on d0.
type logScale struct{ d0, d1, p0, p1 float64 }

func (s logScale) at(v float64) float64 {
	v = min(max(v, s.d0), s.d1)
	return s.p0 + (math.Log10(v)-math.Log10(s.d0))/(math.Log10(s.d1)-math.Log10(s.d0))*(s.p1-s.p0)
}

// decades widens [lo, hi] to whole decades.
func decades(lo, hi float64) (float64, float64) {
	l := math.Pow(10, math.Floor(math.Log10(lo)))
	h := math.Pow(10, math.Ceil(math.Log10(hi)))
	if h <= l {
		h = l * 10
	}
	return l, h
}

type tick struct {
	v     float64
	label bool
}

// logTicks are 1, 2 and 5 of every decade in [lo, hi]; over more than four
// decades only the 1s are labelled.
func logTicks(lo, hi float64) []tick {
	many := math.Log10(hi/lo) > 4
	var out []tick
	for d := lo; d <= hi*1.0001; d *= 10 {
		for _, m := range []float64{1, 2, 5} {
			if v := d * m; v <= hi*1.0001 {
				out = append(out, tick{v, m == 1 || !many})
			}
		}
	}
	return out
}

// niceStep is the 1, 2 or 5 × 10^k step that splits span into at most n parts.
func niceStep(span float64, n int) float64 {
	if span <= 0 {
		return 1
	}
	raw := span / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

// niceTicks are the multiples of a nice step within [lo, hi] (whole
// numbers: the x axis counts seconds).
func niceTicks(lo, hi float64, n int) []float64 {
	step := max(niceStep(hi-lo, n), 1)
	var out []float64
	for v := math.Ceil(lo/step) * step; v <= hi; v += step {
		out = append(out, v)
	}
	return out
}

// niceMax is an axis top at or above v made of about five nice steps.
func niceMax(v float64) (top, step float64) {
	if v <= 0 {
		return 1, 1
	}
	step = niceStep(v, 5)
	return math.Ceil(v/step) * step, step
}

func fmtNum(v float64) string {
	if v >= 1e6 {
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

type align int

const (
	alignLeft align = iota
	alignCenter
	alignRight
)

// label writes s with its baseline at y.
func label(img *image.RGBA, s string, x, y int, a align, c color.RGBA) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13}
	w := d.MeasureString(s).Ceil()
	switch a {
	case alignCenter:
		x -= w / 2
	case alignRight:
		x -= w
	}
	d.Dot = fixed.P(x, y)
	d.DrawString(s)
}

func hline(img *image.RGBA, x0, x1, y int, c color.RGBA) {
	for x := x0; x <= x1; x++ {
		img.SetRGBA(x, y, c)
	}
}

func vline(img *image.RGBA, x, y0, y1 int, c color.RGBA) {
	for y := y0; y <= y1; y++ {
		img.SetRGBA(x, y, c)
	}
}

func frame(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	hline(img, r.Min.X, r.Max.X-1, r.Min.Y, c)
	hline(img, r.Min.X, r.Max.X-1, r.Max.Y-1, c)
	vline(img, r.Min.X, r.Min.Y, r.Max.Y-1, c)
	vline(img, r.Max.X-1, r.Min.Y, r.Max.Y-1, c)
}

type fpt struct{ x, y float64 }

// pen draws inside clip (its border excluded, so the frame stays visible).
type pen struct {
	img  *image.RGBA
	clip image.Rectangle
}

func (p pen) inner() image.Rectangle { return p.clip.Inset(1) }

func (p pen) fill(r image.Rectangle, c color.RGBA) {
	draw.Draw(p.img, r.Intersect(p.inner()), image.NewUniform(c), image.Point{}, draw.Src)
}

// dot is a width × width square centred on (x, y).
func (p pen) dot(x, y, width int, c color.RGBA) {
	h := width / 2
	p.fill(image.Rect(x-h, y-h, x-h+width, y-h+width), c)
}

// polyline joins pts with lines width pixels wide; dashed lines are on
// for 6 pixels and off for 4. A single point is drawn as a square.
func (p pen) polyline(pts []fpt, width int, c color.RGBA, dashed bool) {
	if len(pts) == 1 {
		p.dot(int(math.Round(pts[0].x)), int(math.Round(pts[0].y)), width+2, c)
		return
	}
	step := 0
	for i := 1; i < len(pts); i++ {
		x0, y0 := int(math.Round(pts[i-1].x)), int(math.Round(pts[i-1].y))
		x1, y1 := int(math.Round(pts[i].x)), int(math.Round(pts[i].y))
		// Bresenham
		dx, dy := abs(x1-x0), -abs(y1-y0)
		sx, sy := sign(x1-x0), sign(y1-y0)
		e := dx + dy
		for {
			if !dashed || step%10 < 6 {
				p.dot(x0, y0, width, c)
			}
			step++
			if x0 == x1 && y0 == y1 {
				break
			}
			e2 := 2 * e
			if e2 >= dy {
				e += dy
				x0 += sx
			}
			if e2 <= dx {
				e += dx
				y0 += sy
			}
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}
