// Command firmware-sim runs a simulated store against a store broker:
// kiosks booking, chat tablets chatting, staff answering, checking pets in
// and watching the cameras' live video, cameras streaming and posting
// progress, every device sending heartbeats. It shows a live progress line
// and ends with a summary table; -load writes the figures as JSON and a
// latency chart (PNG); -drill injects a fault and checks at the end that
// every acknowledged operation is on the broker exactly once; -bad-actors
// attacks the broker while the store works; -video=false leaves the video
// out.
//
//	go run ./firmware-sim -spawn bin/storeedge -duration 1m       # make demo
//	go run ./firmware-sim -broker mqtt://127.0.0.1:1883 -write-registry data/devices.yaml
//	go run ./firmware-sim -spawn bin/storeedge -load -kiosks 200 -tablets 200 -cameras 50 -staff 50 -rate 0.5 -ramp 20s -duration 1m -out sim-out
//	go run ./firmware-sim -spawn bin/storeedge -drill broker-restart -speed 20 -duration 30s
//
// With -stores N it is instead N stores' uplinks to HQ's broker (-hq), each
// a lean publisher that sends what a store's cloudsync sends (package
// firmware-sim/fleet):
//
//	go run ./firmware-sim -stores 1000 -hq mqtt://127.0.0.1:1883 -duration 5m
//	go run ./firmware-sim -stores 50 -hq mqtt://127.0.0.1:1883 -backlog 2160 -backlog-span 72h -duration 1m
package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/storeedge/storeedge/firmware-sim/chart"
	"github.com/storeedge/storeedge/firmware-sim/sim"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "firmware-sim:", err)
		os.Exit(1)
	}
}

// flowMap writes m as a YAML flow mapping, keys sorted.
func flowMap(m map[string]string) string {
	var b strings.Builder
	b.WriteString("{")
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s: %s", k, m[k])
	}
	b.WriteString("}")
	return b.String()
}

