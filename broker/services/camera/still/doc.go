// Package still turns a live VP8 RTP stream into JPEG stills.
//
// Staff can grab a still of a grooming room from the live camera relay. The
// relay already receives the camera's VP8 over WebRTC, so rather than asking
// the camera for a separate snapshot it requests a keyframe, reassembles it
// from RTP with an [Assembler] and converts it with [JPEG]. Only keyframes can
// be converted: inter frames need the decoded reference frames, which the
// relay never keeps.
//
// Both halves face network input, so they are bounded (frame and picture size
// limits) and report bad input as errors rather than panicking.
package still
