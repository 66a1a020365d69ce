package camera

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/storeedge/storeedge/device"
)

// ReasonFailed is a Viewer's Reason when its connection failed (ICE or
// DTLS) or could not be negotiated; the relay's reasons are the
// device.Bye… constants, and a viewer that hung up itself (Close, its
// context) has device.ByeClosed.
const ReasonFailed = "failed"

// byeGrace is how long a viewer whose connection the other side closed
// waits for the bye that tells why.
const byeGrace = 500 * time.Millisecond

// keyframeRequestGap spaces the viewer's keyframe requests after loss.
const keyframeRequestGap = 500 * time.Millisecond

// ViewerOptions configure Watch.
type ViewerOptions struct {
	PeerOptions
}

// Viewer is one watch session: a receive-only connection to the relay
// that counts the frames it gets. It is safe for concurrent use.
type Viewer struct {
	c       *device.Client
	ws      device.WatchSession
	log     *slog.Logger
	pc      *webrtc.PeerConnection
	started time.Time
	ctx     context.Context
	cancel  context.CancelFunc
	in      *inbox[viewerEvent]
	out     *outbox
	wg      sync.WaitGroup
	first   chan struct{}
	done    chan struct{}

	mu          sync.Mutex
	closing     bool
	connectedAt time.Time
	firstAt     time.Time
	frames      int
	keyframes   int
	reason      string
	track       *webrtc.TrackRemote
	lastPLI     time.Time
}

// viewerEvent is a signal, or (state) a change of the connection's state.
type viewerEvent struct {
	sig   device.Signal
	state bool
}

// Watch opens a watch session of camera (svc/camera/watch) and starts
// negotiating it; the Viewer tells when the first picture arrived and
// when the session ends. The session lasts until ctx ends, Close, or its
// end by the relay. The watch service's refusals are returned as they are
// (device.ErrForbidden, ErrNotFound, ErrUnavailable, ErrQuotaExceeded).
func Watch(ctx context.Context, c *device.Client, camera string, opts ViewerOptions) (*Viewer, error) {
	started := time.Now()
	ws, err := c.CameraWatch(ctx, camera)
	if err != nil {
		return nil, fmt.Errorf("camera: watch %s: %w", camera, err)
	}
	if ws.Camera == "" {
		ws.Camera = camera
	}
	return join(ctx, c, ws, opts, started)
}

// Join negotiates a watch session obtained already (from CameraWatch, or
// made up for a peer that answers like the relay, in tests): it
// subscribes to the session's topic, sends the offer and returns; the rest
// of the negotiation goes on in the background.
func Join(ctx context.Context, c *device.Client, ws device.WatchSession, opts ViewerOptions) (*Viewer, error) {
	return join(ctx, c, ws, opts, time.Now())
}