func run() error {
	var o sim.Options
	var load, video bool
	var out, registry string
	flag.StringVar(&o.Broker, "broker", "", "address of a running store broker (mqtt://host:1883) whose registry holds the fleet (see -write-registry)")
	flag.StringVar(&o.Spawn, "spawn", "", "storeedge binary: run a broker for the simulation (needed by -drill broker-restart and uplink-outage)")
	flag.StringVar(&o.Dir, "dir", "", "where a spawned broker keeps its data and log (default: a temporary directory)")
	flag.IntVar(&o.Kiosks, "kiosks", 4, "kiosks")
	flag.IntVar(&o.Tablets, "tablets", 4, "chat tablets")
	flag.IntVar(&o.Cameras, "cameras", 2, "grooming-room cameras")
	flag.IntVar(&o.Staff, "staff", 2, "staff tablets")
	flag.Float64Var(&o.Speed, "speed", 10, "pace of the store's day (1: real pace, a kiosk booking a minute)")
	flag.DurationVar(&o.Duration, "duration", time.Minute, "how long the store runs")
	flag.StringVar(&o.Drill, "drill", "", "fault drill: broker-restart, wifi-flap or uplink-outage")
	flag.StringVar(&o.HQ, "mosquitto", "mosquitto", "mosquitto binary, HQ's broker in the uplink-outage drill")
	flag.BoolVar(&o.BadActors, "bad-actors", false, "attack the broker (malformed packets, oversized payloads, wrong credentials, forbidden topics, garbage JSON) while the store works")
	flag.BoolVar(&video, "video", true, "cameras stream live video that staff watch and snapshot (false: requests only, e.g. for load tests; with -broker the video needs that broker's camera section, see README)")
	flag.StringVar(&o.Scope, "scope", "", "prefix of the run's customer ids, to recognise its bookings in a real store (default: sim- and a new run id)")
	flag.StringVar(&o.Secret, "secret", "storeedge-sim", "secret the devices' passwords are derived from")
	flag.BoolVar(&load, "load", false, "load mode: every device acts at -rate, connected over -ramp; writes -out/results.json and -out/latency.png")
	flag.Float64Var(&o.Rate, "rate", 0.5, "load mode: operations per second per device")
	flag.DurationVar(&o.Ramp, "ramp", 10*time.Second, "load mode: time over which the devices connect")
	flag.StringVar(&out, "out", "sim-out", "load mode: folder for results.json and latency.png")
	flag.StringVar(&registry, "write-registry", "", "write the fleet's devices.yaml to this path and exit")
	var fo fleetFlags
	flag.IntVar(&fo.stores, "stores", 0, "many stores: run this many store uplinks against HQ's broker (-hq) instead of a store")
	flag.StringVar(&fo.hq, "hq", "mqtt://127.0.0.1:1883", "many stores: HQ's MQTT 5 broker")
	flag.StringVar(&fo.user, "hq-user", "", "many stores: username on HQ's broker (password from $HQ_PASSWORD)")
	flag.StringVar(&fo.prefix, "store-prefix", "sim-", "many stores: prefix of the store ids")
	flag.Float64Var(&fo.rate, "store-rate", 4, "many stores: entries per minute per store (chat, booking changes, telemetry)")
	flag.IntVar(&fo.backlog, "backlog", 0, "many stores: entries each store holds before it first connects (a store back from an outage; a burst for a bench)")
	flag.DurationVar(&fo.span, "backlog-span", 0, "many stores: the -backlog entries are stamped over this span ending now (e.g. 72h: three days offline)")
	flag.DurationVar(&fo.statusEvery, "status-every", 30*time.Second, "many stores: presence period")
	flag.Parse()
	o.NoVideo = !video
	if fo.stores > 0 {
		fo.duration = o.Duration
		return runFleet(fo)
	}

	if registry != "" {
		f := sim.NewFleet(o.Kiosks, o.Tablets, o.Cameras, o.Staff, o.Secret)
		if err := f.WriteRegistry(registry); err != nil {
			return err
		}
		fmt.Printf("wrote %d devices to %s; reload the broker (SIGHUP) and run with -broker\n", len(f.Devices), registry)
		if f.Count("camera") > 0 {
			fmt.Printf("for the cameras' video (else -video=false), the broker's store.yaml needs:\n  camera: {loopback: true, rooms: %s}\n", flowMap(f.CameraRooms()))
		}
		return nil
	}
	if !load {
		o.Rate, o.Ramp = 0, 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o.Progress, o.Log = os.Stderr, os.Stderr
	fmt.Fprintf(os.Stderr, "simulated store: %d kiosks, %d chat tablets, %d cameras, %d staff tablets for %v\n",
		o.Kiosks, o.Tablets, o.Cameras, o.Staff, o.Duration)
	res, err := sim.Run(ctx, o)
	if err != nil {
		return err
	}
	fmt.Println()
	if err := res.Report.Table(os.Stdout); err != nil {
		return err
	}
	fmt.Printf("\nacknowledged: %d chat messages, %d bookings, %d progress stages; %d reconnects\n", res.Messages, res.Bookings, res.Stages, res.Reconnects)
	if !o.NoVideo {
		fmt.Printf("video: %d camera watches (%d frames), %d snapshots (%d posted as progress photos); %d camera registrations\n",
			res.Watches, res.WatchFrames, res.Snapshots, res.PhotoStages, res.CameraRegistrations)
	}
	for _, b := range res.BadActors {
		fmt.Println(b.String())
	}
	for _, n := range res.Cleanup {
		fmt.Println(n)
	}
	if load {
		if err := os.MkdirAll(out, 0o755); err != nil {
			return err
		}
		jf, err := os.Create(filepath.Join(out, "results.json"))
		if err != nil {
			return err
		}
		if err := res.Report.WriteJSON(jf); err != nil {
			jf.Close()
			return err
		}
		jf.Close()
		pf, err := os.Create(filepath.Join(out, "latency.png"))
		if err != nil {
			return err
		}
		title := fmt.Sprintf("storeedge: %d simulated devices at %.2g ops/s each", o.Kiosks+o.Tablets+o.Cameras+o.Staff, o.Rate)
		if err := chart.WritePNG(pf, title, res.Report.Series...); err != nil {
			pf.Close()
			return err
		}
		pf.Close()
		fmt.Printf("wrote %s and %s\n", filepath.Join(out, "results.json"), filepath.Join(out, "latency.png"))
	}
	verdict := "PASS"
	if !res.Pass {
		verdict = "FAIL"
	}
	name := o.Drill
	if name == "" {
		name = "none"
	}
	fmt.Printf("drill %s: %s — %s\n", name, verdict, res.Detail)
	if !res.Pass {
		return fmt.Errorf("the simulated store found a problem")
	}
	return nil
}
