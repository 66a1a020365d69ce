// Command bench (`make bench`, or `go run ./bench`) measures the storeedge
// broker side by side with mosquitto on this machine, in the same run.
//
// # Method
//
// For every scenario and every rep (-reps, default 3) the harness starts a
// fresh storeedge, measures it, kills it, then does the same with a fresh
// mosquitto: storeedge, mosquitto, storeedge, mosquitto, ... Each broker
// instance gets its own temporary directory, free loopback ports and a
// generated configuration; only one broker runs at a time. The report gives,
// per scenario, the median over reps of each broker's figures and the ratio
// storeedge/mosquitto of the median rates. Absolute numbers on a shared
// 2-core machine move 10–40 % between runs; the interleaved ratio is the
// figure to compare with DESIGN.md §7.
//
// Load comes from this process, through github.com/eclipse/paho.golang/paho
// (MQTT v5, one TCP connection per client, buffered reads). Every message
// has a 256-byte payload whose header carries the publisher index, a
// per-publisher sequence number and the send time, so every delivery is
// checked (lost, duplicate, out of order per publisher) and timed.
//
// A throughput run is: connect subscribers, then publishers; warm-up
// (-warmup, 1 s); the measured window (-duration, 5 s); publishers stop at
// the end of the window; drain (wait until every QoS 1 publish is
// acknowledged and every subscriber has everything sent to it, at most
// -drain, 10 s); then counts. The rate is the number of deliveries (or
// PUBACKs, when there is no subscriber) that arrive inside the window,
// divided by its length. Latency p50/p99 (nearest rank, all samples of the
// window) is publish→receive where there are subscribers, publish→PUBACK
// otherwise; the rep medians are reported. Loss is counted over the whole
// run once the drain ends: for QoS 0 every message written to the socket
// and not delivered, for QoS 1 every message PUBACKed by the broker and not
// delivered; under the throughput table the report gives both brokers'
// lost deliveries of each scenario out of those due (sums over reps; lost
// and delivered in the JSON summary). Broker CPU is utime+stime from
// /proc/PID/stat over the window, reported as CPU seconds per 100 000
// counted messages.
//
// Publishers are closed-loop. A QoS 1 publisher keeps at most -window (16)
// messages unacknowledged (below the Receive Maximum of both brokers:
// mosquitto's default 20, storeedge's 256), from one goroutine, so its
// messages go out in sequence order. Any publisher with subscribers also
// pauses while a subscriber it feeds has -backlog (1000) or more messages
// sent but not yet delivered; the rate is then the sustainable end-to-end
// rate, and "lost" means the broker lost a message, not that a queue
// overflowed because the load generator outran the slowest consumer. If a
// subscriber receives nothing for 0.5 s while the gate is shut, its backlog
// is written off (reported as gate_written_off in the JSON) so a lossy
// broker slows the run down instead of stopping it.
//
// Latency at saturation is mostly queueing: by Little's law it is about the
// number of messages outstanding (publishers × window, or the backlog) divided
// by the rate. To compare latency at a given load, pace the publishers with
// -rate (publishes/s for the whole scenario); the rate is then a ceiling, so
// compare latency and CPU per message rather than msg/s.
//
// # Scenarios (-only takes a comma-separated subset)
//
//   - qos0-publish: 100 publishers, QoS 0, each to its own topic
//     bench/q0/<i>; 10 subscribers, subscriber k subscribes (exactly, no
//     wildcards) to the topics of publishers i with i mod 10 = k. Every
//     message is delivered once, so the rate measured at the subscribers is
//     the publish rate the broker accepted and routed; 10 consumers keep a
//     single subscriber connection from being the bottleneck.
//   - qos1-publish: 100 publishers, QoS 1, no subscribers; rate = PUBACKs/s,
//     latency publish→PUBACK.
//   - qos1-fanin: 100 QoS 1 publishers → 1 subscriber on bench/in/+ with a
//     persistent session (Clean Start 0, session expiry 1 day).
//   - qos0-fanout, qos1-fanout: 1 publisher → 10 subscribers on one topic;
//     every delivery counts (the rate is deliveries/s, 10 per publish). The
//     QoS 1 subscribers have persistent sessions.
//   - stalled-subscriber: what a subscriber that stops reading its socket
//     does to the others, and what it gets itself (stall.go). 100 QoS 1
//     publishers, publisher i on bench/stall/<i>, paced at -rate or, with
//     -rate 0, 5 000 publishes/s in all: a fixed rate far below what either
//     broker carries, so that a rate below it means the broker did not keep
//     up, not that it is the slower broker. Two healthy subscribers on
//     bench/stall/+ (clean sessions) get every message. No gate: it would
//     hold the publishers while the stalled subscriber is behind. A rep
//     has three passes, each on a fresh broker, each with a window of
//     -duration + -stall after the warm-up: (a) only these; (b) also a
//     third subscriber on bench/stall/+ with a clean session, which stops
//     reading for -stall (15 s; 3 s with -self-check), -duration/2 into the
//     window, then reads on: its connection's reads are held before they
//     take anything from the socket, so the kernel's buffers fill and the
//     broker's writes back up; (c) the same with a persistent session
//     (Clean Start 0, expiry 1 day), which after the drain disconnects and
//     reconnects to collect what the broker kept for it. Reported per pass:
//     the PUBACK rate and the rate per healthy subscriber inside the
//     window, each as a ratio to pass (a) (target for the healthy ones:
//     0.8), their p99 and losses; for the stalled one, of the acknowledged
//     messages published while it was subscribed, how many it received and
//     how many are missing (before or after the last one that arrived from
//     the same publisher), how its connection ended (still connected;
//     DISCONNECT from the broker, with its reason code, e.g. 0x97; closed
//     without one) and how many new ones came after the reconnect. A clean
//     session's subscription lasts until the client notices the end of its
//     connection, which it can only do once it reads again, after the
//     stall. The persistent session makes storeedge commit every message
//     before its PUBACK, so pass (c)'s publishers also pay for that.
//   - memory: VmRSS of the idle broker with no client, then with 1 000
//     (-idle-clients) idle clients connected (keepalive 60 s), each read
//     after a 1 s settling period.
//   - startup: 100 persistent-session QoS 1 subscribers on queue/# go
//     offline; 10 publishers send -startup-msgs (10 000) QoS 1 messages to
//     queue/x, i.e. 1 000 000 queued deliveries; the broker is stopped and
//     restarted; reported are the time from exec to the first successful
//     CONNACK (polled), VmRSS at that moment, and how many messages one
//     resumed session then receives (it must be all of them).
//
// # Chat scenarios (storeedge only)
//
// The chat service (PROTOCOL.md "Chat") has no mosquitto equivalent, so
// chat-send and chat-history run on the storeedge side only (not at all
// with -self-check) and are reported apart, as absolute figures against
// DESIGN.md §7. Their clients log in as devices of the generated registry
// (bench-chat-000 … bench-chat-099, role staff, one bcrypt hash of cost 4)
// and send requests on svc/chat/{op} with QoS 1, Response Topic
// reply/{client id}/chat and the request id as Correlation Data; each
// answer is matched to its request by that. See chat.go.
//
//   - chat-send: 100 senders, one connection each, sender i in conversation
//     send-(i mod -chat-convs) (default 100: one conversation each; fewer
//     shared conversations measure contention on a conversation's seq).
//     Every sender first opens its conversation, then sends 200-byte texts
//     with at most -chat-window (8) requests unanswered, like a QoS 1
//     publisher, for warm-up + window (paced with -rate). The rate is the
//     ok:true answers that arrive inside the window per second; latency
//     p50/p99 is publish → answer of those. The answer comes after the
//     message is committed (fsync), so this is the durable path. After the
//     drain, any error answer, unanswered send, or seq that repeats or
//     leaves a gap in a conversation fails the run. 100 × 8 = 800 requests
//     in flight stay below the services queue (1 024), so "unavailable"
//     answers mean the broker, not the load generator, is at fault; by
//     Little's law the latency at saturation is about 800 / rate, so check
//     p99 against the target with -rate 10000.
//   - chat-history: 10 senders seed one conversation with -history-msgs
//     (10 000) messages (untimed); then one of them syncs it from seq 0 in
//     pages of 100 (svc/chat/history, after = the previous page's next,
//     while more). Reported: the time from the first request to the last
//     answer (the bench's decoding included), messages/s, and page latency.
//     The sync must return exactly seqs 1..N in order, each with the text
//     that was sent.
//
// # Camera scenario (storeedge only)
//
// camera measures the live-camera relay (broker/services/camera; PROTOCOL.md and
// README, "Cameras") in the spawned storeedge, reported apart as absolute
// figures against DESIGN.md §7 (time to first frame on the LAN, request →
// first decoded frame, p95 <= 300 ms). The camera and the viewers are the
// Go SDK's (device/camera) and run in this process, over loopback, so the
// broker's CPU and memory are the relay's alone. The camera, cam-bench-0
// (role camera), streams the embedded clip (device/camera/clip: VP8
// 320x240, 30 fps, a keyframe every 30 frames); the viewers are staff
// devices of the generated registry (bench-camview-00, -01, …), one
// connection each. See camera.go. A rep is, on a fresh broker with
// camera.linger at its default (30 s):
//
//   - relay cost: one viewer watches; after -warmup, a window of
//     -camera-window (10 s) measures the broker's CPU (utime+stime, as % of
//     one core), its VmRSS at the end, the frames the viewer received (30
//     per second expected) and the video sent: the viewers' frames × the
//     camera's mean frame size in the window (VP8 payload, no headers; also
//     all loopback traffic from /proc/net/dev, camera upload and MQTT
//     included). Then -camera-viewers - 1 (19) more watch at once; once all
//     have their first frame, -warmup and the same window with all of them.
//     The report gives both windows and the marginal cost of a viewer,
//     (many - one) / (viewers - 1).
//   - warm time to first frame: the viewers leave and the camera's upstream
//     lingers, so -camera-sessions (50) sessions, one after another by one
//     staff device, find the camera streaming, as when someone is watching
//     already: the relay adds a viewer and asks the camera for a keyframe.
//     A session is timed from the svc/camera/watch request (Viewer.Started)
//     to the first keyframe the viewer received whole (Viewer.FirstFrameAt:
//     the first picture a decoder can show), split where ICE and DTLS were
//     up (Viewer.ConnectedAt). The viewer then hangs up, and the next
//     session waits until the relay has let this one go (its log line
//     "camera: session ended" with the session id: /metrics counts viewers
//     but does not name sessions, so the scenario's brokers log at info,
//     in JSON), and until -camera-gap (150 ms), plus a random part of a
//     frame interval, has passed since this session's first frame (the
//     random part keeps the sessions from starting at one phase of the
//     camera's frame clock, which would give each the same wait for the
//     camera's next frame). The gap exceeds the relay's keyframe-request
//     gap (100 ms, keyframeGap in broker/services/camera): back to back (-camera-gap
//     0), a session's keyframe request comes within 100 ms of the previous
//     session's and the relay holds it until the 100 ms have passed (it
//     merges requests so a crowd joining at once costs the camera one
//     keyframe), which adds up to 100 ms to each session; that is a
//     measure of the merging, not of a join. If the camera answers a new
//     upstream during the pass, a session was not warm and
//     the run fails.
//   - cold time to first frame: a second broker, with camera.linger 10ms,
//     and -camera-cold (20) sessions timed the same way, each started once
//     the previous one has ended at the relay and the camera has no upstream
//     left (the relay's bye cleared Publisher.Stats().Session), so that each
//     includes the upstream's negotiation: the relay's offer to the camera,
//     the answer, ICE, DTLS and the camera's first keyframe. Each session
//     must make the camera answer exactly one new upstream.
//
// Percentiles are nearest rank over a rep's sessions; the report gives the
// median over reps of each, and the largest max. A session without a
// picture within 10 s fails the run, with the viewer's reason and the
// broker's log tail in the error; the third such session ends the pass.
//
// -profile DIR saves a storeedge CPU profile of each measured window
// (/debug/pprof, listeners.http_debug) as DIR/SCENARIO-REP.pprof (camera:
// the window with every viewer); read it with
// `go tool pprof -top bin/storeedge FILE`. -svc-workers N sets the
// daemon's services.workers, to see how the chat figures depend on it.
//
// # Broker configuration
//
// storeedge runs as `storeedge -config FILE` with a generated YAML (schema:
// configs/store.yaml): TCP and HTTP on loopback, websocket and TLS off,
// anonymous clients in role "bench" allowed to publish and subscribe to #,
// max_connections 5000, connect_rate_per_minute 0, max_queued_messages
// 10000, receive_maximum 256, log level warn, http_debug on (loopback),
// camera.loopback true (the relay offers 127.0.0.1 candidates) and
// camera.max_viewers 64. The device registry holds the chat scenarios'
// devices and the camera scenario's (one bcrypt hash of cost 4 each); the
// ACL also has their roles as configs/acl.yaml gives them, less what the
// bench does not use (staff: publish svc/# and camera/+/signal/#, subscribe
// reply/%c/# and camera/+/signal/#; camera: its status, retained, and
// telemetry, svc/camera/# and its own camera/%u/signal/#, subscribe
// reply/%c/# and its own signaling) and an empty customer role, which the
// daemon expects. The camera scenario's brokers log at info in JSON, and
// its cold pass's has camera.linger 10ms. Everything else, the services,
// chat and camera sections included, keeps the embedded defaults; the
// sealing key is created in the fresh data directory on start (unless
// $STOREEDGE_KEYS is set). Readiness is GET /readyz = 200.
//
// mosquitto gets the equivalent mosquitto.conf: a loopback listener,
// allow_anonymous true, persistence true in its temp directory,
// max_queued_messages 10000, set_tcp_nodelay true (Go sockets, hence
// storeedge's, are TCP_NODELAY), log_type error, and `user` = the current
// user when run as root. max_inflight_messages stays at its default: every
// subscriber announces Receive Maximum 65535 (the MQTT default), which both
// brokers use as the limit of unacknowledged QoS 1 deliveries to it; the
// -backlog gate keeps the real number far lower. (With 1024, mosquitto
// 2.0.11's outgoing send quota leaked under load and its QoS 1 deliveries
// stopped for good, although every message had been acknowledged: upstream
// issue #2362, fixed by the quota changes of 2.0.13.)
//
// # Caveats
//
//   - mosquitto acknowledges QoS 1 from memory and writes its database only
//     on exit or every 30 minutes (autosave_interval); storeedge
//     acknowledges QoS 1 only after an fsync. The QoS 1 comparison is
//     durable against non-durable on purpose (DESIGN.md §7 sets the target
//     at 0.5×). For the same reason the start-up scenario stops storeedge
//     with SIGKILL but mosquitto with SIGTERM: killed, mosquitto would
//     restart empty. Its start-up figure is a reference only.
//   - The load generator shares the machine: on 2 cores it takes about one.
//     The JSON has its CPU use per run (bench_cpu_s); compare brokers by
//     ratio and by broker CPU per message, not by absolute rates.
//   - The JSON also has, per run, the CPU used by all other processes on the
//     machine during the window (other_cpu_s); the report notes runs where
//     it exceeded a quarter core. For storeedge runs it has the broker's
//     own /metrics counters at the end of the run (broker_metrics).
//   - CPU time is read in USER_HZ (10 ms) ticks; short windows are coarse.
//
// # Resource figures (`go run ./bench resources`, make resources)
//
// What the store broker costs on the box, for a store owner: resources.go
// builds storeedge for this machine and for linux/arm64 (CGO_ENABLED=0,
// -trimpath, -ldflags "-s -w", as make dist), then runs each in turn, the
// arm64 one under qemu-aarch64-static, as firmware-sim's own spawned broker
// (sim.Options.Spawn, as make demo) on a fresh data_dir, with a store day of
// 50 devices: 8 kiosks, 24 chat tablets, 8 cameras streaming the video staff
// watch (-video=false: requests only) and 10 staff tablets, at the
// simulator's -speed (10) for -duration (90 s) from the broker's readiness.
// A wrapper script that execs the broker writes its process id. Every second
// the harness reads VmRSS and VmHWM from /proc/PID/status and utime+stime
// from /proc/PID/stat; /metrics is read at the start and the end of the
// window. Reported per binary: time from exec to /readyz, RSS then, peak RSS
// (VmHWM at the end), steady RSS (median VmRSS over the window's second
// half), the PUBLISH packets the broker received and sent
// (storeedge_messages_received_total and _sent_total, all QoS), messages/s
// (received), CPU seconds per 1 000 received messages, the CPU used by the
// simulator (this process) and by every other process, and the load average.
// The simulator's check (every acknowledged operation found exactly once)
// must pass. Under qemu-user the process is the emulator: its RSS includes
// the translator and its code cache, and its CPU is translated arm64 code
// run on this machine, a pessimistic stand-in for a Raspberry Pi 4.
//
// # Validating the harness
//
// -self-check runs every scenario with mosquitto on both sides (labelled
// mosquitto-a and mosquitto-b); the ratios should be about 1.0 and nothing
// lost. It needs no storeedge binary.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"
)

