package faq

import (
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/internal/hours"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("time zone %s (install tzdata): %v", name, err)
	}
	return loc
}

// The hours: section reaches internal/hours unchanged (its own tests cover
// the rules): the past-midnight Friday, the closed Sunday, the holiday.
func TestHoursFromConfig(t *testing.T) {
	sh := mustZone(t, "Asia/Shanghai")
	h := mustLoad(t, withHours(shanghaiHours)).Hours()
	if h.Location().String() != "Asia/Shanghai" {
		t.Errorf("time zone %v", h.Location())
	}
	for _, c := range []struct {
		name string
		t    time.Time
		open bool
	}{
		{"Mon 09:00", time.Date(2026, 3, 2, 9, 0, 0, 0, sh), true},
		{"Sat 01:30, Friday's hours past midnight", time.Date(2026, 3, 7, 1, 30, 0, 0, sh), true},
		{"Sun 12:00, closed day", time.Date(2026, 3, 8, 12, 0, 0, 0, sh), false},
		{"National Day", time.Date(2026, 10, 1, 10, 0, 0, 0, sh), false},
	} {
		if got := h.Open(c.t); got != c.open {
			t.Errorf("%s: Open = %v, want %v", c.name, got, c.open)
		}
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

// The texts are checked together with the hours, all problems in one error.
func TestHoursTextsAndRules(t *testing.T) {
	bad := strings.Replace(shanghaiHours, "Asia/Shanghai", "Asia/Atlantis", 1)
	bad = strings.Replace(bad, "reopen_unknown: {zh: 暂停营业, en: Closed for now}", "reopen_unknown: {zh: 暂停营业}", 1)
	_, err := Load(withHours(bad))
	if err == nil || !strings.Contains(err.Error(), "hours.time_zone") || !strings.Contains(err.Error(), "hours.reopen_unknown.en: is empty") {
		t.Fatalf("got %v, want the time zone and the missing text reported", err)
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

// hoursNow is a fixed HoursSource: the store's hours as the booking desk
// would hand them over.
type hoursNow struct{ h *hours.Hours }

func (s hoursNow) Hours() *hours.Hours { return s.h }

// With UseHours, the opening-hours answer is written from the hours given:
// weekdays with the same hours grouped, closed days said, closures of the
// next 60 days listed; the after-hours reply follows the same hours.
func TestHoursAnswerFromSource(t *testing.T) {
	a, err := Load(configs.FAQ)
	if err != nil {
		t.Fatal(err)
	}
	h, err := hours.New(hours.Config{TimeZone: "Asia/Shanghai", Weekly: hours.Weekly{
		Mon: []string{"10:00-18:00"}, Wed: []string{"10:00-18:00"}, Thu: []string{"10:00-18:00"},
		Fri: []string{"09:00-12:00", "14:00-20:00"}, Sat: []string{"09:00-20:00"}, Sun: []string{"09:00-20:00"}},
		Closed: []hours.Closed{{Date: "2026-12-01", Name: "盘点 Stocktaking"}, {Date: "2027-06-01", Name: "far away"}}}, "hours")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 23, 22, 0, 0, 0, h.Location()) // a Monday, closed
	a.UseHours(hoursNow{h}, func() time.Time { return now })
	en := a.Answer("What are your opening hours?", "en")
	want := "Our opening hours:\nMon 10:00–18:00, Tue closed, Wed–Thu 10:00–18:00, Fri 9:00–12:00, 14:00–20:00, Sat–Sun 9:00–20:00.\nClosed: 1 Dec (盘点 Stocktaking).\n"
	if en.Intent != IntentOpeningHours || !strings.HasPrefix(en.Text, want) {
		t.Fatalf("en answer:\n%s\nwant prefix:\n%s", en.Text, want)
	}
	zh := a.Answer("你们几点开门?", "")
	if !strings.Contains(zh.Text, "周一 10:00–18:00，周二 休息，周三至周四 10:00–18:00") || !strings.Contains(zh.Text, "近期休息：12月1日（盘点 Stocktaking）") {
		t.Fatalf("zh answer: %s", zh.Text)
	}
	if strings.Contains(zh.Text, "far away") {
		t.Fatalf("a closure months ahead is listed: %s", zh.Text)
	}
	// Tuesday is closed, so the after-hours reply points to Wednesday 10:00.
	if text, closed := a.AfterHours(now, "en"); !closed || !strings.Contains(text, "Wednesday 25 November at 10:00") {
		t.Fatalf("after hours: %v %q", closed, text)
	}
}
