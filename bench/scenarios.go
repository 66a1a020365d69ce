package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"time"
)

// options are the run parameters shared by all scenarios.
type options struct {
	reps        int
	duration    time.Duration
	warmup      time.Duration
	drain       time.Duration
	window      int     // QoS 1 messages outstanding per publisher
	rate        float64 // publishes/s per scenario, all publishers together; 0 = as fast as possible
	backlog     int     // gate: undelivered messages per subscriber
	idleClients int
	startupMsgs int
	verbose     bool
	chatWindow  int    // chat requests a sender keeps unanswered
	chatConvs   int    // conversations the chat-send senders share
	historyMsgs int    // messages chat-history seeds and syncs
	profileDir  string // storeedge CPU profiles go here ("" = none)
	svcWorkers  int    // storeedge services.workers; 0 = its default

	cameraSessions int           // warm watch sessions, one after another
	cameraCold     int           // cold watch sessions (0: no cold pass)
	cameraViewers  int           // viewers of the relay-cost part
	cameraWindow   time.Duration // each relay-cost window
	cameraGap      time.Duration // least time from a session's first frame to the next watch

	stall time.Duration // how long the stalled subscriber stops reading
}

type scenarioKind int

const (
	kindLoad scenarioKind = iota
	kindMemory
	kindStartup
	kindChatSend
	kindChatHistory
	kindCamera
	kindStall
)

// scenario is one line of the report.
type scenario struct {
	name string
	kind scenarioKind
	load loadSpec
	// storeedgeOnly scenarios have no mosquitto equivalent (the chat
	// service, the camera relay): they run on the storeedge side only, and
	// not at all in -self-check.
	storeedgeOnly bool
}

// loadSpec describes a throughput scenario.
type loadSpec struct {
	qos        byte
	pubs, subs int
	persistent bool // subscribers use persistent sessions (Clean Start 0, 1 day expiry)
	pubTopic   func(i int) string
	subFilters func(k int) []string
	feeds      func(i, k int) bool // does subscriber k receive publisher i?
}

const (
	sessionExpiry1d = 86400
	// subReceiveMax is the Receive Maximum subscribers announce: the MQTT
	// default. With 1024, mosquitto 2.0.11 stopped sending QoS 1 to a
	// subscriber that had acknowledged everything, within seconds on a busy
	// machine (its outgoing send quota leaks; upstream issue #2362, quota
	// fixes in 2.0.13); 65535 keeps the leak from exhausting it during a run.
	// The -backlog gate is what bounds messages outstanding per subscriber.
	subReceiveMax = 65535
)

// allScenarios lists every scenario in report order.
func allScenarios() []scenario {
	const q0Subs = 10
	return []scenario{
		{name: "qos0-publish", kind: kindLoad, load: loadSpec{
			qos: 0, pubs: 100, subs: q0Subs,
			pubTopic: func(i int) string { return fmt.Sprintf("bench/q0/%d", i) },
			subFilters: func(k int) []string {
				var f []string
				for i := k; i < 100; i += q0Subs {
					f = append(f, fmt.Sprintf("bench/q0/%d", i))
				}
				return f
			},
			feeds: func(i, k int) bool { return i%q0Subs == k },
		}},
		{name: "qos1-publish", kind: kindLoad, load: loadSpec{
			qos: 1, pubs: 100, subs: 0,
			pubTopic: func(i int) string { return fmt.Sprintf("bench/q1/%d", i) },
		}},
		{name: "qos1-fanin", kind: kindLoad, load: loadSpec{
			qos: 1, pubs: 100, subs: 1, persistent: true,
			pubTopic:   func(i int) string { return fmt.Sprintf("bench/in/%d", i) },
			subFilters: func(int) []string { return []string{"bench/in/+"} },
			feeds:      func(int, int) bool { return true },
		}},
		{name: "qos0-fanout", kind: kindLoad, load: loadSpec{
			qos: 0, pubs: 1, subs: 10,
			pubTopic:   func(int) string { return "bench/out0" },
			subFilters: func(int) []string { return []string{"bench/out0"} },
			feeds:      func(int, int) bool { return true },
		}},
		{name: "qos1-fanout", kind: kindLoad, load: loadSpec{
			qos: 1, pubs: 1, subs: 10, persistent: true,
			pubTopic:   func(int) string { return "bench/out1" },
			subFilters: func(int) []string { return []string{"bench/out1"} },
			feeds:      func(int, int) bool { return true },
		}},
		{name: scenarioStall, kind: kindStall},
		{name: "memory", kind: kindMemory},
		{name: "startup", kind: kindStartup},
		{name: "chat-send", kind: kindChatSend, storeedgeOnly: true},
		{name: "chat-history", kind: kindChatHistory, storeedgeOnly: true},
		{name: "camera", kind: kindCamera, storeedgeOnly: true},
	}
}

