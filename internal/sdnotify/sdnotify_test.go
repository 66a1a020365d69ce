package sdnotify

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// listen is systemd's end: a unixgram socket whose datagrams arrive on the
// returned channel.
func listen(t *testing.T, name string) <-chan string {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ch := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				close(ch)
				return
			}
			ch <- string(buf[:n])
		}
	}()
	return ch
}

func next(t *testing.T, ch <-chan string, within time.Duration) string {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(within):
		t.Fatalf("no datagram within %v", within)
		return ""
	}
}

func TestReadyAndStoppingReachTheSocket(t *testing.T) {
	for _, name := range []string{filepath.Join(t.TempDir(), "notify"), "@storeedge-sdnotify-test-" + strconv.Itoa(os.Getpid())} {
		t.Run(name[:1], func(t *testing.T) {
			ch := listen(t, name)
			t.Setenv("NOTIFY_SOCKET", name)
			t.Setenv("WATCHDOG_USEC", "")
			n, err := FromEnv()
			if err != nil || !n.Enabled() {
				t.Fatalf("FromEnv: %v enabled=%v", err, n.Enabled())
			}
			if err := n.Ready("listening on 127.0.0.1:1883"); err != nil {
				t.Fatal(err)
			}
			if m := next(t, ch, 5*time.Second); m != "READY=1\nSTATUS=listening on 127.0.0.1:1883" {
				t.Fatalf("ready datagram %q", m)
			}
			if err := n.Stopping(); err != nil {
				t.Fatal(err)
			}
			if m := next(t, ch, 5*time.Second); !strings.HasPrefix(m, "STOPPING=1\n") {
				t.Fatalf("stopping datagram %q", m)
			}
		})
	}
}

func TestWithoutNotifySocketNothingIsSent(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "30000000")
	n, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if n.Enabled() || n.WatchdogInterval() != 0 {
		t.Fatalf("enabled=%v watchdog=%v without NOTIFY_SOCKET", n.Enabled(), n.WatchdogInterval())
	}
	if err := n.Ready("x"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := n.Watchdog(ctx, func(context.Context) error { t.Error("check ran without a watchdog"); return nil }); err != nil {
		t.Fatal(err)
	}
	var nilN *Notifier
	if err := nilN.Stopping(); err != nil {
		t.Fatal(err)
	}
}

func TestWatchdogEnvironment(t *testing.T) {
	self := 4242
	for _, c := range []struct {
		usec, pid string
		want      time.Duration
		err       bool
	}{
		{"30000000", "", 30 * time.Second, false},
		{"30000000", "4242", 30 * time.Second, false},
		{"30000000", "1", 0, false}, // meant for another process
		{"", "", 0, false},
		{"abc", "", 0, true},
		{"0", "", 0, true},
	} {
		n, err := fromValues("/run/x", c.usec, c.pid, self)
		if (err != nil) != c.err || n.WatchdogInterval() != c.want {
			t.Errorf("usec=%q pid=%q: interval %v err %v; want %v err=%v", c.usec, c.pid, n.WatchdogInterval(), err, c.want, c.err)
		}
	}
	if _, err := fromValues("vsock:2:1234", "", "", self); err == nil {
		t.Error("an unsupported NOTIFY_SOCKET was taken")
	}
}

// The watchdog pings while the check answers, stops pinging while it fails
// or hangs (a wedged broker must be restarted by systemd), and pings again
// once it answers.
func TestWatchdogPingsOnlyWhileHealthy(t *testing.T) {
	name := filepath.Join(t.TempDir(), "notify")
	ch := listen(t, name)
	const iv = 400 * time.Millisecond
	n, err := fromValues(name, strconv.Itoa(int(iv/time.Microsecond)), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var mode atomic.Int32 // 0 healthy, 1 failing, 2 hanging
	release := make(chan struct{})
	check := func(ctx context.Context) error {
		switch mode.Load() {
		case 1:
			return errors.New("database read failed")
		case 2:
			<-release // ignores ctx, as a wedged lock would
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Watchdog(ctx, check) }()

	// Healthy: pings at about iv/2, never further apart than iv.
	last := time.Now()
	for i := 0; i < 4; i++ {
		if m := next(t, ch, iv); !strings.HasPrefix(m, "WATCHDOG=1") {
			t.Fatalf("ping %d: %q", i, m)
		}
		if gap := time.Since(last); gap > iv {
			t.Fatalf("ping %d came %v after the previous one (watchdog %v)", i, gap, iv)
		}
		last = time.Now()
	}

	// Failing: a status saying why, and no ping for several intervals.
	mode.Store(1)
	noPing := func(what string) {
		t.Helper()
		sawStatus := false
		deadline := time.After(3 * iv)
		for {
			select {
			case m := <-ch:
				if strings.Contains(m, "WATCHDOG=1") {
					// One ping may already have been on its way.
					continue
				}
				if strings.HasPrefix(m, "STATUS=unhealthy") {
					sawStatus = true
				}
			case <-deadline:
				if !sawStatus {
					t.Fatalf("%s: no STATUS=unhealthy", what)
				}
				// After the grace above, nothing more may arrive but statuses.
				quiet := time.After(2 * iv)
				for {
					select {
					case m := <-ch:
						if strings.Contains(m, "WATCHDOG=1") {
							t.Fatalf("%s: pinged while unhealthy: %q", what, m)
						}
					case <-quiet:
						return
					}
				}
			}
		}
	}
	noPing("failing check")

	// Hanging: no ping either, and only one check in flight.
	mode.Store(2)
	noPing("hanging check")

	// Healthy again.
	mode.Store(0)
	close(release)
	for {
		m := next(t, ch, 2*iv)
		if strings.HasPrefix(m, "WATCHDOG=1") {
			break
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watchdog did not return after its context ended")
	}
}
