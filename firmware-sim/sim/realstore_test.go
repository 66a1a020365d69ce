package sim_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/device"
	"github.com/storeedge/storeedge/firmware-sim/sim"
	"github.com/storeedge/storeedge/internal/testkit/testbroker"
)

// everyDay is opening hours (or a shift) around the clock.
const everyDay = `{mon: ["00:00-24:00"], tue: ["00:00-24:00"], wed: ["00:00-24:00"], thu: ["00:00-24:00"], fri: ["00:00-24:00"], sat: ["00:00-24:00"], sun: ["00:00-24:00"]}`

// inThreeDays is a shift on the weekday three days from now only, in the
// catalogue's zone.
func inThreeDays() string {
	zone, _ := time.LoadLocation(sim.MiddayZone(time.Now()))
	day := strings.ToLower(time.Now().In(zone).AddDate(0, 0, 3).Weekday().String()[:3])
	return fmt.Sprintf(`{%s: ["00:00-24:00"]}`, day)
}

// ownCatalogue is a store's own catalogue, none of whose ids is the
// simulator's demo catalogue's: two services of its own, on its own
// tables and rooms, open around the clock in a zone where it is about noon.
func ownCatalogue() string {
	var b strings.Builder
	fmt.Fprintf(&b, "hours:\n  time_zone: %s\n  weekly: %s\n", sim.MiddayZone(time.Now()), everyDay)
	b.WriteString("slot_step: 5m\nhorizon_days: 14\nreminders: [2h]\nsurvey_after: 1h\nstages: [checked_in, bathing, drying, styling, ready]\nresources:\n")
	for i := 1; i <= 6; i++ {
		fmt.Fprintf(&b, "  - {id: tub-%d, kind: tub, name: {zh: 浴缸%d, en: Tub %d}}\n", i, i, i)
		fmt.Fprintf(&b, "  - {id: pro-%d, kind: groomer, name: {zh: 美容师%d, en: Groomer %d}, shifts: {weekly: %s}}\n", i, i, i, everyDay)
	}
	b.WriteString(`services:
  - id: spa-bath-small
    name: {zh: 小型犬SPA, en: Small dog spa bath}
    category: pet
    duration: 45m
    price: 12800
    currency: CNY
    needs: [{kind: tub}, {kind: groomer}]
  - id: nail-trim
    name: {zh: 修剪指甲, en: Nail trim}
    category: pet
    duration: 15m
    price: 3000
    currency: CNY
    needs: [{kind: groomer}]
`)
	return b.String()
}

// realStore runs a store that is not the simulator's: its own catalogue
// and booking settings, the fleet in its registry (as -write-registry
// puts it there). It answers the store's MQTT address.
func realStore(t *testing.T, fleet *sim.Fleet, catalogue, booking string) string {
	t.Helper()
	dir := t.TempDir()
	reg := filepath.Join(dir, "fleet.yaml")
	if err := fleet.WriteRegistry(reg); err != nil {
		t.Fatal(err)
	}
	devices, err := os.ReadFile(reg)
	if err != nil {
		t.Fatal(err)
	}
	services := filepath.Join(dir, "services.yaml")
	if err := os.WriteFile(services, []byte(catalogue), 0o600); err != nil {
		t.Fatal(err)
	}
	p := testbroker.Start(t, testbroker.Options{Dir: dir, TCP: testbroker.FreePort(t), HTTP: testbroker.FreePort(t),
		Devices: string(devices),
		Extra: "limits:\n  connect_rate_per_minute: 100000\n  max_pending_connects_per_address: 256\n" +
			fmt.Sprintf("booking:\n  services_file: %q\n%s", services, booking)})
	return "mqtt://" + p.Opts.TCP
}

// againstStore is a short run with -broker against addr.
func againstStore(addr string) sim.Options {
	return sim.Options{Broker: addr, Kiosks: 3, Tablets: 3, Cameras: 2, Staff: 2,
		Speed: 40, Duration: 9 * time.Second, NoVideo: true}
}

