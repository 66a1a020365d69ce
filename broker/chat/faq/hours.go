package faq

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// hoursConfig is the hours: section of faq.yaml.
type hoursConfig struct {
	TimeZone      string         `yaml:"time_zone"`
	Weekly        weeklyConfig   `yaml:"weekly"`
	Closed        []closedConfig `yaml:"closed"`
	AfterHours    Text           `yaml:"after_hours"`
	ReopenUnknown Text           `yaml:"reopen_unknown"`
}

type weeklyConfig struct {
	Mon []string `yaml:"mon"`
	Tue []string `yaml:"tue"`
	Wed []string `yaml:"wed"`
	Thu []string `yaml:"thu"`
	Fri []string `yaml:"fri"`
	Sat []string `yaml:"sat"`
	Sun []string `yaml:"sun"`
}

type closedConfig struct {
	Date  string `yaml:"date"`
	Until string `yaml:"until"`
	Name  string `yaml:"name"`
}

// Limits of the opening-hours search.
const (
	// maxClosedDays is the longest single closed period.
	maxClosedDays = 366
	// searchDays is how far ahead NextOpen looks.
	searchDays = 2*maxClosedDays + 8
)

// Hours are a store's business hours in its own time zone: weekly opening
// intervals and closed dates. An interval belongs to the day it opens on; one
// whose closing time is not after its opening time ("18:00-02:00") runs past
// midnight into the next day. A closed date cancels the intervals opening on
// it. Times are wall-clock times, so opening at 09:00 means 09:00 on both
// sides of a daylight-saving change.
type Hours struct {
	loc    *time.Location
	week   [7][]span // by time.Weekday
	closed []dateRange
}

// span is an opening interval in minutes after the midnight starting its day;
// close may go past 1440 (the next day).
type span struct{ open, close int }

// dateRange is a closed period, both ends included, as yyyymmdd.
type dateRange struct{ from, until int }

func newHours(c hoursConfig) (*Hours, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	h := &Hours{}
	if c.TimeZone == "" {
		bad("hours.time_zone: is empty (e.g. Asia/Shanghai)")
	} else if loc, err := time.LoadLocation(c.TimeZone); err != nil {
		bad("hours.time_zone: %w", err)
	} else {
		h.loc = loc
	}
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
				bad("hours.weekly.%s: %w", d.name, err)
				continue
			}
			h.week[d.wd] = append(h.week[d.wd], sp)
			opens = true
		}
		slices.SortFunc(h.week[d.wd], func(a, b span) int { return a.open - b.open })
		if err := checkOverlap(h.week[d.wd]); err != nil {
			bad("hours.weekly.%s: %w", d.name, err)
		}
	}
	for _, d := range days {
		// an interval past midnight must end before the next day's first one
		next := h.week[(d.wd+1)%7]
		for _, s := range h.week[d.wd] {
			if len(next) > 0 && s.close-24*60 > next[0].open {
				bad("hours.weekly.%s: %02d:%02d-… runs into the next day's first interval", d.name, s.open/60, s.open%60)
			}
		}
	}
	if !opens && len(errs) == 0 {
		bad("hours.weekly: the store never opens")
	}
	for i, cd := range c.Closed {
		r, err := parseClosed(cd)
		if err != nil {
			bad("hours.closed[%d]: %w", i, err)
			continue
		}
		h.closed = append(h.closed, r)
	}
	if !strings.Contains(c.AfterHours.ZH, "{when}") || !strings.Contains(c.AfterHours.EN, "{when}") {
		bad("hours.after_hours: zh and en must both contain {when}")
	}
	needBoth("hours.reopen_unknown", c.ReopenUnknown, bad)
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

func parseClosed(c closedConfig) (dateRange, error) {
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
	return dateRange{civil(from), civil(until)}, nil
}

// civil returns t's calendar date as yyyymmdd.
func civil(t time.Time) int {
	y, m, d := t.Date()
	return y*10000 + int(m)*100 + d
}

// Location returns the store's time zone.
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

// Open reports whether the store is open at t.
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

// NextOpen returns t when the store is open at t, otherwise the next moment
// it opens (in the store's time zone). It returns the zero Time when the
// store does not open within the next two years (closed dates covering
// everything).
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
