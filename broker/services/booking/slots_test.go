package booking

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func slotZone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("time zone %s (install tzdata): %v", name, err)
	}
	return loc
}

// slotBusy is a booking holding res over [from, from+hold).
func slotBusy(booking string, from time.Time, hold time.Duration, res ...string) []Busy {
	var out []Busy
	for _, r := range res {
		out = append(out, Busy{Resource: r, From: from, To: from.Add(hold), Booking: booking})
	}
	return out
}

// slotStarts renders slots as "15:04" starts (in the store's zone), with
// their resources, for comparing.
func slotStarts(ss []Slot) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Start.Format("01-02 15:04") + " " + strings.Join(s.Resources, "+")
	}
	return out
}

func TestDate(t *testing.T) {
	sh := slotZone(t, "Asia/Shanghai")
	d, err := ParseDate("2026-11-24")
	if err != nil || d != 20261124 || d.String() != "2026-11-24" {
		t.Fatalf("ParseDate = %d, %v", d, err)
	}
	if y, m, dd := d.YMD(); y != 2026 || m != time.November || dd != 24 {
		t.Errorf("YMD = %d %v %d", y, m, dd)
	}
	for _, c := range []struct {
		d    Date
		n    int
		want Date
	}{
		{20261124, 7, 20261201}, {20261231, 1, 20270101}, {20260301, -1, 20260228}, {20280228, 1, 20280229}, {20260324, 0, 20260324},
	} {
		if got := c.d.AddDays(c.n); got != c.want {
			t.Errorf("%s + %d = %s, want %s", c.d, c.n, got, c.want)
		}
	}
	// 23:30 UTC on the 23rd is the 24th in Shanghai.
	if got := DateOf(time.Date(2026, 11, 23, 23, 30, 0, 0, time.UTC), sh); got != 20261124 {
		t.Errorf("DateOf = %s", got)
	}
	for _, s := range []string{"2026-13-01", "24.11.2026", "", "2026-02-30"} {
		if _, err := ParseDate(s); err == nil {
			t.Errorf("ParseDate(%q): no error", s)
		}
	}
}

