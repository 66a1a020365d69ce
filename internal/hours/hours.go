// Package hours models when something is open in a store: the store's
// business hours, and the shifts of the staff who work there. Both are
// weekly wall-clock intervals ("09:00-21:00", "18:00-02:00" past midnight)
// in one time zone, minus closed dates (holidays, days off).
//
// The YAML shape (Config) is the one faq.yaml's hours: section has always
// had, so every file that describes hours reads the same way.
package hours

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Config is the YAML shape of a set of hours.
type Config struct {
	// TimeZone is an IANA name (Asia/Shanghai). Required by New; must be
	// empty for NewIn, whose caller supplies the zone.
	TimeZone string `yaml:"time_zone"`
	// Weekly holds the opening intervals of each weekday.
	Weekly Weekly `yaml:"weekly"`
	// Closed lists dates (or ranges of dates) with no opening.
	Closed []Closed `yaml:"closed"`
}

// Weekly holds "HH:MM-HH:MM" intervals per weekday. An interval whose close
// is not after its open runs past midnight and belongs to the day it opens
// on; a day with no interval is closed.
type Weekly struct {
	Mon []string `yaml:"mon"`
	Tue []string `yaml:"tue"`
	Wed []string `yaml:"wed"`
	Thu []string `yaml:"thu"`
	Fri []string `yaml:"fri"`
	Sat []string `yaml:"sat"`
	Sun []string `yaml:"sun"`
}

// Closed is one closed date (YYYY-MM-DD), or a range of dates when Until is
// set (both ends included). It cancels the intervals opening on those dates.
type Closed struct {
	Date  string `yaml:"date"`
	Until string `yaml:"until"`
	Name  string `yaml:"name"`
}

// Limits of the opening-hours search.
const (
	// maxClosedDays is the longest single closed period.
	maxClosedDays = 366
	// searchDays is how far ahead NextOpen looks: past the longest closed
	// period twice over, so two back-to-back ranges still find the opening.
	searchDays = 2*maxClosedDays + 8
)

// Hours are weekly opening intervals and closed dates in one time zone. An
// interval belongs to the day it opens on; one whose closing time is not
// after its opening time ("18:00-02:00") runs past midnight into the next
// day. A closed date cancels the intervals opening on it. Times are
// wall-clock times, so opening at 09:00 means 09:00 on both sides of a
// daylight-saving change. Hours are immutable and safe for concurrent use.
type Hours struct {
	loc    *time.Location
	week   [7][]span // by time.Weekday
	closed []dateRange
}

// Interval is one opening: from Open (included) to Close (excluded).
type Interval struct {
	Open, Close time.Time
}

// span is an opening interval in minutes after the midnight starting its day;
// close may go past 1440 (the next day).
type span struct{ open, close int }

// dateRange is a closed period, both ends included, as yyyymmdd, with the
// Closed entry it came from.
type dateRange struct {
	from, until int
	src         Closed
}

// New builds store hours from c, whose TimeZone is required. where prefixes
// every error message with the config path of c ("hours"); all problems are
// reported at once. Hours that never open are an error.
func New(c Config, where string) (*Hours, error) {
	var errs []error
	var loc *time.Location
	if c.TimeZone == "" {
		errs = append(errs, fmt.Errorf("%s.time_zone: is empty (e.g. Asia/Shanghai)", where))
	} else if l, err := time.LoadLocation(c.TimeZone); err != nil {
		errs = append(errs, fmt.Errorf("%s.time_zone: %w", where, err))
	} else {
		loc = l
	}
	return build(c, loc, where, "the store never opens", errs)
}

// NewIn builds hours in a time zone given by the caller, such as a staff
// member's shifts in the store's zone; c.TimeZone must be empty, so that a
// shift cannot silently disagree with the store about the zone. A day
// without intervals is a day off, but hours with no interval on any day are
// an error.
func NewIn(c Config, loc *time.Location, where string) (*Hours, error) {
	var errs []error
	if c.TimeZone != "" {
		errs = append(errs, fmt.Errorf("%s.time_zone: not allowed here (the store's time zone applies)", where))
	}
	if loc == nil {
		errs = append(errs, fmt.Errorf("%s: no time zone given", where))
	}
	return build(c, loc, where, "no interval on any day", errs)
}

