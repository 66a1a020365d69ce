package camera

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/proto"
)

// A customer at home watches through HQ (PROTOCOL.md, "At home", "Live
// view at home"): HQ sends her complete offer on hq/camera/watch with the
// TURN servers both ends use; the relay applies the same grant as
// svc/camera/watch (her booking checked in to the room a camera films) and
// files its complete answer — ICE gathering done, no trickle through HQ —
// or a refusal with a code in the outbox on camera/hq/answer.

// Topics of the live view at home.
const (
	HQWatchTopic  = proto.HQCameraWatchTopic
	HQByeTopic    = proto.HQCameraByeTopic
	HQAnswerTopic = proto.TopicCameraAnswer
)

// homePrefix starts the relay's session ids of viewers at home (HQ's
// session id follows); such a session has no signaling topic.
const homePrefix = "home-"

// DefaultGatherTimeout bounds the wait for the relay's ICE gathering
// (with TURN) before it answers a viewer at home.
const DefaultGatherTimeout = 5 * time.Second

// ErrHQInput marks a message from HQ that is not valid; HandleHQ drops it
// (the broker logs it and acknowledges it to HQ: a replay would fail the
// same way).
var ErrHQInput = errors.New("camera: invalid message from HQ")

// Outbox files what the relay answers HQ for the uplink: payload under the
// local topic, committed before File returns (cloudsync's outbox in its own
// transaction of the store's database, wired by the broker).
type Outbox interface {
	File(ctx context.Context, topic string, payload []byte) error
}

var hqIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// HandleHQ handles what HQ sent on hq/camera/watch and hq/camera/bye. A
// watch past its expires is dropped unanswered (counted: HQ stopped
// waiting); one already answered (a replay) changes nothing.
func (s *Service) HandleHQ(ctx context.Context, topic string, payload []byte) error {
	switch topic {
	case HQWatchTopic:
		var q proto.HQCameraWatch
		if err := json.Unmarshal(payload, &q); err != nil {
			return fmt.Errorf("%w: %w", ErrHQInput, err)
		}
		switch {
		case q.V != 1 || !hqIDPattern.MatchString(q.ID) || !strings.HasPrefix(q.Customer, "cust-") || q.Booking == "":
			return fmt.Errorf("%w: want v 1, an id, a customer id starting with cust- and a booking", ErrHQInput)
		case q.Offer == "" || len(q.Offer) > maxSignalBytes:
			return fmt.Errorf("%w: an offer of 1 to %d bytes", ErrHQInput, maxSignalBytes)
		}
		for i, is := range q.ICEServers {
			if len(is.URLs) == 0 {
				return fmt.Errorf("%w: ice_servers[%d] has no urls", ErrHQInput, i)
			}
		}
		return s.hqWatch(ctx, &q)
	case HQByeTopic:
		var q proto.HQCameraBye
		if err := json.Unmarshal(payload, &q); err != nil {
			return fmt.Errorf("%w: %w", ErrHQInput, err)
		}
		if q.V != 1 || !hqIDPattern.MatchString(q.Session) {
			return fmt.Errorf("%w: want v 1 and a session", ErrHQInput)
		}
		s.mu.Lock()
		v := s.sessions[homePrefix+q.Session]
		s.mu.Unlock()
		if v != nil {
			s.endViewer(v, ReasonClosed, false)
		}
		return nil
	}
	return fmt.Errorf("%w: unknown topic %q", ErrHQInput, topic)
}

// hqWatch answers one watch from home.
func (s *Service) hqWatch(ctx context.Context, q *proto.HQCameraWatch) error {
	if !q.Expires.IsZero() && !s.o.Now().Before(q.Expires) {
		s.stats.hqExpired.Add(1)
		s.log.Info("camera: a watch from home arrived after HQ stopped waiting for it; dropped", "session", q.ID, "expires", q.Expires)
		return nil
	}
	id := homePrefix + q.ID
	s.mu.Lock()
	_, seen := s.sessions[id]
	s.mu.Unlock()
	if seen {
		return nil // a replay: answered already
	}
	ans := proto.HQCameraAnswer{V: 1, Session: q.ID, TS: s.o.Now().UTC()}
	camera, sdp, err := s.hqSession(ctx, id, q)
	if err != nil {
		var se *svc.Error
		if !errors.As(err, &se) {
			se = &svc.Error{Code: svc.CodeUnavailable, Message: "the live view could not be started: " + err.Error()}
		}
		s.stats.hqRefused.Add(1)
		ans.Code, ans.Message = se.Code, se.Message
		s.log.Info("camera: watch from home refused", "session", q.ID, "booking", q.Booking, "code", se.Code, "reason", se.Message)
	} else {
		ans.OK, ans.Answer, ans.Camera = true, sdp, camera
		s.stats.hqAnswered.Add(1)
		s.log.Info("camera: watching from home", "camera", camera, "session", id, "customer", q.Customer, "booking", q.Booking)
	}
	if s.o.Outbox == nil {
		return errors.New("camera: a watch from home but no outbox to answer in")
	}
	p, err := json.Marshal(ans)
	if err != nil {
		return fmt.Errorf("camera: encode answer: %w", err)
	}
	if err := s.o.Outbox.File(ctx, HQAnswerTopic, p); err != nil {
		return fmt.Errorf("camera: file answer: %w", err)
	}
	return nil
}

// hqSession grants and starts session id, and returns the camera and the
// complete SDP answer.
func (s *Service) hqSession(ctx context.Context, id string, q *proto.HQCameraWatch) (string, string, error) {
	cq := cameraReq{CameraRequest: proto.CameraRequest{Booking: q.Booking}}
	if err := s.resolveCamera(&cq); err != nil {
		s.stats.denied.Add(1)
		return "", "", err
	}
	owner := auth.Identity{ClientID: "@hq/" + q.ID, Device: q.Customer, Customer: true}
	g, err := s.grant(owner, cq.Camera)
	if err != nil {
		s.stats.denied.Add(1)
		return "", "", err
	}
	v, err := s.newViewer(cq.Camera, id, owner, g, true)
	if err != nil {
		return "", "", err
	}
	c := s.pcConfig()
	for _, is := range q.ICEServers {
		c.ICEServers = append(c.ICEServers, webrtc.ICEServer{URLs: is.URLs, Username: is.Username, Credential: is.Credential})
	}
	fail := func(err error) (string, string, error) {
		s.endViewer(v, ReasonClosed, false)
		return "", "", err
	}
	pc, err := s.viewerPC(v, c)
	if err != nil {
		return fail(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if _, err := setOffer(pc, q.Offer); err != nil {
		return fail(svc.Errorf(svc.CodeBadRequest, "the viewer's offer cannot be used: %v", err))
	}
	wait := s.o.GatherTimeout
	if !q.Expires.IsZero() {
		wait = min(wait, q.Expires.Sub(s.o.Now()))
	}
	t := time.NewTimer(max(wait, 0))
	defer t.Stop()
	select {
	case <-gathered:
	case <-t.C:
		// What was gathered so far still goes: TURN may answer late.
		s.log.Warn("camera: ICE gathering for a viewer at home not complete in time; answering with what there is", "session", id, "waited", wait)
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	ld := pc.LocalDescription()
	if ld == nil {
		return fail(errors.New("no local description"))
	}
	return cq.Camera, ld.SDP, nil
}
