package proto

import "time"

// Cameras (PROTOCOL.md, "Cameras"): the ops of svc/camera and the
// signaling messages on camera/{camera}/signal/{session}.

// Signal types.
const (
	SignalOffer     = "offer"
	SignalAnswer    = "answer"
	SignalCandidate = "candidate"
	SignalBye       = "bye"
)

// Reasons of a bye. The relay gives one when it ends a session; a device
// hanging up gives ByeClosed.
const (
	ByeClosed        = "closed"         // the other side hung up
	ByeTimeout       = "timeout"        // not connected within the store's signal timeout
	ByeGrantEnded    = "grant_ended"    // the booking's slot ended or the pet was checked out
	ByeCameraOffline = "camera_offline" // the camera went away
	ByeShutdown      = "shutdown"       // the broker is stopping
)

// SignalFromRelay is the From of every signal the broker's relay sends.
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
}

// ICECandidate is a trickled ICE candidate, as a browser's
// RTCIceCandidate.toJSON() gives it. It has the fields of pion's
// webrtc.ICECandidateInit, so either converts to the other.
type ICECandidate struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex"`
	UsernameFragment *string `json:"usernameFragment"`
}

// CameraRegisterRequest registers the calling camera with its codec.
type CameraRegisterRequest struct {
	Codec string `json:"codec"`
}

// CameraRequest names a camera, or a booking whose room's camera is meant
// (customers do not know camera ids), for watch and snapshot.
type CameraRequest struct {
	Camera  string `json:"camera,omitempty"`
	Booking string `json:"booking,omitempty"`
}

// CameraRegistration is the answer of register: the camera and the
// resource (room) it films.
type CameraRegistration struct {
	Camera   string `json:"camera"`
	Resource string `json:"resource"`
}

// ICEServer is a STUN or TURN server for peers outside the store's LAN
// (the store's camera.ice_servers).
type ICEServer struct {
	URLs       []string `json:"urls" yaml:"urls"`
	Username   string   `json:"username,omitempty" yaml:"username"`
	Credential string   `json:"credential,omitempty" yaml:"credential"`
}

// WatchSession is the answer of watch: signal on Topic (the session's
// signal topic) before ExpiresInMs; a booking's session ends at Until.
type WatchSession struct {
	Session     string      `json:"session"`
	Topic       string      `json:"topic"`
	Camera      string      `json:"camera"`
	Resource    string      `json:"resource,omitempty"`
	Booking     string      `json:"booking,omitempty"`
	Until       time.Time   `json:"until,omitzero"`
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

// SnapshotAnswer is the answer of snapshot.
type SnapshotAnswer struct {
	Media Still `json:"media"`
}
