// Package camera streams live video between a grooming-room camera, the
// broker's relay and viewers, over WebRTC (pion) with the signaling on MQTT
// (PROTOCOL.md, "Cameras").
//
// A Publisher is the camera side: it registers with svc/camera, answers the
// relay's offers with one VP8 track fed by a FrameSource, and sends a
// keyframe whenever the relay asks with an RTCP PLI, so that a viewer who
// joins late sees a picture at once. A camera sends one stream, to the relay
// only, however many people watch: the relay fans it out.
//
// Watch is the viewer side for Go programs, tests and benchmarks: it opens
// a watch session, negotiates a receive-only connection with the relay and
// tells when the first complete keyframe arrived, which is what a person
// waiting for the picture notices.
//
// Both sides use trickle ICE, UDP over IPv4 only and ICE timeouts fit for a
// store LAN (PeerOptions), since the relay is on the same network.
package camera
