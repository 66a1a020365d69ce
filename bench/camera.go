package main

// The camera scenario measures the live-camera relay (broker/services/camera,
// PROTOCOL.md "Cameras") in the spawned storeedge: how long a viewer waits
// for its first picture, and what relaying one camera to many viewers costs
// the broker process. The camera and the viewers are the Go SDK's
// (device/camera) and run in this process, so the broker's CPU and memory
// are the relay's alone. mosquitto has no equivalent: storeedge only,
// reported as absolute figures against DESIGN.md §7.
//
// Why this file is long (over 800 lines): like every bench scenario
// (chat.go, stall.go, load.go, startup.go) it holds its scenario whole,
// from the rig through the measured passes to the summary and the printed
// table, so that one measurement reads top to bottom in one place.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/storeedge/storeedge/device"
	devcam "github.com/storeedge/storeedge/device/camera"
	"github.com/storeedge/storeedge/device/camera/clip"
)

const (
	// cameraID is the bench's one camera, a device of role cameraRole (the
	// role svc/camera/register requires).
	cameraID   = "cam-bench-0"
	cameraRole = "camera"
	// cameraViewerRole is the viewers' role: one of camera.staff_roles
	// (store.yaml: staff, admin), who may watch every camera. The chat
	// devices have the same role, so the ACL defines it once (writeACL).
	cameraViewerRole = chatRole
	// cameraPassword is the password of the camera and of every viewer;
	// the registry holds one bcrypt hash of cost 4, as for the chat devices.
	cameraPassword = "storeedge-bench-camera"
	// cameraMaxViewers is camera.max_viewers in the bench config, and the
	// number of viewer devices in the registry: -camera-viewers may not
	// ask for more.
	cameraMaxViewers = 64
	// cameraWarmLinger is camera.linger of the scenario's main broker: the
	// default (store.yaml; configs_test.go checks it).
	cameraWarmLinger = 30 * time.Second
	// cameraColdLinger is camera.linger of the cold pass's broker: the
	// upstream closes this soon after each session, so that the next one
	// has to negotiate it again. (0 would mean the default, 30 s.)
	cameraColdLinger = 10 * time.Millisecond
	// cameraFrameTimeout bounds the wait for a session's first picture.
	cameraFrameTimeout = 10 * time.Second
	// cameraEndTimeout bounds the wait for the relay to end a session after
	// the viewer hung up, and (cold pass) for the upstream to close.
	cameraEndTimeout = 10 * time.Second
	// cameraRegisterTimeout bounds the camera's registration.
	cameraRegisterTimeout = 10 * time.Second
	// cameraMaxFailures sessions without a picture end a pass: the relay is
	// broken, and more of them only take time.
	cameraMaxFailures = 3
	// clipFPS is the embedded clip's frame rate (clip.Interval).
	clipFPS = 30
	// DESIGN.md §7: time to first frame on the LAN, request → first
	// decoded frame.
	cameraTargetP95Ms = 300
	// relaySessionEnded is the relay's log message when it has forgotten a
	// viewer session (broker/services/camera endViewer), after closing its peer
	// connection.
	relaySessionEnded = "camera: session ended"
)

func cameraViewer(i int) string { return fmt.Sprintf("bench-camview-%02d", i) }

// cameraHash is the registry's hash of cameraPassword, made once per process.
var cameraHash = sync.OnceValues(func() ([]byte, error) {
	return bcrypt.GenerateFromPassword([]byte(cameraPassword), bcrypt.MinCost)
})

// writeCameraDevices appends the camera scenario's devices to a registry:
// the camera and cameraMaxViewers staff viewers.
func writeCameraDevices(b *strings.Builder) error {
	h, err := cameraHash()
	if err != nil {
		return fmt.Errorf("camera devices: %w", err)
	}
	fmt.Fprintf(b, "  - id: %s\n    role: %s\n    password_hash: %q\n", cameraID, cameraRole, h)
	for i := range cameraMaxViewers {
		fmt.Fprintf(b, "  - id: %s\n    role: %s\n    password_hash: %q\n", cameraViewer(i), cameraViewerRole, h)
	}
	return nil
}

// quiet discards the SDK's and pion's log lines.
var quiet = slog.New(slog.DiscardHandler)

// benchPeer is what both the camera and the viewers need on one machine:
// loopback candidates.
var benchPeer = devcam.PeerOptions{Loopback: true, Log: quiet}

// cameraResult is one rep of the camera scenario.
type cameraResult struct {
	Viewers int `json:"viewers"`
	// FirstWatchMs is the time to first frame of the first session on the
	// fresh broker (the first viewer of the relay-cost part): cold.
	FirstWatchMs float64 `json:"first_watch_ms"`
	// One and Many are the relay-cost windows with 1 and Viewers viewers.
	One  *relayWindow `json:"one_viewer,omitempty"`
	Many *relayWindow `json:"many_viewers,omitempty"`
	// JoinAllMs: the other Viewers-1 viewers watching at once, from the
	// first watch request to the last first frame.
	JoinAllMs float64 `json:"join_all_ms,omitempty"`
	// Marginal cost of a viewer between the two windows.
	PerViewerCPUPct float64   `json:"per_viewer_cpu_pct"`
	PerViewerRSSMB  float64   `json:"per_viewer_rss_mb"`
	Warm            *ttffPass `json:"warm,omitempty"`
	Cold            *ttffPass `json:"cold,omitempty"`
}

