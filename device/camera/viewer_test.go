package camera

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/storeedge/storeedge/device"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

// viewerSessions lets the Publisher answer a viewer directly, in place of
// the relay, on the sessions the viewer tests make up.
func viewerSessions(session string, _ device.Signal) bool {
	return session == "w-one" || session == "w-two"
}

func TestViewerWatchesCamera(t *testing.T) {
	s := storetest.Start(t, storetest.Options{Devices: fleet})
	cam, staff := connect(t, s, "cam-1"), connect(t, s, "staff-anna")
	p := start(t, cam, Options{NoRegister: true}, viewerSessions)

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	v, err := Join(ctx, staff, device.WatchSession{Session: "w-one", Camera: "cam-1"}, ViewerOptions{PeerOptions: peerOpts})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	select {
	case <-v.FirstFrame():
	case <-v.Done():
		t.Fatalf("session ended before the first frame: %s", v.Reason())
	case <-time.After(5 * time.Second):
		t.Fatal("no first frame within 5 s")
	}
	if first := v.FirstFrameAt(); first.Before(v.Started()) || v.ConnectedAt().IsZero() || first.Before(v.ConnectedAt()) {
		t.Fatalf("started %v, connected %v, first frame %v", v.Started(), v.ConnectedAt(), first)
	}
	t.Logf("first keyframe %v after Join, %v after connected", v.FirstFrameAt().Sub(v.Started()), v.FirstFrameAt().Sub(v.ConnectedAt()))
	eventually(t, 5*time.Second, "frames flowing", func() bool { return v.Frames() >= 10 })

	keys := v.Keyframes()
	asked := time.Now()
	if err := v.RequestKeyframe(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "a keyframe on request", func() bool { return v.Keyframes() > keys })
	t.Logf("keyframe %v after the request", time.Since(asked))

	// The relay ends the session: the viewer is told why, and the camera
	// (which listens on the same session here) hangs up too.
	bctx, bcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer bcancel()
	if err := cam.SendSignal(bctx, "cam-1", "w-one", device.Signal{From: device.SignalFromRelay, Type: device.SignalBye, Reason: device.ByeGrantEnded}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-v.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the session did not end on the relay's bye")
	}
	if r := v.Reason(); r != device.ByeGrantEnded {
		t.Fatalf("reason %q, want %q", r, device.ByeGrantEnded)
	}
	eventually(t, 5*time.Second, "the camera hung up", func() bool { return p.Stats().Session == "" })
}

func TestViewerClose(t *testing.T) {
	s := storetest.Start(t, storetest.Options{Devices: fleet})
	cam, staff := connect(t, s, "cam-1"), connect(t, s, "staff-anna")
	p := start(t, cam, Options{NoRegister: true}, viewerSessions)

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	v, err := Join(ctx, staff, device.WatchSession{Session: "w-two", Camera: "cam-1"}, ViewerOptions{PeerOptions: peerOpts})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-v.FirstFrame():
	case <-time.After(5 * time.Second):
		t.Fatalf("no first frame within 5 s (%s)", v.Reason())
	}
	v.Close()
	if r := v.Reason(); r != device.ByeClosed {
		t.Fatalf("reason %q", r)
	}
	// The bye reached the other side.
	eventually(t, 5*time.Second, "the camera got the bye", func() bool { return p.Stats().Session == "" })
	v.Close() // again: nothing happens
}

func TestViewerContextEnds(t *testing.T) {
	s := storetest.Start(t, storetest.Options{Devices: fleet})
	cam, staff := connect(t, s, "cam-1"), connect(t, s, "staff-anna")
	p := start(t, cam, Options{NoRegister: true}, viewerSessions)

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	v, err := Join(ctx, staff, device.WatchSession{Session: "w-one", Camera: "cam-1"}, ViewerOptions{PeerOptions: peerOpts})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-v.FirstFrame():
	case <-time.After(5 * time.Second):
		t.Fatalf("no first frame within 5 s (%s)", v.Reason())
	}
	cancel()
	select {
	case <-v.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the session did not end with its context")
	}
	eventually(t, 5*time.Second, "the camera got the bye", func() bool { return p.Stats().Session == "" })
	v.Close()
}

// Without a registered camera the watch service refuses (or, before it
// exists, the broker answers that there is no such service): Watch
// returns the refusal.
func TestWatchRefused(t *testing.T) {
	s := storetest.Start(t, storetest.Options{Devices: fleet})
	staff := connect(t, s, "staff-anna")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Watch(ctx, staff, "cam-1", ViewerOptions{PeerOptions: peerOpts})
	var se *device.Error
	if !errors.As(err, &se) {
		t.Fatalf("err %v, want the service's refusal", err)
	}
	t.Logf("refused: %v", err)
}