var selfPID = os.Getpid()

func main() {
	if len(os.Args) > 1 && os.Args[1] == "resources" {
		os.Exit(runResources(os.Args[2:]))
	}
	os.Exit(run())
}

func run() int {
	var (
		storeedgeBin = flag.String("storeedge", "./bin/storeedge", "storeedge binary")
		mosquittoBin = flag.String("mosquitto", "", "mosquitto binary (default: mosquitto on PATH, else /usr/sbin/mosquitto)")
		against      = flag.String("against", "", "another storeedge binary (the build before a change) to run side by side instead of mosquitto; storeedge-only scenarios run on both")
		reps         = flag.Int("reps", 3, "repetitions per scenario and broker, interleaved")
		duration     = flag.Duration("duration", 5*time.Second, "measured window per throughput run")
		warmup       = flag.Duration("warmup", time.Second, "warm-up before the measured window")
		drainFor     = flag.Duration("drain", 10*time.Second, "longest wait after the window for outstanding PUBACKs and deliveries")
		only         = flag.String("only", "", "comma-separated scenarios to run (default all)")
		jsonPath     = flag.String("json", "", "also write results as JSON to this file")
		selfCheck    = flag.Bool("self-check", false, "run mosquitto against itself to validate the harness")
		window       = flag.Int("window", 16, "QoS 1 messages a publisher keeps unacknowledged")
		backlog      = flag.Int("backlog", 1000, "undelivered messages per subscriber before publishers pause")
		idleClients  = flag.Int("idle-clients", 1000, "idle clients for the memory scenario")
		startupMsgs  = flag.Int("startup-msgs", 10000, "QoS 1 messages queued for each of 100 sessions in the startup scenario")
		rate         = flag.Float64("rate", 0, "publishes/s per throughput scenario, all publishers together (0 = as fast as the window and backlog allow)")
		chatWindow   = flag.Int("chat-window", 8, "chat requests a chat-send sender keeps unanswered")
		chatConvs    = flag.Int("chat-convs", chatSenders, "conversations the chat-send senders share (sender i in conversation i mod N; 100 = one each)")
		historyMsgs  = flag.Int("history-msgs", 10000, "messages chat-history seeds and syncs")
		svcWorkers   = flag.Int("svc-workers", 0, "storeedge services.workers (0 = the daemon's default)")
		camSessions  = flag.Int("camera-sessions", 50, "camera: warm watch sessions, one after another")
		camCold      = flag.Int("camera-cold", 20, "camera: cold watch sessions, each negotiating the camera's upstream (0 = none)")
		camViewers   = flag.Int("camera-viewers", 20, "camera: viewers of the relay-cost window")
		camWindow    = flag.Duration("camera-window", 10*time.Second, "camera: each relay-cost window (1 viewer, then -camera-viewers)")
		camGap       = flag.Duration("camera-gap", 150*time.Millisecond, "camera: least time from a session's first frame to the next watch request (0 = back to back)")
		stall        = flag.Duration("stall", 15*time.Second, "stalled-subscriber: how long the stalled subscriber stops reading its socket (default 3s with -self-check)")
		profileDir   = flag.String("profile", "", "write a storeedge CPU profile of every measured window to this directory (SCENARIO-REP.pprof)")
		keep         = flag.Bool("keep", false, "keep broker directories (configs, data, logs)")
		verbose      = flag.Bool("v", false, "print deliveries and PUBACKs per 100 ms of every throughput run to stderr")
	)
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./bench [flags]\n       go run ./bench resources [flags]   (the broker's RSS and CPU on a store day; -h there)\n\nscenarios: %s\n\n", strings.Join(scenarioNames(), ", "))
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		return 2
	}
	opt := options{
		reps: *reps, duration: *duration, warmup: *warmup, drain: *drainFor,
		window: *window, backlog: *backlog, idleClients: *idleClients, startupMsgs: *startupMsgs,
		rate: *rate, verbose: *verbose,
		chatWindow: *chatWindow, chatConvs: *chatConvs, historyMsgs: *historyMsgs, svcWorkers: *svcWorkers,
		cameraSessions: *camSessions, cameraCold: *camCold, cameraViewers: *camViewers, cameraWindow: *camWindow, cameraGap: *camGap,
		stall: *stall,
	}
	if *selfCheck && !flagSet("stall") {
		opt.stall = selfCheckStall
	}
	if *profileDir != "" {
		abs, err := filepath.Abs(*profileDir)
		if err == nil {
			err = os.MkdirAll(abs, 0o755)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: -profile:", err)
			return 2
		}
		opt.profileDir = abs
	}
	if err := opt.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	scs, err := selectScenarios(*only)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}

	mq, err := findMosquitto(*mosquittoBin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	var sides [2]side
	if *selfCheck {
		sides = [2]side{{"mosquitto-a", kindMosquitto, mq}, {"mosquitto-b", kindMosquitto, mq}}
		scs = slices.DeleteFunc(scs, func(sc scenario) bool {
			if sc.storeedgeOnly && *only != "" {
				fmt.Fprintf(os.Stderr, "bench: -self-check skips %s (storeedge only)\n", sc.name)
			}
			return sc.storeedgeOnly
		})
	} else {
		se, err := findStoreedge(*storeedgeBin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		sides = [2]side{{"storeedge", kindStoreedge, se}, {"mosquitto", kindMosquitto, mq}}
		if *against != "" {
			before, err := findStoreedge(*against)
			if err != nil {
				fmt.Fprintln(os.Stderr, "bench: -against:", err)
				return 1
			}
			sides[1] = side{"storeedge-before", kindStoreedge, before}
		}
	}
	raiseFileLimit()
	// paho allocates several objects per message; collecting less often
	// keeps the load generator's GC work down (memory is not scarce here).
	debug.SetGCPercent(400)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	parent, err := os.MkdirTemp("", "storeedge-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}

	var recs []runRecord
	failedDirs := false
	for _, sc := range scs {
		for rep := 1; rep <= opt.reps && ctx.Err() == nil; rep++ {
			for _, sd := range sides {
				if ctx.Err() != nil {
					break
				}
				if sc.storeedgeOnly && sd.kind != kindStoreedge {
					continue
				}
				dir := filepath.Join(parent, fmt.Sprintf("%s-%d-%s", sc.name, rep, sd.name))
				r := runOne(ctx, sc, sd, rep, dir, opt)
				recs = append(recs, r)
				fmt.Fprintf(os.Stderr, "[%s %d/%d] %s\n", sc.name, rep, opt.reps, progress(r))
				if r.Error != "" {
					failedDirs = true
				} else if !*keep {
					_ = os.RemoveAll(dir)
				}
			}
		}
	}
	if ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "bench: interrupted; partial results follow")
	}
	if !*keep && !failedDirs {
		_ = os.RemoveAll(parent)
	} else {
		fmt.Fprintf(os.Stderr, "bench: broker directories (configs, data, logs) kept in %s\n", parent)
	}

	var sums []scenarioSummary
	for _, sc := range scs {
		sums = append(sums, summarize(sc, sides, recs))
	}
	hdr := fmt.Sprintf("storeedge bench: %s vs %s, %d reps interleaved, %v window after %v warm-up, %d B payloads, %d CPUs, window %d, backlog %d",
		sides[0].name, sides[1].name, opt.reps, opt.duration, opt.warmup, payloadSize, runtime.NumCPU(), opt.window, opt.backlog)
	if opt.rate > 0 {
		hdr += fmt.Sprintf(", paced at %.0f publishes/s per scenario (chat-send: sends/s)", opt.rate)
	}
	if *selfCheck {
		hdr += "\nSELF-CHECK: both sides are mosquitto (" + mq + "); ratios should be ~1.0"
	}
	printReport(os.Stdout, hdr, sides, sums, recs, opt)

	if *jsonPath != "" {
		settings := map[string]any{
			"sides": []string{sides[0].name, sides[1].name}, "binaries": []string{sides[0].bin, sides[1].bin},
			"self_check": *selfCheck, "reps": opt.reps, "duration_s": opt.duration.Seconds(),
			"warmup_s": opt.warmup.Seconds(), "drain_s": opt.drain.Seconds(), "window": opt.window,
			"backlog": opt.backlog, "idle_clients": opt.idleClients, "startup_msgs": opt.startupMsgs,
			"rate": opt.rate, "payload_bytes": payloadSize, "cpus": runtime.NumCPU(), "time": time.Now().UTC().Format(time.RFC3339),
			"chat_senders": chatSenders, "chat_window": opt.chatWindow, "chat_conversations": opt.chatConvs,
			"chat_text_bytes": chatTextBytes, "history_msgs": opt.historyMsgs, "history_page": chatPageSize,
			"profile_dir": opt.profileDir, "svc_workers": opt.svcWorkers,
			"camera_sessions": opt.cameraSessions, "camera_cold_sessions": opt.cameraCold, "camera_viewers": opt.cameraViewers,
			"camera_window_s": opt.cameraWindow.Seconds(), "camera_cold_linger_ms": ms(cameraColdLinger), "camera_gap_ms": ms(opt.cameraGap),
			"stall_s": opt.stall.Seconds(), "stall_rate": stallRateFor(opt),
		}
		if err := writeJSON(*jsonPath, jsonReport{Settings: settings, Summary: sums, Runs: recs}); err != nil {
			fmt.Fprintln(os.Stderr, "bench: write JSON:", err)
			return 1
		}
	}
	if failedDirs || ctx.Err() != nil {
		return 1
	}
	return 0
}

