package camera

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/storeedge/storeedge/device"
	"github.com/storeedge/storeedge/device/camera/clip"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

func TestMain(m *testing.M) {
	storetest.Main() // the broker child of Options.Process tests
	before := runtime.NumGoroutine()
	code := m.Run()
	if code == 0 {
		code = checkGoroutines(before)
	}
	os.Exit(code)
}

// checkGoroutines fails the run when goroutines outlive the tests: every
// Publisher, Viewer and client was stopped, so all theirs must end.
func checkGoroutines(before int) int {
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			fmt.Fprintf(os.Stderr, "goroutines left after the tests (%d, %d before):\n%s\n", runtime.NumGoroutine(), before, buf[:n])
			return 1
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
	return 0
}

var fleet = []storetest.Device{
	{ID: "cam-1", Role: "camera"},
	{ID: "staff-anna", Role: "staff"},
}

// testLog is the log of the clients and peers: on stderr with
// CAMERA_LOG=1 (debugging a test), else discarded.
var testLog = func() *slog.Logger {
	if os.Getenv("CAMERA_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}()

// peerOpts are the WebRTC settings of every peer in these tests: both
// ends on this machine.
var peerOpts = PeerOptions{Loopback: true, Log: testLog}

// connect connects a device of the test store and closes it when the
// test ends.
func connect(t *testing.T, s *storetest.Store, id string) *device.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := device.Connect(ctx, device.Config{
		Brokers:      []string{"mqtt://" + s.Addr},
		DeviceID:     id,
		Password:     "pw-" + id,
		ReconnectMin: 20 * time.Millisecond,
		ReconnectMax: 200 * time.Millisecond,
		Log:          testLog,
	})
	if err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

// start runs a Publisher for cam until the test ends, and checks that Run
// then returns nil.
func start(t *testing.T, cam *device.Client, o Options, accept func(string, device.Signal) bool) *Publisher {
	t.Helper()
	src, err := clip.NewSource()
	if err != nil {
		t.Fatal(err)
	}
	o.Loopback, o.Log = true, testLog
	p := New(cam, src, o)
	if accept != nil {
		p.accept = accept
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	select {
	case <-p.listening:
	case err := <-done:
		cancel()
		t.Fatalf("Run: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
	return p
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
}

// guarded is a value shared with callbacks.
type guarded[T any] struct {
	mu sync.Mutex
	v  T
}

func (g *guarded[T]) get() T {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.v
}

func (g *guarded[T]) update(f func(*T)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f(&g.v)
}
