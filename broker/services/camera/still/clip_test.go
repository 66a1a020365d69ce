package still

import (
	"errors"
	"io"
	"os"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
)

// clipPath is a 4 s VP8 clip of ffmpeg's testsrc pattern: 320x240, 30 fps,
// a keyframe every 30 frames.
const clipPath = "../../../../device/camera/clip/clip.ivf"

const (
	clipFrames   = 120
	clipKeyEvery = 30
	clipWidth    = 320
	clipHeight   = 240

	testMTU  = 1200
	testSSRC = 0x5eed
)

// readClip returns the VP8 frames of the test clip.
func readClip(tb testing.TB) [][]byte {
	tb.Helper()
	f, err := os.Open(clipPath)
	if err != nil {
		tb.Fatalf("open clip: %v", err)
	}
	defer f.Close()
	r, hdr, err := ivfreader.NewWith(f)
	if err != nil {
		tb.Fatalf("read IVF header: %v", err)
	}
	if string(hdr.FourCC[:]) != "VP80" || hdr.Width != clipWidth || hdr.Height != clipHeight {
		tb.Fatalf("clip is %s %dx%d, want VP80 %dx%d", hdr.FourCC[:], hdr.Width, hdr.Height, clipWidth, clipHeight)
	}
	var frames [][]byte
	for {
		frame, _, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tb.Fatalf("read IVF frame %d: %v", len(frames), err)
		}
		frames = append(frames, frame)
	}
	if len(frames) != clipFrames {
		tb.Fatalf("clip has %d frames, want %d", len(frames), clipFrames)
	}
	return frames
}

// isClipKey says whether frame i of the clip is a keyframe, from the way the
// clip was encoded rather than from the bitstream, so that tests of keyframe
// detection are not circular.
func isClipKey(i int) bool { return i%clipKeyEvery == 0 }

// sentPacket is an RTP packet together with the clip frame it carries.
type sentPacket struct {
	pkt   *rtp.Packet
	frame int
}

// packetize turns frames into RTP as a WebRTC sender would, with pion's VP8
// payloader, starting at sequence number firstSeq.
func packetize(frames [][]byte, firstSeq uint16, pictureID bool) []sentPacket {
	p := rtp.NewPacketizer(testMTU, 96, testSSRC,
		&codecs.VP8Payloader{EnablePictureID: pictureID},
		rtp.NewFixedSequencer(firstSeq), 90000)
	var out []sentPacket
	for i, f := range frames {
		for _, pkt := range p.Packetize(f, 90000/30) {
			out = append(out, sentPacket{pkt: pkt, frame: i})
		}
	}
	return out
}

// result is one frame returned by an Assembler.
type result struct {
	frame []byte
	key   bool
}

func feed(a *Assembler, pkts []sentPacket) []result {
	var out []result
	for _, sp := range pkts {
		if frame, key, done := a.Push(sp.pkt); done {
			out = append(out, result{frame, key})
		}
	}
	return out
}
