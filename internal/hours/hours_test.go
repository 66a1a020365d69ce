package hours

import (
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/internal/strictyaml"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("time zone %s (install tzdata): %v", name, err)
	}
	return loc
}

func decode(t *testing.T, y string) Config {
	t.Helper()
	var c Config
	if err := strictyaml.Decode([]byte(y), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func mustNew(t *testing.T, y string) *Hours {
	t.Helper()
	h, err := New(decode(t, y), "hours")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Mon–Thu 09–21, Fri 09–02 (into Saturday), Sat 10–12 and 14–02 (into
// Sunday), Sunday closed; 1–3 October 2026 closed.
const shanghai = `
time_zone: Asia/Shanghai
weekly: {mon: ["09:00-21:00"], tue: ["09:00-21:00"], wed: ["09:00-21:00"], thu: ["09:00-21:00"],
  fri: ["09:00-02:00"], sat: ["10:00-12:00", "14:00-02:00"]}
closed:
  - {date: "2026-10-01", until: "2026-10-03", name: National Day}
`

func TestShanghai(t *testing.T) {
	sh := mustZone(t, "Asia/Shanghai")
	h := mustNew(t, shanghai)
	at := func(day, hh, mm int) time.Time { return time.Date(2026, 3, day, hh, mm, 0, 0, sh) } // 2 March 2026 is a Monday
	for _, c := range []struct {
		name string
		t    time.Time
		open bool
	}{
		{"Mon 08:59", at(2, 8, 59), false},
		{"Mon 09:00", at(2, 9, 0), true},
		{"Mon 20:59", at(2, 20, 59), true},
		{"Mon 21:00", at(2, 21, 0), false},
		{"Mon 09:30 given in UTC", time.Date(2026, 3, 2, 1, 30, 0, 0, time.UTC), true},
		{"Fri 23:00", at(6, 23, 0), true},
		{"Sat 01:30, Friday's hours past midnight", at(7, 1, 30), true},
		{"Sat 02:00", at(7, 2, 0), false},
		{"Sat 11:00", at(7, 11, 0), true},
		{"Sat 13:00, lunch break", at(7, 13, 0), false},
		{"Sun 01:59, Saturday's hours past midnight", at(8, 1, 59), true},
		{"Sun 02:00", at(8, 2, 0), false},
		{"Sun 12:00, closed day", at(8, 12, 0), false},
	} {
		if got := h.Open(c.t); got != c.open {
			t.Errorf("%s: Open = %v, want %v", c.name, got, c.open)
		}
	}
	for _, c := range []struct {
		name     string
		from, to time.Time
	}{
		{"Mon 08:00", at(2, 8, 0), at(2, 9, 0)},
		{"Mon 10:00, open now", at(2, 10, 0), at(2, 10, 0)},
		{"Mon 22:00", at(2, 22, 0), at(3, 9, 0)},
		{"Sat 12:30", at(7, 12, 30), at(7, 14, 0)},
		{"Sat 03:00", at(7, 3, 0), at(7, 10, 0)},
		{"Sun 03:00, closed Sunday", at(8, 3, 0), at(9, 9, 0)},
	} {
		if got := h.NextOpen(c.from); !got.Equal(c.to) {
			t.Errorf("%s: NextOpen = %v, want %v", c.name, got, c.to)
		}
	}
}

func TestHoliday(t *testing.T) {
	sh := mustZone(t, "Asia/Shanghai")
	h := mustNew(t, shanghai)
	thu := time.Date(2026, 10, 1, 10, 0, 0, 0, sh) // a Thursday, National Day
	if h.Open(thu) {
		t.Error("open on a closed date")
	}
	// Saturday 3 October is closed, so its 14:00–02:00 does not run into Sunday.
	if h.Open(time.Date(2026, 10, 4, 1, 0, 0, 0, sh)) {
		t.Error("open after midnight following a closed date")
	}
	// Closed Thu–Sat, Sunday is closed anyway: back Monday 5 October.
	want := time.Date(2026, 10, 5, 9, 0, 0, 0, sh)
	if got := h.NextOpen(time.Date(2026, 9, 30, 22, 0, 0, 0, sh)); !got.Equal(want) {
		t.Errorf("NextOpen before the holiday = %v, want %v", got, want)
	}
	if !h.Open(time.Date(2026, 9, 30, 20, 0, 0, 0, sh)) {
		t.Error("closed on the day before the holiday")
	}
}

func TestNeverReopens(t *testing.T) {
	h := mustNew(t, strings.Replace(shanghai,
		`- {date: "2026-10-01", until: "2026-10-03", name: National Day}`,
		`- {date: "2026-01-01", until: "2026-12-31"}
  - {date: "2027-01-01", until: "2027-12-31"}
  - {date: "2028-01-01", until: "2028-12-31"}`, 1))
	if next := h.NextOpen(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)); !next.IsZero() {
		t.Errorf("NextOpen = %v, want zero", next)
	}
}

const berlin = `
time_zone: Europe/Berlin
weekly: {mon: ["09:00-18:00"], tue: ["09:00-18:00"], wed: ["09:00-18:00"], thu: ["09:00-18:00"],
  fri: ["09:00-18:00"], sat: ["09:00-18:00", "22:00-03:00"], sun: ["09:00-18:00"]}
`

// Berlin changes to summer time at 02:00 on Sunday 29 March 2026. Opening
// hours are wall-clock hours on both sides of the change.
func TestBerlinDST(t *testing.T) {
	be := mustZone(t, "Europe/Berlin")
	h := mustNew(t, berlin)
	utc := func(mo time.Month, d, hh, mm int) time.Time { return time.Date(2026, mo, d, hh, mm, 0, 0, time.UTC) }
	for _, c := range []struct {
		name string
		t    time.Time
		open bool
	}{
		{"Mon 23 March 09:00 CET", utc(3, 23, 8, 0), true},
		{"Mon 23 March 08:30 CET", utc(3, 23, 7, 30), false},
		{"Mon 30 March 09:00 CEST", utc(3, 30, 7, 0), true},
		{"Mon 30 March 08:30 CEST", utc(3, 30, 6, 30), false},
		{"Mon 30 March 17:59 CEST", utc(3, 30, 15, 59), true},
		{"Mon 30 March 18:00 CEST", utc(3, 30, 16, 0), false},
		{"Sat night 01:59 CET, before the change", utc(3, 29, 0, 59), true},
		{"Sun 03:00 CEST, right after the change: closed", utc(3, 29, 1, 0), false},
		{"Sun 25 Oct 02:30 CET, the repeated hour: open until 03:00 wall clock", utc(10, 25, 1, 30), true},
		{"Sun 25 Oct 03:00 CET", utc(10, 25, 2, 0), false},
	} {
		if got := h.Open(c.t); got != c.open {
			t.Errorf("%s: Open = %v, want %v", c.name, got, c.open)
		}
	}
	next := h.NextOpen(utc(3, 29, 1, 30)) // 03:30 CEST on the change day
	if want := time.Date(2026, 3, 29, 9, 0, 0, 0, be); !next.Equal(want) || next.Location().String() != be.String() {
		t.Errorf("NextOpen on the change day = %v, want %v in Berlin time", next, want)
	}
	if !next.Equal(utc(3, 29, 7, 0)) {
		t.Errorf("09:00 CEST is %v, want 07:00 UTC", next.UTC())
	}
}

// Intervals are what a booking grid is laid on: absolute times, the
// past-midnight one ending on the next date, the spring-forward night an
// hour shorter, a closed date empty.
func TestIntervals(t *testing.T) {
	be := mustZone(t, "Europe/Berlin")
	sh := mustZone(t, "Asia/Shanghai")
	hb, hs := mustNew(t, berlin), mustNew(t, shanghai)
	for _, c := range []struct {
		name    string
		h       *Hours
		y       int
		m       time.Month
		d       int
		want    []Interval
		lengths []time.Duration
	}{
		{"Berlin Saturday before the change", hb, 2026, 3, 28, []Interval{
			{time.Date(2026, 3, 28, 9, 0, 0, 0, be), time.Date(2026, 3, 28, 18, 0, 0, 0, be)},
			{time.Date(2026, 3, 28, 22, 0, 0, 0, be), time.Date(2026, 3, 29, 3, 0, 0, 0, be)},
		}, []time.Duration{9 * time.Hour, 4 * time.Hour}},
		{"Berlin Saturday before the change back", hb, 2026, 10, 24, []Interval{
			{time.Date(2026, 10, 24, 9, 0, 0, 0, be), time.Date(2026, 10, 24, 18, 0, 0, 0, be)},
			{time.Date(2026, 10, 24, 22, 0, 0, 0, be), time.Date(2026, 10, 25, 3, 0, 0, 0, be)},
		}, []time.Duration{9 * time.Hour, 6 * time.Hour}},
		{"Shanghai Friday past midnight", hs, 2026, 3, 6, []Interval{
			{time.Date(2026, 3, 6, 9, 0, 0, 0, sh), time.Date(2026, 3, 7, 2, 0, 0, 0, sh)},
		}, []time.Duration{17 * time.Hour}},
		{"Shanghai Sunday", hs, 2026, 3, 8, nil, nil},
		{"Shanghai National Day", hs, 2026, 10, 1, nil, nil},
		{"normalised date: 31 September is 1 October", hs, 2026, 9, 31, nil, nil},
	} {
		got := c.h.Intervals(c.y, c.m, c.d)
		if len(got) != len(c.want) {
			t.Errorf("%s: %d intervals %v, want %d", c.name, len(got), got, len(c.want))
			continue
		}
		for i := range got {
			if !got[i].Open.Equal(c.want[i].Open) || !got[i].Close.Equal(c.want[i].Close) {
				t.Errorf("%s: interval %d = %v, want %v", c.name, i, got[i], c.want[i])
			}
			if l := got[i].Close.Sub(got[i].Open); l != c.lengths[i] {
				t.Errorf("%s: interval %d lasts %v, want %v", c.name, i, l, c.lengths[i])
			}
		}
	}
}

// Staff shifts take the store's zone and may leave days empty; days off
// are closed dates.
func TestNewIn(t *testing.T) {
	sh := mustZone(t, "Asia/Shanghai")
	h, err := NewIn(decode(t, `
weekly: {tue: ["10:00-18:00"], sat: ["12:00-21:00"]}
closed: [{date: "2026-03-07"}]
`), sh, "resources[2].shifts")
	if err != nil {
		t.Fatal(err)
	}
	if h.Location() != sh {
		t.Errorf("zone %v", h.Location())
	}
	if !h.Open(time.Date(2026, 3, 3, 10, 0, 0, 0, sh)) || h.Open(time.Date(2026, 3, 2, 10, 0, 0, 0, sh)) {
		t.Error("Tuesday shift wrong")
	}
	if got := h.Intervals(2026, 3, 7); got != nil {
		t.Errorf("day off has intervals %v", got)
	}
	if got := h.NextOpen(time.Date(2026, 3, 4, 0, 0, 0, 0, sh)); !got.Equal(time.Date(2026, 3, 10, 10, 0, 0, 0, sh)) {
		t.Errorf("next shift after a day off: %v", got)
	}
}

// Each broken config is rejected with an error naming the key at fault,
// under the caller's prefix.
func TestErrors(t *testing.T) {
	sh := mustZone(t, "Asia/Shanghai")
	for _, c := range []struct {
		name  string
		shift bool // NewIn instead of New
		yaml  string
		want  []string
	}{
		{"no time zone", false, `weekly: {mon: ["09:00-18:00"]}`, []string{"hours.time_zone: is empty"}},
		{"unknown time zone", false, `{time_zone: Asia/Atlantis, weekly: {mon: ["09:00-18:00"]}}`, []string{"hours.time_zone: unknown time zone"}},
		{"bad interval", false, `{time_zone: UTC, weekly: {mon: ["9-21"]}}`, []string{`hours.weekly.mon: "9-21": time "9": want HH:MM`}},
		{"same open and close", false, `{time_zone: UTC, weekly: {mon: ["09:00-09:00"]}}`, []string{"same time"}},
		{"overlap", false, `{time_zone: UTC, weekly: {mon: ["09:00-21:00", "20:00-22:00"]}}`, []string{"hours.weekly.mon: intervals overlap"}},
		{"into the next day", false, `{time_zone: UTC, weekly: {fri: ["09:00-02:00"], sat: ["01:00-12:00"]}}`, []string{"hours.weekly.fri: 09:00-… runs into"}},
		{"closed date", false, `{time_zone: UTC, weekly: {mon: ["09:00-18:00"]}, closed: [{date: "2026-13-01"}]}`, []string{"hours.closed[0]: date"}},
		{"closed backwards", false, `{time_zone: UTC, weekly: {mon: ["09:00-18:00"]}, closed: [{date: "2026-10-01", until: "2026-09-03"}]}`, []string{"hours.closed[0]: until 2026-09-03 is before"}},
		{"closed too long", false, `{time_zone: UTC, weekly: {mon: ["09:00-18:00"]}, closed: [{date: "2026-01-01", until: "2027-06-01"}]}`, []string{"longer than 366 days"}},
		{"never opens", false, `{time_zone: UTC}`, []string{"hours.weekly: the store never opens"}},
		{"every problem", false, `{time_zone: Nowhere, weekly: {mon: ["x"], tue: ["25:00-26:00"]}}`, []string{"time_zone", "weekly.mon", "weekly.tue"}},
		{"shift never on", true, `{weekly: {}}`, []string{"resources[2].shifts.weekly: no interval on any day"}},
		{"shift with its own zone", true, `{time_zone: UTC, weekly: {mon: ["09:00-18:00"]}}`, []string{"resources[2].shifts.time_zone: not allowed"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := decode(t, c.yaml)
			var err error
			if c.shift {
				_, err = NewIn(cfg, sh, "resources[2].shifts")
			} else {
				_, err = New(cfg, "hours")
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	if _, err := NewIn(Config{Weekly: Weekly{Mon: []string{"09:00-18:00"}}}, nil, "shifts"); err == nil {
		t.Error("NewIn without a zone: no error")
	}
}

func FuzzParseSpan(f *testing.F) {
	for _, s := range []string{"09:00-21:00", "22:00-02:00", "00:00-24:00", "9-5", "24:00-01:00", "09:00-09:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := parseSpan(s)
		if err != nil {
			return
		}
		if sp.open < 0 || sp.open >= 24*60 || sp.close <= sp.open || sp.close-sp.open > 24*60 {
			t.Fatalf("parseSpan(%q) = %+v", s, sp)
		}
	})
}

// Config gives back what the hours were built from, in normal form, so an
// editor can show them and building them again gives the same hours.
func TestConfigRoundTrip(t *testing.T) {
	c := Config{TimeZone: "Asia/Shanghai", Weekly: Weekly{
		Mon: []string{"14:00-18:00", "09:00-12:00"}, Fri: []string{"18:00-02:00"}, Sun: []string{"00:00-24:00"}},
		Closed: []Closed{{Date: "2026-10-01", Until: "2026-10-03", Name: "National Day"}}}
	h, err := New(c, "hours")
	if err != nil {
		t.Fatal(err)
	}
	got := h.Config()
	if strings.Join(got.Weekly.Mon, ",") != "09:00-12:00,14:00-18:00" || got.Weekly.Fri[0] != "18:00-02:00" ||
		got.Weekly.Sun[0] != "00:00-24:00" || len(got.Weekly.Tue) != 0 || got.TimeZone != "Asia/Shanghai" ||
		len(got.Closed) != 1 || got.Closed[0] != c.Closed[0] {
		t.Fatalf("config: %+v", got)
	}
	h2, err := New(got, "hours")
	if err != nil {
		t.Fatal(err)
	}
	loc := mustZone(t, "Asia/Shanghai")
	for d := 0; d < 14; d++ {
		day := time.Date(2026, 9, 28+d, 0, 0, 0, 0, loc)
		for m := 0; m < 24*60; m += 30 {
			at := day.Add(time.Duration(m) * time.Minute)
			if h.Open(at) != h2.Open(at) {
				t.Fatalf("%v: open %v, rebuilt %v", at, h.Open(at), h2.Open(at))
			}
		}
	}
}
