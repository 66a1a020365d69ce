// Package sim is the simulated store behind firmware-sim: kiosks booking,
// chat tablets chatting, staff answering, checking pets in and watching the
// cameras, cameras streaming live video and posting progress, every device
// sending heartbeats — through the device SDK against a store broker, at a
// speed factor, with live progress, a summary, a load mode and fault drills
// that check that every acknowledged operation is on the broker exactly
// once.
package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // the Etc/GMT zones of the spawned store, on a box without zoneinfo

	"golang.org/x/term"

	"github.com/storeedge/storeedge/device"
	"github.com/storeedge/storeedge/device/camera/clip"
	"github.com/storeedge/storeedge/firmware-sim/badactor"
	"github.com/storeedge/storeedge/firmware-sim/metrics"
)

// The drills.
const (
	DrillBrokerRestart = "broker-restart"
	DrillWifiFlap      = "wifi-flap"
	DrillUplinkOutage  = "uplink-outage"
)

// Options configure Run.
type Options struct {
	// Broker is the address of a running store broker whose registry holds
	// the fleet (see Fleet.WriteRegistry). Empty: Spawn is used. The video
	// needs that broker's camera section too: loopback: true when the
	// simulator runs on the broker's machine, and rooms for owners'
	// grants (Fleet.CameraRooms); else set NoVideo.
	Broker string
	// Spawn is the storeedge binary: the simulator runs its own broker in
	// Dir with the fleet's registry and the demo catalogue.
	Spawn string
	// Dir holds the spawned broker's data and logs (default: a new
	// temporary directory, removed at the end).
	Dir string
	// The fleet.
	Kiosks, Tablets, Cameras, Staff int
	// Secret derives the devices' passwords.
	Secret string
	// Speed multiplies the pace of the store's day (1: a real store's pace,
	// a kiosk booking a minute; 10: ten times that).
	Speed float64
	// Rate, when set (load mode), is each device's operations per second,
	// instead of the day's pace.
	Rate float64
	// Ramp connects the devices gradually over this time (load mode).
	Ramp time.Duration
	// Duration of the simulated activity.
	Duration time.Duration
	// Drill is "", DrillBrokerRestart, DrillWifiFlap or DrillUplinkOutage.
	Drill string
	// HQ is the mosquitto binary the uplink drill runs as HQ's broker.
	HQ string
	// Scope starts the id of every customer the simulator books for, so
	// that its bookings are recognisable in a real store (default:
	// "sim-" and a run id, new at each run, ending with "-").
	Scope string
	// BadActors runs the bad-actor checks while the honest fleet works.
	BadActors bool
	// NoVideo leaves the cameras' live video out (no publishers, watches
	// or snapshots): a pure request load.
	NoVideo bool
	// VideoEvery: each staff member turns to the cameras every VideoEvery
	// steps, from a first turn at a random step among the first VideoEvery;
	// the store's turns alternate between a watch and a snapshot, and at
	// most 4 are under way at once (0: DefaultVideoEvery).
	VideoEvery int
	// Progress receives a live progress line every second (nil: none).
	Progress io.Writer
	// Log receives notes on what the simulator does (nil: none).
	Log io.Writer
}

// Result is what Run measured and verified.
type Result struct {
	Report metrics.Report
	// Drill is the drill run, Pass whether every acknowledged operation
	// was found exactly once, Detail what was checked or what was wrong.
	Drill  string
	Pass   bool
	Detail string
	// Acked counts the acknowledged operations verified.
	Messages, Bookings, Stages int
	// BadActors are the bad-actor checks, when run.
	BadActors []badactor.Result
	// HonestErrors counts the errors the honest devices saw.
	HonestErrors int
	// Reconnects counts the devices' connections after their first: what
	// a drill made them go through.
	Reconnects int
	// Watches counts the camera watches that got their picture and lasted
	// until the staff member looked away; WatchFrames the frames they got.
	Watches, WatchFrames int
	// Snapshots counts the snapshots taken, PhotoStages those posted as a
	// progress stage's photo.
	Snapshots, PhotoStages int
	// CameraRegistrations counts the cameras' registrations with the
	// relay: one per camera per connection.
	CameraRegistrations int
	// Scope is the run's customer id prefix (Options.Scope).
	Scope string
	// Cleanup says, for a store not spawned by the simulator, what the run
	// cleaned up at the end and what it left there, and how to recognise
	// it.
	Cleanup []string
}

