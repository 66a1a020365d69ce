package broker_test

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/internal/timesync"
	"github.com/storeedge/storeedge/proto"
)

// metricLines reads the /metrics lines that start with prefix.
func metricLines(t *testing.T, s *storetest.Store, prefix string) []string {
	t.Helper()
	res, err := http.Get("http://" + s.HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out []string
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix) {
			out = append(out, sc.Text())
		}
	}
	return out
}

// The health op's clock line follows the kernel's word (a settable source
// here) and the jumps of the store's clock, both ways; /metrics says the
// same.
func TestHealthClock(t *testing.T) {
	src := timesync.NewSettable(false)
	staffDev := storetest.Device{ID: "staff-anna", Role: "staff"}
	s := storetest.Start(t, storetest.Options{Devices: []storetest.Device{staffDev},
		Config: func(c *broker.Config) { c.Clock.PollEvery = 100 * time.Millisecond },
		Wire:   func(_ *storetest.Store, c *broker.Config) { c.ClockSource = src.Read }})
	staff := s.Connect(t, staffDev, "")
	health := func() proto.ClockHealth {
		var h proto.StoreHealth
		storetest.OK(t, staff.Call(t, "store", "health", `{}`)).Decode(t, &h)
		if h.Clock == nil {
			t.Fatal("the health op has no clock line")
		}
		return *h.Clock
	}
	wait := func(what string, ok func(proto.ClockHealth) bool) proto.ClockHealth {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; {
			c := health()
			if ok(c) {
				return c
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the clock line is %+v", what, c)
			}
			time.Sleep(20 * time.Millisecond) // polling with a deadline
		}
	}
	if c := health(); c.Synced || c.Source != "test" || c.Jumps != 0 {
		t.Fatalf("before the sync: %+v", c)
	}
	if l := metricLines(t, s, "storeedge_clock_synced "); len(l) != 1 || l[0] != "storeedge_clock_synced 0" {
		t.Fatalf("metrics before the sync: %v", l)
	}
	// NTP: the clock jumps a day forward and the kernel says synced.
	s.Jump(s.Now().Add(24 * time.Hour))
	src.Set(true)
	c := wait("after the sync", func(c proto.ClockHealth) bool { return c.Synced && c.Jumps == 1 })
	if c.LastJumpSeconds < 24*3600-60 || c.LastJumpAt == nil || !c.LastJumpAt.Equal(s.Now()) {
		t.Fatalf("the forward jump: %+v (clock %v)", c, s.Now())
	}
	// And an hour back.
	s.Jump(s.Now().Add(-time.Hour))
	c = wait("after the step back", func(c proto.ClockHealth) bool { return c.Jumps == 2 })
	if c.LastJumpSeconds > -3600+60 || c.LastJumpSeconds < -3600-60 {
		t.Fatalf("the backward jump: %+v", c)
	}
	l := metricLines(t, s, "storeedge_clock_jumps_total{")
	if strings.Join(l, "\n") != "storeedge_clock_jumps_total{direction=\"backward\"} 1\nstoreedge_clock_jumps_total{direction=\"forward\"} 1" {
		t.Fatalf("jumps in /metrics: %v", l)
	}
}