// Where a start can go, and what it gets: the checks a front desk relies
// on when it books. 2 March 2026 is a Monday.
func TestPlace(t *testing.T) {
	c := catLoad(t, catShanghaiYAML, nil)
	sh := c.Location()
	at := func(mo time.Month, d, hh, mm int) time.Time { return time.Date(2026, mo, d, hh, mm, 0, 0, sh) }
	mon := func(hh, mm int) time.Time { return at(3, 2, hh, mm) }
	both := slices.Concat(slotBusy("b1", mon(9, 0), 90*time.Minute, "table-1"), slotBusy("b2", mon(9, 0), 90*time.Minute, "table-2"))
	for _, p := range []struct {
		name    string
		service string
		start   time.Time
		busy    []Busy
		exclude string
		want    []string
		err     error
	}{
		{"first table in config order", "wash", mon(9, 0), nil, "", []string{"table-1"}, nil},
		{"start before opening", "wash", mon(8, 30), nil, "", nil, ErrOutsideHours},
		{"ending after closing", "wash", mon(17, 30), nil, "", nil, ErrOutsideHours},
		{"ending at closing, buffer past it", "wash", mon(17, 0), nil, "", []string{"table-1"}, nil},
		{"lunch gap on a day with two intervals", "wash", at(3, 6, 18, 30), nil, "", nil, ErrOutsideHours},
		{"not across two intervals", "wash", at(3, 6, 17, 30), nil, "", nil, ErrOutsideHours},
		{"Sunday", "wash", at(3, 8, 11, 0), nil, "", nil, ErrClosed},
		{"holiday", "wash", at(10, 1, 11, 0), nil, "", nil, ErrClosed},
		{"Friday evening", "wash", at(3, 6, 23, 30), nil, "", []string{"table-1"}, nil},
		{"Saturday 00:00, Friday's interval past midnight", "wash", at(3, 7, 0, 0), nil, "", []string{"table-1"}, nil},
		{"Saturday 00:30 would end after 01:00", "wash", at(3, 7, 0, 30), nil, "", nil, ErrOutsideHours},
		{"Saturday 03:00, between Friday's close and Saturday's open", "wash", at(3, 7, 3, 0), nil, "", nil, ErrOutsideHours},
		{"seconds", "wash", mon(9, 0).Add(30 * time.Second), nil, "", nil, ErrNotMinute},
		{"given in UTC", "wash", time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC), nil, "", []string{"table-1"}, nil},
		{"off the grid is fine", "wash", mon(9, 10), nil, "", []string{"table-1"}, nil},

		{"buffer blocks the same table", "wash", mon(10, 0), slotBusy("b1", mon(9, 0), 90*time.Minute, "table-1"), "", []string{"table-2"}, nil},
		{"after the buffer the table is free", "wash", mon(10, 30), slotBusy("b1", mon(9, 0), 90*time.Minute, "table-1"), "", []string{"table-1"}, nil},
		{"both tables in their buffer", "wash", mon(10, 0), both, "", nil, ErrTaken},
		{"own buffer runs into the next booking", "wash", mon(9, 15),
			slices.Concat(slotBusy("b1", mon(10, 30), time.Hour, "table-1"), slotBusy("b2", mon(9, 0), 9*time.Hour, "table-2")), "", nil, ErrTaken},
		{"own buffer ends as the next booking starts", "wash", mon(9, 0),
			slices.Concat(slotBusy("b1", mon(10, 30), time.Hour, "table-1"), slotBusy("b2", mon(9, 0), 9*time.Hour, "table-2")), "", []string{"table-1"}, nil},
		{"other resources do not matter", "wash", mon(9, 0), slotBusy("b1", mon(9, 0), 9*time.Hour, "pool", "groomer-a", "nowhere"), "", []string{"table-1"}, nil},
		{"empty busy entry ignored", "wash", mon(9, 0), []Busy{{Resource: "table-1", From: mon(9, 0), To: mon(9, 0)}}, "", []string{"table-1"}, nil},

		{"exclude: a reschedule does not collide with itself", "wash", mon(9, 30), both, "b1", []string{"table-1"}, nil},
		{"exclude another booking changes nothing", "wash", mon(9, 30), both, "b9", nil, ErrTaken},

		{"two needs of one kind get two tables", "pair", mon(9, 0), nil, "", []string{"table-1", "table-2"}, nil},
		{"two needs of one kind, one table free", "pair", mon(9, 0), slotBusy("b1", mon(9, 0), time.Hour, "table-1"), "", nil, ErrTaken},
		{"table and groomer", "groom", mon(9, 0), nil, "", []string{"table-1", "groomer-a"}, nil},
		{"the first groomer is off shift", "groom", mon(14, 0), nil, "", []string{"table-1", "groomer-b"}, nil},
		{"skill: only groomer-a takes large dogs", "large", mon(9, 0), nil, "", []string{"table-1", "groomer-a"}, nil},
		{"skill: groomer-a's shift ends before the service", "large", mon(11, 30), nil, "", nil, ErrTaken},
		{"skill: groomer-a's shift ends as the service does", "large", mon(11, 0), nil, "", []string{"table-1", "groomer-a"}, nil},
		{"skill: not on shift on Tuesday", "large", at(3, 3, 9, 0), nil, "", nil, ErrTaken},
		{"skill: groomer-a busy, groomer-b cannot", "large", mon(9, 0), slotBusy("b1", mon(8, 0), 90*time.Minute, "groomer-a"), "", nil, ErrTaken},
		{"shift past midnight", "large", at(3, 6, 22, 30), nil, "", []string{"table-1", "groomer-a"}, nil},
		{"backtracking: the skilled groomer is kept for the skilled need", "duo", mon(9, 0), nil, "", []string{"groomer-b", "groomer-a"}, nil},
		{"no needs: only the hours matter", "advice", mon(17, 45), both, "", []string{}, nil},
	} {
		t.Run(p.name, func(t *testing.T) {
			got, err := c.Place(catService(t, c, p.service), p.start, p.busy, p.exclude)
			if !errors.Is(err, p.err) {
				t.Fatalf("Place = %v, %v; want error %v", got, err, p.err)
			}
			if err == nil && !slices.Equal(got, p.want) {
				t.Errorf("Place = %v, want %v", got, p.want)
			}
		})
	}
	if _, err := c.Place(nil, mon(9, 0), nil, ""); err == nil {
		t.Error("Place(nil service): no error")
	}
}

