// Package clip is a four-second VP8 test pattern, embedded, so that the
// camera code, its tests and benchmarks can stream real video without a
// camera, an encoder or cgo. It was made with
//
//	ffmpeg -f lavfi -i testsrc=size=320x240:rate=30 -t 4 -c:v libvpx -deadline realtime -cpu-used 8 -b:v 300k -g 30 -keyint_min 30 -auto-alt-ref 0 -lag-in-frames 0 clip.ivf
//
// that is 320x240 at 30 frames per second with a keyframe every 30 frames,
// and no alternate reference or lagged frames, so every IVF frame is one
// displayable frame that a WebRTC sample can carry as is.
package clip

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
)

//go:embed clip.ivf
var ivf []byte

// Interval is the clip's frame interval.
const Interval = time.Second / 30

// Frame is one encoded VP8 frame.
type Frame struct {
	Data []byte
	// Key: a keyframe, decodable on its own.
	Key bool
}

var parsed = sync.OnceValues(func() ([]Frame, error) {
	r, h, err := ivfreader.NewWith(bytes.NewReader(ivf))
	if err != nil {
		return nil, fmt.Errorf("clip: %w", err)
	}
	if h.FourCC != "VP80" {
		return nil, fmt.Errorf("clip: codec %q, not VP8", h.FourCC)
	}
	var out []Frame
	for {
		data, _, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("clip: frame %d: %w", len(out), err)
		}
		if len(data) == 0 {
			return nil, fmt.Errorf("clip: frame %d is empty", len(out))
		}
		// The VP8 frame tag's lowest bit is 0 on a keyframe (RFC 6386, 9.1).
		out = append(out, Frame{Data: data, Key: data[0]&1 == 0})
	}
	if len(out) == 0 || !out[0].Key {
		return nil, errors.New("clip: no frames, or the first is not a keyframe")
	}
	return out, nil
})

// Frames returns the clip's frames in order, parsed once. The frames'
// Data is shared: do not modify it.
func Frames() ([]Frame, error) {
	f, err := parsed()
	if err != nil {
		return nil, err
	}
	return slices.Clone(f), nil
}

// Source hands out the clip's frames in a loop, forever. It does not pace
// itself: its user takes one frame per FrameInterval. It is safe for
// concurrent use.
type Source struct {
	frames []Frame
	keys   []int // indexes of the keyframes

	wantKey atomic.Bool
	mu      sync.Mutex
	next    int
}

// NewSource is a Source starting at the clip's first frame.
func NewSource() (*Source, error) {
	f, err := parsed()
	if err != nil {
		return nil, err
	}
	s := &Source{frames: f}
	for i, fr := range f {
		if fr.Key {
			s.keys = append(s.keys, i)
		}
	}
	return s, nil
}

// FrameInterval is the clip's frame interval, 1/30 s.
func (s *Source) FrameInterval() time.Duration { return Interval }

// RequestKeyframe makes the next frame NextFrame returns a keyframe. An
// encoder would encode one; the clip jumps to its nearest keyframe, which
// for a test pattern looks the same to a viewer.
func (s *Source) RequestKeyframe() { s.wantKey.Store(true) }

// NextFrame returns the next frame of the loop. The error is always nil:
// it is there for sources that can fail.
func (s *Source) NextFrame() (data []byte, key bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wantKey.Swap(false) && !s.frames[s.next].Key {
		s.next = s.nearestKey(s.next)
	}
	f := s.frames[s.next]
	s.next = (s.next + 1) % len(s.frames)
	return f.Data, f.Key, nil
}

// nearestKey is the keyframe closest to frame i, either way round the loop.
func (s *Source) nearestKey(i int) int {
	n := len(s.frames)
	best, bestDist := s.keys[0], n
	for _, k := range s.keys {
		d := (k - i + n) % n
		d = min(d, n-d)
		if d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}
