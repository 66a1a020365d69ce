package camera

import (
	"strings"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
)

// frames follows the RTP packets of one video track and tells where
// frames end and whether they arrived whole, without depacketizing them: a
// viewer measuring the time to the first picture needs the moment the
// first keyframe is complete, which is the packet with the marker bit (a
// sample builder would hold the frame back until the next one starts).
type frames struct {
	vp8 bool // else H.264, told by the NAL unit types

	seq      uint16
	haveSeq  bool
	inFrame  bool // the current frame's start was seen, and no packet since was lost
	key      bool // the current frame is a keyframe
	boundary bool // the last packet ended a frame and none was lost since
}

func newFrames(mime string) *frames {
	return &frames{vp8: strings.EqualFold(mime, webrtc.MimeTypeVP8)}
}

// push takes the next packet. end: it ended a frame (marker bit); whole:
// that frame arrived complete from its start; key: a complete keyframe.
// skip: a repeat or a late packet, which is not looked at.
func (f *frames) push(p *rtp.Packet) (end, whole, key, skip bool) {
	if f.haveSeq {
		d := int16(p.SequenceNumber - f.seq)
		if d <= 0 {
			return false, false, false, true
		}
		if d > 1 {
			f.inFrame, f.boundary = false, false
		}
	}
	f.haveSeq, f.seq = true, p.SequenceNumber
	if f.vp8 {
		if start, k := vp8Start(p.Payload); start {
			f.inFrame, f.key = true, k
		}
	} else {
		first, sps, idr := h264Units(p.Payload)
		if first && (f.boundary || sps) {
			f.inFrame, f.key = true, false
		}
		f.key = f.key || sps || idr
	}
	f.boundary = p.Marker
	if !p.Marker {
		return false, false, false, false
	}
	whole, key = f.inFrame, f.inFrame && f.key
	f.inFrame, f.key = false, false
	return true, whole, key, false
}

// vp8Start reports whether a payload starts a frame, and whether that
// frame is a keyframe (RFC 7741: S set and partition 0 start a frame; the
// VP8 payload header's first bit, P, is 0 on a keyframe).
func vp8Start(b []byte) (start, key bool) {
	var v codecs.VP8Packet
	if _, err := v.Unmarshal(b); err != nil || v.S != 1 || v.PID != 0 || len(v.Payload) == 0 {
		return false, false
	}
	return true, v.Payload[0]&1 == 0
}

// h264Units reads an H.264 payload (RFC 6184): first, it begins NAL
// units (a single unit, a STAP-A or an FU-A's first fragment), so it may
// begin a frame; sps and idr, it carries a sequence parameter set (which
// begins a keyframe) or an IDR slice.
func h264Units(b []byte) (first, sps, idr bool) {
	if len(b) == 0 {
		return false, false, false
	}
	is := func(u byte) { sps, idr = sps || u == 7, idr || u == 5 }
	switch t := b[0] & 0x1f; {
	case t == 24: // STAP-A: 16-bit sizes, each followed by its unit
		for i := 1; i+2 < len(b); i += 2 + (int(b[i])<<8 | int(b[i+1])) {
			is(b[i+2] & 0x1f)
		}
		return true, sps, idr
	case t == 28: // FU-A
		if len(b) < 2 || b[1]&0x80 == 0 {
			return false, false, false
		}
		is(b[1] & 0x1f)
		return true, sps, idr
	case t >= 1 && t <= 23:
		is(t)
		return true, sps, idr
	}
	return false, false, false
}
