// Package mosquittotest runs a real mosquitto as a subprocess, in the role
// of HQ's broker, for the store-to-HQ bridge's tests: a foreign MQTT
// implementation, persistent sessions that survive a restart, password
// logins, and a process the test can stop, kill and start again.
package mosquittotest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/storeedge/storeedge/internal/testkit/testbroker"
)

// DefaultMaxQueued is the per-client queue used when Options.MaxQueued is 0.
// mosquitto's own default of 1000 would silently drop most of the backlog a
// store builds up while HQ's link is down; one million keeps a 100 000
// message backlog with room to spare and still bounds a runaway test.
const DefaultMaxQueued = 1_000_000

// Options describe HQ's broker. Settings not named here keep mosquitto's
// defaults; notably max_inflight_messages stays 20, which mosquitto also
// announces as the CONNACK Receive Maximum, so a publisher has at most 20
// QoS 1 messages unacknowledged (Extra "max_inflight_messages 0" lifts it).
type Options struct {
	// Persistence keeps sessions, subscriptions and queued messages in a
	// file in the broker's directory across Stop and Restart. mosquitto
	// writes the file on a clean exit (Stop) and otherwise only every
	// autosave_interval (30 minutes), so Kill loses the lot unless Extra
	// sets "autosave_interval 1\nautosave_on_changes true\n" (save after
	// every change: slow for big backlogs).
	Persistence bool
	// Users maps username to password; empty allows anonymous clients.
	Users map[string]string
	// MaxQueued is max_queued_messages: the QoS 1/2 messages held per
	// client beyond those in flight (an offline client has none in flight).
	// 0 means DefaultMaxQueued; past the limit mosquitto drops new
	// messages silently.
	MaxQueued int
	// Extra is appended to mosquitto.conf verbatim, for the odd test that
	// needs another setting.
	Extra string
}

// Broker is a running (or stopped) mosquitto.
type Broker struct {
	Addr string // 127.0.0.1:port, the same across restarts

	t       testing.TB
	bin     string
	dir     string
	conf    string
	logFile string

	mu     sync.Mutex
	cmd    *exec.Cmd
	waited chan struct{} // closed when cmd has exited
	output bytes.Buffer  // stdout and stderr: config errors come before the log file opens
}

// Start writes mosquitto.conf for o in a temporary directory, runs
// mosquitto on a free loopback port, waits until it accepts TCP connections
// and stops it when the test ends. Without a mosquitto binary the test is
// skipped, or fails under CI, where a missing tool must not pass silently.
func Start(t testing.TB, o Options) *Broker {
	t.Helper()
	bin := needTool(t, "mosquitto", "mosquitto")
	b := &Broker{t: t, bin: bin, dir: t.TempDir(), Addr: testbroker.FreePort(t)}
	b.logFile = filepath.Join(b.dir, "mosquitto.log")
	conf, err := b.writeConfig(o)
	if err != nil {
		t.Fatal(err)
	}
	b.conf = conf
	t.Cleanup(b.Stop)
	// The port was free a moment ago; another test may have taken it
	// since. On the first start only (later ones must keep the address
	// clients know), a clash is tried again on another port.
	for attempt := 1; ; attempt++ {
		err := b.tryStart()
		if err == nil {
			return b
		}
		if attempt == 3 || !strings.Contains(err.Error(), "in use") {
			t.Fatal(err)
		}
		b.mu.Lock()
		b.output.Reset()
		b.mu.Unlock()
		_ = os.Remove(b.logFile)
		b.Addr = testbroker.FreePort(t)
		if b.conf, err = b.writeConfig(o); err != nil {
			t.Fatal(err)
		}
	}
}

