package device

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// Camera signaling: the WebRTC offer/answer and ICE candidates between a
// grooming-room camera and a staff device travel on
// camera/{camera}/signal/{session} at QoS 1; the camera watch service
// itself (svc/camera) comes later. A camera may use only its own topics;
// staff any camera's.

// Signal types.
const (
	SignalOffer     = "offer"
	SignalAnswer    = "answer"
	SignalCandidate = "candidate"
	SignalBye       = "bye"
)

// Signal is one signaling message. SDP is set for offer and answer,
// Candidate for candidate.
type Signal struct {
	V         int           `json:"v"`
	Type      string        `json:"type"`
	From      string        `json:"from,omitempty"`
	SDP       string        `json:"sdp,omitempty"`
	Candidate *ICECandidate `json:"candidate,omitempty"`
	// Camera is the camera of the topic it came on (not sent), for
	// handlers watching several cameras.
	Camera string `json:"-"`
}

// ICECandidate is a trickled ICE candidate, with the field names of the
// browser's RTCIceCandidateInit so that a web console can pass it through.
type ICECandidate struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid,omitempty"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex,omitempty"`
	UsernameFragment string  `json:"usernameFragment,omitempty"`
}

// SendSignal publishes s to camera's session. V is set to 1 and an empty
// From to this client's id, which OnSignals uses to skip its own signals.
// It needs the connection up (ErrNotConnected); a topic the role may not
// use is ErrForbidden.
func (c *Client) SendSignal(ctx context.Context, camera, session string, s Signal) error {
	if !validPart(camera) || !validPart(session) {
		return fmt.Errorf("device: signal: %w: camera and session must be one topic level each (%q, %q)", ErrBadRequest, camera, session)
	}
	s.V = 1
	if s.From == "" {
		s.From = c.clientID
	}
	p, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("device: signal: %w", err)
	}
	return c.Publish(ctx, "camera/"+camera+"/signal/"+session, p, false)
}

// OnSignals calls h with the session and signal of every signaling
// message for camera ("+" for every camera, staff), except those this
// client sent itself.
func (c *Client) OnSignals(ctx context.Context, camera string, h func(session string, s Signal)) error {
	return onJSON(ctx, c, "camera/"+camera+"/signal/+", func(topic string, s Signal) {
		if s.From == c.clientID {
			return
		}
		// camera/{camera}/signal/{session}
		if parts := strings.Split(topic, "/"); len(parts) == 4 {
			s.Camera = parts[1]
			h(parts[3], s)
		}
	})
}
