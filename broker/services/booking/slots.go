package booking

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/storeedge/storeedge/internal/hours"
)

// Date is a local calendar date in the store's zone, as yyyymmdd: it sorts
// and compares like the date it stands for.
type Date int

// DateOf returns t's calendar date in loc (UTC when loc is nil).
func DateOf(t time.Time, loc *time.Location) Date {
	if loc == nil {
		loc = time.UTC
	}
	y, m, d := t.In(loc).Date()
	return Date(y*10000 + int(m)*100 + d)
}

// ParseDate parses "2006-01-02".
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return 0, fmt.Errorf("date %q: want YYYY-MM-DD: %w", s, err)
	}
	return DateOf(t, time.UTC), nil
}

// String returns the date as "2026-11-24".
func (d Date) String() string {
	y, m, dd := d.YMD()
	return fmt.Sprintf("%04d-%02d-%02d", y, int(m), dd)
}

// AddDays returns the date n days later (earlier when n < 0).
func (d Date) AddDays(n int) Date {
	y, m, dd := d.YMD()
	return DateOf(time.Date(y, m, dd+n, 12, 0, 0, 0, time.UTC), time.UTC)
}

// YMD returns the year, month and day.
func (d Date) YMD() (int, time.Month, int) {
	return int(d) / 10000, time.Month(int(d) / 100 % 100), int(d) % 100
}

// Busy is a resource held by a booking over [From, To): its duration plus
// its buffer.
type Busy struct {
	Resource string
	From, To time.Time
	Booking  string
}

// Slot is a start the service can be booked at. End is Start plus the
// service's Duration (the buffer is not the customer's time); Resources are
// the resources it would get, one per need, in the order of Needs.
type Slot struct {
	Start, End time.Time
	Resources  []string
}

// Why Place refuses a start.
var (
	ErrClosed       = errors.New("the store is closed that day")
	ErrOutsideHours = errors.New("the service does not fit in the opening hours at that time")
	ErrTaken        = errors.New("no free resources for the service at that time")
	ErrNotMinute    = errors.New("the start is not on a whole minute")
)

// Place assigns resources for s starting at start, given the busy
// intervals of that date (all resources; entries of other dates are
// harmless). The service occupies each assigned resource over
// [start, start+Duration+Buffer). It must lie within one opening interval:
// start ≥ open and start+Duration ≤ close (the buffer may run past
// closing). A resource with Shifts must have one shift covering
// [start, start+Duration). Each need gets its own resource, the first free
// one in config order, so the same bookings always give the same
// assignment. Busy entries of booking exclude are ignored, so that a
// reschedule does not collide with itself; "" excludes nothing.
//
// A start on a date on which no interval opens is ErrClosed, one outside
// that date's intervals ErrOutsideHours; the start need not be on the
// Step grid (staff may book off it). Place does not check HorizonDays.
func (c *Catalog) Place(s *Service, start time.Time, busy []Busy, exclude string) ([]string, error) {
	if s == nil || c.Hours == nil {
		return nil, errors.New("booking: Place without a service or hours")
	}
	if ns := start.UnixNano() % int64(time.Minute); ns != 0 {
		return nil, ErrNotMinute
	}
	loc := c.Location()
	d := DateOf(start, loc)
	prev, today := slotIntervals(c.Hours, d.AddDays(-1)), slotIntervals(c.Hours, d)
	at := start.UnixNano()
	var iv *slotSpan
	for i, list := 0, [][]slotSpan{prev, today}; i < len(list) && iv == nil; i++ {
		for j := range list[i] {
			if list[i][j].from <= at && at < list[i][j].to {
				iv = &list[i][j]
				break
			}
		}
	}
	switch {
	case iv == nil && len(today) == 0:
		return nil, ErrClosed
	case iv == nil || at+int64(s.Duration) > iv.to:
		return nil, ErrOutsideHours
	}
	p := newSlotPlan(c, s, d, busy, exclude)
	if !p.assign(at) {
		return nil, ErrTaken
	}
	out := make([]string, len(p.pick))
	for i, r := range p.pick {
		out[i] = c.Resources[r].ID
	}
	return out, nil
}

