package still

import (
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// DefaultMaxFrameSize bounds a reassembled frame when
// Assembler.MaxFrameSize is zero. A 1080p VP8 keyframe is typically well
// under 512 KiB; the bound exists so that a sender that never sets the marker
// bit cannot make the relay buffer without limit.
const DefaultMaxFrameSize = 2 << 20

// staleWindow is how far behind the last sequence number a packet may be and
// still count as a late duplicate or reordered packet, which is ignored. A
// jump further back than this is taken as the sender restarting its sequence
// and treated like a gap.
const staleWindow = 1 << 10

// Stats counts what an Assembler has done, for metrics and for explaining
// why a still request timed out.
type Stats struct {
	Frames    uint64 // complete frames returned by Push
	Keyframes uint64 // of Frames, those that were keyframes
	Dropped   uint64 // partly received frames discarded: loss, no partition start, oversize, malformed
	Stale     uint64 // duplicate or late packets ignored
}

type asmState uint8

const (
	// idle: between frames; the next payload packet must start a frame.
	idle asmState = iota
	// collecting: inside a frame that is intact so far.
	collecting
	// skipping: inside a frame already dropped; wait for its marker or the
	// next frame start.
	skipping
)

// Assembler reassembles VP8 frames (RFC 7741) from the RTP packets of one
// stream. Frames are only ever returned whole: a frame with a missing packet
// is dropped rather than passed on, because a decoder fed a partial keyframe
// produces a smeared picture instead of an error.
//
// The zero value is ready to use. An Assembler is not safe for concurrent
// use; give each track its own.
type Assembler struct {
	// MaxFrameSize is the largest frame, in bytes, that will be
	// reassembled; larger frames are dropped. Zero means
	// DefaultMaxFrameSize.
	MaxFrameSize int

	state   asmState
	synced  bool // lastSeq and ssrc are valid
	lastSeq uint16
	ssrc    uint32
	ts      uint32 // RTP timestamp of the frame being collected
	buf     []byte
	vp8     codecs.VP8Packet
	stats   Stats
}

// Push feeds the next packet of the stream, in arrival order. When p
// completes a frame (RTP marker bit set and no packet of the frame missing),
// Push returns the frame's VP8 data, whether it is a keyframe, and done ==
// true. The returned slice belongs to the caller. p is not retained.
func (a *Assembler) Push(p *rtp.Packet) (frame []byte, key bool, done bool) {
	if p == nil {
		return nil, false, false
	}

	// A new SSRC is a new stream (camera restart, track replaced): whatever
	// was in progress can never be completed.
	if a.synced && p.SSRC != a.ssrc {
		a.drop()
		a.state = idle
		a.synced = false
	}
	if a.synced {
		switch d := int16(p.SequenceNumber - a.lastSeq); {
		case d == 1:
		case d <= 0 && d > -staleWindow:
			// Duplicate or late: the frame it belongs to has either been
			// returned or dropped already, and it must not disturb the
			// frame in progress.
			a.stats.Stale++
			return nil, false, false
		default:
			// At least one packet is missing. If it belonged to the frame
			// in progress, that frame is unusable. If it was the first
			// packet of the next frame, the non-start check below drops it.
			a.drop()
		}
	}
	a.synced = true
	a.ssrc = p.SSRC
	a.lastSeq = p.SequenceNumber

	// Padding-only packets (bandwidth probing) carry no video but do use a
	// sequence number, which has been accounted for above.
	if len(p.Payload) == 0 {
		return nil, false, false
	}

	payload, err := a.vp8.Unmarshal(p.Payload)
	if err != nil {
		// Malformed payload descriptor: the packet's data cannot be placed,
		// so its frame is lost.
		if a.state == idle {
			a.stats.Dropped++
			a.state = skipping
		}
		a.drop()
		return a.endOfFrame(p.Marker)
	}

	// RFC 7741 §4.2: S=1 with partition index 0 marks the first packet of a
	// frame; S=1 with a higher index only starts a later partition.
	if a.vp8.S == 1 && a.vp8.PID == 0 {
		if a.state == collecting {
			// The previous frame never saw its marker.
			a.drop()
		}
		a.state = collecting
		a.ts = p.Timestamp
		a.buf = a.buf[:0]
	} else {
		switch a.state {
		case idle:
			// Joined mid-frame, or the frame's first packet was lost.
			a.stats.Dropped++
			a.state = skipping
		case collecting:
			// All packets of a frame share its timestamp; a change without
			// a start means frame boundaries were lost.
			if p.Timestamp != a.ts {
				a.drop()
			}
		}
	}

	if a.state == collecting {
		if len(payload) > a.maxFrameSize()-len(a.buf) {
			a.drop()
		} else {
			a.buf = append(a.buf, payload...)
		}
	}
	return a.endOfFrame(p.Marker)
}

// endOfFrame finishes the current frame if marker is set.
func (a *Assembler) endOfFrame(marker bool) ([]byte, bool, bool) {
	if !marker {
		return nil, false, false
	}
	if a.state != collecting {
		a.state = idle
		return nil, false, false
	}
	a.state = idle
	frame := a.buf
	a.buf = nil
	if len(frame) == 0 {
		a.stats.Dropped++
		return nil, false, false
	}
	// RFC 6386 §9.1: bit 0 of the frame tag is 0 for keyframes.
	key := frame[0]&1 == 0
	a.stats.Frames++
	if key {
		a.stats.Keyframes++
	}
	return frame, key, true
}

// drop abandons the frame in progress, if any, and skips the rest of it.
func (a *Assembler) drop() {
	if a.state == collecting {
		a.stats.Dropped++
		a.state = skipping
	}
	// Keep the capacity: the next frame reuses it.
	a.buf = a.buf[:0]
}

func (a *Assembler) maxFrameSize() int {
	if a.MaxFrameSize > 0 {
		return a.MaxFrameSize
	}
	return DefaultMaxFrameSize
}

// Reset forgets the frame in progress and the sequence state, for when the
// caller knows the stream has been interrupted (renegotiation, track
// replaced). Stats are kept.
func (a *Assembler) Reset() {
	a.drop()
	a.state = idle
	a.synced = false
}

// Stats returns counters since the Assembler was created.
func (a *Assembler) Stats() Stats {
	return a.stats
}