func join(ctx context.Context, c *device.Client, ws device.WatchSession, opts ViewerOptions, started time.Time) (_ *Viewer, err error) {
	o := opts.PeerOptions.withDefaults()
	if len(o.ICEServers) == 0 {
		o.ICEServers = ws.ICEServers
	}
	api, err := newAPI(o)
	if err != nil {
		return nil, err
	}
	v := &Viewer{c: c, ws: ws, log: o.Log.With("camera", ws.Camera, "session", ws.Session), started: started,
		in: newInbox[viewerEvent](), first: make(chan struct{}), done: make(chan struct{})}
	v.ctx, v.cancel = context.WithCancel(ctx)
	v.out = newOutbox(c, ws.Camera, ws.Session, o.Log)
	if err := c.OnSignalSession(ctx, ws.Camera, ws.Session, func(s device.Signal) { v.in.push(viewerEvent{sig: s}) }); err != nil {
		v.cancel()
		return nil, fmt.Errorf("camera: signals of session %s: %w", ws.Session, err)
	}
	defer func() {
		if err != nil {
			v.cancel()
			v.in.close()
			if v.pc != nil {
				_ = v.pc.Close()
			}
			v.unsubscribe()
		}
	}()
	v.pc, err = api.NewPeerConnection(configuration(o.ICEServers))
	if err != nil {
		return nil, fmt.Errorf("camera: peer connection: %w", err)
	}
	if _, err := v.pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		return nil, fmt.Errorf("camera: transceiver: %w", err)
	}
	v.pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		v.mu.Lock()
		if v.closing {
			v.mu.Unlock()
			return
		}
		v.wg.Add(1)
		v.track = tr
		v.mu.Unlock()
		v.read(tr)
	})
	v.pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			v.out.push(device.Signal{Type: device.SignalCandidate, Candidate: toWire(c.ToJSON())})
		}
	})
	// pion calls this on goroutines of its own, so the changes may come
	// out of order: the loop reads the state itself.
	v.pc.OnConnectionStateChange(func(webrtc.PeerConnectionState) { v.in.push(viewerEvent{state: true}) })
	offer, err := v.pc.CreateOffer(nil)
	if err != nil {
		return nil, fmt.Errorf("camera: offer: %w", err)
	}
	if err := v.pc.SetLocalDescription(offer); err != nil {
		return nil, fmt.Errorf("camera: offer: %w", err)
	}
	// The offer goes first; the candidates gathered meanwhile wait in the
	// outbox, which starts once it is out.
	if err := c.SendSignal(ctx, ws.Camera, ws.Session, device.Signal{Type: device.SignalOffer, SDP: offer.SDP}); err != nil {
		return nil, fmt.Errorf("camera: offer not sent: %w", err)
	}
	v.wg.Add(2)
	go func() {
		defer v.wg.Done()
		v.out.run(v.ctx)
	}()
	go v.loop()
	return v, nil
}

// loop applies the relay's signals until the session ends, then hangs up.
func (v *Viewer) loop() {
	defer v.wg.Done()
	reason, bye := v.negotiate()
	v.mu.Lock()
	v.closing = true
	if v.reason == "" {
		v.reason = reason
	}
	v.mu.Unlock()
	v.cancel()
	v.in.close()
	if bye {
		sendBye(v.ctx, v.c, v.ws.Camera, v.ws.Session, v.log)
	}
	if err := v.pc.Close(); err != nil {
		v.log.Debug("camera: close peer connection", "err", err)
	}
	v.unsubscribe()
	v.log.Info("camera: watch ended", "reason", v.Reason())
	close(v.done)
}

// negotiate handles the events until the session ends: reason is why,
// bye whether the relay still has to be told.
func (v *Viewer) negotiate() (reason string, bye bool) {
	var pending []webrtc.ICECandidateInit // ahead of the answer
	answered := false
	var closed <-chan time.Time // the connection closed: waiting for the relay's bye
	for {
		select {
		case <-v.ctx.Done():
			return device.ByeClosed, true
		case <-closed:
			return device.ByeClosed, false
		case <-v.in.ready:
		}
		for _, ev := range v.in.take() {
			if ev.state {
				switch st := v.pc.ConnectionState(); st {
				case webrtc.PeerConnectionStateConnected:
					v.mu.Lock()
					if v.connectedAt.IsZero() {
						v.connectedAt = time.Now()
					}
					v.mu.Unlock()
				case webrtc.PeerConnectionStateFailed:
					return ReasonFailed, true
				case webrtc.PeerConnectionStateClosed:
					// The relay closed it (DTLS close_notify), which may
					// come before its bye: wait a little for the reason.
					if closed == nil {
						closed = time.After(byeGrace)
					}
				}
				continue
			}
			s := ev.sig
			switch s.Type {
			case device.SignalAnswer:
				if answered {
					continue // the same answer again (QoS 1 may repeat)
				}
				if err := v.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: s.SDP}); err != nil {
					v.log.Warn("camera: answer not usable", "err", err)
					return ReasonFailed, true
				}
				answered = true
				for _, c := range pending {
					v.addCandidate(c)
				}
				pending = nil
			case device.SignalCandidate:
				if !usable(s.Candidate) {
					continue
				}
				if !answered {
					pending = append(pending, fromWire(s.Candidate))
					continue
				}
				v.addCandidate(fromWire(s.Candidate))
			case device.SignalBye:
				if s.Reason == "" {
					s.Reason = device.ByeClosed
				}
				return s.Reason, false
			}
		}
	}
}

