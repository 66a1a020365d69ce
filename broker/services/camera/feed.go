package camera

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/proto"
)

// Codecs a camera may send. VP8 is needed for snapshots.
var codecs = map[string]webrtc.RTPCodecCapability{
	webrtc.MimeTypeVP8:  {MimeType: webrtc.MimeTypeVP8, ClockRate: 90000},
	webrtc.MimeTypeH264: {MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"},
}

// keyframeGap is the shortest time between two keyframe requests to a
// camera: viewers joining together share one keyframe.
const keyframeGap = 100 * time.Millisecond

// feed is one registered camera: its track for viewers and the upstream
// connection that fills it. Guarded by Service.mu unless said otherwise.
type feed struct {
	camera   string // device id
	clientID string // the MQTT client that registered
	codec    string
	local    *webrtc.TrackLocalStaticRTP // what viewers' connections carry

	up      *upstream // nil: no stream from the camera now
	viewers map[string]*viewer
	users   int // snapshots waiting, which also keep the stream
	// restarts counts upstreams lost in a row (reset when one connects).
	restarts int
	// offline runs dropFeed when the camera said offline and has not
	// registered again within OfflineGrace.
	offline *time.Timer
	linger  *time.Timer // closes the upstream when nobody uses it

	tapMu sync.Mutex
	taps  map[*tap]struct{} // snapshots reading the packets

	seq outSeq // numbering of the packets viewers get

	kfMu      sync.Mutex
	lastKF    time.Time
	kfPending bool // a request merged into one sent at lastKF+keyframeGap
}

// upstream is the relay's peer connection to a camera.
type upstream struct {
	session string
	pc      *webrtc.PeerConnection
	gate    *candidateGate
	timer   *time.Timer // SignalTimeout: closed unless connected

	mu        sync.Mutex
	remoteSet bool
	pending   []webrtc.ICECandidateInit
	ssrc      uint32 // the camera's media SSRC, once its track arrived
	connected bool
}

// register: a camera announces itself and its codec.
func (s *Service) register(_ context.Context, req *svc.Request) (any, error) {
	var q registerReq
	if err := decode(req.Body, &q); err != nil {
		return nil, err
	}
	if q.Codec == "" {
		q.Codec = webrtc.MimeTypeVP8
	}
	codec, ok := codecs[q.Codec]
	if !ok {
		return nil, svc.Errorf(svc.CodeBadRequest, `"codec" must be %s or %s`, webrtc.MimeTypeVP8, webrtc.MimeTypeH264)
	}
	cam := req.From.Device
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil, svc.Errorf(svc.CodeUnavailable, "%v", errStopped)
	}
	old := s.feeds[cam]
	if old != nil && old.codec == q.Codec {
		// A reconnect: keep the viewers, and give them a fresh stream.
		old.clientID = req.From.ClientID
		if old.offline != nil {
			old.offline.Stop()
			old.offline = nil
		}
		s.mu.Unlock()
		go s.restartUpstream(old)
		return registerAns{Camera: cam, Resource: s.o.Rooms[cam]}, nil
	}
	s.mu.Unlock()
	if old != nil {
		s.dropFeed(old, ReasonCameraOffline)
	}
	local, err := webrtc.NewTrackLocalStaticRTP(codec, "video", "camera-"+cam)
	if err != nil {
		return nil, fmt.Errorf("camera: track: %w", err)
	}
	f := &feed{camera: cam, clientID: req.From.ClientID, codec: q.Codec, local: local,
		viewers: map[string]*viewer{}, taps: map[*tap]struct{}{}}
	s.mu.Lock()
	s.feeds[cam] = f
	s.mu.Unlock()
	s.log.Info("camera registered", "camera", cam, "client", req.From.ClientID, "codec", q.Codec, "resource", s.o.Rooms[cam])
	return registerAns{Camera: cam, Resource: s.o.Rooms[cam]}, nil
}

// unregister: a camera going away on purpose.
func (s *Service) unregister(_ context.Context, req *svc.Request) (any, error) {
	s.mu.Lock()
	f := s.feeds[req.From.Device]
	s.mu.Unlock()
	if f != nil {
		s.dropFeed(f, ReasonCameraOffline)
	}
	return struct{}{}, nil
}