// failedSessions counts the sessions of both passes that got no picture.
func (r *cameraResult) failedSessions() int {
	n := 0
	for _, p := range []*ttffPass{r.Warm, r.Cold} {
		if p != nil {
			n += p.Failed
		}
	}
	return n
}

// relayWindow is the broker's cost over one measured window.
type relayWindow struct {
	Viewers   int     `json:"viewers"`
	Seconds   float64 `json:"seconds"`
	BrokerCPU float64 `json:"broker_cpu_s"`
	CPUPct    float64 `json:"broker_cpu_pct"` // of one core
	RSSMB     float64 `json:"rss_mb"`         // VmRSS at the end of the window
	BenchCPU  float64 `json:"bench_cpu_s"`
	OtherCPU  float64 `json:"other_cpu_s"`
	// Frames each viewer received in the window (clipFPS × Seconds expected).
	Frames       []int   `json:"frames"`
	FramesMin    int     `json:"frames_min"`
	FramesMedian float64 `json:"frames_median"`
	// The camera's VP8 frames in the window; PayloadMbps is the video the
	// relay sent to the viewers: their frames × the window's mean frame
	// size (VP8 payload only; RTP, SRTP, UDP and IP headers not counted).
	SourceFrames int64   `json:"camera_frames"`
	SourceBytes  int64   `json:"camera_bytes"`
	PayloadMbps  float64 `json:"video_out_mbit_s"`
	// LoopbackMbps is everything sent on lo meanwhile, by every process:
	// camera → relay, relay → viewers, RTCP and MQTT, with all headers
	// (0 when /proc/net/dev cannot be read).
	LoopbackMbps float64 `json:"loopback_mbit_s"`
	Profile      string  `json:"cpu_profile,omitempty"`
}

// ttffPass is one series of watch sessions, one after another.
type ttffPass struct {
	Linger   string `json:"linger"` // camera.linger of the broker
	Gap      string `json:"gap"`    // -camera-gap
	Sessions int    `json:"sessions"`
	Failed   int    `json:"failed"`
	// NewUpstreams is how many upstreams the camera answered during the
	// pass: 0 when warm (the lingering upstream served every session), one
	// per session when cold.
	NewUpstreams int `json:"new_upstreams"`
	// The camera's keyframe requests received (RTCP PLI, FIR) and
	// keyframes sent during the pass.
	CameraPLIs      int     `json:"camera_plis"`
	CameraKeyframes int     `json:"camera_keyframes"`
	FirstError      string  `json:"first_error,omitempty"`
	Samples         []ttff  `json:"samples"`
	Stats           ttffSum `json:"summary"`
}

// ttff is one session's timings, from the watch request.
type ttff struct {
	WatchMs   float64 `json:"watch_ms"`     // Watch returned: watch answered, offer published
	ConnectMs float64 `json:"connected_ms"` // ICE and DTLS up (at the latest the first frame)
	FrameMs   float64 `json:"frame_ms"`     // first whole keyframe
}

// ttffSum summarises a pass's sessions (nearest-rank percentiles).
type ttffSum struct {
	N          int     `json:"n"`
	P50Ms      float64 `json:"p50_ms"`
	P95Ms      float64 `json:"p95_ms"`
	MaxMs      float64 `json:"max_ms"`
	WatchP50Ms float64 `json:"watch_p50_ms"`
	ConnP50Ms  float64 `json:"connected_p50_ms"`
	ConnP95Ms  float64 `json:"connected_p95_ms"`
	// After*: connected → first frame.
	AfterP50Ms float64 `json:"after_connect_p50_ms"`
	AfterP95Ms float64 `json:"after_connect_p95_ms"`
}

// summarizeTTFF computes the percentiles of the sessions' timings; all
// zero, N included, without sessions (the JSON encoder refuses NaN).
func summarizeTTFF(s []ttff) ttffSum {
	if len(s) == 0 {
		return ttffSum{}
	}
	pct := func(f func(ttff) float64, p float64) float64 {
		xs := make([]int64, len(s))
		for i, x := range s {
			xs[i] = int64(math.Round(f(x) * 1e3)) // µs: percentile works on integers
		}
		slices.Sort(xs)
		return float64(percentile(xs, p)) / 1e3
	}
	frame := func(x ttff) float64 { return x.FrameMs }
	conn := func(x ttff) float64 { return x.ConnectMs }
	after := func(x ttff) float64 { return x.FrameMs - x.ConnectMs }
	return ttffSum{
		N: len(s), P50Ms: pct(frame, 50), P95Ms: pct(frame, 95), MaxMs: pct(frame, 100),
		WatchP50Ms: pct(func(x ttff) float64 { return x.WatchMs }, 50),
		ConnP50Ms:  pct(conn, 50), ConnP95Ms: pct(conn, 95),
		AfterP50Ms: pct(after, 50), AfterP95Ms: pct(after, 95),
	}
}

// frameSpread returns the smallest and the median of the viewers' frame
// counts (0 and 0 for none).
func frameSpread(frames []int) (lo int, med float64) {
	if len(frames) == 0 {
		return 0, 0
	}
	fs := make([]float64, len(frames))
	for i, f := range frames {
		fs[i] = float64(f)
	}
	return slices.Min(frames), median(fs)
}