func (o *Options) check() error {
	switch o.Drill {
	case "", DrillBrokerRestart, DrillWifiFlap, DrillUplinkOutage:
	default:
		return fmt.Errorf("sim: unknown drill %q (broker-restart, wifi-flap, uplink-outage)", o.Drill)
	}
	if o.Broker == "" && o.Spawn == "" {
		return errors.New("sim: give a broker address or a storeedge binary to spawn")
	}
	if (o.Drill == DrillBrokerRestart || o.Drill == DrillUplinkOutage) && o.Spawn == "" {
		return fmt.Errorf("sim: the %s drill runs its own broker: give the storeedge binary to spawn", o.Drill)
	}
	if o.Drill == DrillUplinkOutage && o.HQ == "" {
		o.HQ = "mosquitto"
	}
	if o.Speed <= 0 {
		o.Speed = 1
	}
	if o.VideoEvery < 0 {
		return errors.New("sim: VideoEvery must not be negative")
	}
	if o.VideoEvery == 0 {
		o.VideoEvery = DefaultVideoEvery
	}
	if o.Duration <= 0 {
		return errors.New("sim: duration must be positive")
	}
	if o.Kiosks+o.Tablets+o.Cameras+o.Staff == 0 {
		return errors.New("sim: the fleet is empty")
	}
	if o.Secret == "" {
		o.Secret = "storeedge-sim"
	}
	if o.Scope != "" && !validScope(o.Scope) {
		return fmt.Errorf("sim: scope %q: 1–24 of A-Z a-z 0-9 _ . -, starting with a letter or digit", o.Scope)
	}
	return nil
}

func (o *Options) logf(format string, a ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", a...)
	}
}

// syncWriter serialises writes: the drill and the devices (their first
// errors) write notes to Options.Log at the same time.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// period is how often a device of role acts.
func (o *Options) period(role string) time.Duration {
	if o.Rate > 0 {
		return time.Duration(float64(time.Second) / o.Rate)
	}
	base := map[string]time.Duration{"kiosk": 60 * time.Second, "chat-tablet": 20 * time.Second,
		"staff": 10 * time.Second, "camera": 15 * time.Second}[role]
	return time.Duration(float64(base) / o.Speed)
}

