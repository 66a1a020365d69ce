package camera

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/storeedge/storeedge/device"
)

// CodecVP8 is the codec the Publisher registers and sends.
const CodecVP8 = webrtc.MimeTypeVP8

// FrameSource gives the Publisher encoded VP8 frames: a camera's encoder,
// or clip.Source in tests. It must be safe for concurrent use: frames are
// taken on the sending goroutine, keyframes requested from the RTCP one.
type FrameSource interface {
	// NextFrame returns the frame to send now; it is called once per
	// FrameInterval while an upstream is connected, and must not block for
	// long. key marks a keyframe. An error skips the frame (the stream
	// resumes at the next keyframe).
	NextFrame() (data []byte, key bool, err error)
	// RequestKeyframe asks that a coming frame, the next one if it can,
	// be a keyframe.
	RequestKeyframe()
	// FrameInterval is the time between frames (1/30 s at 30 fps).
	FrameInterval() time.Duration
}

// Options configure a Publisher.
type Options struct {
	PeerOptions
	// Camera is the camera's level in its signaling topics. Default: the
	// client's device id, which is its MQTT username.
	Camera string
	// NoRegister leaves out svc/camera/register and unregister: for a
	// camera registered by other means, and for tests of the streaming
	// alone.
	NoRegister bool
	// RetryMin and RetryMax bound the growing wait between failed
	// registrations (default 1 s and 30 s).
	RetryMin, RetryMax time.Duration
}

// Stats are a Publisher's counters.
type Stats struct {
	Registrations int    // registrations the camera service accepted
	Sessions      int    // upstream offers answered
	Session       string // the upstream session now, "" when none
	Frames        int    // frames sent
	Keyframes     int    // keyframes sent
	PLIs          int    // keyframe requests received (RTCP PLI and FIR)
}

// Publisher is a camera: it streams a FrameSource to the broker's relay,
// one upstream peer connection at a time.
type Publisher struct {
	c      *device.Client
	src    FrameSource
	o      Options
	camera string
	api    *webrtc.API
	apiErr error
	// accept picks the signals the camera acts on: the relay's, on
	// upstream sessions. A viewer's signals travel on the same topics (the
	// camera's subscription covers every session of the camera) and must
	// not reach the camera's peer connection.
	accept func(session string, s device.Signal) bool

	runMu     sync.Mutex // one Run at a time
	listening chan struct{}
	listened  sync.Once

	mu    sync.Mutex
	stats Stats
	reg   *device.CameraRegistration
}

// upstreamPrefix starts the session ids of the relay's upstreams.
const upstreamPrefix = "up-"

func fromRelay(session string, s device.Signal) bool {
	return strings.HasPrefix(session, upstreamPrefix) && s.From == device.SignalFromRelay
}

// New makes a Publisher for camera client c; Run starts it.
func New(c *device.Client, src FrameSource, opts Options) *Publisher {
	opts.PeerOptions = opts.PeerOptions.withDefaults()
	if opts.RetryMin <= 0 {
		opts.RetryMin = time.Second
	}
	if opts.RetryMax < opts.RetryMin {
		opts.RetryMax = max(30*time.Second, opts.RetryMin)
	}
	p := &Publisher{c: c, src: src, o: opts, camera: opts.Camera, accept: fromRelay, listening: make(chan struct{})}
	if p.camera == "" {
		p.camera = c.DeviceID()
	}
	p.api, p.apiErr = newAPI(opts.PeerOptions)
	return p
}

// Stats returns the Publisher's counters.
func (p *Publisher) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Registration is the camera service's answer to the latest registration;
// false before the first one.
func (p *Publisher) Registration() (device.CameraRegistration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reg == nil {
		return device.CameraRegistration{}, false
	}
	return *p.reg, true
}

func (p *Publisher) count(f func(*Stats)) {
	p.mu.Lock()
	f(&p.stats)
	p.mu.Unlock()
}

// pubEvent is a signal, or a change of an upstream's connection state.
type pubEvent struct {
	session string
	sig     device.Signal
	up      *upstream // set for a state change
}

// upstream is one peer connection to the relay.
type upstream struct {
	session string
	offer   string
	pc      *webrtc.PeerConnection
	track   *webrtc.TrackLocalStaticSample
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	sending bool
}

