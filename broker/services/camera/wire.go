package camera

import "github.com/storeedge/storeedge/proto"

// Signal types on camera/{camera}/signal/{session} (proto.Signal*).
const (
	SignalOffer     = proto.SignalOffer
	SignalAnswer    = proto.SignalAnswer
	SignalCandidate = proto.SignalCandidate
	SignalBye       = proto.SignalBye
)

// Reasons a bye gives (proto.Bye*).
const (
	ReasonClosed        = proto.ByeClosed        // the other side hung up
	ReasonTimeout       = proto.ByeTimeout       // not connected within SignalTimeout
	ReasonGrantEnded    = proto.ByeGrantEnded    // the booking's slot ended or the pet was checked out
	ReasonCameraOffline = proto.ByeCameraOffline // the camera went away
	ReasonShutdown      = proto.ByeShutdown      // the broker is stopping
)

// RelayFrom is the "from" of every signal the relay sends.
const RelayFrom = proto.SignalFromRelay

// upstreamPrefix starts the session ids of relay-to-camera sessions;
// viewer sessions start with viewerPrefix.
const (
	upstreamPrefix = "up-"
	viewerPrefix   = "w-"
)

// maxSignalBytes bounds one signaling message: an SDP offer of a browser
// is 3-6 KB; anything far larger is not a signal.
const maxSignalBytes = 64 << 10

// Signal is one signaling message; its candidate converts to and from
// webrtc.ICECandidateInit.
type Signal = proto.Signal

// ICEServer is a STUN or TURN server handed to viewers (and used by the
// relay itself) for peers outside the store's LAN.
type ICEServer = proto.ICEServer

// The request bodies: proto's, with the envelope svc already checked, so
// strict decoding accepts them. cameraReq names a camera, or a booking
// whose room's camera is meant (customers do not know camera ids; the
// console posts a booking's stage).
type (
	registerReq struct {
		proto.Envelope
		proto.CameraRegisterRequest
	}
	cameraReq struct {
		proto.Envelope
		proto.CameraRequest
	}
)

// Answers: proto's wire types under the service's names.
type (
	registerAns = proto.CameraRegistration
	watchAns    = proto.WatchSession
	snapshotAns = proto.SnapshotAnswer
)

// Still is a snapshot stored in the media store.
type Still = proto.Still

// SignalTopic is the signaling topic of a session.
func SignalTopic(camera, session string) string { return proto.SignalTopic(camera, session) }