// Run simulates the store and returns what it measured.
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	if o.Log != nil {
		o.Log = &syncWriter{w: o.Log}
	}
	fleet := NewFleet(o.Kiosks, o.Tablets, o.Cameras, o.Staff, o.Secret)
	res := &Result{Drill: o.Drill, Pass: true}

	var brk *Broker
	var hq *hqSide
	addr := o.Broker
	if o.Spawn != "" {
		dir := o.Dir
		if dir == "" {
			d, err := os.MkdirTemp("", "storeedge-sim-")
			if err != nil {
				return nil, fmt.Errorf("sim: %w", err)
			}
			defer os.RemoveAll(d)
			dir = d
		}
		cloud := ""
		if o.Drill == DrillUplinkOutage {
			var err error
			if hq, err = startHQ(ctx, o.HQ, filepath.Join(dir, "hq")); err != nil {
				return nil, err
			}
			defer hq.close()
			cloud = "mqtt://" + hq.proxy.Addr()
		}
		var err error
		if brk, err = NewBroker(o.Spawn, filepath.Join(dir, "store"), fleet, cloud); err != nil {
			return nil, err
		}
		if err := brk.Start(ctx); err != nil {
			return nil, err
		}
		defer brk.Stop(false)
		if hq != nil {
			if err := hq.listen(ctx, brk.StoreID); err != nil {
				return nil, err
			}
		}
		addr = "mqtt://" + brk.TCP
		o.logf("broker %s started in %s (log: %s)", o.Spawn, dir, filepath.Join(brk.Dir, "broker.log"))
	}

	rec := metrics.New(time.Now())
	rec.SetTarget(len(fleet.Devices))
	// The store's catalogue and day: what it offers is what the kiosks
	// book, in its time zone.
	cat, err := readCatalogue(ctx, addr, fleet)
	if err != nil {
		return nil, err
	}
	zoneName := cat.TimeZone
	if zoneName == "" && brk != nil {
		zoneName = brk.Zone
	}
	if zoneName == "" {
		zoneName = "Asia/Shanghai"
	}
	zone, err := time.LoadLocation(zoneName)
	if err != nil {
		return nil, fmt.Errorf("sim: the store's time zone %s: %w", zoneName, err)
	}
	if o.Scope == "" {
		o.Scope = newScope()
	}
	res.Scope = o.Scope
	o.logf("%s", describeScope(&o, fleet, cat))
	st := &store{l: newLedger(), observe: rec.Observe, zone: zone, services: cat.Services, scope: o.Scope, stageOf: map[string]string{}, posting: map[string]bool{}}
	var loggedMu sync.Mutex
	logged := map[string]bool{}
	st.firstError = func(op string, err error) {
		loggedMu.Lock()
		defer loggedMu.Unlock()
		if !logged[op] {
			logged[op] = true
			o.logf("\nfirst error of %s: %v", op, err)
		}
	}
	for _, d := range fleet.Devices {
		if d.Role == "staff" {
			st.staffID = d.ID
			break
		}
	}

	flap := &flapper{conns: map[string]net.Conn{}}
	runCtx, stop := context.WithTimeout(ctx, o.Duration)
	defer stop()
	if !o.NoVideo {
		st.video = newVideo(o.VideoEvery, runCtx.Done(), fleet.CameraRooms())
	}
	// The cameras stream until every device's last step is over, so that
	// a watch still under way at the end sees its picture to the end.
	pubCtx, stopPublishers := context.WithCancel(ctx)
	defer stopPublishers()
	var publishers sync.WaitGroup
	var wg sync.WaitGroup
	var clientsMu sync.Mutex
	var clients []*device.Client
	var connected sync.Map
	countConnected := func() {
		n := 0
		connected.Range(func(_, v any) bool {
			if v.(bool) {
				n++
			}
			return true
		})
		rec.SetConnected(n)
	}
	for i, d := range fleet.Devices {
		cfg := device.Config{Brokers: []string{addr}, DeviceID: d.ID, Password: d.Password,
			Heartbeat: max(time.Duration(float64(30*time.Second)/o.Speed), time.Second), ReconnectMin: 100 * time.Millisecond, ReconnectMax: 2 * time.Second,
			OnConnection: func(up bool, _ error) { connected.Store(d.ID, up); countConnected() },
			Dial:         flap.dial(d.ID)}
		var delay time.Duration
		if o.Ramp > 0 {
			delay = o.Ramp * time.Duration(i) / time.Duration(len(fleet.Devices))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-runCtx.Done():
				return
			case <-time.After(delay):
			}
			c, err := device.New(cfg)
			if err != nil {
				rec.Observe("connect", 0, err)
				return
			}
			clientsMu.Lock()
			clients = append(clients, c)
			clientsMu.Unlock()
			start := time.Now()
			if err := c.AwaitConnection(runCtx); err != nil {
				rec.Observe("connect", time.Since(start), err)
				return
			}
			rec.Observe("connect", time.Since(start), nil)
			if d.Role == "camera" && st.video != nil {
				// One publisher for the whole run: it registers again
				// by itself after every reconnect (a drill's broker
				// restart or Wi-Fi drop), and streams only while the
				// relay asks, so an idle camera costs nothing.
				src, err := clip.NewSource()
				if err != nil {
					st.record("camera.publish", 0, err)
				} else {
					p := st.video.publish(c, src)
					publishers.Add(1)
					go func() {
						defer publishers.Done()
						if err := p.Run(pubCtx); err != nil {
							st.record("camera.publish", 0, err)
						}
					}()
				}
			}
			a := newActor(st, d.Role, c, i)
			every := o.period(d.Role)
			// Start at a random point of the period, so devices do not act
			// in lock step.
			next := time.Now().Add(time.Duration(rand.Int64N(int64(every) + 1)))
			for {
				select {
				case <-runCtx.Done():
					return
				case <-time.After(time.Until(next)):
				}
				// A step has the rest of the run plus a grace to finish:
				// a drill may hold its answer back for a while.
				sctx, cancel := context.WithTimeout(ctx, time.Until(deadlineOf(runCtx))+60*time.Second)
				_ = a.step(sctx)
				cancel()
				next = next.Add(every)
				if time.Until(next) < -every { // fell behind: do not burst
					next = time.Now()
				}
			}
		}()
	}

	var bad []badactor.Result
	var drillErr error
	drillDone := make(chan struct{})
	go func() {
		defer close(drillDone)
		drillErr = runDrill(runCtx, &o, brk, hq, flap)
		if o.BadActors && brk != nil {
			fleetBad := NewFleet(1, 0, 0, 0, o.Secret)
			host := brk.TCP
			if u, err := url.Parse(addr); err == nil {
				host = u.Host
			}
			bad = badactor.Run(runCtx, badactor.Target{Addr: host, DeviceID: fleetBad.Devices[0].ID, Password: fleetBad.Devices[0].Password})
		}
	}()

	// On a terminal the progress line is redrawn every second; in a log,
	// a line every five seconds.
	tty := false
	if f, ok := o.Progress.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	ticker := time.NewTicker(time.Second)
	for tick, done := 1, false; !done; tick++ {
		select {
		case <-runCtx.Done():
			done = true
		case <-ticker.C:
			switch {
			case o.Progress == nil:
			case tty:
				fmt.Fprintf(o.Progress, "\r%s\x1b[K", rec.Progress())
			case tick%5 == 0:
				fmt.Fprintln(o.Progress, rec.Progress())
			}
		}
	}
	ticker.Stop()
	wg.Wait()
	<-drillDone
	stopPublishers()
	publishers.Wait()
	if o.Progress != nil && tty {
		fmt.Fprintf(o.Progress, "\r%s\x1b[K\n", rec.Progress())
	}
	res.Report = rec.Summary()
	res.BadActors = bad
	for _, r := range res.Report.Ops {
		res.HonestErrors += r.Errors
	}
	if drillErr != nil {
		res.Pass, res.Detail = false, drillErr.Error()
	}

	// Every acknowledged operation must be on the broker exactly once.
	verifyCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := drain(verifyCtx, clients); err != nil {
		res.Pass, res.Detail = false, err.Error()
	}
	res.Messages, res.Bookings, res.Stages = st.l.counts()
	if v := st.video; v != nil {
		v.mu.Lock()
		res.Watches, res.WatchFrames, res.Snapshots, res.PhotoStages = v.watches, v.frames, v.snapshots, v.photos
		v.mu.Unlock()
		res.CameraRegistrations = v.registrations()
	}
	if res.Pass {
		auditor := fleet.Devices[0]
		for _, d := range fleet.Devices {
			if d.Role == "staff" {
				auditor = d
				break
			}
		}
		if err := verify(verifyCtx, addr, auditor, st.l, hq, o.Scope); err != nil {
			res.Pass, res.Detail = false, err.Error()
		} else {
			res.Detail = fmt.Sprintf("%d chat messages, %d bookings and %d progress stages acknowledged; each found exactly once", res.Messages, res.Bookings, res.Stages)
			if hq != nil {
				res.Detail += "; HQ received every booking change once after dedup"
			}
		}
	}
	for _, c := range clients {
		res.Reconnects += max(c.Stats().Connects-1, 0)
	}
	// A run that could not do what it checks does not pass: every count
	// the verdict names has a minimum.
	if problems := exercised(&o, res, st, cat); len(problems) > 0 {
		if res.Detail != "" {
			if res.Pass {
				problems = append(problems, "what ran: "+res.Detail)
			} else {
				problems = append(problems, res.Detail)
			}
		}
		res.Pass = false
		res.Detail = strings.Join(problems, "; ")
	}
	// A store that is not the simulator's own is left as clean as the ops
	// allow.
	if brk == nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		res.Cleanup = cleanup(cctx, addr, fleet, st, o.Scope)
		cancel()
	}
	for _, c := range clients {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_ = c.Close(cctx)
		cancel()
	}
	if brk != nil && !brk.Alive() {
		res.Pass, res.Detail = false, "the broker is not answering /healthz at the end"
	}
	for _, b := range bad {
		if !b.Pass {
			res.Pass = false
		}
	}
	return res, nil
}