// Run registers the camera (again after every reconnect), answers the
// relay's offers and streams until ctx ends; then it hangs up, unregisters
// and returns nil. It fails only when it cannot start: the camera's
// signaling topics refused, or a second Run. A registration the camera
// service refuses or does not answer is logged and tried again with
// backoff, and offers are answered meanwhile.
func (p *Publisher) Run(ctx context.Context) error {
	if !p.runMu.TryLock() {
		return errors.New("camera: the publisher is running already")
	}
	defer p.runMu.Unlock()
	if p.apiErr != nil {
		return p.apiErr
	}
	log := p.o.Log.With("camera", p.camera)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	in := newInbox[pubEvent]()
	defer in.close()
	filter := device.SignalTopic(p.camera, "+")
	err := p.c.OnSignals(ctx, p.camera, func(_, session string, s device.Signal) {
		in.push(pubEvent{session: session, sig: s})
	})
	if err != nil {
		return fmt.Errorf("camera: signals of %s: %w", p.camera, err)
	}
	// Registration comes after the subscription, so that the relay's
	// first offer finds the camera listening; tests wait for it.
	p.listened.Do(func() { close(p.listening) })
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), byeTimeout)
		defer cancel()
		if err := p.c.Unsubscribe(uctx, filter); err != nil {
			log.Debug("camera: unsubscribe failed", "err", err)
		}
	}()

	var wg sync.WaitGroup
	if !p.o.NoRegister {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.registerLoop(ctx, log)
		}()
	}

	r := &runState{p: p, ctx: ctx, log: log, in: in, early: map[string][]webrtc.ICECandidateInit{}}
	for {
		select {
		case <-ctx.Done():
			if r.cur != nil {
				r.end(r.cur, true)
			}
			wg.Wait()
			p.unregister(ctx, log)
			return nil
		case <-in.ready:
		}
		for _, ev := range in.take() {
			if ev.up != nil {
				r.stateChanged(ev.up)
			} else if p.accept(ev.session, ev.sig) {
				r.signal(ev.session, ev.sig)
			}
		}
	}
}

// runState is what Run's loop owns: the upstream and the candidates that
// came ahead of their offer.
type runState struct {
	p     *Publisher
	ctx   context.Context
	log   *slog.Logger
	in    *inbox[pubEvent]
	cur   *upstream
	early map[string][]webrtc.ICECandidateInit
}

// end closes an upstream; bye tells the relay.
func (r *runState) end(u *upstream, bye bool) {
	r.p.closeUpstream(u, r.log)
	if u == r.cur {
		r.cur = nil
		r.p.count(func(s *Stats) { s.Session = "" })
	}
	if bye {
		sendBye(r.ctx, r.p.c, r.p.camera, u.session, r.log)
	}
}

// stateChanged starts sending at connected and ends a failed or closed
// upstream.
func (r *runState) stateChanged(u *upstream) {
	if u != r.cur {
		return // replaced already
	}
	switch st := u.pc.ConnectionState(); st {
	case webrtc.PeerConnectionStateConnected:
		if !u.sending {
			u.sending = true
			r.log.Info("camera: upstream connected", "session", u.session)
			u.wg.Add(1)
			go r.p.send(u, r.log)
		}
	case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
		r.log.Info("camera: upstream ended", "session", u.session, "state", st.String())
		r.end(u, true)
	}
}

// signal handles one of the relay's signals.
func (r *runState) signal(session string, s device.Signal) {
	switch s.Type {
	case device.SignalOffer:
		if r.cur != nil && r.cur.session == session && r.cur.offer == s.SDP {
			return // the same offer again (QoS 1 may repeat)
		}
		if r.cur != nil {
			r.log.Info("camera: upstream replaced", "session", r.cur.session, "by", session)
			r.end(r.cur, false)
		}
		u, err := r.p.answer(r.ctx, r.in, session, s.SDP, r.early[session], r.log)
		delete(r.early, session)
		if err != nil {
			r.log.Warn("camera: offer not answered", "session", session, "err", err)
			sendBye(r.ctx, r.p.c, r.p.camera, session, r.log)
			return
		}
		r.cur = u
		r.p.count(func(st *Stats) { st.Sessions++; st.Session = u.session })
	case device.SignalCandidate:
		if !usable(s.Candidate) {
			return
		}
		c := fromWire(s.Candidate)
		if r.cur != nil && r.cur.session == session {
			// answer set the remote description already
			if err := r.cur.pc.AddICECandidate(c); err != nil {
				r.log.Debug("camera: candidate not added", "session", session, "err", err)
			}
			return
		}
		if len(r.early) > 8 { // offers that never came: forget them
			clear(r.early)
		}
		if len(r.early[session]) < 64 {
			r.early[session] = append(r.early[session], c)
		}
	case device.SignalBye:
		delete(r.early, session)
		if r.cur != nil && r.cur.session == session {
			r.log.Info("camera: upstream closed by the relay", "session", session, "reason", s.Reason)
			r.end(r.cur, false)
		}
	}
}

