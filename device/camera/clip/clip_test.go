package clip

import (
	"bytes"
	"testing"
)

func TestFrames(t *testing.T) {
	f, err := Frames()
	if err != nil {
		t.Fatal(err)
	}
	if len(f) != 120 {
		t.Fatalf("%d frames, want 4 s at 30 fps", len(f))
	}
	for i, fr := range f {
		if want := i%30 == 0; fr.Key != want {
			t.Fatalf("frame %d: key %v", i, fr.Key)
		}
	}
}

func TestSourceLoopsAndJumpsToKeyframes(t *testing.T) {
	f, err := Frames()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSource()
	if err != nil {
		t.Fatal(err)
	}
	if s.FrameInterval() != Interval {
		t.Fatalf("interval %v", s.FrameInterval())
	}
	next := func() ([]byte, bool) {
		t.Helper()
		d, k, err := s.NextFrame()
		if err != nil {
			t.Fatal(err)
		}
		return d, k
	}
	for i := range 2 * len(f) { // twice round the loop
		d, k := next()
		if !bytes.Equal(d, f[i%len(f)].Data) || k != f[i%len(f)].Key {
			t.Fatalf("frame %d is not the clip's", i)
		}
	}
	// At frame 5 the nearest keyframe is 0, behind; at 20 it is 30, ahead.
	for range 5 {
		next()
	}
	s.RequestKeyframe()
	if d, k := next(); !k || !bytes.Equal(d, f[0].Data) {
		t.Fatal("no jump back to keyframe 0")
	}
	for range 19 {
		next()
	}
	s.RequestKeyframe()
	if d, k := next(); !k || !bytes.Equal(d, f[30].Data) {
		t.Fatal("no jump ahead to keyframe 30")
	}
	// At a keyframe already, a request changes nothing.
	for range 29 {
		next()
	}
	s.RequestKeyframe()
	if d, _ := next(); !bytes.Equal(d, f[60].Data) {
		t.Fatal("a request at a keyframe moved the clip")
	}
}