func (o options) validate() error {
	switch {
	case o.reps < 1:
		return fmt.Errorf("-reps %d: at least 1", o.reps)
	case o.duration < 100*time.Millisecond:
		return fmt.Errorf("-duration %v: at least 100ms", o.duration)
	case o.warmup < 0 || o.drain < 0:
		return fmt.Errorf("-warmup and -drain must not be negative")
	case o.window < 1 || o.window > 256:
		return fmt.Errorf("-window %d: between 1 and 256 (storeedge's receive_maximum)", o.window)
	case o.rate < 0:
		return fmt.Errorf("-rate %v: 0 (as fast as possible) or more", o.rate)
	case o.backlog < 0:
		return fmt.Errorf("-backlog %d: 0 (no gate) or more", o.backlog)
	case o.idleClients < 1 || o.idleClients > 4000:
		return fmt.Errorf("-idle-clients %d: between 1 and 4000 (max_connections is 5000)", o.idleClients)
	case o.startupMsgs < 1 || o.startupMsgs > maxQueuedMessages:
		return fmt.Errorf("-startup-msgs %d: between 1 and %d (max_queued_messages)", o.startupMsgs, maxQueuedMessages)
	case o.chatWindow < 1 || o.chatWindow*chatSenders > chatQueueSize:
		return fmt.Errorf("-chat-window %d: between 1 and %d (%d senders must not overfill the services queue of %d, or they are answered unavailable)",
			o.chatWindow, chatQueueSize/chatSenders, chatSenders, chatQueueSize)
	case o.chatConvs < 1 || o.chatConvs > chatSenders:
		return fmt.Errorf("-chat-convs %d: between 1 and %d (senders)", o.chatConvs, chatSenders)
	case o.svcWorkers < 0:
		return fmt.Errorf("-svc-workers %d: 0 (the daemon's default) or more", o.svcWorkers)
	case o.historyMsgs < 1:
		return fmt.Errorf("-history-msgs %d: at least 1", o.historyMsgs)
	case o.cameraSessions < 1 || o.cameraCold < 0:
		return fmt.Errorf("-camera-sessions %d, -camera-cold %d: at least 1, and 0 (no cold pass) or more", o.cameraSessions, o.cameraCold)
	case o.cameraViewers < 1 || o.cameraViewers > cameraMaxViewers:
		return fmt.Errorf("-camera-viewers %d: between 1 and %d (camera.max_viewers)", o.cameraViewers, cameraMaxViewers)
	case o.cameraWindow < time.Second:
		return fmt.Errorf("-camera-window %v: at least 1s", o.cameraWindow)
	case o.cameraGap < 0:
		return fmt.Errorf("-camera-gap %v: 0 (back to back) or more", o.cameraGap)
	case o.stall < 100*time.Millisecond || o.stall > maxStall:
		return fmt.Errorf("-stall %v: between 100ms and %v (the stalled subscriber's keepalive)", o.stall, maxStall)
	}
	return nil
}