// answer makes the peer connection for an offer and sends the answer; its
// candidates follow from the upstream's outbox.
func (p *Publisher) answer(ctx context.Context, in *inbox[pubEvent], session, sdp string, early []webrtc.ICECandidateInit, log *slog.Logger) (_ *upstream, err error) {
	pc, err := p.api.NewPeerConnection(configuration(p.o.ICEServers))
	if err != nil {
		return nil, fmt.Errorf("camera: peer connection: %w", err)
	}
	u := &upstream{session: session, offer: sdp, pc: pc}
	u.ctx, u.cancel = context.WithCancel(ctx)
	defer func() {
		if err != nil {
			u.cancel()
			_ = pc.Close()
			u.wg.Wait()
		}
	}()
	// The track packetizes with vp8Payloader, not pion's VP8 payloader,
	// whose first frame has no PictureID (see vp8Payloader).
	u.track, err = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: CodecVP8}, "video", p.camera,
		webrtc.WithPayloader(vp8PayloaderFor))
	if err != nil {
		return nil, fmt.Errorf("camera: track: %w", err)
	}
	sender, err := pc.AddTrack(u.track)
	if err != nil {
		return nil, fmt.Errorf("camera: add track: %w", err)
	}
	u.wg.Add(1)
	go p.readRTCP(u, sender)

	out := newOutbox(p.c, p.camera, session, p.o.Log)
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			out.push(device.Signal{Type: device.SignalCandidate, Candidate: toWire(c.ToJSON())})
		}
	})
	// pion calls this on goroutines of its own, so the changes may come
	// out of order: the loop reads the state itself.
	pc.OnConnectionStateChange(func(webrtc.PeerConnectionState) { in.push(pubEvent{session: session, up: u}) })

	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return nil, fmt.Errorf("camera: offer: %w", err)
	}
	for _, c := range early {
		if err := pc.AddICECandidate(c); err != nil {
			log.Debug("camera: candidate not added", "session", session, "err", err)
		}
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return nil, fmt.Errorf("camera: answer: %w", err)
	}
	if err := pc.SetLocalDescription(ans); err != nil {
		return nil, fmt.Errorf("camera: answer: %w", err)
	}
	// The answer goes first: the candidates gathered meanwhile wait in the
	// outbox, which starts only once the answer is out.
	sctx, cancel := context.WithTimeout(u.ctx, 5*time.Second)
	err = p.c.SendSignal(sctx, p.camera, session, device.Signal{Type: device.SignalAnswer, SDP: ans.SDP})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("camera: answer not sent: %w", err)
	}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		out.run(u.ctx)
	}()
	return u, nil
}

// closeUpstream stops an upstream's goroutines and closes its connection.
func (p *Publisher) closeUpstream(u *upstream, log *slog.Logger) {
	u.cancel()
	if err := u.pc.Close(); err != nil {
		log.Debug("camera: close peer connection", "session", u.session, "err", err)
	}
	u.wg.Wait()
}

// readRTCP reads the relay's RTCP, which pion's interceptors also need
// read, and turns keyframe requests into keyframes.
func (p *Publisher) readRTCP(u *upstream, sender *webrtc.RTPSender) {
	defer u.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, _, err := sender.Read(buf)
		if err != nil {
			return
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		for _, pkt := range pkts {
			switch pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				p.src.RequestKeyframe()
				p.count(func(s *Stats) { s.PLIs++ })
			}
		}
	}
}

// send writes one frame per interval to the upstream, from a keyframe on.
func (p *Publisher) send(u *upstream, log *slog.Logger) {
	defer u.wg.Done()
	iv := p.src.FrameInterval()
	if iv <= 0 {
		iv = time.Second / 30
	}
	p.src.RequestKeyframe()
	t := time.NewTicker(iv)
	defer t.Stop()
	started := false // a keyframe was sent: the relay can decode what follows
	for {
		data, key, err := p.src.NextFrame()
		switch {
		case err != nil:
			log.Warn("camera: no frame", "err", err)
			started = false
			p.src.RequestKeyframe()
		case key || started:
			err := u.track.WriteSample(media.Sample{Data: data, Duration: iv})
			if errors.Is(err, io.ErrClosedPipe) {
				return
			}
			if err != nil {
				log.Debug("camera: frame not sent", "session", u.session, "err", err)
				break
			}
			started = true
			p.count(func(s *Stats) {
				s.Frames++
				if key {
					s.Keyframes++
				}
			})
		}
		select {
		case <-u.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// registerTimeout bounds one registration attempt.
const registerTimeout = 10 * time.Second

// registerLoop registers once per connection, retrying with backoff.
func (p *Publisher) registerLoop(ctx context.Context, log *slog.Logger) {
	var done uint64 // the connection registered on
	wait := p.o.RetryMin
	for {
		link, next := p.c.Link()
		if link != 0 && link != done {
			rctx, cancel := context.WithTimeout(ctx, registerTimeout)
			reg, err := p.c.CameraRegister(rctx, CodecVP8)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				done, wait = link, p.o.RetryMin
				p.mu.Lock()
				p.reg = &reg
				p.stats.Registrations++
				p.mu.Unlock()
				log.Info("camera: registered", "resource", reg.Resource)
				continue
			}
			log.Warn("camera: registration failed; trying again", "in", wait, "err", err)
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			case <-next: // a new connection: try at once
				t.Stop()
			}
			wait = min(wait*2, p.o.RetryMax)
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-next:
		}
	}
}

// unregister ends the registration when Run stops while the device stays
// connected; a device that goes offline is unregistered by the broker.
func (p *Publisher) unregister(ctx context.Context, log *slog.Logger) {
	if p.o.NoRegister || !p.c.Connected() {
		return
	}
	if _, ok := p.Registration(); !ok {
		return
	}
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), byeTimeout)
	defer cancel()
	if err := p.c.CameraUnregister(uctx, device.NoRetry()); err != nil {
		log.Debug("camera: unregister failed", "err", err)
	}
}