// needTool finds a binary; a missing one skips the test locally but fails
// it under CI, naming the Debian package that provides it. Debian installs
// mosquitto in /usr/sbin, which an ordinary user's PATH often lacks.
func needTool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		p, err = exec.LookPath(filepath.Join("/usr/sbin", name))
	}
	if err != nil {
		msg := fmt.Sprintf("%s not found: install the Debian package %s (make deps)", name, pkg)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

func (b *Broker) writeConfig(o Options) (string, error) {
	_, port, err := net.SplitHostPort(b.Addr)
	if err != nil {
		return "", fmt.Errorf("mosquittotest: address %q: %w", b.Addr, err)
	}
	maxQueued := o.MaxQueued
	if maxQueued == 0 {
		maxQueued = DefaultMaxQueued
	}
	var c strings.Builder
	fmt.Fprintf(&c, "listener %s 127.0.0.1\n", port)
	fmt.Fprintf(&c, "log_dest file %s\nlog_type all\nlog_timestamp_format %%H:%%M:%%S\n", b.logFile)
	fmt.Fprintf(&c, "max_queued_messages %d\n", maxQueued)
	if os.Geteuid() == 0 {
		// As root mosquitto drops to the "mosquitto" user, which cannot
		// write the log or persistence file in the test's private temp dir.
		u, err := user.Current()
		if err != nil {
			return "", fmt.Errorf("mosquittotest: current user: %w", err)
		}
		fmt.Fprintf(&c, "user %s\n", u.Username)
	}
	if o.Persistence {
		data := filepath.Join(b.dir, "data")
		if err := os.Mkdir(data, 0o700); err != nil {
			return "", fmt.Errorf("mosquittotest: %w", err)
		}
		fmt.Fprintf(&c, "persistence true\npersistence_location %s\n", data)
	}
	if len(o.Users) == 0 {
		c.WriteString("allow_anonymous true\n")
	} else {
		pw, err := b.writePasswords(o.Users)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&c, "allow_anonymous false\npassword_file %s\n", pw)
	}
	c.WriteString(o.Extra)
	path := filepath.Join(b.dir, "mosquitto.conf")
	if err := os.WriteFile(path, []byte(c.String()), 0o600); err != nil {
		return "", fmt.Errorf("mosquittotest: write config: %w", err)
	}
	return path, nil
}

// writePasswords hashes users into a password file with mosquitto_passwd,
// since mosquitto only reads its own hash format.
func (b *Broker) writePasswords(users map[string]string) (string, error) {
	bin, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		return "", fmt.Errorf("mosquittotest: mosquitto_passwd not found (Debian package mosquitto): %w", err)
	}
	path := filepath.Join(b.dir, "passwd")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		return "", fmt.Errorf("mosquittotest: %w", err)
	}
	names := make([]string, 0, len(users))
	for u := range users {
		names = append(names, u)
	}
	sort.Strings(names)
	for _, u := range names {
		if out, err := exec.Command(bin, "-b", path, u, users[u]).CombinedOutput(); err != nil {
			return "", fmt.Errorf("mosquittotest: mosquitto_passwd %s: %w\n%s", u, err, out)
		}
	}
	return path, nil
}

// start runs mosquitto on the written config and waits until it listens.
func (b *Broker) start(t testing.TB) {
	t.Helper()
	if err := b.tryStart(); err != nil {
		t.Fatal(err)
	}
}

// tryStart runs mosquitto and waits until it accepts connections.
func (b *Broker) tryStart() error {
	cmd := exec.Command(b.bin, "-c", b.conf)
	cmd.Dir = b.dir
	cmd.Stdout = lockedWriter{b}
	cmd.Stderr = lockedWriter{b}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("mosquittotest: start mosquitto: %w", err)
	}
	waited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(waited) }()
	b.mu.Lock()
	b.cmd, b.waited = cmd, waited
	b.mu.Unlock()

	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", b.Addr, time.Second)
		if err == nil {
			_ = c.Close()
			return nil
		}
		select {
		case <-waited:
			return fmt.Errorf("mosquittotest: mosquitto exited before listening on %s (%v)\n%s", b.Addr, cmd.ProcessState, b.Log())
		default:
		}
		if time.Now().After(deadline) {
			b.Kill()
			return fmt.Errorf("mosquittotest: mosquitto not listening on %s after 15s: %w\n%s", b.Addr, err, b.Log())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type lockedWriter struct{ b *Broker }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.b.mu.Lock()
	defer w.b.mu.Unlock()
	return w.b.output.Write(p)
}

// running returns the live process and its exit channel, or nil.
func (b *Broker) running() (*exec.Cmd, chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return nil, nil
	}
	select {
	case <-b.waited:
		return nil, nil
	default:
		return b.cmd, b.waited
	}
}

// Stop sends SIGTERM and waits for mosquitto to exit, which is when it
// writes its persistence file. A broker that does not exit within 30 s is
// killed and the test marked failed. Stopping a stopped broker does nothing.
func (b *Broker) Stop() {
	cmd, waited := b.running()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-waited:
	case <-time.After(30 * time.Second):
		b.Kill()
		b.t.Errorf("mosquittotest: mosquitto ignored SIGTERM for 30s; killed\n%s", b.Log())
	}
}

// Kill sends SIGKILL and waits for the exit: a crash, with whatever was not
// yet saved lost.
func (b *Broker) Kill() {
	cmd, waited := b.running()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-waited
}

// Restart stops mosquitto if it is running and starts it again on the same
// port, configuration and persistence file.
func (b *Broker) Restart(t testing.TB) {
	t.Helper()
	b.Stop()
	b.start(t)
}

// Log returns mosquitto's log file and anything it printed.
func (b *Broker) Log() string {
	logged, err := os.ReadFile(b.logFile)
	if err != nil && !os.IsNotExist(err) {
		logged = []byte(fmt.Sprintf("(log file: %v)\n", err))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(logged) + b.output.String()
}