// flagSet reports whether the named flag was given on the command line.
func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func scenarioNames() []string {
	var n []string
	for _, s := range allScenarios() {
		n = append(n, s.name)
	}
	return n
}

// selectScenarios parses -only.
func selectScenarios(only string) ([]scenario, error) {
	all := allScenarios()
	if strings.TrimSpace(only) == "" {
		return all, nil
	}
	want := map[string]bool{}
	for _, n := range strings.Split(only, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if !slices.Contains(scenarioNames(), n) {
			return nil, fmt.Errorf("-only: unknown scenario %q (have %s)", n, strings.Join(scenarioNames(), ", "))
		}
		want[n] = true
	}
	var out []scenario
	for _, s := range all {
		if want[s.name] {
			out = append(out, s)
		}
	}
	return out, nil
}

// runOne starts a fresh broker in dir, runs one rep of sc against it and
// stops it.
func runOne(ctx context.Context, sc scenario, sd side, rep int, dir string, opt options) runRecord {
	rec := runRecord{Scenario: sc.name, Broker: sd.name, Kind: sd.kind.String(), Rep: rep}
	fail := func(err error) runRecord {
		rec.Error = err.Error()
		return rec
	}
	b, err := newBroker(sd, dir, brokerOpts{svcWorkers: opt.svcWorkers, infoJSONLog: sc.kind == kindCamera})
	if err != nil {
		return fail(err)
	}
	if err := b.start(ctx); err != nil {
		return fail(err)
	}
	defer func() { _ = b.kill() }()
	switch sc.kind {
	case kindLoad:
		rec.Load, err = runLoad(ctx, b, sc.name, rep, sc.load, opt)
	case kindMemory:
		rec.Memory, err = runMemory(ctx, b, opt.idleClients)
	case kindStartup:
		rec.Startup, err = runStartup(ctx, b, opt)
	case kindChatSend:
		// A failed run keeps its figures in the JSON.
		rec.ChatSend, err = runChatSend(ctx, b, opt, rep)
	case kindChatHistory:
		rec.History, err = runChatHistory(ctx, b, opt, rep)
	case kindCamera:
		rec.Camera, err = runCamera(ctx, b, opt, rep)
	case kindStall:
		// Three passes, each on a fresh broker: b is the first's. A
		// failed rep keeps its passes so far in the JSON.
		rec.Stall, err = runStall(ctx, b, sd, dir, opt, rep)
	}
	rec.Metrics = b.scrapeMetrics()
	if err == nil && sc.kind == kindCamera && opt.cameraCold > 0 {
		// The cold pass needs another camera.linger, hence another broker;
		// one broker at a time.
		_ = b.kill()
		err = runCameraCold(ctx, sd, cameraDir(dir), opt, rec.Camera)
	}
	if err != nil {
		return fail(err)
	}
	return rec
}

