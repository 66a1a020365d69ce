package device_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/storeedge/storeedge/device"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

func TestMain(m *testing.M) {
	storetest.Main() // the broker child of Options.Process tests
	os.Exit(m.Run())
}

// fleet is the test store's registry.
var fleet = []storetest.Device{
	{ID: "kiosk-1", Role: "kiosk"},
	{ID: "tablet-1", Role: "chat-tablet"},
	{ID: "tablet-2", Role: "chat-tablet"},
	{ID: "cam-1", Role: "camera"},
	{ID: "staff-anna", Role: "staff"},
	{ID: "admin-1", Role: "admin"},
}

func startStore(t testing.TB, o storetest.Options) *storetest.Store {
	t.Helper()
	if o.Devices == nil {
		o.Devices = fleet
	}
	return storetest.Start(t, o)
}

// config is a device's configuration for the test store, with fast
// reconnects.
func config(s *storetest.Store, id string) device.Config {
	return device.Config{
		Brokers:      []string{"mqtt://" + s.Addr},
		DeviceID:     id,
		Password:     "pw-" + id,
		ReconnectMin: 20 * time.Millisecond,
		ReconnectMax: 200 * time.Millisecond,
		Log:          testLog,
	}
}

// testLog is the clients' log: on stderr with DEVICE_LOG=1 (debugging a
// test), else discarded.
var testLog = func() *slog.Logger {
	if os.Getenv("DEVICE_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}()

// connect connects a device and closes it when the test ends.
func connect(t testing.TB, cfg device.Config) *device.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := device.Connect(ctx, cfg)
	if err != nil {
		t.Fatalf("connect %s: %v", cfg.DeviceID, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
}
