package still

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/pion/rtp"
)

// checkFrames asserts that got holds exactly the clip frames with indices
// want, in order, byte-identical and with correct keyframe flags.
func checkFrames(t *testing.T, got []result, frames [][]byte, want []int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d frames, want %d", len(got), len(want))
	}
	for k, i := range want {
		if !bytes.Equal(got[k].frame, frames[i]) {
			t.Fatalf("output frame %d: %d bytes differ from clip frame %d (%d bytes)", k, len(got[k].frame), i, len(frames[i]))
		}
		if got[k].key != isClipKey(i) {
			t.Fatalf("clip frame %d: key = %v, want %v", i, got[k].key, isClipKey(i))
		}
	}
}

func allFrames(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

func TestAssemblerClip(t *testing.T) {
	frames := readClip(t)
	for _, tc := range []struct {
		firstSeq  uint16
		pictureID bool
	}{
		{1000, false},
		{1000, true},
		{65533, false}, // wraps inside the first keyframe
		{65533, true},
		{65535 - 130, true}, // wraps near the end of the clip
	} {
		t.Run(fmt.Sprintf("seq%d/pictureID=%v", tc.firstSeq, tc.pictureID), func(t *testing.T) {
			pkts := packetize(frames, tc.firstSeq, tc.pictureID)
			perFrame := make([]int, len(frames))
			for _, sp := range pkts {
				perFrame[sp.frame]++
			}
			for i := range frames {
				if isClipKey(i) && perFrame[i] < 2 {
					t.Fatalf("keyframe %d fits one packet; the test would not exercise reassembly", i)
				}
			}
			if last := pkts[len(pkts)-1].pkt.SequenceNumber; last > tc.firstSeq && tc.firstSeq > 60000 {
				t.Fatalf("sequence numbers %d..%d do not wrap", tc.firstSeq, last)
			}

			var a Assembler
			checkFrames(t, feed(&a, pkts), frames, allFrames(len(frames)))
			want := Stats{Frames: clipFrames, Keyframes: clipFrames / clipKeyEvery}
			if got := a.Stats(); got != want {
				t.Errorf("Stats = %+v, want %+v", got, want)
			}
		})
	}
}

// TestAssemblerLoss removes each packet of the stream in turn and checks
// that exactly the frame it belonged to is dropped and nothing else is.
func TestAssemblerLoss(t *testing.T) {
	frames := readClip(t)
	for _, firstSeq := range []uint16{0, 65533} {
		pkts := packetize(frames, firstSeq, true)
		perFrame := make([]int, len(frames))
		for _, sp := range pkts {
			perFrame[sp.frame]++
		}
		for lost := range pkts {
			var a Assembler
			got := feed(&a, slices.Delete(slices.Clone(pkts), lost, lost+1))
			lostFrame := pkts[lost].frame
			want := slices.DeleteFunc(allFrames(len(frames)), func(i int) bool { return i == lostFrame })
			// A frame lost whole leaves no trace to count.
			wantDropped := uint64(0)
			if perFrame[lostFrame] > 1 {
				wantDropped = 1
			}
			t.Run(fmt.Sprintf("seq%d/packet%d", firstSeq, lost), func(t *testing.T) {
				checkFrames(t, got, frames, want)
				if s := a.Stats(); s.Dropped != wantDropped {
					t.Errorf("Stats.Dropped = %d, want %d", s.Dropped, wantDropped)
				}
			})
		}
	}
}

func TestAssemblerBurstLoss(t *testing.T) {
	frames := readClip(t)
	pkts := packetize(frames, 65500, false)
	// Lose from the middle of keyframe 30 to the middle of frame 32.
	first := slices.IndexFunc(pkts, func(sp sentPacket) bool { return sp.frame == 30 }) + 1
	last := slices.IndexFunc(pkts, func(sp sentPacket) bool { return sp.frame == 32 })
	if pkts[first].frame != 30 {
		t.Fatal("keyframe 30 is a single packet")
	}
	var a Assembler
	got := feed(&a, slices.Delete(slices.Clone(pkts), first, last+1))
	want := slices.DeleteFunc(allFrames(len(frames)), func(i int) bool { return i >= 30 && i <= 32 })
	checkFrames(t, got, frames, want)
}

func TestAssemblerJoinMidFrame(t *testing.T) {
	frames := readClip(t)
	pkts := packetize(frames, 7, false)
	var a Assembler
	// Start listening at the second packet of keyframe 0.
	got := feed(&a, pkts[1:])
	checkFrames(t, got, frames, allFrames(len(frames))[1:])
	if s := a.Stats(); s.Dropped != 1 {
		t.Errorf("Stats.Dropped = %d, want 1", s.Dropped)
	}
}

func TestAssemblerDuplicates(t *testing.T) {
	frames := readClip(t)
	pkts := packetize(frames, 65530, false)
	var dup []sentPacket
	for _, sp := range pkts {
		dup = append(dup, sp, sp)
	}
	// A late copy of a much older packet, too.
	dup = slices.Insert(dup, 40, pkts[3])

	var a Assembler
	checkFrames(t, feed(&a, dup), frames, allFrames(len(frames)))
	if s := a.Stats(); s.Dropped != 0 || s.Stale != uint64(len(pkts))+1 {
		t.Errorf("Stats = %+v, want 0 dropped and %d stale", s, len(pkts)+1)
	}
}

func TestAssemblerReorderDropsFrame(t *testing.T) {
	frames := readClip(t)
	pkts := slices.Clone(packetize(frames, 100, false))
	// Swap two packets inside keyframe 0: the Assembler has no jitter
	// buffer, so the frame counts as damaged.
	pkts[1], pkts[2] = pkts[2], pkts[1]
	var a Assembler
	checkFrames(t, feed(&a, pkts), frames, allFrames(len(frames))[1:])
}

func TestAssemblerMaxFrameSize(t *testing.T) {
	frames := readClip(t)
	const limit = 3000
	var want []int
	for i, f := range frames {
		if len(f) <= limit {
			want = append(want, i)
		}
	}
	if len(want) == len(frames) || len(want) == 0 {
		t.Fatalf("limit %d does not split the clip", limit)
	}
	a := Assembler{MaxFrameSize: limit}
	checkFrames(t, feed(&a, packetize(frames, 0, false)), frames, want)
	if s := a.Stats(); s.Dropped != uint64(len(frames)-len(want)) {
		t.Errorf("Stats.Dropped = %d, want %d", s.Dropped, len(frames)-len(want))
	}
	if cap(a.buf) > limit+testMTU {
		t.Errorf("buffer grew to %d bytes with a %d byte limit", cap(a.buf), limit)
	}
}

func TestAssemblerSSRCChange(t *testing.T) {
	frames := readClip(t)
	pkts := packetize(frames, 500, false)
	// The camera restarts half way through keyframe 0 and starts a new
	// stream with another SSRC and unrelated sequence numbers.
	second := packetize(frames, 9, false)
	for _, sp := range second {
		sp.pkt.SSRC = testSSRC + 1
	}
	var a Assembler
	got := feed(&a, append(slices.Clone(pkts[:2]), second...))
	checkFrames(t, got, frames, allFrames(len(frames)))
	if s := a.Stats(); s.Dropped != 1 {
		t.Errorf("Stats.Dropped = %d, want 1", s.Dropped)
	}
}

func TestAssemblerPadding(t *testing.T) {
	frames := readClip(t)
	pkts := packetize(frames, 65534, false)
	// Padding-only packets (bandwidth probes) between and inside frames
	// take sequence numbers but carry no video.
	var out []sentPacket
	for i, sp := range pkts {
		out = append(out, sp)
		if i%3 == 0 {
			out = append(out, sentPacket{pkt: &rtp.Packet{Header: rtp.Header{
				Version: 2, Padding: true, PaddingSize: 200, SSRC: testSSRC,
				Timestamp: sp.pkt.Timestamp,
			}}})
		}
	}
	seq := uint16(65534)
	for _, sp := range out {
		sp.pkt.SequenceNumber = seq
		seq++
	}
	var a Assembler
	checkFrames(t, feed(&a, out), frames, allFrames(len(frames)))
}

func TestAssemblerReset(t *testing.T) {
	frames := readClip(t)
	pkts := packetize(frames, 0, false)
	var a Assembler
	feed(&a, pkts[:2])
	a.Reset()
	// After a reset a jump in sequence numbers is not loss.
	got := feed(&a, packetize(frames, 40000, false))
	checkFrames(t, got, frames, allFrames(len(frames)))
	if s := a.Stats(); s.Dropped != 1 {
		t.Errorf("Stats.Dropped = %d, want 1 (the frame interrupted by Reset)", s.Dropped)
	}
}

func TestAssemblerMalformed(t *testing.T) {
	var a Assembler
	if _, _, done := a.Push(nil); done {
		t.Fatal("nil packet completed a frame")
	}
	hdr := func(seq uint16, marker bool) rtp.Header {
		return rtp.Header{Version: 2, SequenceNumber: seq, Marker: marker, SSRC: 1}
	}
	steps := []struct {
		pkt  rtp.Packet
		done bool
	}{
		// The second packet has the X bit set but no extension byte: its
		// data cannot be placed, so the frame is lost.
		{rtp.Packet{Header: hdr(1, false), Payload: []byte{0x10, 0x10, 0x02, 0x9d}}, false},
		{rtp.Packet{Header: hdr(2, true), Payload: []byte{0x80}}, false},
		// A descriptor-only frame has no data.
		{rtp.Packet{Header: hdr(3, true), Payload: []byte{0x10}}, false},
		// A one-byte inter frame is returned as is.
		{rtp.Packet{Header: hdr(4, true), Payload: []byte{0x10, 0x01}}, true},
	}
	for i, s := range steps {
		if _, _, done := a.Push(&s.pkt); done != s.done {
			t.Fatalf("step %d: done = %v, want %v", i, done, s.done)
		}
	}
	if s := a.Stats(); s.Dropped != 2 || s.Frames != 1 || s.Keyframes != 0 {
		t.Errorf("Stats = %+v, want 2 dropped, 1 frame, 0 keyframes", s)
	}
}