func (v *Viewer) addCandidate(c webrtc.ICECandidateInit) {
	if err := v.pc.AddICECandidate(c); err != nil {
		v.log.Debug("camera: candidate not added", "err", err)
	}
}

// read counts the frames of the video track until the connection closes.
func (v *Viewer) read(tr *webrtc.TrackRemote) {
	defer v.wg.Done()
	f := newFrames(tr.Codec().MimeType)
	for {
		p, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		end, whole, key, skip := f.push(p)
		if skip || !end {
			continue
		}
		now := time.Now()
		v.mu.Lock()
		if v.connectedAt.IsZero() {
			// Media flows only over a connected peer connection; pion may
			// hand over the first packets before its state callback has
			// been seen, so a frame is proof enough of the connection.
			v.connectedAt = now
		}
		v.frames++
		if key {
			v.keyframes++
			if v.firstAt.IsZero() {
				v.firstAt = now
				close(v.first)
			}
		}
		// A frame that did not arrive whole, or any before the first
		// keyframe, cannot be decoded: ask for a keyframe, as a browser
		// would, though not more often than every half second.
		ask := (!whole || v.firstAt.IsZero()) && now.Sub(v.lastPLI) >= keyframeRequestGap
		if ask {
			v.lastPLI = now
		}
		v.mu.Unlock()
		if ask {
			_ = v.pli(tr)
		}
	}
}

func (v *Viewer) pli(tr *webrtc.TrackRemote) error {
	if err := v.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(tr.SSRC())}}); err != nil {
		return fmt.Errorf("camera: keyframe request: %w", err)
	}
	return nil
}

// RequestKeyframe asks the sender for a keyframe (RTCP PLI), as a decoder
// that lost its picture does. It needs the video flowing already.
func (v *Viewer) RequestKeyframe() error {
	v.mu.Lock()
	tr := v.track
	v.lastPLI = time.Now()
	v.mu.Unlock()
	if tr == nil {
		return errors.New("camera: keyframe request: no video yet")
	}
	return v.pli(tr)
}

func (v *Viewer) unsubscribe() {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(v.ctx), byeTimeout)
	defer cancel()
	if err := v.c.Unsubscribe(ctx, device.SignalTopic(v.ws.Camera, v.ws.Session)); err != nil {
		v.log.Debug("camera: unsubscribe failed", "err", err)
	}
}

// Session is the watch session.
func (v *Viewer) Session() device.WatchSession { return v.ws }

// Started is when Watch (or Join) was called.
func (v *Viewer) Started() time.Time { return v.started }

// ConnectedAt is when the connection to the relay came up (ICE and DTLS);
// zero until then.
func (v *Viewer) ConnectedAt() time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.connectedAt
}

// FirstFrame is closed when the first keyframe has arrived complete: the
// first picture a decoder can show.
func (v *Viewer) FirstFrame() <-chan struct{} { return v.first }

// FirstFrameAt is when FirstFrame was closed; zero until then.
func (v *Viewer) FirstFrameAt() time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.firstAt
}

// Frames is the number of frames that have arrived (RTP marker bits),
// whole or not.
func (v *Viewer) Frames() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.frames
}

// Keyframes is the number of keyframes that arrived whole.
func (v *Viewer) Keyframes() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.keyframes
}

// Done is closed when the session has ended: a bye from the relay, the
// connection failed or closed, the context ended or Close.
func (v *Viewer) Done() <-chan struct{} { return v.done }

// Reason is why the session ended: the relay's bye reason (device.Bye…),
// ReasonFailed, or device.ByeClosed when this side hung up; "" while it
// lasts.
func (v *Viewer) Reason() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.reason
}

// Close hangs up: it sends the relay a bye, closes the connection and
// waits for the viewer's goroutines to end.
func (v *Viewer) Close() {
	v.cancel()
	<-v.done
	v.wg.Wait()
}