// countingSource is the embedded clip, counting the frames and bytes the
// camera takes from it.
type countingSource struct {
	*clip.Source
	frames, bytes atomic.Int64
}

func (s *countingSource) NextFrame() ([]byte, bool, error) {
	data, key, err := s.Source.NextFrame()
	if err == nil {
		s.frames.Add(1)
		s.bytes.Add(int64(len(data)))
	}
	return data, key, err
}

// relayEvent is one line of the relay's log that the bench waits for.
type relayEvent struct {
	Msg     string `json:"msg"`
	Session string `json:"session"`
	Reason  string `json:"reason"`
}

// parseRelayLog returns the "session ended" events of the complete lines of
// a JSON log (log.format json) and how many bytes those lines took; a last
// line without its newline is left for the next read. Other lines, and
// lines that are not JSON (pion writes plain text to stderr), are skipped.
func parseRelayLog(data []byte) (ended []relayEvent, used int) {
	for {
		i := bytes.IndexByte(data[used:], '\n')
		if i < 0 {
			return ended, used
		}
		line := data[used : used+i]
		used += i + 1
		if !bytes.Contains(line, []byte(relaySessionEnded)) {
			continue
		}
		var ev relayEvent
		if json.Unmarshal(line, &ev) == nil && ev.Msg == relaySessionEnded && ev.Session != "" {
			ended = append(ended, ev)
		}
	}
}

// relayLog follows the broker's log for the relay's "session ended" lines:
// nothing else tells from outside the process that the relay has let a
// session go. The camera scenario's brokers log at info, in JSON.
type relayLog struct {
	path  string
	off   int64
	ended map[string]string // session → reason
}

func newRelayLog(path string) *relayLog { return &relayLog{path: path, ended: map[string]string{}} }

// poll reads what the broker logged since the last poll.
func (l *relayLog) poll() error {
	f, err := os.Open(l.path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() <= l.off {
		return err
	}
	buf := make([]byte, st.Size()-l.off)
	n, err := f.ReadAt(buf, l.off)
	if n == 0 && err != nil {
		return err
	}
	evs, used := parseRelayLog(buf[:n])
	l.off += int64(used)
	for _, ev := range evs {
		l.ended[ev.Session] = ev.Reason
	}
	return nil
}

// waitFor polls cond every 2 ms until it holds, at most timeout.
func waitFor(ctx context.Context, timeout time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not within %v", what, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond): // poll interval
		}
	}
}

// cameraRig is the camera, streaming, and the viewers' device connections,
// on one broker.
type cameraRig struct {
	b       *broker
	src     *countingSource
	cam     *device.Client
	pub     *devcam.Publisher
	stop    context.CancelFunc
	runErr  chan error
	viewers []*device.Client
	log     *relayLog
}

func connectDevice(ctx context.Context, b *broker, id string, presence bool) (*device.Client, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := device.Connect(cctx, device.Config{
		Brokers: []string{"mqtt://" + b.addr}, DeviceID: id, Password: cameraPassword,
		NoPresence: !presence, Log: quiet,
	})
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", id, err)
	}
	return c, nil
}

// startCameraRig connects the camera (with its presence, as a real camera
// has) and n viewer devices, starts streaming the clip and waits for the
// camera's registration.
func startCameraRig(ctx context.Context, b *broker, n int) (_ *cameraRig, err error) {
	r := &cameraRig{b: b, log: newRelayLog(b.logPath), runErr: make(chan error, 1)}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	s, err := clip.NewSource()
	if err != nil {
		return r, err
	}
	r.src = &countingSource{Source: s}
	if r.cam, err = connectDevice(ctx, b, cameraID, true); err != nil {
		return r, err
	}
	r.viewers = make([]*device.Client, n)
	err = connectAll(n, 8, func(i int) error {
		c, err := connectDevice(ctx, b, cameraViewer(i), false)
		r.viewers[i] = c
		return err
	})
	if err != nil {
		return r, fmt.Errorf("viewers: %w", err)
	}
	r.pub = devcam.New(r.cam, r.src, devcam.Options{PeerOptions: benchPeer})
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	r.stop = stop
	go func() { r.runErr <- r.pub.Run(runCtx) }()
	err = waitFor(ctx, cameraRegisterTimeout, cameraID+" registered", func() (bool, error) {
		select {
		case err := <-r.runErr:
			r.runErr <- err
			return false, fmt.Errorf("camera stopped: %v", err)
		default:
		}
		_, ok := r.pub.Registration()
		return ok, nil
	})
	return r, err
}

// close stops the camera and disconnects everyone.
func (r *cameraRig) close() {
	if r.stop != nil {
		r.stop()
		<-r.runErr
		r.stop = nil
	}
	var wg sync.WaitGroup
	for _, c := range append([]*device.Client{r.cam}, r.viewers...) {
		if c == nil {
			continue
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = c.Close(ctx)
		})
	}
	wg.Wait()
	r.cam, r.viewers = nil, nil
}

