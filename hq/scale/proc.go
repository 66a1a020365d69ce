// Package scale proves and measures HQ with many stores: it runs built
// storeedge-hq processes against one broker and one database, and checks
// the replica against what simulated stores (firmware-sim/fleet) filed:
// every chat message and booking change exactly once, each store's streams
// applied in order up to their last sequence, nothing parked, and the lag
// from a store's filing to the replica row. The proof tests (many stores,
// a store offline for three days) and make bench's HQ figures use it.
package scale

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Build compiles storeedge-hq into dir and returns the binary's path. It
// runs the go command in the module that holds this package.
func Build(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "storeedge-hq")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/storeedge/storeedge/hq/cmd/storeedge-hq")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("scale: build storeedge-hq: %w\n%s", err, out)
	}
	return bin, nil
}

// NewSealKeys makes a key spec (id:base64) for STOREEDGE_HQ_KEYS: every
// instance of one HQ seals with the same key.
func NewSealKeys() (string, error) {
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		return "", fmt.Errorf("scale: key: %w", err)
	}
	return "k1:" + base64.StdEncoding.EncodeToString(k[:]), nil
}

// HQConfig is what every instance of one HQ shares.
type HQConfig struct {
	Bin      string // storeedge-hq
	Dir      string // where each instance's hq.yaml and log go
	Postgres string // the replica's URL
	MQTT     string // mqtt://host:port
	Keys     string // STOREEDGE_HQ_KEYS
	// YAML is added to each instance's hq.yaml (ingest.gap_wait,
	// ingest.workers, postgres.max_conns, …).
	YAML string
}

// Proc is one storeedge-hq process, restartable under the same client id
// (so the broker gives it back its session).
type Proc struct {
	Name string // its MQTT client id
	HTTP string // its HTTP address
	c    HQConfig

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	log    bytes.Buffer
	starts int
}

// Start runs a new instance named name.
func (c HQConfig) Start(ctx context.Context, name string) (*Proc, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("scale: %w", err)
	}
	addr := l.Addr().String()
	l.Close()
	p := &Proc{Name: name, HTTP: addr, c: c}
	return p, p.Start(ctx)
}

// Start starts the process again (after Kill or Stop) and waits until it
// is ready (database and broker).
func (p *Proc) Start(ctx context.Context) error {
	cfg := filepath.Join(p.c.Dir, p.Name+".yaml")
	y := "seal:\n  keys_env: STOREEDGE_HQ_KEYS\n" + p.c.YAML
	if err := os.WriteFile(cfg, []byte(y), 0o600); err != nil {
		return fmt.Errorf("scale: %w", err)
	}
	cmd := exec.Command(p.c.Bin, "-config", cfg, "-postgres", p.c.Postgres, "-mqtt", p.c.MQTT,
		"-listen", p.HTTP, "-client-id", p.Name)
	cmd.Env = append(os.Environ(), "STOREEDGE_HQ_KEYS="+p.c.Keys)
	p.mu.Lock()
	p.starts++
	fmt.Fprintf(&p.log, "---- start %d\n", p.starts)
	cmd.Stdout, cmd.Stderr = lockedWriter{p}, lockedWriter{p}
	p.mu.Unlock()
	// A test that dies does not leave the instance running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("scale: start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	for {
		code, _ := get(ctx, "http://"+p.HTTP+"/readyz")
		if code == http.StatusOK {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("scale: %s exited before it was ready:\n%s", p.Name, p.Log())
		case <-ctx.Done():
			return fmt.Errorf("scale: %s not ready: %w\n%s", p.Name, ctx.Err(), p.Log())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

type lockedWriter struct{ p *Proc }

func (w lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.log.Write(b)
}

// Log is what the process printed, over all its starts.
func (p *Proc) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// Kill sends SIGKILL (kill -9) and waits for the exit.
func (p *Proc) Kill() { p.signal(syscall.SIGKILL) }

// Stop sends SIGTERM (the instance acknowledges what it applied and
// leaves) and waits for the exit.
func (p *Proc) Stop() { p.signal(syscall.SIGTERM) }

func (p *Proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// PID is the running process's id (0 when it is not running).
func (p *Proc) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	select {
	case <-p.done:
		return 0
	default:
	}
	return p.cmd.Process.Pid
}

// Metrics is the instance's /metrics text.
func (p *Proc) Metrics(ctx context.Context) (string, error) {
	code, body := get(ctx, "http://"+p.HTTP+"/metrics")
	if code != http.StatusOK {
		return "", fmt.Errorf("scale: %s /metrics: %d %s", p.Name, code, body)
	}
	return body, nil
}

func get(ctx context.Context, url string) (int, string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// errLog wraps err with the tail of each process's log.
func errLog(err error, procs ...*Proc) error {
	var b strings.Builder
	for _, p := range procs {
		l := p.Log()
		if len(l) > 4000 {
			l = "…" + l[len(l)-4000:]
		}
		fmt.Fprintf(&b, "\n---- %s:\n%s", p.Name, l)
	}
	return errors.Join(err, errors.New(b.String()))
}