// loadResult is one broker's result for one rep of a throughput scenario.
type loadResult struct {
	Rate        float64 `json:"rate_msgs_per_s"`
	Counted     int64   `json:"counted"` // deliveries (or PUBACKs) inside the window
	P50Ms       float64 `json:"p50_ms"`
	P99Ms       float64 `json:"p99_ms"`
	Sent        int64   `json:"sent"`
	Acked       int64   `json:"acked"`
	Nacked      int64   `json:"nacked"`
	Delivered   int64   `json:"delivered"` // distinct deliveries, whole run
	Lost        int64   `json:"lost"`
	Dup         int64   `json:"duplicates"`
	OutOfOrder  int64   `json:"out_of_order"`
	Foreign     int64   `json:"foreign"`
	WrittenOff  int64   `json:"gate_written_off"`
	Errors      int64   `json:"errors"`
	Drained     bool    `json:"drained"`
	BrokerCPU   float64 `json:"broker_cpu_s"`
	CPUPer100k  float64 `json:"broker_cpu_s_per_100k"`
	BenchCPU    float64 `json:"bench_cpu_s"`
	OtherCPU    float64 `json:"other_cpu_s"` // everything else on the machine, same window
	LatencyFrom string  `json:"latency"`
	Profile     string  `json:"cpu_profile,omitempty"`
}

// runLoad runs one throughput scenario against a started broker.
func runLoad(ctx context.Context, b *broker, name string, rep int, ls loadSpec, opt options) (*loadResult, error) {
	subs := make([]*subscriber, ls.subs)
	pubs := make([]*publisher, ls.pubs)
	clients := make([]*mqttClient, ls.subs+ls.pubs)
	defer func() { closeAll(clients) }()

	// Subscribers first, so that nothing is published before they listen.
	for k := range subs {
		subs[k] = newSubscriber(ls.pubs, measureWindow{t0: math.MaxInt64})
	}
	err := connectAll(ls.subs, 16, func(k int) error {
		cfg := clientCfg{
			id:         fmt.Sprintf("bench-%s-sub-%d", name, k),
			cleanStart: !ls.persistent,
			receiveMax: subReceiveMax,
			onPublish:  subs[k].onPublish,
		}
		if ls.persistent {
			cfg.sessionExpiry = sessionExpiry1d
		}
		c, err := connectClient(ctx, b.addr, cfg)
		if err != nil {
			return err
		}
		clients[k] = c
		subs[k].cl = c
		return c.subscribe(ctx, ls.qos, ls.subFilters(k)...)
	})
	if err != nil {
		return nil, fmt.Errorf("subscribers: %w", err)
	}
	for i := range pubs {
		p := newPublisher(i, ls.pubTopic(i), ls.qos, opt.window, measureWindow{})
		if opt.rate > 0 {
			p.interval = int64(float64(time.Second) * float64(ls.pubs) / opt.rate)
		}
		for k, s := range subs {
			if ls.feeds(i, k) {
				p.subs = append(p.subs, s)
			}
		}
		if len(p.subs) > 0 {
			p.backlog = int64(opt.backlog)
		}
		pubs[i] = p
	}
	err = connectAll(ls.pubs, 16, func(i int) error {
		c, err := connectClient(ctx, b.addr, pubs[i].clientCfg(fmt.Sprintf("bench-%s-pub-%d", name, i)))
		if err != nil {
			return err
		}
		clients[ls.subs+i] = c
		pubs[i].cl = c
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("publishers: %w", err)
	}

	// Schedule: warm-up, then the measured window; publishers stop at t1.
	start := clock()
	win := measureWindow{t0: start + int64(opt.warmup), t1: start + int64(opt.warmup+opt.duration)}
	for _, s := range subs {
		s.mu.Lock()
		s.win = win
		s.mu.Unlock()
	}
	runCtx, cancelRun := context.WithTimeout(ctx, opt.warmup+opt.duration+opt.drain+time.Minute)
	defer cancelRun()
	pubCtx, stopPubs := context.WithCancel(runCtx)
	defer stopPubs()

	run := startPublishers(pubCtx, pubs, win)

	if opt.verbose {
		tlDone := make(chan struct{})
		defer close(tlDone)
		go timeline(name, b.name, start, tlDone, pubs, subs)
	}
	sleepUntil(ctx, win.t0)
	profile := profilePath(b, opt, name, rep)
	var waitProfile func() error
	if profile != "" {
		waitProfile = b.cpuProfile(int(math.Ceil(opt.duration.Seconds())), profile)
	}
	cpu0 := markCPU(b.pid())
	sleepUntil(ctx, win.t1)
	cpu1 := markCPU(b.pid())
	stopPubs()
	run.publishers.Wait()
	if err := ctx.Err(); err != nil {
		close(run.ackDone)
		return nil, fmt.Errorf("interrupted: %w", err)
	}
	if err := b.unexpectedExit(); err != nil {
		close(run.ackDone)
		return nil, err
	}
	if err := errors.Join(cpu0.err, cpu1.err); err != nil {
		close(run.ackDone)
		return nil, fmt.Errorf("broker CPU: %w", err)
	}

	drained := drain(pubs, subs, opt.drain, opt.drain)
	close(run.ackDone)
	run.ackers.Wait()
	closeAll(clients)
	clients = nil
	if waitProfile != nil {
		if err := waitProfile(); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %s: %v\n", name, err)
			profile = ""
		}
	}

	r := &loadResult{Drained: drained, Profile: profile}
	r.BrokerCPU, r.BenchCPU, r.OtherCPU = cpuBetween(cpu0, cpu1)
	var lat []int64
	for _, p := range pubs {
		r.Sent += int64(p.sent.Load())
		r.Acked += p.ackCount
		r.Nacked += p.nacks
		r.Errors += p.errors.Load()
	}
	if ls.subs > 0 {
		r.LatencyFrom = "publish->receive"
		for k, s := range subs {
			s.mu.Lock()
			r.Counted += s.inWindow
			lat = append(lat, s.lat...)
			r.Foreign += s.foreign
			for i, p := range pubs {
				if !ls.feeds(i, k) {
					continue
				}
				t := &s.tracks[i]
				r.Delivered += t.received
				r.Dup += t.dup
				r.OutOfOrder += t.ooo
				var acked *bitset
				if ls.qos > 0 {
					acked = &p.acked
				}
				r.Lost += t.lost(p.sent.Load(), acked)
			}
			s.mu.Unlock()
			r.WrittenOff += s.writtenOff.Load()
		}
	} else {
		r.LatencyFrom = "publish->PUBACK"
		r.Lost = -1 // not applicable
		for _, p := range pubs {
			r.Counted += p.inWindow
			lat = append(lat, p.lat...)
		}
	}
	r.Rate = float64(r.Counted) / opt.duration.Seconds()
	p50, p99 := latencySummary(lat)
	r.P50Ms, r.P99Ms = ms(p50), ms(p99)
	if r.Counted > 0 {
		r.CPUPer100k = r.BrokerCPU / float64(r.Counted) * 1e5
	}
	return r, nil
}

