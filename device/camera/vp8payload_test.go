package camera

import (
	"bytes"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/storeedge/storeedge/device/camera/clip"
)

// pictureID reads a payload's descriptor: the PictureID, and whether it is
// there in its 15-bit form (I and M set), which is what Chromium needs in
// every packet.
func pictureID(payload []byte) (id uint16, ok bool) {
	var v codecs.VP8Packet
	if _, err := v.Unmarshal(payload); err != nil || v.X != 1 || v.I != 1 || payload[2]&0x80 == 0 {
		return 0, false
	}
	return v.PictureID, true
}

func TestVP8PayloaderClip(t *testing.T) {
	frames, err := clip.Frames()
	if err != nil {
		t.Fatal(err)
	}
	const mtu = 1200
	// The clip's 120 frames cross the wrap: ids 0x7FC4 to 0x7FFF, then 0
	// to 59.
	start := uint16(0x8000 - len(frames)/2)
	pl := &vp8Payloader{pictureID: start}
	// As the track does: 12 bytes of RTP header, then the payload.
	pz := rtp.NewPacketizer(mtu, 96, 1, pl, rtp.NewRandomSequencer(), 90000)
	sawZero, split := false, false
	for i, fr := range frames {
		want := (start + uint16(i)) & 0x7fff
		pkts := pz.Packetize(fr.Data, 3000)
		if len(pkts) == 0 {
			t.Fatalf("frame %d: no packets", i)
		}
		split = split || len(pkts) > 1
		var got []byte
		for j, p := range pkts {
			b, err := p.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > mtu {
				t.Fatalf("frame %d packet %d: %d bytes, more than the MTU", i, j, len(b))
			}
			id, ok := pictureID(p.Payload)
			if !ok {
				t.Fatalf("frame %d packet %d: no 15-bit PictureID (descriptor % x)", i, j, p.Payload[:min(4, len(p.Payload))])
			}
			if id != want {
				t.Fatalf("frame %d packet %d: PictureID %#x, want %#x", i, j, id, want)
			}
			var v codecs.VP8Packet
			if _, err := v.Unmarshal(p.Payload); err != nil {
				t.Fatal(err)
			}
			if s := v.S == 1; s != (j == 0) {
				t.Fatalf("frame %d packet %d: S=%d", i, j, v.S)
			}
			if v.PID != 0 || v.N != 0 || v.L != 0 || v.T != 0 || v.K != 0 {
				t.Fatalf("frame %d packet %d: descriptor %+v", i, j, v)
			}
			if p.Marker != (j == len(pkts)-1) {
				t.Fatalf("frame %d packet %d: marker %v", i, j, p.Marker)
			}
			got = append(got, v.Payload...)
		}
		if !bytes.Equal(got, fr.Data) {
			t.Fatalf("frame %d: the packets do not give back the frame", i)
		}
		sawZero = sawZero || want == 0
	}
	if !sawZero || !split {
		t.Fatalf("PictureID 0 seen %v, a frame split %v: the test covers less than it should", sawZero, split)
	}
	if pl.pictureID != (start+uint16(len(frames)))&0x7fff {
		t.Fatalf("next PictureID %#x", pl.pictureID)
	}
}

func TestVP8PayloaderEdges(t *testing.T) {
	pl := &vp8Payloader{pictureID: 0x7fff}
	if got := pl.Payload(1188, nil); got != nil {
		t.Fatalf("an empty frame gave %d payloads", len(got))
	}
	if got := pl.Payload(vp8Descriptor, []byte{1}); got != nil {
		t.Fatalf("no room for data, yet %d payloads", len(got))
	}
	if pl.pictureID != 0x7fff {
		t.Fatalf("PictureID %#x moved on without a frame", pl.pictureID)
	}
	// A frame of exactly two payloads' worth, at the last id.
	frame := bytes.Repeat([]byte{0xab}, 2*(100-vp8Descriptor))
	got := pl.Payload(100, frame)
	if len(got) != 2 || len(got[0]) != 100 || len(got[1]) != 100 {
		t.Fatalf("%d payloads, want 2 of 100 bytes", len(got))
	}
	for _, b := range got {
		if id, ok := pictureID(b); !ok || id != 0x7fff {
			t.Fatalf("PictureID %#x (%v), want 0x7fff", id, ok)
		}
	}
	// And the next, at id 0, which keeps the id too.
	got = pl.Payload(100, []byte{1, 2, 3})
	if len(got) != 1 || !bytes.Equal(got[0], []byte{0x90, 0x80, 0x80, 0x00, 1, 2, 3}) {
		t.Fatalf("payload % x", got)
	}
}

func TestVP8PayloaderRandomStart(t *testing.T) {
	seen := map[uint16]bool{}
	for range 8 {
		p, err := vp8PayloaderFor(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8})
		if err != nil {
			t.Fatal(err)
		}
		id := p.(*vp8Payloader).pictureID
		if id > 0x7fff {
			t.Fatalf("PictureID %#x is more than 15 bits", id)
		}
		seen[id] = true
	}
	if len(seen) < 2 { // 8 equal draws of 32768: about never
		t.Fatal("every payloader starts at the same PictureID")
	}
	if _, err := vp8PayloaderFor(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264}); err == nil {
		t.Fatal("a VP8 payloader for H.264")
	}
}
