package faq

import (
	"strings"
	"testing"
	"time"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("time zone %s (install tzdata): %v", name, err)
	}
	return loc
}

// Mon–Thu 09–21, Fri 09–02 (into Saturday), Sat 10–12 and 14–02 (into
// Sunday), Sunday closed; 1–3 October 2026 closed.
func TestHoursShanghai(t *testing.T) {
	sh := mustZone(t, "Asia/Shanghai")
	h := mustLoad(t, withHours(shanghaiHours)).Hours()
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

func TestHoursHoliday(t *testing.T) {
	sh := mustZone(t, "Asia/Shanghai")
	h := mustLoad(t, withHours(shanghaiHours)).Hours()
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

// Berlin changes to summer time at 02:00 on Sunday 29 March 2026. Opening
// hours are wall-clock hours on both sides of the change.
func TestHoursBerlinDST(t *testing.T) {
	be := mustZone(t, "Europe/Berlin")
	h := mustLoad(t, withHours(`
  time_zone: Europe/Berlin
  weekly: {mon: ["09:00-18:00"], tue: ["09:00-18:00"], wed: ["09:00-18:00"], thu: ["09:00-18:00"],
    fri: ["09:00-18:00"], sat: ["09:00-18:00", "22:00-03:00"], sun: ["09:00-18:00"]}
  after_hours: {zh: "店员将于{when}回复", en: "Staff are back {when}."}
  reopen_unknown: {zh: 暂停营业, en: Closed for now}
`)).Hours()
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

func TestAfterHoursShipped(t *testing.T) {
	a := shipped(t)
	sh := mustZone(t, "Asia/Shanghai")
	if _, ok := a.AfterHours(time.Date(2026, 3, 2, 10, 0, 0, 0, sh), ""); ok {
		t.Error("after-hours reply while the store is open")
	}
	for _, c := range []struct {
		name string
		t    time.Time
		lang string
		want string
	}{
		{"Mon 23:00", time.Date(2026, 3, 2, 23, 0, 0, 0, sh), "zh", "店员将于明天 09:30上班后"},
		{"Mon 23:00", time.Date(2026, 3, 2, 23, 0, 0, 0, sh), "en", "when we open tomorrow at 09:30."},
		{"Tue 03:00, same day", time.Date(2026, 3, 3, 3, 0, 0, 0, sh), "en", "today at 09:30"},
		{"Tue 03:00 given in UTC", time.Date(2026, 3, 2, 19, 0, 0, 0, time.UTC), "zh", "今天 09:30"},
		{"Spring Festival", time.Date(2026, 2, 15, 21, 0, 0, 0, sh), "zh", "2月19日（周四）09:30"},
		{"Spring Festival", time.Date(2026, 2, 15, 21, 0, 0, 0, sh), "en", "Thursday 19 February at 09:30"},
		{"default language", time.Date(2026, 3, 2, 23, 0, 0, 0, sh), "", "明天 09:30"},
	} {
		got, ok := a.AfterHours(c.t, c.lang)
		if !ok || !strings.Contains(got, c.want) {
			t.Errorf("%s (%s): %q, %v; want it to contain %q", c.name, c.lang, got, ok, c.want)
		}
	}
}

func TestAfterHoursNeverReopens(t *testing.T) {
	a := mustLoad(t, withHours(strings.Replace(shanghaiHours,
		`- {date: "2026-10-01", until: "2026-10-03", name: National Day}`,
		`- {date: "2026-01-01", until: "2026-12-31"}
    - {date: "2027-01-01", until: "2027-12-31"}
    - {date: "2028-01-01", until: "2028-12-31"}`, 1)))
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	if next := a.Hours().NextOpen(now); !next.IsZero() {
		t.Errorf("NextOpen = %v, want zero", next)
	}
	if got, ok := a.AfterHours(now, "en"); !ok || got != "Closed for now" {
		t.Errorf("AfterHours = %q, %v", got, ok)
	}
}