// drain waits until every QoS 1 publish is acknowledged and every subscriber
// has what was sent to it; it gives up after limit, or after quiet without
// progress. It reports whether everything arrived.
func drain(pubs []*publisher, subs []*subscriber, limit, quiet time.Duration) bool {
	deadline := time.Now().Add(limit)
	lastProgress, lastMark := time.Now(), int64(-1)
	for {
		done, mark := true, int64(0)
		for _, p := range pubs {
			o := p.outstanding.Load()
			mark += o
			if o > 0 {
				done = false
			}
		}
		for _, s := range subs {
			d := s.delivered.Load()
			mark += d
			if s.expected.Load() > d {
				done = false
			}
		}
		if done {
			return true
		}
		now := time.Now()
		if mark != lastMark {
			lastMark, lastProgress = mark, now
		}
		if now.After(deadline) || now.Sub(lastProgress) > quiet {
			return false
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}

// sleepUntil waits until the bench clock reaches t (timing the measurement
// window) or ctx ends.
func sleepUntil(ctx context.Context, t int64) {
	d := t - clock()
	if d <= 0 {
		return
	}
	tm := time.NewTimer(time.Duration(d))
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-ctx.Done():
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func mb(b int64) float64         { return float64(b) / (1 << 20) }

// timeline prints deliveries and PUBACKs per 100 ms to stderr until done.
func timeline(scenario, broker string, start int64, done <-chan struct{}, pubs []*publisher, subs []*subscriber) {
	var lastD, lastA int64
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		var d, a int64
		for _, s := range subs {
			d += s.delivered.Load()
		}
		for _, p := range pubs {
			a += p.ackTotal.Load()
		}
		fmt.Fprintf(os.Stderr, "  %s %s t=%4.1fs deliveries %7d acks %7d\n",
			scenario, broker, float64(clock()-start)/1e9, d-lastD, a-lastA)
		lastD, lastA = d, a
	}
}
