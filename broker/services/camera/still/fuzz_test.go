package still

import (
	"encoding/binary"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// packetStream encodes marshalled RTP packets for FuzzAssembler: each is
// preceded by its length as a big-endian uint16.
func packetStream(tb testing.TB, pkts []sentPacket) []byte {
	tb.Helper()
	var out []byte
	for _, sp := range pkts {
		b, err := sp.pkt.Marshal()
		if err != nil {
			tb.Fatal(err)
		}
		out = binary.BigEndian.AppendUint16(out, uint16(len(b)))
		out = append(out, b...)
	}
	return out
}

func FuzzAssembler(f *testing.F) {
	// The Assembler never looks inside the VP8 data beyond the frame tag,
	// and the fuzzer minimizes large inputs slowly, so the seeds carry only
	// the start of each clip frame, packetized with a small MTU so that
	// keyframes still span several packets.
	frames := readClip(f)
	heads := make([][]byte, len(frames))
	for i, fr := range frames {
		n := 40
		if isClipKey(i) {
			n = 150
		}
		heads[i] = fr[:min(n, len(fr))]
	}
	small := func(from, to int, firstSeq uint16, pictureID bool) []sentPacket {
		p := rtp.NewPacketizer(60, 96, testSSRC,
			&codecs.VP8Payloader{EnablePictureID: pictureID},
			rtp.NewFixedSequencer(firstSeq), 90000)
		var out []sentPacket
		for i := from; i < to; i++ {
			for _, pkt := range p.Packetize(heads[i], 90000/30) {
				out = append(out, sentPacket{pkt: pkt, frame: i})
			}
		}
		return out
	}
	f.Add(packetStream(f, small(0, 3, 65533, true)))  // keyframe 0, wrapping, two inter frames
	f.Add(packetStream(f, small(29, 32, 100, false))) // around keyframe 30
	lossy := small(0, 2, 0, true)
	f.Add(packetStream(f, append(lossy[:2:2], lossy[3:]...))) // packet lost inside keyframe 0

	f.Fuzz(func(t *testing.T, data []byte) {
		asms := []*Assembler{{}, {MaxFrameSize: 2048}}
		type count struct{ frames, keys uint64 }
		counts := make([]count, len(asms))
		for len(data) >= 2 {
			n := int(binary.BigEndian.Uint16(data))
			data = data[2:]
			n = min(n, len(data))
			var p rtp.Packet
			err := p.Unmarshal(data[:n])
			data = data[n:]
			if err != nil {
				continue
			}
			for i, a := range asms {
				frame, key, done := a.Push(&p)
				if !done {
					if frame != nil || key {
						t.Fatalf("not done but returned %d bytes, key=%v", len(frame), key)
					}
					continue
				}
				if len(frame) == 0 || len(frame) > a.maxFrameSize() {
					t.Fatalf("returned a %d-byte frame with limit %d", len(frame), a.maxFrameSize())
				}
				if key != (frame[0]&1 == 0) {
					t.Fatalf("key = %v for frame tag %#02x", key, frame[0])
				}
				counts[i].frames++
				if key {
					counts[i].keys++
				}
			}
		}
		for i, a := range asms {
			s := a.Stats()
			if s.Frames != counts[i].frames || s.Keyframes != counts[i].keys {
				t.Fatalf("Stats = %+v, but %d frames and %d keyframes were returned", s, counts[i].frames, counts[i].keys)
			}
			if len(a.buf) > a.maxFrameSize() {
				t.Fatalf("holding %d bytes with limit %d", len(a.buf), a.maxFrameSize())
			}
		}
	})
}

// shrinkKeyframe turns a clip keyframe into a valid keyframe of a small
// picture: it rewrites the dimensions and keeps only as much of the first
// partition (modes, probabilities) and of the coefficient data as the
// remaining macroblocks need. The fuzzer minimizes interesting inputs in
// quadratic time, so seeds of a few hundred bytes that decode in
// microseconds leave it time to fuzz, where full keyframes would use up a
// 30 s run minimizing.
func shrinkKeyframe(tb testing.TB, key []byte, w, h int) []byte {
	tb.Helper()
	firstPart := int(uint32(key[0])|uint32(key[1])<<8|uint32(key[2])<<16) >> 5
	rest := key[10+firstPart:]
	build := func(fp, data int) []byte {
		tag := uint32(key[0])&0x1f | uint32(fp)<<5
		c := []byte{byte(tag), byte(tag >> 8), byte(tag >> 16)}
		c = append(c, key[3:10]...)
		binary.LittleEndian.PutUint16(c[6:], uint16(w))
		binary.LittleEndian.PutUint16(c[8:], uint16(h))
		c = append(c, key[10:10+fp]...)
		return append(c, rest[:data]...)
	}
	decodes := func(c []byte) bool {
		_, _, _, err := JPEG(c, 0)
		return err == nil
	}
	// The first partition needed does not depend on how much coefficient
	// data follows, so the two can be cut one after the other.
	fp := 1
	for ; fp < firstPart && !decodes(build(fp, len(rest))); fp++ {
	}
	data := 1
	for ; data < len(rest) && !decodes(build(fp, data)); data++ {
	}
	c := build(fp, data)
	if !decodes(c) {
		tb.Fatalf("keyframe shrunk to %dx%d does not decode", w, h)
	}
	return c
}

func FuzzJPEG(f *testing.F) {
	// Full 320x240 keyframes are left to the unit tests; see
	// shrinkKeyframe.
	frames := readClip(f)
	for i := 0; i < len(frames); i += clipKeyEvery {
		f.Add(shrinkKeyframe(f, frames[i], 16, 16))
		f.Add(shrinkKeyframe(f, frames[i], 32, 32))
	}
	f.Add(shrinkKeyframe(f, frames[30], 48, 32))
	f.Add(frames[1])
	f.Add(frames[0][:200])
	f.Add(append(keyframeHeader(32, 32, 20), make([]byte, 40)...))

	f.Fuzz(func(t *testing.T, frame []byte) {
		checkJPEGResult(t, frame)
	})
}
