package camera

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// vp8Descriptor is the size of the payload descriptor vp8Payloader writes
// (RFC 7741, 4.2): the required octet, the extension octet with I set, and
// a 15-bit PictureID with M set.
const vp8Descriptor = 4

// vp8Payloader splits VP8 frames into RTP payloads whose descriptors all
// carry a 15-bit PictureID, one per frame, counting up and wrapping from
// 0x7FFF to 0.
//
// pion's VP8Payloader leaves the PictureID out of the frame whose id is 0:
// the first frame of a stream, and then every 32768 frames (18 minutes at
// 30 fps). Chromium decodes that frame but then drops every delta frame up
// to the next keyframe without asking for one, so the picture froze for up
// to a GOP at the start and at every wrap.
type vp8Payloader struct {
	pictureID uint16 // the next frame's
}

// newVP8Payloader starts at a random PictureID, as browsers do.
func newVP8Payloader() *vp8Payloader {
	return &vp8Payloader{pictureID: rand.N[uint16](0x8000)}
}

// vp8PayloaderFor gives a track its payloader (webrtc.WithPayloader); the
// Publisher's track is VP8 only.
func vp8PayloaderFor(c webrtc.RTPCodecCapability) (rtp.Payloader, error) {
	if !strings.EqualFold(c.MimeType, webrtc.MimeTypeVP8) {
		return nil, fmt.Errorf("camera: no payloader for %s", c.MimeType)
	}
	return newVP8Payloader(), nil
}

// Payload splits one frame into payloads of at most mtu bytes. Every
// payload carries the frame's PictureID; the first also has S set, as it
// starts partition 0.
func (p *vp8Payloader) Payload(mtu uint16, frame []byte) [][]byte {
	room := int(mtu) - vp8Descriptor
	if room <= 0 || len(frame) == 0 {
		return nil
	}
	id := p.pictureID
	p.pictureID = (id + 1) & 0x7fff
	out := make([][]byte, 0, (len(frame)+room-1)/room)
	for i := 0; i < len(frame); i += room {
		chunk := frame[i:min(i+room, len(frame))]
		b := make([]byte, vp8Descriptor+len(chunk))
		b[0] = 0x80 // X: the extension octet follows
		if i == 0 {
			b[0] |= 0x10 // S, partition index 0
		}
		b[1] = 0x80               // I: a PictureID follows
		b[2] = 0x80 | byte(id>>8) // M: 15 bits
		b[3] = byte(id)
		copy(b[vp8Descriptor:], chunk)
		out = append(out, b)
	}
	return out
}