// onStatus: a camera's Last Will (or its clean goodbye) ends its feed.
func (s *Service) onStatus(pk packets.Packet) {
	// devices/{id}/status
	id, ok := strings.CutPrefix(pk.TopicName, "devices/")
	if !ok {
		return
	}
	id, _ = strings.CutSuffix(id, "/status")
	var st proto.DeviceStatus
	if json.Unmarshal(pk.Payload, &st) != nil || st.State != proto.StateOffline {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.feeds[id]
	if f == nil || f.offline != nil {
		return
	}
	// A Wi-Fi flap also fires the Will: give the camera OfflineGrace to
	// come back (it registers again) before its viewers are told.
	f.offline = time.AfterFunc(s.o.OfflineGrace, func() { s.dropFeed(f, ReasonCameraOffline) })
}

// dropFeed forgets a camera: its viewers get bye reason, its upstream is
// closed.
func (s *Service) dropFeed(f *feed, reason string) {
	s.mu.Lock()
	if s.feeds[f.camera] == f {
		delete(s.feeds, f.camera)
	}
	if f.offline != nil {
		f.offline.Stop()
		f.offline = nil
	}
	vs := make([]*viewer, 0, len(f.viewers))
	for _, v := range f.viewers {
		vs = append(vs, v)
	}
	s.mu.Unlock()
	for _, v := range vs {
		s.endViewer(v, reason, true)
	}
	s.closeUpstream(f, true)
	if len(vs) > 0 || reason != ReasonShutdown {
		s.log.Info("camera gone", "camera", f.camera, "reason", reason, "viewers_ended", len(vs))
	}
}

// use marks one more user of the feed's stream (a viewer or a snapshot)
// and starts the upstream when there is none.
func (s *Service) use(f *feed) error {
	s.mu.Lock()
	if f.linger != nil {
		f.linger.Stop()
		f.linger = nil
	}
	busy := f.up != nil || s.stopped
	s.mu.Unlock()
	if busy {
		return nil
	}
	// Built whole before it is published in f.up, where other goroutines
	// read it; a concurrent use may win the race, and this one is dropped.
	up := &upstream{session: newID(upstreamPrefix)}
	if err := s.prepareUpstream(f, up); err != nil {
		if up.pc != nil {
			go up.pc.Close()
		}
		return err
	}
	s.mu.Lock()
	if f.up != nil || s.stopped {
		s.mu.Unlock()
		go up.pc.Close()
		return nil
	}
	f.up = up
	s.mu.Unlock()
	if err := s.offerUpstream(f, up); err != nil {
		s.mu.Lock()
		if f.up == up {
			f.up = nil
		}
		s.mu.Unlock()
		go up.pc.Close()
		return err
	}
	return nil
}

// release is called when a user of the feed is gone: with nobody left,
// the upstream lingers for Linger, then closes.
func (s *Service) release(f *feed) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(f.viewers) > 0 || f.users > 0 || f.up == nil || f.linger != nil {
		return
	}
	f.linger = time.AfterFunc(s.o.Linger, func() {
		s.mu.Lock()
		idle := len(f.viewers) == 0 && f.users == 0
		if idle {
			f.linger = nil
		}
		s.mu.Unlock()
		if idle {
			s.closeUpstream(f, true)
		}
	})
}

// prepareUpstream makes the relay's receive-only video connection to the
// camera (not offered yet).
func (s *Service) prepareUpstream(f *feed, up *upstream) error {
	pc, err := s.api.NewPeerConnection(s.pcConfig())
	if err != nil {
		return fmt.Errorf("camera: upstream: %w", err)
	}
	up.pc = pc
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		return fmt.Errorf("camera: upstream: %w", err)
	}
	up.gate = newCandidateGate(func(c webrtc.ICECandidateInit) {
		s.send(f.camera, up.session, Signal{Type: SignalCandidate, Candidate: (*proto.ICECandidate)(&c)})
	})
	pc.OnICECandidate(up.gate.local)
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		up.mu.Lock()
		up.ssrc = uint32(t.SSRC())
		up.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.forward(f, t)
		}()
		// Viewers may be waiting already; the camera starts with a
		// keyframe, but ask anyway in case its first one was lost.
		s.requestKeyframe(f, true)
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			up.mu.Lock()
			up.connected = true
			if up.timer != nil {
				up.timer.Stop()
			}
			up.mu.Unlock()
			s.mu.Lock()
			f.restarts = 0
			s.mu.Unlock()
		case webrtc.PeerConnectionStateFailed:
			s.upstreamLost(f, up, "connection failed")
		}
	})
	return nil
}

// offerUpstream offers the camera the connection on the upstream's session;
// the camera answers on the same topic.
func (s *Service) offerUpstream(f *feed, up *upstream) error {
	pc := up.pc
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("camera: upstream offer: %w", err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("camera: upstream offer: %w", err)
	}
	timer := time.AfterFunc(s.o.SignalTimeout, func() {
		up.mu.Lock()
		ok := up.connected
		up.mu.Unlock()
		if !ok {
			s.upstreamLost(f, up, "camera did not connect in time")
		}
	})
	up.mu.Lock()
	up.timer = timer
	up.mu.Unlock()
	s.send(f.camera, up.session, Signal{Type: SignalOffer, SDP: offer.SDP})
	up.gate.open()
	return nil
}