// Slots lists the free starts on date d, in order: the Step grid counted
// from each opening interval's open time, for every start whose service
// fits in its interval and gets its resources (as Place decides), leaving
// out starts before notBefore. A start is on d when its local date is d,
// so the small hours of an interval opened the evening before are listed
// under d too. busy and exclude are as for Place. Slots does not check
// HorizonDays.
func (c *Catalog) Slots(s *Service, d Date, busy []Busy, notBefore time.Time, exclude string) []Slot {
	if s == nil || c.Hours == nil || c.Step <= 0 {
		return nil
	}
	loc := c.Location()
	step, dur := int64(c.Step), int64(s.Duration)
	var ivs []slotSpan
	for _, iv := range slotIntervals(c.Hours, d.AddDays(-1)) {
		if DateOf(time.Unix(0, iv.to-1), loc) >= d { // only the part past midnight counts
			ivs = append(ivs, iv)
		}
	}
	ivs = append(ivs, slotIntervals(c.Hours, d)...)
	if len(ivs) == 0 {
		return nil
	}
	// Every Slot's Resources are cut from one array: one allocation per
	// call instead of one per slot.
	n := 0
	for _, iv := range ivs {
		if iv.to-iv.from >= dur {
			n += int((iv.to-iv.from-dur)/step) + 1
		}
	}
	names := make([]string, 0, n*len(s.Needs))
	out := make([]Slot, 0, n)
	p := newSlotPlan(c, s, d, busy, exclude)
	earliest := notBefore.UnixNano()
	if notBefore.IsZero() {
		earliest = math.MinInt64 // UnixNano of the zero Time is undefined
	}
	for _, iv := range ivs {
		// a start's date needs computing only where the interval crosses a
		// date boundary
		cross := DateOf(time.Unix(0, iv.from), loc) != d || DateOf(time.Unix(0, iv.to-1), loc) != d
		for t := iv.from; t+dur <= iv.to; t += step {
			if t < earliest {
				continue
			}
			if cross {
				if td := DateOf(time.Unix(0, t), loc); td < d {
					continue
				} else if td > d {
					break
				}
			}
			if !p.assign(t) {
				continue
			}
			i := len(names)
			for _, r := range p.pick {
				names = append(names, c.Resources[r].ID)
			}
			start := time.Unix(0, t).In(loc)
			out = append(out, Slot{Start: start, End: start.Add(s.Duration), Resources: names[i:len(names):len(names)]})
		}
	}
	return out
}

// Nearest returns up to n free slots closest in time to want, for answering
// a booking that conflicts: first those on want's date, nearest first
// (earlier on a tie), then those of the following dates in order, looking
// at days dates in all (at least want's). busyOn returns a date's busy
// intervals as Slots needs them. Slots before notBefore and beyond the
// dates looked at are not offered; the caller keeps days within
// HorizonDays.
func (c *Catalog) Nearest(s *Service, want time.Time, n, days int, notBefore time.Time, exclude string, busyOn func(Date) ([]Busy, error)) ([]Slot, error) {
	if n <= 0 || s == nil || c.Hours == nil {
		return nil, nil
	}
	if busyOn == nil {
		return nil, errors.New("booking: Nearest without busyOn")
	}
	days = max(days, 1)
	d := DateOf(want, c.Location())
	var out []Slot
	for i := 0; i < days && len(out) < n; i++ {
		day := d.AddDays(i)
		busy, err := busyOn(day)
		if err != nil {
			return nil, fmt.Errorf("booking: busy intervals of %s: %w", day, err)
		}
		ss := c.Slots(s, day, busy, notBefore, exclude)
		if i == 0 {
			slices.SortStableFunc(ss, func(a, b Slot) int {
				return cmp.Compare(slotDistance(a.Start, want), slotDistance(b.Start, want))
			})
		}
		out = append(out, ss[:min(len(ss), n-len(out))]...)
	}
	return out, nil
}

func slotDistance(t, want time.Time) time.Duration {
	if d := t.Sub(want); d >= 0 {
		return d
	}
	return want.Sub(t)
}

// slotSpan is a half-open interval [from, to) in Unix nanoseconds: plain
// integers keep the sweep over candidates cheap.
type slotSpan struct{ from, to int64 }

// slotIntervals returns the intervals of h opening on d.
func slotIntervals(h *hours.Hours, d Date) []slotSpan {
	y, m, dd := d.YMD()
	ivs := h.Intervals(y, m, dd)
	out := make([]slotSpan, len(ivs))
	for i, iv := range ivs {
		out[i] = slotSpan{iv.Open.UnixNano(), iv.Close.UnixNano()}
	}
	return out
}

