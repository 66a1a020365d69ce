package camera

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/proto"
)

// byeGrace is how long a viewer's connection stays open (without media)
// after its bye.
const byeGrace = time.Second

// viewer is one watch session. Guarded by Service.mu unless said otherwise.
type viewer struct {
	id      string
	feed    *feed
	owner   auth.Identity
	booking string    // "" for staff: no grant to check again
	until   time.Time // the grant's end for an owner
	timer   *time.Timer
	ended   bool
	home    bool // a viewer at home, signalled through HQ (hq.go): no MQTT signaling

	mu        sync.Mutex // the fields below, touched by pion's callbacks
	pc        *webrtc.PeerConnection
	sender    *webrtc.RTPSender
	gate      *candidateGate
	remoteSet bool
	pending   []webrtc.ICECandidateInit
	connected bool
}

// watch grants a viewer a session on a camera's stream.
func (s *Service) watch(ctx context.Context, req *svc.Request) (any, error) {
	var q cameraReq
	if err := decode(req.Body, &q); err != nil {
		return nil, err
	}
	if err := s.resolveCamera(&q); err != nil {
		return nil, err
	}
	g, err := s.grant(req.From, q.Camera)
	if err != nil {
		s.stats.denied.Add(1)
		return nil, err
	}
	v, err := s.newViewer(q.Camera, newID(viewerPrefix), req.From, g, false)
	if err != nil {
		return nil, err
	}
	ans := watchAns{Session: v.id, Topic: SignalTopic(q.Camera, v.id), Camera: q.Camera, Resource: s.o.Rooms[q.Camera],
		Booking: g.booking, ICEServers: s.o.ICEServers, ExpiresInMs: s.o.SignalTimeout.Milliseconds()}
	if ans.ICEServers == nil {
		ans.ICEServers = []ICEServer{}
	}
	if g.booking != "" {
		ans.Until = g.until.UTC()
	}
	s.log.Info("camera: watching", "camera", q.Camera, "session", v.id, "viewer", req.From.ClientID, "booking", g.booking)
	return ans, nil
}

// newViewer starts session id of owner on camera's stream (granted by g):
// unavailable when the camera is not connected or the relay stops,
// quota_exceeded past MaxViewers. The session ends if it is not connected
// within SignalTimeout.
func (s *Service) newViewer(camera, id string, owner auth.Identity, g grantInfo, home bool) (*viewer, error) {
	s.mu.Lock()
	f := s.feeds[camera]
	switch {
	case s.stopped:
		s.mu.Unlock()
		return nil, svc.Errorf(svc.CodeUnavailable, "%v", errStopped)
	case f == nil || f.offline != nil:
		s.mu.Unlock()
		return nil, svc.Errorf(svc.CodeUnavailable, "camera %s is not connected", camera)
	case len(f.viewers) >= s.o.MaxViewers:
		s.mu.Unlock()
		return nil, svc.Errorf(svc.CodeQuotaExceeded, "camera %s already has %d viewers (camera.max_viewers)", camera, s.o.MaxViewers)
	}
	v := &viewer{id: id, feed: f, owner: owner, booking: g.booking, until: g.until, home: home}
	s.sessions[v.id] = v
	f.viewers[v.id] = v
	v.timer = time.AfterFunc(s.o.SignalTimeout, func() {
		v.mu.Lock()
		ok := v.connected
		v.mu.Unlock()
		if !ok {
			s.endViewer(v, ReasonTimeout, true)
		}
	})
	s.mu.Unlock()
	s.stats.watches.Add(1)
	// Start the camera's stream now, while the viewer sets up its side: it
	// is then flowing when the viewer connects.
	if err := s.use(f); err != nil {
		s.endViewer(v, ReasonCameraOffline, false)
		return nil, fmt.Errorf("camera: %w", err)
	}
	return v, nil
}

// viewerSignal handles a viewer's offer, candidates and bye.
func (s *Service) viewerSignal(camera, session, origin string, sig Signal) {
	s.mu.Lock()
	v := s.sessions[session]
	s.mu.Unlock()
	if v == nil || v.feed.camera != camera || v.owner.ClientID != origin {
		return // unknown, ended, or not the session's owner
	}
	switch sig.Type {
	case SignalOffer:
		if err := s.answer(v, sig.SDP); err != nil {
			s.log.Info("camera: viewer's offer refused", "session", session, "err", err)
			s.endViewer(v, ReasonClosed, true)
		}
	case SignalCandidate:
		if sig.Candidate == nil || sig.Candidate.Candidate == "" {
			return
		}
		v.mu.Lock()
		if !v.remoteSet {
			if len(v.pending) < 64 { // a browser sends a handful
				v.pending = append(v.pending, webrtc.ICECandidateInit(*sig.Candidate))
			}
			v.mu.Unlock()
			return
		}
		pc := v.pc
		v.mu.Unlock()
		s.addCandidate(pc, webrtc.ICECandidateInit(*sig.Candidate), camera, session)
	case SignalBye:
		s.endViewer(v, ReasonClosed, false)
	}
}

