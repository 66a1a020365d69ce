package proto

import "time"

// A customer at home (PROTOCOL.md, "At home"): the store vouches for the
// customer it knows (a cust-… id) so that HQ can give her phone a login,
// and HQ carries what she does at home to the store on hq/… topics (the
// store stays the system of record and decides). What the store answers
// goes up through the outbox like everything else.

// ServiceHome is the store's "continue at home" service (svc/home/{op}).
const ServiceHome = "home"

// HomeRevokeRequest is svc/home/revoke's body (staff): end every login at
// home of Customer.
type HomeRevokeRequest struct {
	Customer string `json:"customer"`
}

// Topics of the customer at home. Up: local topics the store files in its
// outbox (cloudsync sends them to stores/{store}/up/{topic}). Down: local
// topics HQ's messages arrive on (HQ publishes stores/{store}/down/{X},
// the store sees hq/{X}).
const (
	TopicHomeVouch          = "home/vouch"              // up, HomeVouch (class booking: numbered, never evicted)
	TopicHomeRevoke         = "home/revoke"             // up, HomeRevoke (class booking)
	TopicAvailabilityAnswer = "booking/hq/availability" // up, HQAvailabilityAnswer (class telemetry, QoS 1: not numbered)
	TopicCameraAnswer       = "camera/hq/answer"        // up, HQCameraAnswer (class telemetry, QoS 1: not numbered)

	HQChatRecallTopic          = "hq/chat/recall"          // down, HQChatRecall
	HQMediaPutTopic            = "hq/media/put"            // down, HQMediaPut
	HQBookingMoveTopic         = "hq/booking/move"         // down, HQBookingMove
	HQBookingAvailabilityTopic = "hq/booking/availability" // down, HQAvailabilityRequest
	HQCameraWatchTopic         = "hq/camera/watch"         // down, HQCameraWatch
	HQCameraByeTopic           = "hq/camera/bye"           // down, HQCameraBye
)

// HomeVouch is the store's signed word that the holder of a link code is
// its customer Customer. The store makes the code, shows it only to her
// (the in-store chat page's "continue at home"), and sends HQ its SHA-256.
// Sig is the store's Ed25519 signature over HomeVouchSigned(v); Key is the
// store's public key (HQ pins the first key it sees per store and refuses
// a vouch under any other). Replace: the store asks HQ to end every other
// login of this customer (a lost phone, done by staff at the store).
type HomeVouch struct {
	V        int       `json:"v"`
	ID       string    `json:"id"`
	Store    string    `json:"store"`
	Customer string    `json:"customer"`
	CodeHash string    `json:"code_hash"` // hex SHA-256 of the code
	Expires  time.Time `json:"expires"`
	Replace  bool      `json:"replace,omitempty"`
	Name     string    `json:"name,omitempty"` // the customer's display name at the store, if any
	Key      string    `json:"key"`            // base64 (std) Ed25519 public key
	Sig      string    `json:"sig"`            // base64 (std) Ed25519 signature
}

// HomeVouchSigned is the exact byte string a HomeVouch's Sig signs.
func HomeVouchSigned(v HomeVouch) []byte {
	r := "0"
	if v.Replace {
		r = "1"
	}
	return []byte("storeedge-home-vouch-v1\n" + v.ID + "\n" + v.Store + "\n" + v.Customer + "\n" + v.CodeHash + "\n" +
		v.Expires.UTC().Format(time.RFC3339Nano) + "\n" + r + "\n" + v.Name)
}

// HomeRevoke asks HQ to end every login at home of a customer (she was
// forgotten, or staff ended her logins). Signed like a HomeVouch over
// HomeRevokeSigned.
type HomeRevoke struct {
	V        int       `json:"v"`
	ID       string    `json:"id"`
	Store    string    `json:"store"`
	Customer string    `json:"customer"`
	TS       time.Time `json:"ts"`
	Key      string    `json:"key"`
	Sig      string    `json:"sig"`
}

// HomeRevokeSigned is the exact byte string a HomeRevoke's Sig signs.
func HomeRevokeSigned(v HomeRevoke) []byte {
	return []byte("storeedge-home-revoke-v1\n" + v.ID + "\n" + v.Store + "\n" + v.Customer + "\n" + v.TS.UTC().Format(time.RFC3339Nano))
}

// HomeLinkRequest is svc/home/link's body. A customer calls it for herself
// with no fields; staff (and admin) call it for a named customer, with
// Replace to end her other logins (a lost phone).
type HomeLinkRequest struct {
	Customer string `json:"customer,omitempty"`
	Replace  bool   `json:"replace,omitempty"`
}

