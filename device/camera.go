package device

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Cameras (PROTOCOL.md, "Cameras"): a camera registers with svc/camera
// and streams one WebRTC upstream to the broker's relay, which forwards it
// to every viewer the watch service lets in. The offer/answer and ICE
// candidates travel on camera/{camera}/signal/{session} at QoS 1. A camera
// may use only its own topics; staff any camera's; a customer only the
// session the watch service gave it.
//
// The camera ops are never kept on disk: a registration, a watch session
// or a snapshot means something only while the device is connected, and a
// restarted program registers or watches again.

// Signal types.
const (
	SignalOffer     = "offer"
	SignalAnswer    = "answer"
	SignalCandidate = "candidate"
	SignalBye       = "bye"
)

// Reasons of a bye. The relay gives one when it ends a session; a
// device hanging up gives ByeClosed.
const (
	ByeClosed        = "closed"         // the other side hung up
	ByeTimeout       = "timeout"        // not connected within the store's signal timeout
	ByeGrantEnded    = "grant_ended"    // the booking's slot ended or the pet was checked out
	ByeCameraOffline = "camera_offline" // the camera went away
	ByeShutdown      = "shutdown"       // the broker is stopping
)

// SignalFromRelay is the From of the signals the broker's relay sends.
const SignalFromRelay = "relay"

// Signal is one signaling message. SDP is set for offer and answer,
// Candidate for candidate, Reason (optional) for bye.
type Signal struct {
	V         int           `json:"v"`
	Type      string        `json:"type"`
	From      string        `json:"from,omitempty"`
	SDP       string        `json:"sdp,omitempty"`
	Candidate *ICECandidate `json:"candidate,omitempty"`
	Reason    string        `json:"reason,omitempty"`
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

// SignalTopic is the topic of one signaling session.
func SignalTopic(camera, session string) string {
	return "camera/" + camera + "/signal/" + session
}

// OnSignalSession calls h with every signal of one session of camera,
// except those this client sent itself. It subscribes to that one topic,
// which is what a customer's role allows (a watch session's topic);
// Unsubscribe(ctx, SignalTopic(camera, session)) ends it.
func (c *Client) OnSignalSession(ctx context.Context, camera, session string, h func(Signal)) error {
	if !validPart(camera) || !validPart(session) {
		return fmt.Errorf("device: signals: %w: camera and session must be one topic level each (%q, %q)", ErrBadRequest, camera, session)
	}
	return onJSON(ctx, c, SignalTopic(camera, session), func(_ string, s Signal) {
		if s.From == c.clientID {
			return
		}
		s.Camera = camera
		h(s)
	})
}

// ICEServer is a STUN or TURN server for WebRTC, in the browser's
// RTCIceServer shape.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// CameraRegistration is a camera's registration: its id (the topic level
// of its signals) and the room or table the store placed it in ("" if
// none).
type CameraRegistration struct {
	Camera   string `json:"camera"`
	Resource string `json:"resource"`
}

// WatchSession is a viewer's session with the relay. The viewer
// subscribes to Topic and sends its offer there. Booking and Until are set
// for an owner, whose grant ends at Until at the latest. ICEServers are
// what the store configured (none on a LAN-only store). The relay drops
// the session unless the viewer is connected within ExpiresInMs.
type WatchSession struct {
	Session     string      `json:"session"`
	Topic       string      `json:"topic"`
	Camera      string      `json:"camera"`
	Resource    string      `json:"resource"`
	Booking     string      `json:"booking,omitempty"`
	Until       time.Time   `json:"until,omitzero"`
	ICEServers  []ICEServer `json:"ice_servers,omitempty"`
	ExpiresInMs int64       `json:"expires_in_ms"`
}

type (
	cameraRegisterBody struct {
		Codec string `json:"codec"`
	}
	cameraBody struct {
		Camera  string `json:"camera,omitempty"`
		Booking string `json:"booking,omitempty"`
	}
	snapshotAnswer struct {
		Media Blob `json:"media"`
	}
)

// cameraCall sends a camera op; never kept on disk, whatever the caller's
// options say (see above).
func cameraCall[T any](ctx context.Context, c *Client, op string, req any, opts []CallOption) (T, error) {
	return call[T](ctx, c, "camera", op, req, append(slices.Clip(opts), Durable(false))...)
}

// CameraRegister registers this device (role camera) as a camera sending
// codec ("video/VP8", which snapshots need, or "video/H264"). Register
// again after every reconnect: the registration ends when the device's
// status turns offline.
func (c *Client) CameraRegister(ctx context.Context, codec string, opts ...CallOption) (CameraRegistration, error) {
	return cameraCall[CameraRegistration](ctx, c, "register", cameraRegisterBody{codec}, opts)
}

// CameraUnregister ends this camera's registration: the relay ends its
// sessions.
func (c *Client) CameraUnregister(ctx context.Context, opts ...CallOption) error {
	_, err := cameraCall[struct{}](ctx, c, "unregister", nil, opts)
	return err
}

// CameraWatch opens a session to watch camera. Errors: ErrForbidden (not
// staff and not the owner of the booking in that room now), ErrNotFound
// (no such camera), ErrUnavailable (the camera is not registered),
// ErrQuotaExceeded (too many viewers). Since "unavailable" here means the
// camera is away rather than a busy broker, it is answered at once instead
// of being retried until ctx ends.
func (c *Client) CameraWatch(ctx context.Context, camera string, opts ...CallOption) (WatchSession, error) {
	return cameraCall[WatchSession](ctx, c, "watch", cameraBody{Camera: camera}, append([]CallOption{NoRetry()}, opts...))
}

// CameraWatchBooking is CameraWatch of the camera filming booking's room
// now: a customer need not know camera ids. ErrNotFound: no camera films it
// now (not checked in, or outside its slot).
func (c *Client) CameraWatchBooking(ctx context.Context, booking string, opts ...CallOption) (WatchSession, error) {
	return cameraCall[WatchSession](ctx, c, "watch", cameraBody{Booking: booking}, append([]CallOption{NoRetry()}, opts...))
}

// CameraSnapshot has the relay take a keyframe of camera (VP8) and store
// it as a JPEG: the Blob names it, for a progress photo (staff, admin).
// "unavailable" is answered at once, as for CameraWatch.
func (c *Client) CameraSnapshot(ctx context.Context, camera string, opts ...CallOption) (Blob, error) {
	a, err := cameraCall[snapshotAnswer](ctx, c, "snapshot", cameraBody{Camera: camera}, append([]CallOption{NoRetry()}, opts...))
	return a.Media, err
}

// CameraSnapshotBooking is CameraSnapshot of the camera filming booking's
// room now, for its next progress stage.
func (c *Client) CameraSnapshotBooking(ctx context.Context, booking string, opts ...CallOption) (Blob, error) {
	a, err := cameraCall[snapshotAnswer](ctx, c, "snapshot", cameraBody{Booking: booking}, append([]CallOption{NoRetry()}, opts...))
	return a.Media, err
}
