package device_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/storeedge/storeedge/device"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

// TestSignalSession: a viewer's subscription covers its one session; a
// bye carries its reason.
func TestSignalSession(t *testing.T) {
	s := startStore(t, storetest.Options{})
	cam := connect(t, config(s, "cam-1"))
	staff := connect(t, config(s, "staff-anna"))
	ctx := ctxFor(t, 30*time.Second)

	var at inbox[device.Signal]
	if err := staff.OnSignalSession(ctx, "cam-1", "w-1", at.add); err != nil {
		t.Fatal(err)
	}
	if err := staff.SendSignal(ctx, "cam-1", "w-1", device.Signal{Type: device.SignalOffer, SDP: "v=0"}); err != nil {
		t.Fatal(err)
	}
	for _, session := range []string{"w-2", "w-1"} {
		if err := cam.SendSignal(ctx, "cam-1", session, device.Signal{From: device.SignalFromRelay, Type: device.SignalBye, Reason: device.ByeGrantEnded}); err != nil {
			t.Fatal(err)
		}
	}
	bye := at.wait(t, "the bye of w-1", func(s device.Signal) bool { return s.Type == device.SignalBye })
	if bye.Reason != device.ByeGrantEnded || bye.From != device.SignalFromRelay {
		t.Fatalf("bye %+v", bye)
	}
	if got := at.all(); len(got) != 1 {
		t.Fatalf("got %d signals, want the one bye of w-1 (not w-2's, not its own offer): %+v", len(got), got)
	}
	if err := staff.Unsubscribe(ctx, device.SignalTopic("cam-1", "w-1")); err != nil {
		t.Fatal(err)
	}
	if err := staff.OnSignalSession(ctx, "cam-1", "w/1", at.add); !errors.Is(err, device.ErrBadRequest) {
		t.Fatalf("a session with a slash: %v", err)
	}
}

// TestLinkAfterReconnect: Link tells a new connection from the old one,
// which is how a camera knows to register again.
func TestLinkAfterReconnect(t *testing.T) {
	s := startStore(t, storetest.Options{})
	cam := connect(t, config(s, "cam-1"))
	if cam.DeviceID() != "cam-1" {
		t.Fatalf("device id %q", cam.DeviceID())
	}
	first, next := cam.Link()
	if first == 0 {
		t.Fatal("connected, and link 0")
	}
	s.Restart()
	select {
	case <-next:
	case <-time.After(10 * time.Second):
		t.Fatal("no reconnect within 10 s")
	}
	if id, _ := cam.Link(); id == 0 || id == first {
		t.Fatalf("link %d after the reconnect, was %d", id, first)
	}
}

// TestCameraOpsNotKept: the camera ops mean something only while
// connected, so they are not stored in the disk queue, even when the
// caller asks.
func TestCameraOpsNotKept(t *testing.T) {
	s := startStore(t, storetest.Options{})
	cfg := config(s, "cam-1")
	cfg.QueueDir = t.TempDir()
	first := connect(t, cfg)
	s.Stop()
	eventually(t, 5*time.Second, "the camera sees the broker gone", func() bool { return !first.Connected() })

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	calls := []func() error{
		func() error { _, err := first.CameraRegister(ctx, "video/VP8", device.Durable(true)); return err },
		func() error { return first.CameraUnregister(ctx) },
		func() error { _, err := first.CameraWatch(ctx, "cam-1"); return err },
		func() error { _, err := first.CameraSnapshot(ctx, "cam-1"); return err },
	}
	for _, call := range calls {
		wg.Go(func() {
			if err := call(); !errors.Is(err, device.ErrClosed) {
				t.Errorf("a call queued when the client closed: %v", err)
			}
		})
	}
	eventually(t, 5*time.Second, "the calls queued", func() bool { return first.Stats().Queued == len(calls) })
	if err := first.Close(ctxFor(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	second, err := device.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close(ctxFor(t, 5*time.Second))
	if q := second.Stats().Queued; q != 0 {
		t.Fatalf("%d camera requests kept on disk", q)
	}
}

// TestWatchSessionWire: the watch answer of the protocol decodes.
func TestWatchSessionWire(t *testing.T) {
	var ws device.WatchSession
	err := json.Unmarshal([]byte(`{"ok":true,"session":"w-01J","topic":"camera/cam-1/signal/w-01J",
		"camera":"cam-1","resource":"table-1","booking":"bk1","until":"2026-11-21T11:00:00Z",
		"ice_servers":[{"urls":["stun:stun.example.com:3478"]}],"expires_in_ms":15000}`), &ws)
	if err != nil {
		t.Fatal(err)
	}
	if ws.Session != "w-01J" || ws.Topic != device.SignalTopic("cam-1", "w-01J") || ws.Resource != "table-1" ||
		ws.Booking != "bk1" || !ws.Until.Equal(time.Date(2026, 11, 21, 11, 0, 0, 0, time.UTC)) ||
		len(ws.ICEServers) != 1 || ws.ICEServers[0].URLs[0] != "stun:stun.example.com:3478" || ws.ExpiresInMs != 15000 {
		t.Fatalf("%+v", ws)
	}
}