// TestRealStoreBooksItsOwnServices: against a store whose catalogue has
// none of the demo catalogue's ids, the simulator books the store's own
// services, passes, and leaves no booking of its own booked and none of
// its conversations waiting for the store's staff.
func TestRealStoreBooksItsOwnServices(t *testing.T) {
	o := againstStore("")
	fleet := sim.NewFleet(o.Kiosks, o.Tablets, o.Cameras, o.Staff, "storeedge-sim")
	o.Broker = realStore(t, fleet, ownCatalogue(), "")
	res := runSim(t, o)
	if !strings.HasPrefix(res.Scope, "sim-") {
		t.Fatalf("scope %q does not start with sim-", res.Scope)
	}

	// What the store's staff see afterwards (a staff tablet of the fleet,
	// which the store's registry holds).
	var staff sim.Device
	for _, d := range fleet.Devices {
		if d.Role == "staff" {
			staff = d
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := device.Connect(ctx, device.Config{Brokers: []string{o.Broker}, DeviceID: staff.ID, ClientSuffix: "check",
		Password: staff.Password, NoPresence: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	cat, err := c.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	zone, err := time.LoadLocation(cat.TimeZone)
	if err != nil {
		t.Fatal(err)
	}
	services := map[string]int{}
	status := map[string]int{}
	for day := range 2 {
		board, err := c.Board(ctx, time.Now().In(zone).AddDate(0, 0, day).Format(time.DateOnly))
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range board.Bookings {
			if !strings.HasPrefix(b.Customer, res.Scope) {
				t.Errorf("booking %s of customer %s: not in the run's scope %s", b.ID, b.Customer, res.Scope)
			}
			services[b.Service]++
			status[b.Status]++
		}
	}
	if services["spa-bath-small"] == 0 || services["nail-trim"] == 0 || len(services) != 2 {
		t.Errorf("bookings per service %v, want both of the store's services and nothing else", services)
	}
	if status[device.StatusBooked] != 0 || status[device.StatusCheckedIn] != 0 {
		t.Errorf("after the run, bookings per status %v: the run's bookings should be cancelled or completed", status)
	}
	waiting, err := c.ChatWaiting(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(waiting) != 0 {
		t.Errorf("%d conversations still wait for the store's staff after the run", len(waiting))
	}
	all := strings.Join(res.Cleanup, "\n")
	for _, want := range []string{"cancelled", "conversations of the chat tablets", "no op removes a device", "kiosk-sim-1…3"} {
		if !strings.Contains(all, want) {
			t.Errorf("the cleanup report lacks %q:\n%s", want, all)
		}
	}
}

// TestRealStoreWhereBookingCannotWorkFails: a run that could not book
// fails and says why, instead of passing with 0 bookings.
func TestRealStoreWhereBookingCannotWorkFails(t *testing.T) {
	for name, tc := range map[string]struct {
		catalogue, booking string
		want               []string
	}{
		// The store's kiosks are another role: the simulator's may ask
		// for free slots but not book.
		"kiosks lack the desk role": {ownCatalogue(), "  desk_roles: [front-desk]\n",
			[]string{"0 of ", "bookings made: every book was refused: forbidden"}},
		// Nobody works today or tomorrow: no slot is free.
		"nothing is bookable": {strings.ReplaceAll(ownCatalogue(), ", shifts: {weekly: "+everyDay+"}", ", shifts: {weekly: "+inThreeDays()+"}"), "",
			[]string{"0 bookings made: ", "availability requests found no free slot today or tomorrow for the store's services (nail-trim, spa-bath-small)"}},
	} {
		t.Run(name, func(t *testing.T) {
			o := againstStore("")
			o.Duration = 5 * time.Second
			fleet := sim.NewFleet(o.Kiosks, o.Tablets, o.Cameras, o.Staff, "storeedge-sim")
			o.Broker = realStore(t, fleet, tc.catalogue, tc.booking)
			var log strings.Builder
			o.Log = &log
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			res, err := sim.Run(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("pass=%v %s\n%s", res.Pass, res.Detail, log.String())
			if res.Pass {
				t.Fatalf("passed with %d bookings: %s", res.Bookings, res.Detail)
			}
			for _, w := range tc.want {
				if !strings.Contains(res.Detail, w) {
					t.Errorf("the verdict %q does not say %q", res.Detail, w)
				}
			}
		})
	}
}

// TestRealStoreWithoutTheFleet: a store whose registry does not hold the
// fleet stops the run before it starts, saying so, instead of a day of
// failed connections.
func TestRealStoreWithoutTheFleet(t *testing.T) {
	o := againstStore("")
	o.Broker = realStore(t, sim.NewFleet(o.Kiosks, o.Tablets, o.Cameras, o.Staff, "another-secret"), ownCatalogue(), "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := sim.Run(ctx, o)
	if err == nil {
		t.Fatalf("ran against a store that does not know the fleet: pass=%v %s", res.Pass, res.Detail)
	}
	if !strings.Contains(err.Error(), "kiosk-sim-1 cannot connect") || !strings.Contains(err.Error(), "registry") {
		t.Fatalf("error %q does not say which device could not connect and why", err)
	}
}