// slotPlan answers "can s start at t, and on what?" for the candidates of
// one date, asked in ascending order of t: each resource's busy intervals
// are sorted and merged once, and a cursor per resource only moves forward.
type slotPlan struct {
	dur, hold int64   // the service's duration, and duration plus buffer
	cands     [][]int // per need, the resources that can meet it, in config order
	busy      []slotSpan
	lo, hi    []int        // per resource: its merged busy intervals are busy[lo:hi]
	cur       []int        // per resource: the first busy interval not yet over
	onShift   []bool       // per resource: it has Shifts, so shifts below bound it
	shifts    [][]slotSpan // per resource: its shifts opening on the date or the day before
	used      []bool       // per resource: taken by an earlier need of this candidate
	pick      []int        // per need: the resource assigned
}

// newSlotPlan prepares the plan of s on date d.
func newSlotPlan(c *Catalog, s *Service, d Date, busy []Busy, exclude string) *slotPlan {
	nr := len(c.Resources)
	p := &slotPlan{
		dur:     int64(s.Duration),
		hold:    int64(s.Duration + s.Buffer),
		cands:   make([][]int, len(s.Needs)),
		lo:      make([]int, nr),
		hi:      make([]int, nr),
		cur:     make([]int, nr),
		onShift: make([]bool, nr),
		shifts:  make([][]slotSpan, nr),
		used:    make([]bool, nr),
		pick:    make([]int, len(s.Needs)),
	}
	relevant := make([]bool, nr)
	var rel []int
	for i, n := range s.Needs {
		for r, res := range c.Resources {
			if res.Kind == n.Kind && (n.Skill == "" || slices.Contains(res.Skills, n.Skill)) {
				p.cands[i] = append(p.cands[i], r)
				if !relevant[r] {
					relevant[r] = true
					rel = append(rel, r)
				}
			}
		}
	}
	for _, r := range rel {
		if sh := c.Resources[r].Shifts; sh != nil {
			// a shift covering a start on d opened on d or the evening before
			p.onShift[r] = true
			p.shifts[r] = append(slotIntervals(sh, d.AddDays(-1)), slotIntervals(sh, d)...)
		}
	}
	// Busy intervals of the relevant resources, sorted by resource and
	// start, then merged so that both ends ascend and a cursor can sweep.
	type held struct {
		r int
		slotSpan
	}
	hs := make([]held, 0, len(busy))
	for _, b := range busy {
		if (exclude != "" && b.Booking == exclude) || !b.To.After(b.From) {
			continue
		}
		for _, r := range rel {
			if c.Resources[r].ID == b.Resource {
				hs = append(hs, held{r, slotSpan{b.From.UnixNano(), b.To.UnixNano()}})
				break
			}
		}
	}
	slices.SortFunc(hs, func(a, b held) int {
		if a.r != b.r {
			return a.r - b.r
		}
		return cmp.Compare(a.from, b.from)
	})
	p.busy = make([]slotSpan, 0, len(hs))
	for i, h := range hs {
		if i == 0 || hs[i-1].r != h.r {
			p.lo[h.r] = len(p.busy)
		} else if last := &p.busy[len(p.busy)-1]; h.from <= last.to {
			last.to = max(last.to, h.to)
			p.hi[h.r] = len(p.busy)
			continue
		}
		p.busy = append(p.busy, h.slotSpan)
		p.hi[h.r] = len(p.busy)
	}
	copy(p.cur, p.lo)
	return p
}

// free reports whether resource r can take the service starting at t:
// on shift for its duration, and not busy over its duration and buffer.
func (p *slotPlan) free(r int, t int64) bool {
	if p.onShift[r] {
		on := false
		for _, s := range p.shifts[r] {
			if s.from <= t && t+p.dur <= s.to {
				on = true
				break
			}
		}
		if !on {
			return false
		}
	}
	i := p.cur[r]
	for i < p.hi[r] && p.busy[i].to <= t {
		i++
	}
	p.cur[r] = i
	return i == p.hi[r] || p.busy[i].from >= t+p.hold
}

// assign fills pick with distinct free resources for every need at t,
// reporting whether it could. Backtracking is fine: a service has a few
// needs and a store a few resources of each kind.
func (p *slotPlan) assign(t int64) bool {
	return p.assignFrom(0, t)
}

func (p *slotPlan) assignFrom(need int, t int64) bool {
	if need == len(p.cands) {
		return true
	}
	for _, r := range p.cands[need] {
		if p.used[r] || !p.free(r, t) {
			continue
		}
		p.used[r] = true
		ok := p.assignFrom(need+1, t)
		p.used[r] = false
		if ok {
			p.pick[need] = r
			return true
		}
	}
	return false
}
