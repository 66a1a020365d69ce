package camera

import (
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/storeedge/storeedge/device/camera/clip"
)

// vp8Packets packetizes the clip's first n frames as the Publisher does.
func vp8Packets(t *testing.T, n int) [][]*rtp.Packet {
	t.Helper()
	f, err := clip.Frames()
	if err != nil {
		t.Fatal(err)
	}
	p := rtp.NewPacketizer(1200, 96, 1, newVP8Payloader(), rtp.NewRandomSequencer(), 90000)
	var out [][]*rtp.Packet
	for _, fr := range f[:n] {
		out = append(out, p.Packetize(fr.Data, 3000))
	}
	return out
}

func TestFramesVP8(t *testing.T) {
	frames := vp8Packets(t, 31) // keyframe, 29 others, keyframe
	if len(frames[0]) < 2 {
		t.Fatalf("the keyframe fits one packet (%d bytes?): the loss below needs more", len(frames[0][0].Payload))
	}
	f := newFrames(webrtc.MimeTypeVP8)
	ends, wholes, keys := 0, 0, 0
	for i, pkts := range frames {
		for j, p := range pkts {
			if i == 30 && j == 1 {
				continue // lost: the second keyframe is not whole
			}
			end, whole, key, skip := f.push(p)
			if skip {
				t.Fatalf("frame %d packet %d skipped", i, j)
			}
			if end {
				ends++
			}
			if whole {
				wholes++
			}
			if key {
				keys++
			}
		}
	}
	if ends != 31 || wholes != 30 || keys != 1 {
		t.Fatalf("%d frames ended, %d whole, %d whole keyframes; want 31, 30, 1", ends, wholes, keys)
	}
	// A repeat is skipped.
	if _, _, _, skip := f.push(frames[30][0]); !skip {
		t.Fatal("a repeated packet was taken")
	}
}

func TestFramesVP8JoinMidFrame(t *testing.T) {
	frames := vp8Packets(t, 2)
	f := newFrames(webrtc.MimeTypeVP8)
	var got []bool
	for _, p := range append(frames[0][1:], frames[1]...) { // the keyframe's first packet missed
		if end, whole, _, _ := f.push(p); end {
			got = append(got, whole)
		}
	}
	if len(got) != 2 || got[0] || !got[1] {
		t.Fatalf("whole: %v, want [false true]", got)
	}
}

func TestFramesH264(t *testing.T) {
	pkt := func(seq uint16, marker bool, payload ...byte) *rtp.Packet {
		return &rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Marker: marker}, Payload: payload}
	}
	f := newFrames(webrtc.MimeTypeH264)
	type result struct{ end, whole, key bool }
	push := func(p *rtp.Packet) result {
		end, whole, key, _ := f.push(p)
		return result{end, whole, key}
	}
	steps := []struct {
		p    *rtp.Packet
		want result
	}{
		// Joining mid-frame: the end of a P frame is not whole.
		{pkt(9, true, 0x7c, 0x41, 0xaa), result{true, false, false}},
		// STAP-A with SPS (7) and PPS (8), then an IDR (5) in an FU-A.
		{pkt(10, false, 0x78, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce), result{}},
		{pkt(11, false, 0x7c, 0x85, 0xaa), result{}},
		{pkt(12, true, 0x7c, 0x45, 0xaa), result{true, true, true}},
		// A P slice (1) whole in one packet.
		{pkt(13, true, 0x41, 0xaa), result{true, true, false}},
		// A lost packet: the frame after it is not whole.
		{pkt(15, true, 0x41, 0xaa), result{true, false, false}},
		{pkt(16, true, 0x41, 0xaa), result{true, true, false}},
	}
	for i, s := range steps {
		if got := push(s.p); got != s.want {
			t.Fatalf("step %d: %+v, want %+v", i, got, s.want)
		}
	}
}