func deadlineOf(ctx context.Context) time.Time {
	d, ok := ctx.Deadline()
	if !ok {
		return time.Now()
	}
	return d
}

func newActor(s *store, role string, c *device.Client, i int) actor {
	switch role {
	case "kiosk":
		return &kiosk{s: s, c: c, first: i}
	case "chat-tablet":
		return &tablet{s: s, c: c}
	case "staff":
		return &staff{s: s, c: c}
	default:
		return &camera{s: s, c: c}
	}
}

// drain waits until no device has a request waiting for its answer.
func drain(ctx context.Context, clients []*device.Client) error {
	for {
		waiting := 0
		for _, c := range clients {
			waiting += c.Stats().Queued
		}
		if waiting == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d requests still unanswered at the end", waiting)
		case <-time.After(100 * time.Millisecond): // polls the queues until the deadline
		}
	}
}

// flapper drops devices' connections, as a store's Wi-Fi does.
type flapper struct {
	mu    sync.Mutex
	conns map[string]net.Conn
}

func (f *flapper) dial(id string) func(ctx context.Context, u *url.URL) (net.Conn, error) {
	return func(ctx context.Context, u *url.URL) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", u.Host)
		if err != nil {
			return nil, err
		}
		f.mu.Lock()
		f.conns[id] = c
		f.mu.Unlock()
		return c, nil
	}
}

// drop closes a share of the current connections.
func (f *flapper) drop(share float64) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for id, c := range f.conns {
		if rand.Float64() < share {
			_ = c.Close()
			delete(f.conns, id)
			n++
		}
	}
	return n
}
