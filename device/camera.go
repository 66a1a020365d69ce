package device

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/storeedge/storeedge/proto"
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
	SignalOffer     = proto.SignalOffer
	SignalAnswer    = proto.SignalAnswer
	SignalCandidate = proto.SignalCandidate
	SignalBye       = proto.SignalBye
)

// Reasons of a bye. The relay gives one when it ends a session; a
// device hanging up gives ByeClosed.
const (
	ByeClosed        = proto.ByeClosed        // the other side hung up
	ByeTimeout       = proto.ByeTimeout       // not connected within the store's signal timeout
	ByeGrantEnded    = proto.ByeGrantEnded    // the booking's slot ended or the pet was checked out
	ByeCameraOffline = proto.ByeCameraOffline // the camera went away
	ByeShutdown      = proto.ByeShutdown      // the broker is stopping
)

// SignalFromRelay is the From of the signals the broker's relay sends.
const SignalFromRelay = proto.SignalFromRelay

// Signal is one signaling message. SDP is set for offer and answer,
// Candidate for candidate, Reason (optional) for bye. ICECandidate is a
// trickled ICE candidate, with the field names of the browser's
// RTCIceCandidateInit (and of pion's webrtc.ICECandidateInit, which it
// converts to).
type (
	Signal       = proto.Signal
	ICECandidate = proto.ICECandidate
)

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
	return c.Publish(ctx, proto.SignalTopic(camera, session), p, false)
}

// OnSignals calls h with the camera, session and signal of every
// signaling message for camera ("+" for every camera, staff), except those
// this client sent itself.
func (c *Client) OnSignals(ctx context.Context, camera string, h func(camera, session string, s Signal)) error {
	return onJSON(ctx, c, proto.SignalTopic(camera, "+"), func(topic string, s Signal) {
		if s.From == c.clientID {
			return
		}
		// camera/{camera}/signal/{session}
		if parts := strings.Split(topic, "/"); len(parts) == 4 {
			h(parts[1], parts[3], s)
		}
	})
}

// SignalTopic is the topic of one signaling session.
func SignalTopic(camera, session string) string { return proto.SignalTopic(camera, session) }

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
		h(s)
	})
}

// ICEServer is a STUN or TURN server for WebRTC, in the browser's
// RTCIceServer shape. CameraRegistration is a camera's registration: its
// id (the topic level of its signals) and the room or table the store
// placed it in ("" if none). WatchSession is a viewer's session with the
// relay: the viewer subscribes to Topic and sends its offer there. Booking
// and Until are set for an owner, whose grant ends at Until at the latest.
// ICEServers are what the store configured (none on a LAN-only store). The
// relay drops the session unless the viewer is connected within
// ExpiresInMs.
type (
	ICEServer          = proto.ICEServer
	CameraRegistration = proto.CameraRegistration
	WatchSession       = proto.WatchSession
)

// cameraCall sends a camera op; never kept on disk, whatever the caller's
// options say (see above).
func cameraCall[T any](ctx context.Context, c *Client, op string, req any, opts []CallOption) (T, error) {
	return call[T](ctx, c, proto.ServiceCamera, op, req, append(slices.Clip(opts), Durable(false))...)
}

// CameraRegister registers this device (role camera) as a camera sending
// codec ("video/VP8", which snapshots need, or "video/H264"). Register
// again after every reconnect: the registration ends when the device's
// status turns offline.
func (c *Client) CameraRegister(ctx context.Context, codec string, opts ...CallOption) (CameraRegistration, error) {
	return cameraCall[CameraRegistration](ctx, c, "register", proto.CameraRegisterRequest{Codec: codec}, opts)
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
	return cameraCall[WatchSession](ctx, c, "watch", proto.CameraRequest{Camera: camera}, append([]CallOption{NoRetry()}, opts...))
}

// CameraWatchBooking is CameraWatch of the camera filming booking's room
// now: a customer need not know camera ids. ErrNotFound: no camera films it
// now (not checked in, or outside its slot).
func (c *Client) CameraWatchBooking(ctx context.Context, booking string, opts ...CallOption) (WatchSession, error) {
	return cameraCall[WatchSession](ctx, c, "watch", proto.CameraRequest{Booking: booking}, append([]CallOption{NoRetry()}, opts...))
}

// CameraSnapshot has the relay take a keyframe of camera (VP8) and store
// it as a JPEG: the Blob names it, for a progress photo (staff, admin).
// "unavailable" is answered at once, as for CameraWatch.
func (c *Client) CameraSnapshot(ctx context.Context, camera string, opts ...CallOption) (Blob, error) {
	a, err := cameraCall[proto.SnapshotAnswer](ctx, c, "snapshot", proto.CameraRequest{Camera: camera}, append([]CallOption{NoRetry()}, opts...))
	return stillBlob(a.Media), err
}

// CameraSnapshotBooking is CameraSnapshot of the camera filming booking's
// room now, for its next progress stage.
func (c *Client) CameraSnapshotBooking(ctx context.Context, booking string, opts ...CallOption) (Blob, error) {
	a, err := cameraCall[proto.SnapshotAnswer](ctx, c, "snapshot", proto.CameraRequest{Booking: booking}, append([]CallOption{NoRetry()}, opts...))
	return stillBlob(a.Media), err
}

// stillBlob is a snapshot as the media store's blob.
func stillBlob(s proto.Still) Blob {
	return Blob{Hash: s.Hash, Type: s.Type, Size: s.Size, Width: s.Width, Height: s.Height}
}
