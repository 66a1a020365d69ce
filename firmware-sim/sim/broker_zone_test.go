package sim

import (
	"testing"
	"time"
)

// TestMiddayZone: at every hour of the UTC day the zone chosen exists and
// is within an hour of noon, so the store's day never ends during a run.
func TestMiddayZone(t *testing.T) {
	base := time.Date(2026, 11, 21, 0, 30, 0, 0, time.UTC)
	for h := range 24 {
		now := base.Add(time.Duration(h) * time.Hour)
		name := middayZone(now)
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatalf("%v: %s: %v", now, name, err)
		}
		if lh := now.In(loc).Hour(); lh < 11 || lh > 13 {
			t.Errorf("%v: %s is at %d h", now, name, lh)
		}
	}
}
