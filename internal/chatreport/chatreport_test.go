package chatreport

import (
	"testing"
	"time"
)

// Rows groups by key in key order; times count only where the closing has
// them; the median of an even count is the lower middle; ratings average
// to two decimals.
func TestRows(t *testing.T) {
	at := func(m int) *time.Time { v := time.Date(2026, 12, 7, 10, m, 0, 0, time.UTC); return &v }
	cs := []Closing{
		{Staff: "b", Opened: at(0), FirstResponse: at(1), Closed: *at(10), Stars: 5},
		{Staff: "a", Opened: at(0), FirstResponse: at(3), Closed: *at(20), Stars: 4},
		{Staff: "a", Opened: at(0), FirstResponse: at(5), Closed: *at(30)},
		{Staff: "a", Opened: at(0), Closed: *at(40), Stars: 4},
		{Staff: "a", Closed: *at(50), Stars: 1}, // staff wrote first: no times
	}
	rows, total := Rows(cs, func(c Closing) string { return c.Staff })
	if len(rows) != 2 || rows[0].Key != "a" || rows[1].Key != "b" {
		t.Fatalf("rows %+v", rows)
	}
	a := rows[0]
	if a.Handled != 4 || a.Responded != 2 || a.FirstResponseAvgMs != 240_000 || a.FirstResponseMedianMs != 180_000 ||
		a.Resolved != 3 || a.ResolutionAvgMs != 1_800_000 || a.ResolutionMedianMs != 1_800_000 ||
		a.Ratings != 3 || a.StarsAvg != 3 || a.Stars != [5]int{1, 0, 0, 2, 0} {
		t.Errorf("a: %+v", a)
	}
	if total.Handled != 5 || total.Ratings != 4 || total.StarsAvg != 3.5 || total.FirstResponseMedianMs != 180_000 {
		t.Errorf("total: %+v", total)
	}
	if rows, total := Rows(nil, func(Closing) string { return "" }); len(rows) != 0 || total.Handled != 0 || total.StarsAvg != 0 {
		t.Errorf("none: %+v %+v", rows, total)
	}
	if d := (Closing{Closed: time.Date(2026, 12, 7, 17, 0, 0, 0, time.UTC)}).Day(time.FixedZone("CST", 8*3600)); d != "2026-12-08" {
		t.Errorf("day in Shanghai %s", d)
	}
}
