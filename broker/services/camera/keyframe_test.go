package camera

import (
	"testing"
	"time"
)

// TestKeyframeRequestsMerge: a request within keyframeGap of the last one is
// held and sent when the gap has passed, never dropped (a viewer joining
// just after another would otherwise wait for the camera's next scheduled
// keyframe); more requests meanwhile ride along with it.
func TestKeyframeRequestsMerge(t *testing.T) {
	s := &Service{}
	f := &feed{}
	s.requestKeyframe(f, false) // sent (no upstream yet: nothing to write)
	f.kfMu.Lock()
	first := f.lastKF
	f.kfMu.Unlock()
	s.requestKeyframe(f, false) // within the gap: held
	s.requestKeyframe(f, false) // merged with the held one
	f.kfMu.Lock()
	pending, last := f.kfPending, f.lastKF
	f.kfMu.Unlock()
	if !pending || !last.Equal(first) {
		t.Fatalf("pending %v, last moved %v: the second request was not held", pending, !last.Equal(first))
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.kfMu.Lock()
		pending, last = f.kfPending, f.lastKF
		f.kfMu.Unlock()
		if !pending && last.After(first) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the held request was never sent")
		}
		time.Sleep(time.Millisecond)
	}
	if d := last.Sub(first); d < keyframeGap {
		t.Fatalf("held request sent %v after the first, want at least %v", d, keyframeGap)
	}
}