func TestSlots(t *testing.T) {
	c := catLoad(t, catShanghaiYAML, nil)
	sh := c.Location()
	mon := func(hh, mm int) time.Time { return time.Date(2026, 3, 2, hh, mm, 0, 0, sh) }
	wash := catService(t, c, "wash")
	grid := func(from, to string) []string { // wash starts on table-1 every 30 minutes
		var out []string
		f, _ := time.Parse("15:04", from)
		l, _ := time.Parse("15:04", to)
		for t := f; !t.After(l); t = t.Add(30 * time.Minute) {
			out = append(out, "03-02 "+t.Format("15:04")+" table-1")
		}
		return out
	}
	for _, s := range []struct {
		name      string
		service   string
		d         Date
		busy      []Busy
		notBefore time.Time
		exclude   string
		want      []string
	}{
		{"free Monday: 09:00 to 17:00 (ending by 18:00)", "wash", 20260302, nil, time.Time{}, "", grid("09:00", "17:00")},
		{"not before 12:10", "wash", 20260302, nil, mon(12, 10), "", grid("12:30", "17:00")},
		{"not before the evening", "wash", 20260302, nil, mon(17, 1), "", []string{}},
		{"one table busy: the other one", "wash", 20260302, slotBusy("b1", mon(9, 0), 9*time.Hour, "table-1"), time.Time{}, "",
			func() []string {
				g := grid("09:00", "17:00")
				for i := range g {
					g[i] = strings.Replace(g[i], "table-1", "table-2", 1)
				}
				return g
			}()},
		{"both busy until 12:00 (with buffer)", "wash", 20260302, slices.Concat(
			slotBusy("b1", mon(9, 0), 3*time.Hour, "table-1"), slotBusy("b2", mon(9, 0), 3*time.Hour, "table-2")),
			time.Time{}, "", grid("12:00", "17:00")},
		{"both busy, one excluded", "wash", 20260302, slices.Concat(
			slotBusy("b1", mon(9, 0), 3*time.Hour, "table-1"), slotBusy("b2", mon(9, 0), 3*time.Hour, "table-2")),
			time.Time{}, "b1", grid("09:00", "17:00")},
		{"both busy 12:00-13:00: the buffer keeps 11:00 off", "wash", 20260302, slices.Concat(
			slotBusy("b1", mon(12, 0), time.Hour, "table-1"), slotBusy("b2", mon(12, 0), time.Hour, "table-2")),
			time.Time{}, "", slices.Concat(grid("09:00", "10:30"), grid("13:00", "17:00"))},
		{"groomer-a's Monday shift, then groomer-b", "groom", 20260302, nil, time.Time{}, "", func() []string {
			var out []string
			for _, g := range grid("09:00", "17:00") {
				if g < "03-02 12:30" {
					out = append(out, g+"+groomer-a")
				} else {
					out = append(out, g+"+groomer-b")
				}
			}
			return out
		}()},
		{"large dogs only during groomer-a's shift", "large", 20260302, nil, time.Time{}, "",
			[]string{"03-02 09:00 table-1+groomer-a", "03-02 09:30 table-1+groomer-a", "03-02 10:00 table-1+groomer-a",
				"03-02 10:30 table-1+groomer-a", "03-02 11:00 table-1+groomer-a"}},
		{"Saturday: Friday's small hours, then Saturday's own", "wash", 20260307, nil, time.Time{}, "",
			[]string{"03-07 00:00 table-1", "03-07 10:00 table-1", "03-07 10:30 table-1", "03-07 11:00 table-1",
				"03-07 11:30 table-1", "03-07 12:00 table-1", "03-07 12:30 table-1", "03-07 13:00 table-1",
				"03-07 13:30 table-1", "03-07 14:00 table-1", "03-07 14:30 table-1", "03-07 15:00 table-1"}},
		{"Sunday, closed", "wash", 20260308, nil, time.Time{}, "", []string{}},
		{"National Day", "wash", 20261001, nil, time.Time{}, "", []string{}},
		{"holiday Saturday after a holiday Friday: no small hours", "wash", 20261003, nil, time.Time{}, "", []string{}},
	} {
		t.Run(s.name, func(t *testing.T) {
			got := c.Slots(catService(t, c, s.service), s.d, s.busy, s.notBefore, s.exclude)
			if g := slotStarts(got); !slices.Equal(g, s.want) {
				t.Errorf("Slots =\n%v\nwant\n%v", g, s.want)
			}
		})
	}
	// Every slot ends Duration after its start, and Place agrees with it.
	for _, d := range []Date{20260302, 20260306, 20260307} {
		for _, sv := range c.Services {
			for _, sl := range c.Slots(sv, d, nil, time.Time{}, "") {
				if !sl.End.Equal(sl.Start.Add(sv.Duration)) || DateOf(sl.Start, sh) != d || sl.Start.Location() != sh {
					t.Errorf("%s on %s: slot %v", sv.ID, d, sl)
				}
				if res, err := c.Place(sv, sl.Start, nil, ""); err != nil || !slices.Equal(res, sl.Resources) {
					t.Errorf("%s at %v: Slots offers %v, Place gives %v, %v", sv.ID, sl.Start, sl.Resources, res, err)
				}
			}
		}
	}
	fri := slotStarts(c.Slots(catService(t, c, "nail"), 20260306, nil, time.Time{}, ""))
	// Friday has both intervals; the evening one's starts after midnight
	// belong to Saturday.
	if len(fri) != 18+8 || fri[17] != "03-06 17:30 table-1" || fri[18] != "03-06 20:00 table-1" || fri[25] != "03-06 23:30 table-1" {
		t.Errorf("Friday nails: %v", fri)
	}
	if got := c.Slots(wash, 20260302, nil, time.Time{}, ""); cap(got[0].Resources) != 1 {
		t.Errorf("a slot's Resources can grow into the next slot's: cap %d", cap(got[0].Resources))
	}
}