// maxRestarts is how many new upstreams the relay offers a registered
// camera in a row, for viewers who are waiting, before it tells them the
// camera is offline.
const maxRestarts = 3

// upstreamLost: the camera's stream failed. While the camera is still
// registered and someone is watching, the relay offers it a new upstream
// (the viewers keep their connections and see the picture again after a
// gap); after maxRestarts failures in a row its viewers are told the camera
// is offline (they may watch again later).
func (s *Service) upstreamLost(f *feed, up *upstream, why string) {
	s.mu.Lock()
	if f.up != up {
		s.mu.Unlock()
		return
	}
	f.restarts++
	retry := s.feeds[f.camera] == f && !s.stopped && f.restarts <= maxRestarts && (len(f.viewers) > 0 || f.users > 0)
	vs := make([]*viewer, 0, len(f.viewers))
	for _, v := range f.viewers {
		vs = append(vs, v)
	}
	s.mu.Unlock()
	s.log.Warn("camera: stream from camera lost", "camera", f.camera, "why", why, "viewers", len(vs), "retry", retry)
	s.closeUpstream(f, true)
	if retry {
		if err := s.use(f); err == nil {
			return
		}
	}
	for _, v := range vs {
		s.endViewer(v, ReasonCameraOffline, true)
	}
}

// restartUpstream offers a registered camera a new upstream in place of
// the current one, keeping the viewers: after the camera reconnected, the
// old connection may be dead (the camera program restarted) or alive; a
// fresh one costs a short gap either way and never leaves viewers staring
// at a frozen picture until ICE gives up.
func (s *Service) restartUpstream(f *feed) {
	s.mu.Lock()
	busy := f.up != nil && (len(f.viewers) > 0 || f.users > 0)
	s.mu.Unlock()
	if !busy {
		return
	}
	s.closeUpstream(f, true)
	if err := s.use(f); err != nil {
		s.log.Warn("camera: new stream after reconnect failed", "camera", f.camera, "err", err)
	}
}

// closeUpstream closes the feed's upstream, telling the camera when bye.
func (s *Service) closeUpstream(f *feed, bye bool) {
	s.mu.Lock()
	up := f.up
	f.up = nil
	if f.linger != nil {
		f.linger.Stop()
		f.linger = nil
	}
	s.mu.Unlock()
	if up == nil {
		return
	}
	up.mu.Lock()
	if up.timer != nil {
		up.timer.Stop()
	}
	up.mu.Unlock()
	if bye {
		s.send(f.camera, up.session, Signal{Type: SignalBye, Reason: ReasonClosed})
	}
	if up.pc != nil {
		if err := up.pc.Close(); err != nil {
			s.log.Debug("camera: closing upstream", "camera", f.camera, "err", err)
		}
	}
}

// upstreamSignal handles the camera's answer, candidates and bye.
func (s *Service) upstreamSignal(camera, session, origin string, sig Signal) {
	s.mu.Lock()
	f := s.feeds[camera]
	var up *upstream
	if f != nil && f.up != nil && f.up.session == session && f.clientID == origin {
		up = f.up
	}
	s.mu.Unlock()
	if up == nil {
		return // an old session, or not from the registered camera
	}
	switch sig.Type {
	case SignalAnswer:
		if err := up.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sig.SDP}); err != nil {
			s.upstreamLost(f, up, "bad answer: "+err.Error())
			return
		}
		up.mu.Lock()
		up.remoteSet = true
		pending := up.pending
		up.pending = nil
		up.mu.Unlock()
		for _, c := range pending {
			s.addCandidate(up.pc, c, camera, session)
		}
	case SignalCandidate:
		if sig.Candidate == nil || sig.Candidate.Candidate == "" {
			return
		}
		up.mu.Lock()
		if !up.remoteSet {
			up.pending = append(up.pending, webrtc.ICECandidateInit(*sig.Candidate))
			up.mu.Unlock()
			return
		}
		up.mu.Unlock()
		s.addCandidate(up.pc, webrtc.ICECandidateInit(*sig.Candidate), camera, session)
	case SignalBye:
		s.upstreamLost(f, up, "camera hung up")
	}
}

func (s *Service) addCandidate(pc *webrtc.PeerConnection, c webrtc.ICECandidateInit, camera, session string) {
	if err := pc.AddICECandidate(c); err != nil {
		s.log.Debug("camera: candidate refused", "camera", camera, "session", session, "err", err)
	}
}