// progress is the one-line stderr summary of a finished run.
func progress(r runRecord) string {
	switch {
	case r.Error != "":
		return fmt.Sprintf("%s: FAILED: %s", r.Broker, r.Error)
	case r.Load != nil:
		l := r.Load
		s := fmt.Sprintf("%s: %.0f msg/s, p50 %.2f ms, p99 %.2f ms, broker cpu %.3f s/100k, cpu-s broker %.1f bench %.1f others %.1f",
			r.Broker, l.Rate, l.P50Ms, l.P99Ms, l.CPUPer100k, l.BrokerCPU, l.BenchCPU, l.OtherCPU)
		if l.Lost >= 0 {
			s += fmt.Sprintf(", lost %d dup %d ooo %d", l.Lost, l.Dup, l.OutOfOrder)
		}
		if l.Errors > 0 || !l.Drained {
			s += fmt.Sprintf(", errors %d, drained %v", l.Errors, l.Drained)
		}
		return s
	case r.Memory != nil:
		return fmt.Sprintf("%s: RSS idle %.1f MB, with %d clients %.1f MB", r.Broker, r.Memory.RSSIdleMB, r.Memory.Clients, r.Memory.RSSLoadMB)
	case r.ChatSend != nil:
		c := r.ChatSend
		return fmt.Sprintf("%s: %.0f sends/s, p50 %.2f ms, p99 %.2f ms, ok %d of %d, errors %d, broker cpu %.3f s/100k, cpu-s broker %.1f bench %.1f others %.1f",
			r.Broker, c.Rate, c.P50Ms, c.P99Ms, c.OK, c.Sent, c.errorCount(), c.CPUPer100k, c.BrokerCPU, c.BenchCPU, c.OtherCPU)
	case r.History != nil:
		h := r.History
		return fmt.Sprintf("%s: seeded %d messages in %.1f s; synced them in %d pages in %.1f ms = %.0f msgs/s, page p50 %.2f ms p99 %.2f ms, cpu-s broker %.2f bench %.2f",
			r.Broker, h.Messages, h.SeedSeconds, h.Pages, h.SyncMs, h.Rate, h.PageP50Ms, h.PageP99Ms, h.BrokerCPU, h.BenchCPU)
	case r.Camera != nil:
		return r.Broker + ": " + cameraProgress(r.Camera)
	case r.Stall != nil:
		return r.Broker + ": " + stallProgress(r.Stall)
	case r.Startup != nil:
		s := r.Startup
		return fmt.Sprintf("%s: preload %.1f s, %s, exec->CONNACK %.1f ms, RSS %.1f MB, recovered %d/%d",
			r.Broker, s.PreloadSeconds, s.StopSignal, s.ConnackMs, s.RSSAfterMB, s.Recovered, s.Messages)
	}
	return r.Broker
}

// raiseFileLimit lifts the soft open-files limit to the hard one. Calling
// Setrlimit also makes the brokers we start inherit it (Go otherwise restores
// the original soft limit in child processes).
func raiseFileLimit() {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return
	}
	l.Cur = l.Max
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
}
