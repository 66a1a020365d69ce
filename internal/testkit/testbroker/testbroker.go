// Package testbroker builds the storeedge binary and runs it as a subprocess
// for tests that need a real process: kill -9, restarts, signals, foreign
// clients.
package testbroker

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Binary builds ./broker/cmd/storeedge once per test process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "storeedge-bin-")
		if err != nil {
			buildErr = err
			return
		}
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..", "..") // internal/testkit/testbroker
		buildPath = filepath.Join(dir, "storeedge")
		cmd := exec.Command("go", "build", "-o", buildPath, "./broker/cmd/storeedge")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// FreePort returns a loopback TCP address that was free a moment ago.
func FreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Options describe one broker process.
type Options struct {
	Dir     string // working dir: config, data and log live here
	TCP     string // MQTT address (FreePort)
	HTTP    string // HTTP address (FreePort)
	WS      string // optional websocket address
	Extra   string // extra YAML appended under the top level (e.g. "limits:\n  ...")
	Devices string // devices.yaml contents ("" = none)
	ACL     string // acl.yaml contents ("" = embedded)
	// Anonymous, when set, lets clients without credentials in with this role.
	Anonymous string
}

// Proc is a running broker subprocess.
type Proc struct {
	Cmd    *exec.Cmd
	Opts   Options
	Output *bytes.Buffer
	mu     sync.Mutex
	waited chan struct{}
}

// WriteConfig writes store.yaml for o into o.Dir and returns its path.
func WriteConfig(t testing.TB, o Options) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "store_id: test-store\ndata_dir: %s\n", filepath.Join(o.Dir, "data"))
	fmt.Fprintf(&b, "listeners:\n  tcp: %q\n  websocket: %q\n  tls: \"\"\n  http: %q\n", o.TCP, o.WS, o.HTTP)
	devices := filepath.Join(o.Dir, "devices.yaml")
	if o.Devices != "" {
		if err := os.WriteFile(devices, []byte(o.Devices), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	acl := ""
	if o.ACL != "" {
		acl = filepath.Join(o.Dir, "acl.yaml")
		if err := os.WriteFile(acl, []byte(o.ACL), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Fprintf(&b, "auth:\n  devices_file: %q\n  acl_file: %q\n", devices, acl)
	if o.Anonymous != "" {
		fmt.Fprintf(&b, "  allow_anonymous: true\n  anonymous_role: %q\n", o.Anonymous)
	}
	if !strings.Contains(o.Extra, "\nlog:") && !strings.HasPrefix(o.Extra, "log:") {
		b.WriteString("log:\n  level: warn\n")
	}
	b.WriteString(o.Extra)
	path := filepath.Join(o.Dir, "store.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Start runs the broker on o and waits until /readyz answers 200.
func Start(t testing.TB, o Options) *Proc {
	t.Helper()
	cfg := WriteConfig(t, o)
	p := &Proc{Opts: o, Output: &bytes.Buffer{}, waited: make(chan struct{})}
	p.Cmd = exec.Command(Binary(t), "-config", cfg)
	p.Cmd.Dir = o.Dir
	p.Cmd.Stdout = &lockedWriter{p: p}
	p.Cmd.Stderr = &lockedWriter{p: p}
	if err := p.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.Cmd.Wait(); close(p.waited) }()
	t.Cleanup(func() { p.Kill() })
	if err := p.WaitReady(20 * time.Second); err != nil {
		t.Fatalf("broker not ready: %v\n%s", err, p.Log())
	}
	return p
}

type lockedWriter struct{ p *Proc }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.Output.Write(b)
}

// Log returns what the process printed so far.
func (p *Proc) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.Output.String()
}

// WaitReady polls /readyz until it answers 200, the process exits, or the timeout passes.
func (p *Proc) WaitReady(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c := &http.Client{Timeout: time.Second}
	for {
		resp, err := c.Get("http://" + p.Opts.HTTP + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-p.waited:
			return fmt.Errorf("process exited: %v", p.Cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("readyz: %w (last error %v)", ctx.Err(), err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Proc) Kill() {
	_ = p.Cmd.Process.Signal(syscall.SIGKILL)
	<-p.waited
}

// Signal sends sig.
func (p *Proc) Signal(sig os.Signal) error { return p.Cmd.Process.Signal(sig) }

// Wait waits for the process to exit within timeout and returns its exit state.
func (p *Proc) Wait(timeout time.Duration) (*os.ProcessState, error) {
	select {
	case <-p.waited:
		return p.Cmd.ProcessState, nil
	case <-time.After(timeout):
		return nil, fmt.Errorf("still running after %v", timeout)
	}
}
