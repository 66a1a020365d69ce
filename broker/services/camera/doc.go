// Package camera relays live video from the grooming-room cameras to the
// people allowed to watch: staff always, a customer only while their booking
// is checked in to the room the camera films.
//
// The camera sends one WebRTC stream to the relay inside the broker; the
// relay forwards its RTP packets to every viewer (pion's
// TrackLocalStaticRTP), so ten viewers never make the camera encode ten
// times, and asks the camera for a keyframe whenever a viewer joins, so a
// late joiner sees a picture at once instead of at the next scheduled
// keyframe. All signaling (offer, answer, trickled ICE candidates, bye)
// travels as JSON on camera/{camera}/signal/{session} over MQTT, so a
// browser needs nothing but its MQTT-over-WebSocket connection.
//
// The service answers svc/camera/register (a camera announces itself),
// svc/camera/unregister, svc/camera/watch (a viewer asks for a session) and
// svc/camera/snapshot (a still of the live picture into the media store,
// for a progress card). It decides the ACL's camera/+/signal/%m grant: a
// customer may use only the signaling topic of its own session.
//
// A customer at home watches through HQ instead (HandleHQ): HQ brings her
// complete offer on hq/camera/watch, the relay grants it by the same rule,
// adds HQ's TURN servers to the session's configuration and files its
// complete answer, or a refusal with a code, in the outbox on
// camera/hq/answer.
package camera