// build parses the weekly intervals and closed dates of c; never is the
// complaint when no day has an interval.
func build(c Config, loc *time.Location, where, never string, errs []error) (*Hours, error) {
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s"+format, append([]any{where}, args...)...))
	}
	h := &Hours{loc: loc}
	days := []struct {
		name string
		wd   time.Weekday
		list []string
	}{
		{"mon", time.Monday, c.Weekly.Mon}, {"tue", time.Tuesday, c.Weekly.Tue},
		{"wed", time.Wednesday, c.Weekly.Wed}, {"thu", time.Thursday, c.Weekly.Thu},
		{"fri", time.Friday, c.Weekly.Fri}, {"sat", time.Saturday, c.Weekly.Sat},
		{"sun", time.Sunday, c.Weekly.Sun},
	}
	opens := false
	for _, d := range days {
		for _, s := range d.list {
			sp, err := parseSpan(s)
			if err != nil {
				bad(".weekly.%s: %w", d.name, err)
				continue
			}
			h.week[d.wd] = append(h.week[d.wd], sp)
			opens = true
		}
		slices.SortFunc(h.week[d.wd], func(a, b span) int { return a.open - b.open })
		if err := checkOverlap(h.week[d.wd]); err != nil {
			bad(".weekly.%s: %w", d.name, err)
		}
	}
	for _, d := range days {
		// an interval past midnight must end before the next day's first one
		next := h.week[(d.wd+1)%7]
		for _, s := range h.week[d.wd] {
			if len(next) > 0 && s.close-24*60 > next[0].open {
				bad(".weekly.%s: %02d:%02d-… runs into the next day's first interval", d.name, s.open/60, s.open%60)
			}
		}
	}
	if !opens && len(errs) == 0 {
		bad(".weekly: %s", never)
	}
	for i, cd := range c.Closed {
		r, err := parseClosed(cd)
		if err != nil {
			bad(".closed[%d]: %w", i, err)
			continue
		}
		h.closed = append(h.closed, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return h, nil
}

// parseSpan parses "HH:MM-HH:MM"; the close may be 24:00.
func parseSpan(s string) (span, error) {
	o, c, ok := strings.Cut(strings.ReplaceAll(s, " ", ""), "-")
	if !ok {
		return span{}, fmt.Errorf("%q: want HH:MM-HH:MM", s)
	}
	open, err := parseClock(o, false)
	if err != nil {
		return span{}, fmt.Errorf("%q: %w", s, err)
	}
	cl, err := parseClock(c, true)
	if err != nil {
		return span{}, fmt.Errorf("%q: %w", s, err)
	}
	if cl == open {
		return span{}, fmt.Errorf("%q: opens and closes at the same time (use 00:00-24:00 for all day)", s)
	}
	if cl < open {
		cl += 24 * 60 // past midnight
	}
	return span{open, cl}, nil
}

func parseClock(s string, allow24 bool) (int, error) {
	if allow24 && s == "24:00" {
		return 24 * 60, nil
	}
	t, err := time.Parse("15:04", s)
	if err != nil || len(s) != 5 {
		return 0, fmt.Errorf("time %q: want HH:MM", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

func checkOverlap(spans []span) error {
	for i, a := range spans {
		for _, b := range spans[i+1:] {
			if a.open < b.close && b.open < a.close {
				return fmt.Errorf("intervals overlap")
			}
		}
	}
	return nil
}

func parseClosed(c Closed) (dateRange, error) {
	from, err := time.Parse(time.DateOnly, c.Date)
	if err != nil {
		return dateRange{}, fmt.Errorf("date %q: want YYYY-MM-DD", c.Date)
	}
	until := from
	if c.Until != "" {
		if until, err = time.Parse(time.DateOnly, c.Until); err != nil {
			return dateRange{}, fmt.Errorf("until %q: want YYYY-MM-DD", c.Until)
		}
	}
	days := int(until.Sub(from).Hours()/24) + 1
	if days < 1 {
		return dateRange{}, fmt.Errorf("until %s is before date %s", c.Until, c.Date)
	}
	if days > maxClosedDays {
		return dateRange{}, fmt.Errorf("%s..%s is longer than %d days", c.Date, c.Until, maxClosedDays)
	}
	return dateRange{civil(from), civil(until), c}, nil
}

// civil returns t's calendar date as yyyymmdd.
func civil(t time.Time) int {
	y, m, d := t.Date()
	return y*10000 + int(m)*100 + d
}

// Config returns the configuration h was built from, in a normal form:
// intervals as "HH:MM-HH:MM" sorted per day, the closed dates as given.
// Building hours from it gives the same hours.
func (h *Hours) Config() Config {
	c := Config{TimeZone: h.loc.String()}
	days := [7]*[]string{&c.Weekly.Sun, &c.Weekly.Mon, &c.Weekly.Tue, &c.Weekly.Wed, &c.Weekly.Thu, &c.Weekly.Fri, &c.Weekly.Sat}
	for wd, spans := range h.week {
		for _, s := range spans {
			cl := s.close
			if cl > 24*60 {
				cl -= 24 * 60
			}
			*days[wd] = append(*days[wd], fmt.Sprintf("%02d:%02d-%02d:%02d", s.open/60, s.open%60, cl/60, cl%60))
		}
	}
	for _, r := range h.closed {
		c.Closed = append(c.Closed, r.src)
	}
	return c
}

// Location returns the time zone the hours are in.
func (h *Hours) Location() *time.Location { return h.loc }

func (h *Hours) isClosed(day int) bool {
	for _, r := range h.closed {
		if day >= r.from && day <= r.until {
			return true
		}
	}
	return false
}

// spansOn calls fn with the absolute open and close times of every interval
// opening on the local date y-m-(d+off), in order of opening; fn returns false
// to stop. It reports whether fn stopped.
func (h *Hours) spansOn(y int, m time.Month, d, off int, fn func(open, close time.Time) bool) bool {
	date := time.Date(y, m, d+off, 12, 0, 0, 0, time.UTC) // calendar arithmetic only
	if h.isClosed(civil(date)) {
		return false
	}
	dy, dm, dd := date.Date()
	for _, s := range h.week[date.Weekday()] {
		open := time.Date(dy, dm, dd, 0, s.open, 0, 0, h.loc)
		cl := time.Date(dy, dm, dd, 0, s.close, 0, 0, h.loc)
		if !fn(open, cl) {
			return true
		}
	}
	return false
}

// Intervals returns every interval opening on the local calendar date
// y-m-d, in order, with absolute times in the hours' zone; none when that
// date is closed. The last one may close on the next date. The date is
// normalised like time.Date's (day 0 is the last of the previous month).
func (h *Hours) Intervals(y int, m time.Month, d int) []Interval {
	var out []Interval
	h.spansOn(y, m, d, 0, func(o, c time.Time) bool {
		out = append(out, Interval{o, c})
		return true
	})
	return out
}

// Open reports whether the hours are open at t.
func (h *Hours) Open(t time.Time) bool {
	y, m, d := t.In(h.loc).Date()
	open := false
	for off := -1; off <= 0 && !open; off++ {
		h.spansOn(y, m, d, off, func(o, c time.Time) bool {
			open = !t.Before(o) && t.Before(c)
			return !open
		})
	}
	return open
}

// NextOpen returns t when the hours are open at t, otherwise the next moment
// they open (in their time zone). It returns the zero Time when they do not
// open within the next two years (closed dates covering everything).
func (h *Hours) NextOpen(t time.Time) time.Time {
	if h.Open(t) {
		return t.In(h.loc)
	}
	y, m, d := t.In(h.loc).Date()
	var next time.Time
	for off := 0; off <= searchDays && next.IsZero(); off++ {
		h.spansOn(y, m, d, off, func(o, _ time.Time) bool {
			if o.After(t) {
				next = o
				return false
			}
			return true
		})
	}
	return next
}
