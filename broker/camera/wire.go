package camera

import (
	"time"

	"github.com/pion/webrtc/v4"
)

// Signal types on camera/{camera}/signal/{session}.
const (
	SignalOffer     = "offer"
	SignalAnswer    = "answer"
	SignalCandidate = "candidate"
	SignalBye       = "bye"
)

// Reasons a bye gives.
const (
	ReasonClosed        = "closed"         // the other side hung up
	ReasonTimeout       = "timeout"        // not connected within SignalTimeout
	ReasonGrantEnded    = "grant_ended"    // the booking's slot ended or the pet was checked out
	ReasonCameraOffline = "camera_offline" // the camera went away
	ReasonShutdown      = "shutdown"       // the broker is stopping
)

// RelayFrom is the "from" of every signal the relay sends.
const RelayFrom = "relay"

// upstreamPrefix starts the session ids of relay-to-camera sessions;
// viewer sessions start with viewerPrefix.
const (
	upstreamPrefix = "up-"
	viewerPrefix   = "w-"
)

// maxSignalBytes bounds one signaling message: an SDP offer of a browser
// is 3-6 KB; anything far larger is not a signal.
const maxSignalBytes = 64 << 10

// Signal is one signaling message.
type Signal struct {
	V         int                      `json:"v"`
	Type      string                   `json:"type"`
	From      string                   `json:"from,omitempty"`
	SDP       string                   `json:"sdp,omitempty"`
	Candidate *webrtc.ICECandidateInit `json:"candidate,omitempty"`
	Reason    string                   `json:"reason,omitempty"`
}

// ICEServer is a STUN or TURN server handed to viewers (and used by the
// relay itself) for peers outside the store's LAN.
type ICEServer struct {
	URLs       []string `json:"urls" yaml:"urls"`
	Username   string   `json:"username,omitempty" yaml:"username"`
	Credential string   `json:"credential,omitempty" yaml:"credential"`
}

type registerReq struct {
	envelope
	Codec string `json:"codec"`
}

type registerAns struct {
	Camera   string `json:"camera"`
	Resource string `json:"resource"`
}

// cameraReq names a camera, or a booking whose room's camera is meant
// (customers do not know camera ids; the console posts a booking's stage).
type cameraReq struct {
	envelope
	Camera  string `json:"camera"`
	Booking string `json:"booking"`
}

type watchAns struct {
	Session     string      `json:"session"`
	Topic       string      `json:"topic"`
	Camera      string      `json:"camera"`
	Resource    string      `json:"resource,omitempty"`
	Booking     string      `json:"booking,omitempty"`
	Until       *time.Time  `json:"until,omitempty"`
	ICEServers  []ICEServer `json:"ice_servers"`
	ExpiresInMs int64       `json:"expires_in_ms"`
}

// Still is a snapshot stored in the media store.
type Still struct {
	Hash   string `json:"hash"`
	Type   string `json:"type"`
	Size   int64  `json:"size"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

type snapshotAns struct {
	Media Still `json:"media"`
}

// SignalTopic is the signaling topic of a session.
func SignalTopic(camera, session string) string {
	return "camera/" + camera + "/signal/" + session
}