// answer makes the viewer's peer connection carrying the camera's track.
func (s *Service) answer(v *viewer, sdp string) error {
	v.mu.Lock()
	if v.pc != nil {
		v.mu.Unlock()
		return nil // a repeated offer (the MQTT publish came twice)
	}
	v.mu.Unlock()
	camera := v.feed.camera
	gate := newCandidateGate(func(c webrtc.ICECandidateInit) {
		s.send(camera, v.id, Signal{Type: SignalCandidate, Candidate: (*proto.ICECandidate)(&c)})
	})
	pc, err := s.viewerPC(v, s.pcConfig())
	if err != nil {
		return err
	}
	v.mu.Lock()
	v.gate = gate
	v.mu.Unlock()
	pc.OnICECandidate(gate.local)
	ans, err := setOffer(pc, sdp)
	if err != nil {
		return err
	}
	s.send(camera, v.id, Signal{Type: SignalAnswer, SDP: ans.SDP})
	gate.open()
	v.mu.Lock()
	v.remoteSet = true
	pending := v.pending
	v.pending = nil
	v.mu.Unlock()
	for _, c := range pending {
		s.addCandidate(pc, c, camera, v.id)
	}
	return nil
}

// viewerPC makes a viewer's peer connection with configuration c, carrying
// the camera's track: its RTCP is read, a connected viewer gets a keyframe
// at once and a failed one is ended.
func (s *Service) viewerPC(v *viewer, c webrtc.Configuration) (*webrtc.PeerConnection, error) {
	pc, err := s.api.NewPeerConnection(c)
	if err != nil {
		return nil, fmt.Errorf("peer connection: %w", err)
	}
	v.mu.Lock()
	v.pc = pc
	v.mu.Unlock()
	sender, err := pc.AddTrack(v.feed.local)
	if err != nil {
		return nil, fmt.Errorf("add track: %w", err)
	}
	v.mu.Lock()
	v.sender = sender
	v.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.readViewerRTCP(v, sender)
	}()
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			v.mu.Lock()
			v.connected = true
			v.mu.Unlock()
			// A late joiner gets a keyframe now, not at the camera's next.
			s.requestKeyframe(v.feed, false)
		case webrtc.PeerConnectionStateFailed:
			s.endViewer(v, ReasonClosed, true)
		}
	})
	return pc, nil
}

// setOffer sets a viewer's offer and makes and sets the answer.
func setOffer(pc *webrtc.PeerConnection, sdp string) (webrtc.SessionDescription, error) {
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return webrtc.SessionDescription{}, fmt.Errorf("offer: %w", err)
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return webrtc.SessionDescription{}, fmt.Errorf("answer: %w", err)
	}
	if err := pc.SetLocalDescription(ans); err != nil {
		return webrtc.SessionDescription{}, fmt.Errorf("answer: %w", err)
	}
	return ans, nil
}

// readViewerRTCP drains a viewer's RTCP (pion needs it read for its
// interceptors) and passes its keyframe requests on to the camera.
func (s *Service) readViewerRTCP(v *viewer, sender *webrtc.RTPSender) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				s.requestKeyframe(v.feed, false)
			}
		}
	}
}

// endViewer ends a session once: bye tells the viewer why.
func (s *Service) endViewer(v *viewer, reason string, bye bool) {
	s.mu.Lock()
	if v.ended {
		s.mu.Unlock()
		return
	}
	v.ended = true
	s.mu.Unlock()
	s.stats.ended.Add(1)
	if v.timer != nil {
		v.timer.Stop()
	}
	v.mu.Lock()
	pc, sender := v.pc, v.sender
	v.mu.Unlock()
	// The media stops now; the connection closes a moment after the bye,
	// so that the viewer learns why from the bye (MQTT) before it sees the
	// connection close (DTLS), which would only say "closed".
	if sender != nil {
		if err := sender.ReplaceTrack(nil); err != nil {
			s.log.Debug("camera: stopping viewer's media", "session", v.id, "err", err)
		}
	}
	if bye && !v.home {
		s.send(v.feed.camera, v.id, Signal{Type: SignalBye, Reason: reason})
	}
	// Forgotten only now: a customer's bye is delivered only while the
	// session is still its own (the ACL asks Member at delivery).
	s.mu.Lock()
	delete(s.sessions, v.id)
	delete(v.feed.viewers, v.id)
	s.mu.Unlock()
	if pc != nil {
		closePC := func() {
			if err := pc.Close(); err != nil {
				s.log.Debug("camera: closing viewer", "session", v.id, "err", err)
			}
		}
		if bye && reason != ReasonShutdown {
			time.AfterFunc(byeGrace, closePC)
		} else {
			closePC()
		}
	}
	s.log.Info("camera: session ended", "camera", v.feed.camera, "session", v.id, "viewer", v.owner.ClientID, "reason", reason)
	s.release(v.feed)
}