// watch opens a session for viewer device c and waits for its first
// picture; on failure the viewer (if any) is returned closed.
func (r *cameraRig) watch(ctx context.Context, c *device.Client) (*devcam.Viewer, ttff, error) {
	v, err := devcam.Watch(ctx, c, cameraID, devcam.ViewerOptions{PeerOptions: benchPeer})
	returned := time.Now()
	if err != nil {
		return nil, ttff{}, err
	}
	tm := time.NewTimer(cameraFrameTimeout)
	defer tm.Stop()
	select {
	case <-v.FirstFrame():
	case <-v.Done():
		v.Close()
		return v, ttff{}, fmt.Errorf("session %s ended before its first frame: %s", v.Session().Session, v.Reason())
	case <-tm.C:
		v.Close()
		return v, ttff{}, fmt.Errorf("session %s: no frame within %v (frames %d, connected %v)",
			v.Session().Session, cameraFrameTimeout, v.Frames(), !v.ConnectedAt().IsZero())
	case <-ctx.Done():
		v.Close()
		return v, ttff{}, ctx.Err()
	}
	// The viewer notes the connection when its loop gets to pion's state
	// change, which can be after the first frame arrived: wait for it, and
	// take the earlier of the two.
	err = waitFor(ctx, cameraFrameTimeout, "session "+v.Session().Session+" connected", func() (bool, error) {
		return !v.ConnectedAt().IsZero(), nil
	})
	if err != nil {
		v.Close()
		return v, ttff{}, err
	}
	t0, first := v.Started(), v.FirstFrameAt()
	since := func(t time.Time) float64 { return ms(t.Sub(t0)) }
	return v, ttff{WatchMs: since(returned), ConnectMs: since(minTime(v.ConnectedAt(), first)), FrameMs: since(first)}, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// waitEnded waits until the relay has let the viewer's session go.
func (r *cameraRig) waitEnded(ctx context.Context, v *devcam.Viewer) error {
	id := v.Session().Session
	return waitFor(ctx, cameraEndTimeout, "the relay ending session "+id, func() (bool, error) {
		if err := r.log.poll(); err != nil {
			return false, err
		}
		_, ok := r.log.ended[id]
		return ok, nil
	})
}

// upstreamGone waits until the camera has no upstream: the relay closed it
// (bye) once camera.linger passed without a viewer.
func (r *cameraRig) upstreamGone(ctx context.Context) error {
	return waitFor(ctx, cameraEndTimeout, "the upstream closing", func() (bool, error) {
		return r.pub.Stats().Session == "", nil
	})
}

// runPass runs n sessions one after another for viewer device c. Each
// session waits for the previous one to have ended at the relay, and when
// cold also for the upstream to have closed, so that it has to be
// negotiated again; then, if need be, until gap has passed since the
// previous session's first frame (see -camera-gap), plus a random part of
// a frame interval: with a fixed spacing every session of a pass would
// start at the same phase of the camera's frame clock, and the wait for
// the camera's next frame, up to 33 ms of each time, would be the same.
func (r *cameraRig) runPass(ctx context.Context, c *device.Client, n int, cold bool, linger, gap time.Duration) (*ttffPass, error) {
	p := &ttffPass{Linger: linger.String(), Gap: gap.String()}
	st0 := r.pub.Stats()
	var errs []error
	var next time.Time // the earliest start of the next session
	for range n {
		if cold {
			if err := r.upstreamGone(ctx); err != nil {
				return p, err
			}
		}
		if d := time.Until(next); d > 0 {
			sleepUntil(ctx, clock()+int64(d))
		}
		p.Sessions++
		v, t, err := r.watch(ctx, c)
		next = time.Now()
		if err == nil {
			next = v.FirstFrameAt()
		}
		next = next.Add(gap + rand.N(clip.Interval))
		if v != nil {
			v.Close()
			if err := r.waitEnded(ctx, v); err != nil {
				return p, err
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return p, ctx.Err()
			}
			p.Failed++
			errs = append(errs, err)
			if p.FirstError == "" {
				p.FirstError = err.Error()
			}
			if p.Failed >= cameraMaxFailures {
				break
			}
			continue
		}
		p.Samples = append(p.Samples, t)
	}
	st := r.pub.Stats()
	p.NewUpstreams, p.CameraPLIs, p.CameraKeyframes = st.Sessions-st0.Sessions, st.PLIs-st0.PLIs, st.Keyframes-st0.Keyframes
	p.Stats = summarizeTTFF(p.Samples)
	if len(errs) > 0 {
		return p, fmt.Errorf("%d of %d sessions without a picture: %w", p.Failed, p.Sessions, errors.Join(errs...))
	}
	return p, nil
}

// snapshot is what a window's figures are computed from.
type snapshot struct {
	frames              []int
	srcFrames, srcBytes int64
	broker, self, all   float64
	lo                  int64
	loErr, cpuErr       error
	at                  time.Time
}

func (r *cameraRig) snap(vs []*devcam.Viewer) snapshot {
	s := snapshot{at: time.Now()}
	s.broker, s.cpuErr = procCPUSeconds(r.b.pid())
	s.self, _ = procCPUSeconds(selfPID)
	s.all, _ = systemBusySeconds()
	s.lo, s.loErr = loopbackTxBytes()
	s.srcFrames, s.srcBytes = r.src.frames.Load(), r.src.bytes.Load()
	for _, v := range vs {
		s.frames = append(s.frames, v.Frames())
	}
	return s
}

// window measures the broker over d with viewers vs watching, after a
// warm-up; profile, when set, gets a CPU profile of the window.
func (r *cameraRig) window(ctx context.Context, vs []*devcam.Viewer, warmup, d time.Duration, profile string) (*relayWindow, error) {
	sleepUntil(ctx, clock()+int64(warmup))
	var waitProfile func() error
	if profile != "" {
		waitProfile = r.b.cpuProfile(int(math.Ceil(d.Seconds())), profile)
	}
	s0 := r.snap(vs)
	sleepUntil(ctx, clock()+int64(d))
	s1 := r.snap(vs)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("interrupted: %w", err)
	}
	if err := r.b.unexpectedExit(); err != nil {
		return nil, err
	}
	if err := errors.Join(s0.cpuErr, s1.cpuErr); err != nil {
		return nil, fmt.Errorf("broker CPU: %w", err)
	}
	rss, err := procRSS(r.b.pid())
	if err != nil {
		return nil, err
	}
	sec := s1.at.Sub(s0.at).Seconds()
	w := &relayWindow{Viewers: len(vs), Seconds: sec, BrokerCPU: s1.broker - s0.broker, RSSMB: mb(rss),
		BenchCPU: s1.self - s0.self, SourceFrames: s1.srcFrames - s0.srcFrames, SourceBytes: s1.srcBytes - s0.srcBytes, Profile: profile}
	w.CPUPct = w.BrokerCPU / sec * 100
	w.OtherCPU = max(0, (s1.all-s0.all)-w.BrokerCPU-w.BenchCPU)
	var total int
	for i := range vs {
		f := s1.frames[i] - s0.frames[i]
		w.Frames = append(w.Frames, f)
		total += f
	}
	w.FramesMin, w.FramesMedian = frameSpread(w.Frames)
	if w.SourceFrames > 0 {
		w.PayloadMbps = float64(total) * float64(w.SourceBytes) / float64(w.SourceFrames) * 8 / sec / 1e6
	}
	if s0.loErr == nil && s1.loErr == nil {
		w.LoopbackMbps = float64(s1.lo-s0.lo) * 8 / sec / 1e6
	}
	for _, v := range vs {
		select {
		case <-v.Done():
			return w, fmt.Errorf("session %s ended during the window: %s", v.Session().Session, v.Reason())
		default:
		}
	}
	if waitProfile != nil {
		if err := waitProfile(); err != nil {
			fmt.Fprintf(os.Stderr, "bench: camera: %v\n", err)
			w.Profile = ""
		}
	}
	return w, nil
}