// Berlin moves the clocks forward at 02:00 on Sunday 29 March 2026 and back
// at 03:00 on Sunday 25 October. The grid steps in real time, so the night
// interval 22:00-03:00 gives an hour fewer starts in spring and an hour more
// (02:00-02:45 twice) in autumn; daytime hours are wall-clock hours.
func TestSlotsDST(t *testing.T) {
	c := catLoad(t, `
hours:
  time_zone: Europe/Berlin
  weekly: {mon: ["09:00-18:00"], sat: ["09:00-18:00", "22:00-03:00"], sun: ["09:00-18:00"]}
slot_step: 15m
resources: [{id: table-1, kind: table}]
services:
  - {id: wash, name: {zh: 洗澡, en: Wash}, category: pet, duration: 1h, price: 1, currency: EUR, needs: [{kind: table}]}
`, nil)
	be := c.Location()
	wash := catService(t, c, "wash")
	utc := func(mo time.Month, d, hh, mm int) time.Time { return time.Date(2026, mo, d, hh, mm, 0, 0, time.UTC) }
	for _, x := range []struct {
		name        string
		d           Date
		n           int
		first, last time.Time
	}{
		// 09:00..17:00 CET, then 22:00..23:45 CET
		{"Saturday before the change", 20260328, 33 + 8, utc(3, 28, 8, 0), utc(3, 28, 22, 45)},
		// 00:00..01:00 CET (03:00 CEST closes at 01:00 UTC), then 09:00..17:00 CEST
		{"the change night and Sunday", 20260329, 5 + 33, utc(3, 28, 23, 0), utc(3, 29, 15, 0)},
		{"Monday in summer time", 20260330, 33, utc(3, 30, 7, 0), utc(3, 30, 15, 0)},
		// 00:00 CEST (22:00 UTC) to 02:00 CET (01:00 UTC): 13 starts
		{"the night the clocks go back", 20261025, 13 + 33, utc(10, 24, 22, 0), utc(10, 25, 16, 0)},
	} {
		ss := c.Slots(wash, x.d, nil, time.Time{}, "")
		if len(ss) != x.n || !ss[0].Start.Equal(x.first) || !ss[len(ss)-1].Start.Equal(x.last) {
			t.Errorf("%s: %d slots %v", x.name, len(ss), slotStarts(ss))
			continue
		}
		for i := 1; i < len(ss); i++ {
			if !ss[i].Start.After(ss[i-1].Start) {
				t.Errorf("%s: slots out of order at %d", x.name, i)
			}
		}
	}
	// Place agrees: 01:00 CET is the last start of the short night; 02:30
	// does not exist that night and 01:15 CET would end after 03:00 CEST.
	sat := time.Date(2026, 3, 29, 1, 0, 0, 0, be)
	if _, err := c.Place(wash, sat, nil, ""); err != nil {
		t.Errorf("01:00 CET on the change night: %v", err)
	}
	if _, err := c.Place(wash, sat.Add(15*time.Minute), nil, ""); !errors.Is(err, ErrOutsideHours) {
		t.Errorf("01:15 CET on the change night: %v, want ErrOutsideHours", err)
	}
	if _, err := c.Place(wash, utc(3, 30, 6, 45), nil, ""); !errors.Is(err, ErrOutsideHours) {
		t.Errorf("08:45 CEST: %v, want ErrOutsideHours", err)
	}
}

