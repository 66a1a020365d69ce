package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/storeedge/storeedge/internal/testkit/testbroker"
)

// Started by systemd as Type=notify: READY=1 once MQTT accepts connections,
// WATCHDOG=1 at half the watchdog interval while it serves, STOPPING=1 on
// SIGTERM, then a clean exit.
func TestSystemdNotify(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ln.Read(buf)
			if err != nil {
				return
			}
			got <- string(buf[:n])
		}
	}()

	o := testbroker.Options{Dir: dir, TCP: testbroker.FreePort(t), HTTP: testbroker.FreePort(t)}
	cfg := testbroker.WriteConfig(t, o)
	cmd := exec.Command(testbroker.Binary(t), "-config", cfg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=1000000")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	wait := func(prefix string, within time.Duration) string {
		t.Helper()
		deadline := time.After(within)
		for {
			select {
			case m := <-got:
				if strings.HasPrefix(m, prefix) {
					return m
				}
			case <-deadline:
				t.Fatalf("no %s within %v\n%s", prefix, within, out.String())
			case err := <-exited:
				t.Fatalf("exited before %s: %v\n%s", prefix, err, out.String())
			}
		}
	}

	ready := wait("READY=1", 20*time.Second)
	if !strings.Contains(ready, "STATUS=serving store test-store") {
		t.Errorf("READY without the store's status: %q", ready)
	}
	// Ready means serving: MQTT accepts at once.
	c, err := net.DialTimeout("tcp", o.TCP, time.Second)
	if err != nil {
		t.Fatalf("READY=1 sent but MQTT does not accept: %v", err)
	}
	c.Close()
	last := time.Now()
	for i := 0; i < 3; i++ {
		wait("WATCHDOG=1", time.Second)
		if gap := time.Since(last); gap > time.Second {
			t.Fatalf("watchdog ping %d came %v after the previous (WatchdogSec=1s)", i, gap)
		}
		last = time.Now()
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wait("STOPPING=1", 10*time.Second)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, out.String())
		}
		exited <- nil
	case <-time.After(20 * time.Second):
		t.Fatal("still running 20 s after SIGTERM")
	}
}