// runCamera runs the relay-cost part and the warm pass on b (camera.linger
// at its default, 30 s). The cold pass needs a broker of its own
// (runCameraCold).
func runCamera(ctx context.Context, b *broker, opt options, rep int) (res *cameraResult, err error) {
	res = &cameraResult{Viewers: opt.cameraViewers}
	r, err := startCameraRig(ctx, b, opt.cameraViewers)
	if err != nil {
		return res, err
	}
	defer r.close()
	defer func() {
		if err != nil && !errors.Is(err, context.Canceled) {
			err = fmt.Errorf("%w; log %s:\n%s", err, b.logPath, b.logTail(20))
		}
	}()

	// Relay cost: one viewer, then all of them.
	vs := make([]*devcam.Viewer, opt.cameraViewers)
	defer func() {
		var wg sync.WaitGroup
		for _, v := range vs {
			if v != nil {
				wg.Go(v.Close)
			}
		}
		wg.Wait()
	}()
	v, t, err := r.watch(ctx, r.viewers[0])
	if err != nil {
		return res, fmt.Errorf("first viewer: %w", err)
	}
	vs[0], res.FirstWatchMs = v, t.FrameMs
	if res.One, err = r.window(ctx, vs[:1], opt.warmup, opt.cameraWindow, ""); err != nil {
		return res, err
	}
	if n := opt.cameraViewers; n > 1 {
		t0 := time.Now()
		err := connectAll(n-1, n-1, func(i int) error {
			v, _, err := r.watch(ctx, r.viewers[i+1])
			if err == nil {
				vs[i+1] = v
			}
			return err
		})
		if err != nil {
			return res, fmt.Errorf("%d viewers joining: %w", n-1, err)
		}
		res.JoinAllMs = ms(time.Since(t0))
		if res.Many, err = r.window(ctx, vs, opt.warmup, opt.cameraWindow, profilePath(b, opt, "camera", rep)); err != nil {
			return res, err
		}
		res.PerViewerCPUPct = (res.Many.CPUPct - res.One.CPUPct) / float64(n-1)
		res.PerViewerRSSMB = (res.Many.RSSMB - res.One.RSSMB) / float64(n-1)
	}
	var wg sync.WaitGroup
	for _, v := range vs {
		wg.Go(v.Close)
	}
	wg.Wait()
	for _, v := range vs {
		if err := r.waitEnded(ctx, v); err != nil {
			return res, err
		}
	}
	vs = nil

	// Warm pass: the upstream the relay-cost viewers used lingers, so every
	// session finds the camera streaming.
	if r.pub.Stats().Session == "" {
		return res, errors.New("warm pass: the camera has no upstream: it did not linger after the last viewer")
	}
	res.Warm, err = r.runPass(ctx, r.viewers[0], opt.cameraSessions, false, cameraWarmLinger, opt.cameraGap)
	if err != nil {
		return res, fmt.Errorf("warm pass: %w", err)
	}
	if res.Warm.NewUpstreams != 0 {
		return res, fmt.Errorf("warm pass: the camera answered %d new upstreams; the sessions were not all warm", res.Warm.NewUpstreams)
	}
	return res, b.unexpectedExit()
}

