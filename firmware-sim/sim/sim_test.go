package sim_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/firmware-sim/sim"
	"github.com/storeedge/storeedge/internal/testbroker"
)

// short is a small store at a fast pace for a few seconds.
func short(t *testing.T, drill string) sim.Options {
	return sim.Options{Spawn: testbroker.Binary(t), Dir: t.TempDir(), Kiosks: 3, Tablets: 3, Cameras: 2, Staff: 2,
		Speed: 40, Duration: 9 * time.Second, Drill: drill}
}

func runSim(t *testing.T, o sim.Options) *sim.Result {
	t.Helper()
	var log strings.Builder
	o.Log = &log
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := sim.Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("drill %q: pass=%v %s; %d reconnects, %d errors\n%s", o.Drill, res.Pass, res.Detail, res.Reconnects, res.HonestErrors, log.String())
	if !res.Pass {
		t.Fatalf("drill %q failed: %s", o.Drill, res.Detail)
	}
	// The store did its day: bookings made, chats sent, pets in progress.
	if res.Messages < 10 || res.Bookings < 3 || res.Stages < 2 {
		t.Fatalf("too little happened: %d messages, %d bookings, %d stages", res.Messages, res.Bookings, res.Stages)
	}
	return res
}

func TestDayWithoutFaults(t *testing.T) {
	res := runSim(t, short(t, ""))
	if res.HonestErrors != 0 {
		t.Fatalf("%d errors in a day without faults", res.HonestErrors)
	}
	if len(res.Report.Ops) == 0 || res.Report.Total.Count == 0 {
		t.Fatalf("empty report: %+v", res.Report)
	}
}

func TestDrillBrokerRestart(t *testing.T) {
	res := runSim(t, short(t, sim.DrillBrokerRestart))
	if res.Reconnects < 10 { // every device, twice
		t.Fatalf("only %d reconnects: the broker was not restarted under the devices", res.Reconnects)
	}
}

func TestDrillWifiFlap(t *testing.T) {
	res := runSim(t, short(t, sim.DrillWifiFlap))
	if res.Reconnects < 3 {
		t.Fatalf("only %d reconnects: the Wi-Fi did not drop devices", res.Reconnects)
	}
}

func TestDrillUplinkOutage(t *testing.T) {
	if _, err := exec.LookPath("mosquitto"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("mosquitto is missing (Debian package mosquitto; make deps installs it)")
		}
		t.Skip("mosquitto is missing (Debian package mosquitto; make deps installs it)")
	}
	runSim(t, short(t, sim.DrillUplinkOutage))
}

func TestBadActorsLeaveHonestDevicesAlone(t *testing.T) {
	o := short(t, "")
	o.BadActors = true
	res := runSim(t, o)
	if len(res.BadActors) == 0 {
		t.Fatal("no bad-actor checks ran")
	}
	for _, b := range res.BadActors {
		if !b.Pass {
			t.Errorf("%s", b)
		}
	}
	if res.HonestErrors != 0 {
		t.Fatalf("honest devices saw %d errors while the bad actors ran", res.HonestErrors)
	}
}

func TestOptionsRefused(t *testing.T) {
	for name, o := range map[string]sim.Options{
		"no broker":           {Kiosks: 1, Duration: time.Second},
		"unknown drill":       {Spawn: "x", Kiosks: 1, Duration: time.Second, Drill: "flood"},
		"restart needs spawn": {Broker: "mqtt://127.0.0.1:1", Kiosks: 1, Duration: time.Second, Drill: sim.DrillBrokerRestart},
		"empty fleet":         {Spawn: "x", Duration: time.Second},
	} {
		if _, err := sim.Run(context.Background(), o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