// A conflict answer offers the free slots nearest the one asked for: that
// day's first, nearest first, then the next days' in order.
func TestNearest(t *testing.T) {
	c := catLoad(t, catShanghaiYAML, nil)
	sh := c.Location()
	nail := catService(t, c, "nail") // 30 minutes, no buffer, on either table
	at := func(d, hh, mm int) time.Time { return time.Date(2026, 3, d, hh, mm, 0, 0, sh) }
	busy := map[Date][]Busy{
		// Monday: both tables taken 10:30-11:30.
		20260302: slices.Concat(slotBusy("b1", at(2, 10, 30), time.Hour, "table-1"), slotBusy("b2", at(2, 10, 30), time.Hour, "table-2")),
		// Tuesday: both tables taken until 16:00.
		20260303: slices.Concat(slotBusy("b3", at(3, 9, 0), 7*time.Hour, "table-1"), slotBusy("b4", at(3, 9, 0), 7*time.Hour, "table-2")),
	}
	var asked []Date
	busyOn := func(d Date) ([]Busy, error) {
		asked = append(asked, d)
		return busy[d], nil
	}
	hhmm := func(ss []Slot) []string {
		out := make([]string, len(ss))
		for i, s := range ss {
			out[i] = s.Start.Format("Mon 15:04")
		}
		return out
	}
	for _, x := range []struct {
		name      string
		want      time.Time
		n, days   int
		notBefore time.Time
		exclude   string
		slots     []string
		asked     []Date
	}{
		{"same day, nearest first, earlier on a tie", at(2, 11, 0), 4, 7, time.Time{}, "",
			[]string{"Mon 11:30", "Mon 10:00", "Mon 12:00", "Mon 09:30"}, []Date{20260302}},
		{"not before 10:15", at(2, 11, 0), 3, 7, at(2, 10, 15), "",
			[]string{"Mon 11:30", "Mon 12:00", "Mon 12:30"}, []Date{20260302}},
		{"excluding one booking frees a table", at(2, 11, 0), 2, 7, time.Time{}, "b1",
			[]string{"Mon 11:00", "Mon 10:30"}, []Date{20260302}},
		{"then the next days in order", at(2, 17, 0), 4, 7, at(2, 16, 50), "",
			[]string{"Mon 17:00", "Mon 17:30", "Tue 16:00", "Tue 16:30"}, []Date{20260302, 20260303}},
		{"past a closed Sunday", at(7, 15, 0), 2, 3, at(7, 15, 0), "",
			[]string{"Sat 15:00", "Sat 15:30"}, []Date{20260307}},
		{"Saturday evening, Sunday closed, Monday", at(7, 15, 40), 3, 3, at(7, 15, 40), "",
			[]string{"Mon 09:00", "Mon 09:30", "Mon 10:00"}, []Date{20260307, 20260308, 20260309}},
		{"no more than days dates", at(7, 15, 40), 3, 2, at(7, 15, 40), "",
			[]string{}, []Date{20260307, 20260308}},
		{"days below 1 still looks at the day", at(2, 11, 0), 1, 0, time.Time{}, "",
			[]string{"Mon 11:30"}, []Date{20260302}},
	} {
		t.Run(x.name, func(t *testing.T) {
			asked = nil
			got, err := c.Nearest(nail, x.want, x.n, x.days, x.notBefore, x.exclude, busyOn)
			if err != nil {
				t.Fatal(err)
			}
			if g := hhmm(got); !slices.Equal(g, x.slots) {
				t.Errorf("Nearest = %v, want %v", g, x.slots)
			}
			if !slices.Equal(asked, x.asked) {
				t.Errorf("busy loaded for %v, want %v", asked, x.asked)
			}
		})
	}
	broken := errors.New("disk on fire")
	_, err := c.Nearest(nail, at(2, 11, 0), 3, 7, time.Time{}, "", func(Date) ([]Busy, error) { return nil, broken })
	if !errors.Is(err, broken) || !strings.Contains(err.Error(), "2026-03-02") {
		t.Errorf("busyOn's error: %v", err)
	}
	if got, err := c.Nearest(nail, at(2, 11, 0), 0, 7, time.Time{}, "", busyOn); got != nil || err != nil {
		t.Errorf("n = 0: %v, %v", got, err)
	}
}