// forward copies the camera's packets to every viewer (the local track
// rewrites SSRC and payload type per viewer) and to waiting snapshots.
func (s *Service) forward(f *feed, t *webrtc.TrackRemote) {
	clock := t.Codec().ClockRate
	if clock == 0 {
		clock = 90000
	}
	first := true
	for {
		p, _, err := t.ReadRTP()
		if err != nil {
			return // the upstream closed
		}
		s.stats.packets.Add(1)
		// Rewritten before a tap may hold p: from then on p is only read.
		f.seq.rewrite(p, first, clock)
		first = false
		f.tapMu.Lock()
		for tp := range f.taps {
			tp.push(p)
		}
		f.tapMu.Unlock()
		if err := f.local.WriteRTP(p); err != nil && !errors.Is(err, io.ErrClosedPipe) {
			s.log.Debug("camera: forwarding", "camera", f.camera, "err", err)
		}
	}
}

// outSeq keeps the sequence numbers and timestamps viewers see continuous
// when the camera's stream is replaced (a reconnect starts a new stream
// with new random ones): SRTP's replay protection and the receivers'
// jitter buffers would drop a stream that jumps backwards.
type outSeq struct {
	mu       sync.Mutex
	started  bool
	seqDelta uint16
	tsDelta  uint32
	lastSeq  uint16 // last sent, rewritten
	lastTS   uint32
	lastAt   time.Time
}

// rewrite maps p onto the outgoing numbering; first marks the first packet
// of a new upstream track, which continues where the previous one stopped
// (timestamp advanced by the wall time between them).
func (o *outSeq) rewrite(p *rtp.Packet, first bool, clock uint32) {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := time.Now()
	if first && o.started {
		gap := max(now.Sub(o.lastAt), time.Millisecond)
		o.seqDelta = o.lastSeq + 1 - p.SequenceNumber
		o.tsDelta = o.lastTS + uint32(gap.Seconds()*float64(clock)) - p.Timestamp
	}
	o.started = true
	p.SequenceNumber += o.seqDelta
	p.Timestamp += o.tsDelta
	o.lastSeq, o.lastTS, o.lastAt = p.SequenceNumber, p.Timestamp, now
}

// requestKeyframe asks the camera for a keyframe (an RTCP PLI). Requests
// closer together than keyframeGap are merged into one, sent when the gap
// has passed (never dropped: the keyframe of the earlier request may have
// left before a viewer joining now could receive it); force sends at once.
func (s *Service) requestKeyframe(f *feed, force bool) {
	f.kfMu.Lock()
	now := time.Now()
	if wait := keyframeGap - now.Sub(f.lastKF); !force && wait > 0 {
		if !f.kfPending {
			f.kfPending = true
			time.AfterFunc(wait, func() {
				f.kfMu.Lock()
				f.kfPending = false
				f.kfMu.Unlock()
				s.requestKeyframe(f, true)
			})
		}
		f.kfMu.Unlock()
		return
	}
	f.lastKF = now
	f.kfMu.Unlock()
	s.mu.Lock()
	up := f.up
	s.mu.Unlock()
	if up == nil {
		return
	}
	up.mu.Lock()
	ssrc := up.ssrc
	up.mu.Unlock()
	if ssrc == 0 {
		return // no track yet: the camera starts with a keyframe anyway
	}
	s.stats.keyframeRequests.Add(1)
	if err := up.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil {
		s.log.Debug("camera: keyframe request", "camera", f.camera, "err", err)
	}
}

// tap receives a copy of the camera's packets (for snapshots).
type tap struct {
	ch chan *rtp.Packet
}

// push hands p to the tap, dropping it when the tap is behind (a snapshot
// then waits for the next keyframe).
func (t *tap) push(p *rtp.Packet) {
	select {
	case t.ch <- p:
	default:
	}
}

// candidateGate holds the relay's own ICE candidates until the offer or
// answer they belong to is published: a candidate must not overtake it.
type candidateGate struct {
	mu      sync.Mutex
	opened  bool
	pending []webrtc.ICECandidateInit
	send    func(webrtc.ICECandidateInit)
}

func newCandidateGate(send func(webrtc.ICECandidateInit)) *candidateGate {
	return &candidateGate{send: send}
}

// local is the OnICECandidate handler (nil = gathering done: nothing to send).
func (g *candidateGate) local(c *webrtc.ICECandidate) {
	if c == nil {
		return
	}
	init := c.ToJSON()
	g.mu.Lock()
	if !g.opened {
		g.pending = append(g.pending, init)
		g.mu.Unlock()
		return
	}
	g.mu.Unlock()
	g.send(init)
}

// open sends what was held and lets later candidates through.
func (g *candidateGate) open() {
	g.mu.Lock()
	pending := g.pending
	g.pending, g.opened = nil, true
	g.mu.Unlock()
	for _, c := range pending {
		g.send(c)
	}
}
