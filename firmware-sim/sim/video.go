package sim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/storeedge/storeedge/device"
	devcam "github.com/storeedge/storeedge/device/camera"
)

const (
	// DefaultVideoEvery is Options.VideoEvery's default: with the demo's
	// two staff tablets at ten times a real store's pace, a handful of
	// watches and snapshots a minute.
	DefaultVideoEvery = 12
	// maxVideoSessions bounds the watches and snapshots under way in the
	// whole store: in load mode, with dozens of staff tablets, the video
	// stays a side show of the request load.
	maxVideoSessions = 4
	// firstFrameWait is how long a watch may wait for its first picture.
	firstFrameWait = 5 * time.Second
	// watchFor is how long staff look at the picture once it is there.
	watchFor = 2 * time.Second
)

// peer are the WebRTC settings of the simulated cameras and viewers: the
// simulator runs on the broker's machine, which may have only loopback.
var peer = devcam.PeerOptions{Loopback: true}

// video is the store's live video: the cameras' publishers and the staff's
// watches and snapshots, with their counts.
type video struct {
	every int
	sem   chan struct{}     // a slot per video session under way
	end   <-chan struct{}   // closed when the run ends
	rooms map[string]string // resource → the camera filming it
	mu    sync.Mutex
	cams  []*simCamera
	turns int // turns taken: even ones watch, odd ones snapshot

	watches, frames, snapshots, photos int
}

// simCamera is a camera device and its publisher.
type simCamera struct {
	c   *device.Client
	pub *devcam.Publisher
}

func newVideo(every int, end <-chan struct{}, rooms map[string]string) *video {
	v := &video{every: every, sem: make(chan struct{}, maxVideoSessions), end: end, rooms: map[string]string{}}
	for cam, room := range rooms {
		v.rooms[room] = cam
	}
	return v
}

// publish makes the publisher of camera client c, which streams the clip
// whenever the relay asks, and lists the camera for the staff.
func (v *video) publish(c *device.Client, src devcam.FrameSource) *devcam.Publisher {
	// Registration is retried quickly: the drills take the broker and the
	// Wi-Fi away for moments, not for minutes.
	p := devcam.New(c, src, devcam.Options{PeerOptions: peer, RetryMin: 100 * time.Millisecond, RetryMax: 2 * time.Second})
	v.mu.Lock()
	v.cams = append(v.cams, &simCamera{c: c, pub: p})
	v.mu.Unlock()
	return p
}

// registrations is how often the cameras registered: once per
// connection when the publishers follow the reconnects.
func (v *video) registrations() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, c := range v.cams {
		n += c.pub.Stats().Registrations
	}
	return n
}

// pick is a camera that is connected and registered: the one filming one
// of rooms when there is one, else any. Call with v.mu held.
func (v *video) pick(rooms []string) string {
	ready := map[string]bool{}
	var ids []string
	for _, c := range v.cams {
		if _, ok := c.pub.Registration(); ok && c.c.Connected() {
			ready[c.c.DeviceID()] = true
			ids = append(ids, c.c.DeviceID())
		}
	}
	for _, r := range rooms {
		if cam := v.rooms[r]; ready[cam] {
			return cam
		}
	}
	if len(ids) == 0 {
		return ""
	}
	return ids[rand.IntN(len(ids))]
}

// turn is a staff member's turn to the cameras: a watch or a snapshot,
// alternately across the store. did is false when there was nothing to do
// (no camera up, or enough sessions under way).
func (v *video) turn(ctx context.Context, s *store, c *device.Client) (did bool, err error) {
	select {
	case v.sem <- struct{}{}:
	default:
		return false, nil
	}
	defer func() { <-v.sem }()
	v.mu.Lock()
	watch := v.turns%2 == 0
	var claim *stageClaim
	if !watch {
		// The photo goes with the next stage of a pet in the room, taken
		// by its table's camera when it has one.
		claim, _ = s.claimStage()
	}
	var rooms []string
	if claim != nil {
		rooms = claim.booking.resources
	}
	cam := v.pick(rooms)
	if cam != "" {
		v.turns++
	}
	v.mu.Unlock()
	if cam == "" {
		if claim != nil {
			s.release(claim)
		}
		return false, nil
	}
	if watch {
		return true, v.watch(ctx, s, c, cam)
	}
	return true, v.snapshot(ctx, s, c, cam, claim)
}

// watch watches cam for watchFor and records the time to its first
// picture as camera.watch. It fails when no picture comes within
// firstFrameWait or the session ends without this side hanging up.
func (v *video) watch(ctx context.Context, s *store, c *device.Client, cam string) error {
	const op = "camera.watch"
	start := time.Now()
	w, err := devcam.Watch(ctx, c, cam, devcam.ViewerOptions{PeerOptions: peer})
	if err != nil {
		err = fmt.Errorf("watch %s: %w", cam, err)
		s.record(op, time.Since(start), err)
		return err
	}
	defer w.Close()
	start = w.Started()
	wait := time.NewTimer(time.Until(start.Add(firstFrameWait)))
	defer wait.Stop()
	select {
	case <-w.FirstFrame():
	case <-w.Done():
	case <-wait.C:
	}
	if w.FirstFrameAt().IsZero() {
		if r := w.Reason(); r != "" {
			err = fmt.Errorf("watch %s: the session ended before the first picture: %s", cam, r)
		} else {
			err = fmt.Errorf("watch %s: no picture within %v", cam, firstFrameWait)
		}
		s.record(op, time.Since(start), err)
		return err
	}
	ttff := w.FirstFrameAt().Sub(start)
	// A run that ends cuts the look short: the store is closing.
	look := time.NewTimer(watchFor)
	defer look.Stop()
	select {
	case <-look.C:
	case <-v.end:
	case <-w.Done():
		if r := w.Reason(); r != device.ByeClosed {
			err = fmt.Errorf("watch %s: the session ended after %d frames: %s", cam, w.Frames(), r)
		}
	}
	s.record(op, ttff, err)
	if err != nil {
		return err
	}
	v.mu.Lock()
	v.watches++
	v.frames += w.Frames()
	v.mu.Unlock()
	return nil
}

// snapshot takes a still of cam as camera.snapshot and, with a claimed
// stage, posts it as that stage's photo.
func (v *video) snapshot(ctx context.Context, s *store, c *device.Client, cam string, claim *stageClaim) error {
	if claim != nil {
		defer s.release(claim)
	}
	var still device.Blob
	if err := s.timed("camera.snapshot", func() (err error) {
		still, err = c.CameraSnapshot(ctx, cam)
		if err != nil {
			return fmt.Errorf("snapshot %s: %w", cam, err)
		}
		if still.Hash == "" {
			return errors.New("snapshot " + cam + ": no hash in the answer")
		}
		return nil
	}); err != nil {
		return err
	}
	v.mu.Lock()
	v.snapshots++
	v.mu.Unlock()
	if claim == nil {
		return nil
	}
	if err := s.post(ctx, c, claim, "photo from "+cam, still.Hash); err != nil {
		return err
	}
	v.mu.Lock()
	v.photos++
	v.mu.Unlock()
	return nil
}