// runCameraCold runs the cold pass on a broker of its own, in dir, whose
// camera.linger is cameraColdLinger.
func runCameraCold(ctx context.Context, sd side, dir string, opt options, res *cameraResult) (err error) {
	b, err := newBroker(sd, dir, brokerOpts{svcWorkers: opt.svcWorkers, cameraLinger: cameraColdLinger, infoJSONLog: true})
	if err != nil {
		return err
	}
	if err := b.start(ctx); err != nil {
		return err
	}
	defer func() { _ = b.kill() }()
	defer func() {
		if err != nil && !errors.Is(err, context.Canceled) {
			err = fmt.Errorf("%w; log %s:\n%s", err, b.logPath, b.logTail(20))
		}
	}()
	r, err := startCameraRig(ctx, b, 1)
	if err != nil {
		return err
	}
	defer r.close()
	res.Cold, err = r.runPass(ctx, r.viewers[0], opt.cameraCold, true, cameraColdLinger, opt.cameraGap)
	if err != nil {
		return fmt.Errorf("cold pass: %w", err)
	}
	if p := res.Cold; p.NewUpstreams != p.Sessions {
		return fmt.Errorf("cold pass: %d sessions but %d new upstreams; not every session negotiated one", p.Sessions, p.NewUpstreams)
	}
	return b.unexpectedExit()
}

// loopbackTxBytes returns the bytes sent on the loopback interface so far.
func loopbackTxBytes() (int64, error) {
	b, err := os.ReadFile("/proc/net/dev")
	if err != nil {
		return 0, err
	}
	return parseNetDevTx(b, "lo")
}

// parseNetDevTx returns the transmitted bytes of iface from /proc/net/dev:
// "  lo: rx_bytes rx_packets … (8 receive fields) tx_bytes …".
func parseNetDevTx(b []byte, iface string) (int64, error) {
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) != iface {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 9 {
			return 0, fmt.Errorf("/proc/net/dev: %s has %d fields", iface, len(f))
		}
		return strconv.ParseInt(f[8], 10, 64)
	}
	return 0, fmt.Errorf("/proc/net/dev: no interface %s", iface)
}

// cameraVerdict compares a time-to-first-frame p95 with DESIGN.md §7.
func cameraVerdict(p95 float64) string {
	switch {
	case math.IsNaN(p95):
		return "-"
	case p95 <= cameraTargetP95Ms:
		return "met"
	}
	return "MISSED"
}

// cameraDir is where the cold pass's broker lives: inside the run's
// directory, so -keep and failed runs keep it with the rest.
func cameraDir(dir string) string { return filepath.Join(dir, "cold") }

// cameraSummary is the camera scenario over its reps: medians of the reps'
// figures, but the largest max and the smallest frame count.
type cameraSummary struct {
	Viewers       int     `json:"viewers"`
	WindowSeconds float64 `json:"window_s"`
	// Warm and Cold: N is the sessions of every rep with a picture.
	Warm         ttffSum `json:"warm"`
	Cold         ttffSum `json:"cold"`
	FirstWatchMs float64 `json:"first_watch_ms"`
	JoinAllMs    float64 `json:"join_all_ms"`

	OneCPUPct       float64 `json:"one_viewer_cpu_pct"`
	ManyCPUPct      float64 `json:"many_viewers_cpu_pct"`
	OneRSSMB        float64 `json:"one_viewer_rss_mb"`
	ManyRSSMB       float64 `json:"many_viewers_rss_mb"`
	PerViewerCPUPct float64 `json:"per_viewer_cpu_pct"`
	PerViewerRSSMB  float64 `json:"per_viewer_rss_mb"`
	OneFramesMin    int     `json:"one_viewer_frames_min"`
	OneFramesMed    float64 `json:"one_viewer_frames_median"`
	ManyFramesMin   int     `json:"many_viewers_frames_min"`
	ManyFramesMed   float64 `json:"many_viewers_frames_median"`
	OneOutMbps      float64 `json:"one_viewer_video_out_mbit_s"`
	ManyOutMbps     float64 `json:"many_viewers_video_out_mbit_s"`
	OneLoMbps       float64 `json:"one_viewer_loopback_mbit_s"`
	ManyLoMbps      float64 `json:"many_viewers_loopback_mbit_s"`
	OneBenchPct     float64 `json:"one_viewer_bench_cpu_pct"`
	ManyBenchPct    float64 `json:"many_viewers_bench_cpu_pct"`
}

