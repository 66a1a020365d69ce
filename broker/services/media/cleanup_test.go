package media

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/blob"
)

// runService starts Run with a hook reporting each round and returns the
// rounds' channel and a stop func that waits for Run to return.
func runService(t *testing.T, s *Service, every time.Duration) (<-chan error, func()) {
	t.Helper()
	rounds := make(chan error, 100)
	s.afterCleanup = func(_ blob.CleanupStats, err error) {
		select {
		case rounds <- err:
		default: // the test has seen enough rounds
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx, every) }()
	stop := func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after its context ended")
		}
	}
	t.Cleanup(stop)
	return rounds, stop
}

func nextRound(t *testing.T, rounds <-chan error) error {
	t.Helper()
	select {
	case err := <-rounds:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("no cleanup round within 10 s")
		return nil
	}
}

// Run cleans up at once: an upload past its TTL goes, with its reservation.
func TestRunCleansExpiredUploads(t *testing.T) {
	e := newEnv(t, envOptions{})
	img := testPNG(t, 64, 64)
	meta := blob.Meta{Type: "image/png", Size: int64(len(img)), SHA256: hashOf(img)}
	ctx := ctxT(t)
	if _, err := e.media.Begin(ctx, tablet.ID, "old", meta); err != nil {
		t.Fatal(err)
	}
	if u := e.usage(t); u[1] != int64(len(img)) {
		t.Fatalf("reserved %d", u[1])
	}
	e.clock.Advance(2 * time.Hour)

	rounds, stop := runService(t, e.svc, time.Hour)
	if err := nextRound(t, rounds); err != nil {
		t.Fatal(err)
	}
	if _, err := e.media.Status(ctx, tablet.ID, "old"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("expired upload still there: %v", err)
	}
	if u := e.usage(t); u[1] != 0 {
		t.Fatalf("reserved %d after cleanup", u[1])
	}
	stop()
}

// brokenDB fails every transaction.
type brokenDB struct{}

var errDisk = errors.New("disk on fire")

func (brokenDB) Update(context.Context, func(*bolt.Tx) error) error { return errDisk }
func (brokenDB) View(func(*bolt.Tx) error) error                    { return errDisk }

// syncBuffer is a log sink safe for the Run goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A failing cleanup is logged and tried again; Run does not stop or panic.
func TestRunLogsErrors(t *testing.T) {
	e := newEnv(t, envOptions{})
	m, err := blob.New(blob.Options{DB: brokenDB{}, Seal: testKeys(t)})
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	s, err := New(Options{Router: e.router, Media: m, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	rounds, stop := runService(t, s, time.Millisecond)
	for range 3 {
		if err := nextRound(t, rounds); !errors.Is(err, errDisk) {
			t.Fatalf("round error %v, want %v", err, errDisk)
		}
	}
	stop()
	if out := logs.String(); !strings.Contains(out, "cleanup failed") || !strings.Contains(out, errDisk.Error()) {
		t.Fatalf("log: %q", out)
	}
}

// Run returns at once for a context that has ended.
func TestRunEndedContext(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	e.svc.afterCleanup = func(blob.CleanupStats, error) { called = true }
	e.svc.Run(ctx, 0)
	if called {
		t.Fatal("Run cleaned up after its context ended")
	}
}

func TestNewValidates(t *testing.T) {
	e := newEnv(t, envOptions{})
	for name, o := range map[string]Options{
		"no router": {Media: e.media},
		"no media":  {Router: e.router},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	s, err := New(Options{Router: e.router, Media: e.media})
	if err != nil {
		t.Fatal(err)
	}
	if !s.staff("staff") || !s.staff("admin") || s.staff("chat-tablet") {
		t.Fatalf("default staff roles %v", s.o.StaffRoles)
	}
	s, err = New(Options{Router: e.router, Media: e.media, StaffRoles: []string{}})
	if err != nil || s.staff("staff") {
		t.Fatalf("empty staff roles: %v %v", s.o.StaffRoles, err)
	}
}