// Slots and Place make the same decisions whatever the order of the busy
// entries, overlapping or not.
func TestSlotsBusyOrder(t *testing.T) {
	c := catLoad(t, catShanghaiYAML, nil)
	sh := c.Location()
	groom := catService(t, c, "groom")
	var busy []Busy
	for i, spec := range []struct {
		res    string
		hh, mm int
		mins   int
	}{
		{"table-1", 9, 0, 60}, {"groomer-b", 15, 0, 45}, {"table-1", 9, 30, 90}, {"table-2", 13, 0, 30},
		{"groomer-a", 10, 0, 30}, {"table-1", 14, 0, 30}, {"table-2", 12, 45, 20}, {"table-1", 10, 0, 10},
	} {
		busy = append(busy, slotBusy(fmt.Sprint("b", i), time.Date(2026, 3, 2, spec.hh, spec.mm, 0, 0, sh), time.Duration(spec.mins)*time.Minute, spec.res)...)
	}
	want := slotStarts(c.Slots(groom, 20260302, busy, time.Time{}, ""))
	for i := range len(busy) {
		rot := slices.Concat(busy[i:], busy[:i])
		slices.Reverse(rot)
		if got := slotStarts(c.Slots(groom, 20260302, rot, time.Time{}, "")); !slices.Equal(got, want) {
			t.Fatalf("order %d: %v, want %v", i, got, want)
		}
	}
	for _, w := range want {
		hhmm, _ := time.Parse("15:04", w[6:11])
		start := time.Date(2026, 3, 2, hhmm.Hour(), hhmm.Minute(), 0, 0, sh)
		if res, err := c.Place(groom, start, busy, ""); err != nil || w[12:] != strings.Join(res, "+") {
			t.Errorf("%s: Place = %v, %v", w, res, err)
		}
	}
	if len(want) < 2 || want[0] != "03-02 09:00 table-2+groomer-a" || want[1] != "03-02 09:30 table-2+groomer-b" {
		t.Errorf("first slot %v", want)
	}
}