// floats are the figures that are NaN when no rep had them.
func (c *cameraSummary) floats() []*float64 {
	return []*float64{
		&c.Warm.P50Ms, &c.Warm.P95Ms, &c.Warm.MaxMs, &c.Warm.WatchP50Ms, &c.Warm.ConnP50Ms, &c.Warm.ConnP95Ms, &c.Warm.AfterP50Ms, &c.Warm.AfterP95Ms,
		&c.Cold.P50Ms, &c.Cold.P95Ms, &c.Cold.MaxMs, &c.Cold.WatchP50Ms, &c.Cold.ConnP50Ms, &c.Cold.ConnP95Ms, &c.Cold.AfterP50Ms, &c.Cold.AfterP95Ms,
		&c.WindowSeconds, &c.FirstWatchMs, &c.JoinAllMs,
		&c.OneCPUPct, &c.ManyCPUPct, &c.OneRSSMB, &c.ManyRSSMB, &c.PerViewerCPUPct, &c.PerViewerRSSMB,
		&c.OneFramesMed, &c.ManyFramesMed, &c.OneOutMbps, &c.ManyOutMbps, &c.OneLoMbps, &c.ManyLoMbps, &c.OneBenchPct, &c.ManyBenchPct,
	}
}

// mergeTTFF combines the passes of several reps: the median of each
// percentile, the largest max, the sum of the sessions. Passes without a
// session are left out; with none left every figure is NaN.
func mergeTTFF(ps []ttffSum) ttffSum {
	var p50, p95, watch, c50, c95, a50, a95 []float64
	out := ttffSum{MaxMs: math.NaN()}
	for _, p := range ps {
		if p.N == 0 {
			continue
		}
		out.N += p.N
		p50, p95, watch = append(p50, p.P50Ms), append(p95, p.P95Ms), append(watch, p.WatchP50Ms)
		c50, c95, a50, a95 = append(c50, p.ConnP50Ms), append(c95, p.ConnP95Ms), append(a50, p.AfterP50Ms), append(a95, p.AfterP95Ms)
		if math.IsNaN(out.MaxMs) || p.MaxMs > out.MaxMs {
			out.MaxMs = p.MaxMs
		}
	}
	out.P50Ms, out.P95Ms, out.WatchP50Ms = median(p50), median(p95), median(watch)
	out.ConnP50Ms, out.ConnP95Ms, out.AfterP50Ms, out.AfterP95Ms = median(c50), median(c95), median(a50), median(a95)
	return out
}

// summarizeCamera aggregates the reps that succeeded (summarize counts the
// failed sessions of every rep).
func summarizeCamera(rs []*cameraResult) *cameraSummary {
	out := &cameraSummary{}
	var warm, cold []ttffSum
	var first, join, win, oneCPU, manyCPU, oneRSS, manyRSS, perCPU, perRSS, oneMed, manyMed, oneOut, manyOut, oneLo, manyLo, oneBench, manyBench []float64
	out.OneFramesMin, out.ManyFramesMin = math.MaxInt, math.MaxInt
	for _, r := range rs {
		out.Viewers = r.Viewers
		first = append(first, r.FirstWatchMs)
		if r.Warm != nil {
			warm = append(warm, r.Warm.Stats)
		}
		if r.Cold != nil {
			cold = append(cold, r.Cold.Stats)
		}
		if w := r.One; w != nil {
			win = append(win, w.Seconds)
			oneCPU, oneRSS, oneMed = append(oneCPU, w.CPUPct), append(oneRSS, w.RSSMB), append(oneMed, w.FramesMedian)
			oneOut, oneLo, oneBench = append(oneOut, w.PayloadMbps), append(oneLo, w.LoopbackMbps), append(oneBench, w.BenchCPU/w.Seconds*100)
			out.OneFramesMin = min(out.OneFramesMin, w.FramesMin)
		}
		if w := r.Many; w != nil {
			manyCPU, manyRSS, manyMed = append(manyCPU, w.CPUPct), append(manyRSS, w.RSSMB), append(manyMed, w.FramesMedian)
			manyOut, manyLo, manyBench = append(manyOut, w.PayloadMbps), append(manyLo, w.LoopbackMbps), append(manyBench, w.BenchCPU/w.Seconds*100)
			out.ManyFramesMin = min(out.ManyFramesMin, w.FramesMin)
			join, perCPU, perRSS = append(join, r.JoinAllMs), append(perCPU, r.PerViewerCPUPct), append(perRSS, r.PerViewerRSSMB)
		}
	}
	if out.OneFramesMin == math.MaxInt {
		out.OneFramesMin = 0
	}
	if out.ManyFramesMin == math.MaxInt {
		out.ManyFramesMin = 0
	}
	out.Warm, out.Cold = mergeTTFF(warm), mergeTTFF(cold)
	out.FirstWatchMs, out.JoinAllMs, out.WindowSeconds = median(first), median(join), median(win)
	out.OneCPUPct, out.ManyCPUPct, out.OneRSSMB, out.ManyRSSMB = median(oneCPU), median(manyCPU), median(oneRSS), median(manyRSS)
	out.PerViewerCPUPct, out.PerViewerRSSMB = median(perCPU), median(perRSS)
	out.OneFramesMed, out.ManyFramesMed = median(oneMed), median(manyMed)
	out.OneOutMbps, out.ManyOutMbps, out.OneLoMbps, out.ManyLoMbps = median(oneOut), median(manyOut), median(oneLo), median(manyLo)
	out.OneBenchPct, out.ManyBenchPct = median(oneBench), median(manyBench)
	return out
}