// HomeLinkAnswer is svc/home/link's answer: the address that opens the
// page at home with the code (URL = home_url + "#link=" + store + "." + code).
type HomeLinkAnswer struct {
	URL     string    `json:"url"`
	Code    string    `json:"code"`
	Store   string    `json:"store"`
	Expires time.Time `json:"expires"`
	// QRPNG is URL as a QR code (PNG) for another phone to scan: the
	// store's pages make no QR codes of their own.
	QRPNG []byte `json:"qr_png,omitempty"`
}

// HomeAutoReply is an answer HQ gave a customer at home while her store
// was offline (the store's FAQ, or "the store is offline/closed"). It goes
// down with her message so the store files it after hers, marked as the
// assistant's (auto), and its own assistant does not answer that message
// again.
type HomeAutoReply struct {
	Text   string `json:"text"`
	Intent string `json:"intent,omitempty"` // the FAQ entry's id, "" for the notice alone
	Reason string `json:"reason"`           // "offline" or "closed"
}

// HQChatRecall takes back a message a customer at home sent (hq/chat/recall).
// Message is HQ's id of her message (HQChatMessage.ID). HQ checks the
// recall window against when she sent it; the store honours it for her own
// message whenever it arrives.
type HQChatRecall struct {
	V        int    `json:"v"`
	ID       string `json:"id"`
	Customer string `json:"customer"`
	Message  string `json:"message"`
}

// HQMediaPut carries a blob a customer at home attached (hq/media/put): it
// comes before the HQChatMessage that refers to it (same session, QoS 1,
// in order). Data is the blob (base64 in JSON); Hash its hex SHA-256.
type HQMediaPut struct {
	V        int    `json:"v"`
	ID       string `json:"id"`
	Customer string `json:"customer"`
	Hash     string `json:"hash"`
	Type     string `json:"type"` // MIME type: image/jpeg, image/png, image/webp, audio/webm, audio/ogg, audio/mp4
	Data     []byte `json:"data"`
}

// HQBookingMove moves a customer's booking to a new start (hq/booking/move);
// answered with an HQBookingOutcome under ID like a request.
type HQBookingMove struct {
	V        int    `json:"v"`
	ID       string `json:"id"`
	Customer string `json:"customer"`
	Booking  string `json:"booking"`
	Start    string `json:"start"`
}

// HQAvailabilityRequest asks the store, live, for a service's free starts
// (hq/booking/availability). Day is the store's local date (YYYY-MM-DD);
// Days at most 7. Not stored: a request that arrives after Expires is
// dropped unanswered.
type HQAvailabilityRequest struct {
	V       int       `json:"v"`
	ID      string    `json:"id"`
	Service string    `json:"service"`
	Day     string    `json:"day"`
	Days    int       `json:"days"`
	Expires time.Time `json:"expires"`
}

// HQAvailabilityAnswer is the store's answer (booking/hq/availability).
type HQAvailabilityAnswer struct {
	V       int       `json:"v"`
	Request string    `json:"request"`
	OK      bool      `json:"ok"`
	Service string    `json:"service,omitempty"`
	Slots   []Slot    `json:"slots,omitempty"`
	Code    string    `json:"code,omitempty"`
	Message string    `json:"message,omitempty"`
	TS      time.Time `json:"ts"`
}

// HQCameraWatch asks the store to show a customer at home the camera of her
// checked-in booking (hq/camera/watch). Offer is the viewer's complete SDP
// offer (ICE gathering done: no trickle through HQ); ICEServers are the
// TURN servers, with credentials, both ends use. Not stored: a request
// that arrives after Expires is dropped unanswered.
type HQCameraWatch struct {
	V          int         `json:"v"`
	ID         string      `json:"id"` // the session id
	Customer   string      `json:"customer"`
	Booking    string      `json:"booking"`
	Offer      string      `json:"offer"`
	ICEServers []ICEServer `json:"ice_servers"`
	Expires    time.Time   `json:"expires"`
}

// HQCameraAnswer is the store's answer (camera/hq/answer): the complete SDP
// answer, or a refusal with a code (forbidden: no checked-in booking of
// hers in a filmed room; not_found: no camera there; unavailable).
type HQCameraAnswer struct {
	V       int       `json:"v"`
	Session string    `json:"session"`
	OK      bool      `json:"ok"`
	Answer  string    `json:"answer,omitempty"`
	Camera  string    `json:"camera,omitempty"`
	Code    string    `json:"code,omitempty"`
	Message string    `json:"message,omitempty"`
	TS      time.Time `json:"ts"`
}

// HQCameraBye ends a session from home (hq/camera/bye).
type HQCameraBye struct {
	V       int    `json:"v"`
	ID      string `json:"id"`
	Session string `json:"session"`
}