// printCamera writes the camera scenario: storeedge only, absolute figures
// against DESIGN.md §7.
func printCamera(w io.Writer, x sideSummary, opt options) {
	c := x.Camera
	fmt.Fprintf(w, "\ncamera relay: storeedge only (mosquitto has no equivalent), absolute figures against DESIGN.md §7, median of %d reps%s;\n",
		x.Runs-x.Failed, failed(x))
	fmt.Fprintf(w, "camera %s streams the embedded clip (VP8 320x240, %d fps, a keyframe every 30 frames) to the relay in %s;\n", cameraID, clipFPS, x.Broker)
	fmt.Fprintf(w, "the camera and the viewers (staff devices) run in the bench process, over loopback\n")
	fmt.Fprintf(w, "time to first frame: svc/camera/watch request -> first whole keyframe at the viewer (max: of all reps);\n")
	fmt.Fprintf(w, "one session at a time, each once the relay ended the last and %v + 0-%v after its first frame (-camera-gap)\n",
		opt.cameraGap, clip.Interval.Round(time.Millisecond))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "case\tsessions\tp50 ms\tp95 ms\tmax ms\t->connected p50/p95\tconnected->frame p50/p95\ttarget\tresult\n")
	for _, r := range []struct {
		name string
		s    ttffSum
	}{
		{fmt.Sprintf("warm (upstream lingering, linger %v)", cameraWarmLinger), c.Warm},
		{fmt.Sprintf("cold (upstream negotiated, linger %v)", cameraColdLinger), c.Cold},
	} {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\tp95 <= %d ms\t%s\n", r.name, r.s.N,
			num(r.s.P50Ms, 1), num(r.s.P95Ms, 1), num(r.s.MaxMs, 1), pair(r.s.ConnP50Ms, r.s.ConnP95Ms), pair(r.s.AfterP50Ms, r.s.AfterP95Ms),
			cameraTargetP95Ms, cameraVerdict(r.s.P95Ms))
	}
	tw.Flush()
	fmt.Fprintf(w, "first session on a fresh broker %s ms; %d viewers joining at once: all pictures in %s ms\n",
		num(c.FirstWatchMs, 1), c.Viewers-1, num(c.JoinAllMs, 0))
	fmt.Fprintf(w, "relay cost, broker process over %s s windows (%d frames per viewer expected):\n", num(c.WindowSeconds, 1),
		int(math.Round(c.WindowSeconds*clipFPS)))
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "viewers\tbroker cpu %% of a core\tRSS MB\tframes/viewer min/median\tvideo out Mbit/s\tloopback Mbit/s\tbench cpu %%\n")
	frames := func(lo int, med float64) string {
		if math.IsNaN(med) {
			return "-"
		}
		return fmt.Sprintf("%d/%s", lo, num(med, 0))
	}
	fmt.Fprintf(tw, "1\t%s\t%s\t%s\t%s\t%s\t%s\n", num(c.OneCPUPct, 1), num(c.OneRSSMB, 1), frames(c.OneFramesMin, c.OneFramesMed),
		num(c.OneOutMbps, 2), num(c.OneLoMbps, 2), num(c.OneBenchPct, 0))
	if c.Viewers > 1 {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Viewers, num(c.ManyCPUPct, 1), num(c.ManyRSSMB, 1), frames(c.ManyFramesMin, c.ManyFramesMed),
			num(c.ManyOutMbps, 2), num(c.ManyLoMbps, 2), num(c.ManyBenchPct, 0))
	}
	tw.Flush()
	if c.Viewers > 1 {
		fmt.Fprintf(w, "per extra viewer (1 -> %d): %s %% of a core, %s MB RSS\n", c.Viewers, num(c.PerViewerCPUPct, 2), num(c.PerViewerRSSMB, 2))
	}
	fmt.Fprintf(w, "video out = frames received x the camera's mean frame size (VP8 payload, no headers); loopback = all lo traffic, camera upload and MQTT included\n")
}

// cameraProgress is the one-line stderr summary of a rep.
func cameraProgress(c *cameraResult) string {
	var b strings.Builder
	for _, p := range []struct {
		name string
		p    *ttffPass
	}{{"warm", c.Warm}, {"cold", c.Cold}} {
		if p.p != nil {
			s := p.p.Stats
			fmt.Fprintf(&b, "%s ttff p50 %.1f p95 %.1f max %.1f ms (%d/%d, %d new upstreams), ", p.name, s.P50Ms, s.P95Ms, s.MaxMs, s.N, p.p.Sessions, p.p.NewUpstreams)
		}
	}
	fmt.Fprintf(&b, "first %.1f ms", c.FirstWatchMs)
	for _, w := range []*relayWindow{c.One, c.Many} {
		if w != nil {
			fmt.Fprintf(&b, "; %d viewers: cpu %.1f %%, RSS %.1f MB, frames min %d median %.0f, out %.2f Mbit/s, bench cpu %.0f %%",
				w.Viewers, w.CPUPct, w.RSSMB, w.FramesMin, w.FramesMedian, w.PayloadMbps, w.BenchCPU/w.Seconds*100)
		}
	}
	return b.String()
}
