package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type brokerKind int

const (
	kindStoreedge brokerKind = iota
	kindMosquitto
)

func (k brokerKind) String() string {
	if k == kindStoreedge {
		return "storeedge"
	}
	return "mosquitto"
}

// side is one of the two brokers compared in a run.
type side struct {
	name string // column label
	kind brokerKind
	bin  string // absolute path of the executable
}

// broker is one instance of a broker with its own directory, ports and
// configuration. It can be started, killed and started again on the same
// data (the start-up scenario).
type broker struct {
	side
	dir      string // config, data, log
	addr     string // MQTT over TCP, host:port
	httpAddr string // storeedge HTTP (/readyz), host:port
	conf     string
	logPath  string

	cmd     *exec.Cmd
	logFile *os.File
	exited  chan struct{}
	waitErr error
}

// Broker settings shared by both brokers (see the package comment).
const (
	benchRole         = "bench"
	maxQueuedMessages = 10000
)

// brokerOpts are the settings of a storeedge config that vary between runs.
type brokerOpts struct {
	// svcWorkers > 0 sets services.workers (-svc-workers).
	svcWorkers int
	// cameraLinger > 0 sets camera.linger (the camera scenario's cold pass).
	cameraLinger time.Duration
	// infoJSONLog logs at info in JSON, so that the camera scenario can
	// follow the relay's "session ended" lines; other runs log warnings as
	// text.
	infoJSONLog bool
}

// newBroker creates dir, picks free loopback ports and writes the config
// (storeedge: with o; mosquitto ignores it).
func newBroker(s side, dir string, o brokerOpts) (*broker, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	b := &broker{side: s, dir: dir, logPath: filepath.Join(dir, "broker.log")}
	var err error
	if b.addr, err = freeAddr(); err != nil {
		return nil, err
	}
	switch s.kind {
	case kindStoreedge:
		if b.httpAddr, err = freeAddr(); err != nil {
			return nil, err
		}
		err = b.writeStoreedgeConfig(o)
	case kindMosquitto:
		err = b.writeMosquittoConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("%s config: %w", s.name, err)
	}
	return b, nil
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// writeStoreedgeConfig writes config.yaml (schema: configs/store.yaml), the
// device registry (the chat and camera scenarios' devices, see chat.go and
// camera.go) and the ACL. The HTTP listener also serves /debug/pprof
// (http_debug, loopback only) for -profile. The camera relay offers
// loopback candidates (the camera and the viewers are on this machine) and
// takes up to cameraMaxViewers viewers; every run has the same registry,
// ACL and camera section, used or not.
func (b *broker) writeStoreedgeConfig(o brokerOpts) error {
	b.conf = filepath.Join(b.dir, "config.yaml")
	devices := filepath.Join(b.dir, "devices.yaml")
	acl := filepath.Join(b.dir, "acl.yaml")
	reg, err := deviceRegistryYAML()
	if err != nil {
		return err
	}
	if err := os.WriteFile(devices, reg, 0o644); err != nil {
		return err
	}
	if err := writeACL(acl, benchRole); err != nil {
		return err
	}
	cfg := fmt.Sprintf(`# Written by storeedge bench.
store_id: bench
data_dir: %q
listeners:
  tcp: %q
  websocket: ""
  tls: ""
  http: %q
  http_debug: true
auth:
  devices_file: %q
  acl_file: %q
  allow_anonymous: true
  anonymous_role: %q
limits:
  max_connections: 5000
  connect_rate_per_minute: 0
  max_pending_connects: 5000
  max_pending_connects_per_address: 5000
  max_queued_messages: %d
  receive_maximum: 256
camera:
  loopback: true
  max_viewers: %d
`, filepath.Join(b.dir, "data"), b.addr, b.httpAddr, devices, acl, benchRole, maxQueuedMessages, cameraMaxViewers)
	if o.cameraLinger > 0 {
		cfg += fmt.Sprintf("  linger: %s\n", o.cameraLinger)
	}
	if o.infoJSONLog {
		cfg += "log:\n  level: info\n  format: json\n"
	} else {
		cfg += "log:\n  level: warn\n"
	}
	if o.svcWorkers > 0 {
		cfg += fmt.Sprintf("services:\n  workers: %d\n", o.svcWorkers)
	}
	return os.WriteFile(b.conf, []byte(cfg), 0o644)
}

// deviceRegistryYAML is the device registry: the chat scenarios' devices
// and the camera scenario's.
func deviceRegistryYAML() ([]byte, error) {
	var b strings.Builder
	b.WriteString("# Written by storeedge bench: the chat and camera scenarios' devices.\ndevices:\n")
	if err := writeChatDevices(&b); err != nil {
		return nil, err
	}
	if err := writeCameraDevices(&b); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

// writeACL writes a storeedge ACL (format: configs/acl.yaml) that lets role
// publish and subscribe to every topic. The chat senders and the camera
// viewers (role chatRole, staff) get what configs/acl.yaml gives staff for
// the services and the cameras: requests on svc/#, answers on their own
// reply/%c/#, and every camera's signaling. The camera (role cameraRole)
// gets configs/acl.yaml's camera grants but svc/media/# and
// svc/booking/progress, which the bench does not use: its presence (the
// status retained), svc/camera/# and its own signaling. The load generator
// never retains. It also defines the role of scan-to-chat customers
// (chat.customer_role, "customer") with no grant: the bench has none, but
// without the role the daemon warns and turns customer logins off (builds
// before f5335ca refused to start).
func writeACL(path, role string) error {
	acl := fmt.Sprintf(`roles:
  %s:
    description: storeedge bench load generator (anonymous, loopback only)
    publish:
      - "#"
    subscribe:
      - "#"
  %s:
    description: storeedge bench chat senders and camera viewers (devices.yaml)
    publish:
      - svc/#
      - camera/+/signal/#
    subscribe:
      - reply/%%c/#
      - camera/+/signal/#
  %s:
    description: storeedge bench camera (devices.yaml)
    publish:
      - devices/%%u/status
      - devices/%%u/telemetry
      - svc/camera/#
      - camera/%%u/signal/#
    retain:
      - devices/%%u/status
    subscribe:
      - reply/%%c/#
      - camera/%%u/signal/#
  customer:
    description: scan-to-chat customers (expected by the daemon; the bench has none)
`, role, chatRole, cameraRole)
	return os.WriteFile(path, []byte(acl), 0o644)
}

// writeMosquittoConfig writes mosquitto.conf, the equivalent of the storeedge
// configuration (see the package comment for the choices).
func (b *broker) writeMosquittoConfig() error {
	b.conf = filepath.Join(b.dir, "mosquitto.conf")
	host, port, _ := net.SplitHostPort(b.addr)
	var c strings.Builder
	fmt.Fprintf(&c, "# Written by storeedge bench.\n")
	fmt.Fprintf(&c, "listener %s %s\n", port, host)
	fmt.Fprintf(&c, "allow_anonymous true\n")
	fmt.Fprintf(&c, "persistence true\n")
	fmt.Fprintf(&c, "persistence_location %s/\n", filepath.Join(b.dir, "data"))
	fmt.Fprintf(&c, "max_queued_messages %d\n", maxQueuedMessages)
	fmt.Fprintf(&c, "set_tcp_nodelay true\n")
	fmt.Fprintf(&c, "log_dest stderr\n")
	fmt.Fprintf(&c, "log_type error\n")
	if os.Geteuid() == 0 {
		// As root, mosquitto switches to user "mosquitto", which cannot
		// write our private temp directory.
		if u, err := user.Current(); err == nil {
			fmt.Fprintf(&c, "user %s\n", u.Username)
		}
	}
	if err := os.MkdirAll(filepath.Join(b.dir, "data"), 0o755); err != nil {
		return err
	}
	return os.WriteFile(b.conf, []byte(c.String()), 0o644)
}

// launch starts the process and returns at once.
func (b *broker) launch() error {
	lf, err := os.OpenFile(b.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	var cmd *exec.Cmd
	switch b.kind {
	case kindStoreedge:
		cmd = exec.Command(b.bin, "-config", b.conf)
	case kindMosquitto:
		cmd = exec.Command(b.bin, "-c", b.conf)
	}
	cmd.Dir = b.dir
	cmd.Stdout, cmd.Stderr = lf, lf
	// Take the broker down with us if the bench dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return fmt.Errorf("start %s (%s): %w", b.name, b.bin, err)
	}
	b.cmd, b.logFile, b.exited, b.waitErr = cmd, lf, make(chan struct{}), nil
	go func() {
		b.waitErr = cmd.Wait()
		lf.Close()
		close(b.exited)
	}()
	return nil
}

// start launches the broker and waits until it is ready.
func (b *broker) start(ctx context.Context) error {
	if err := b.launch(); err != nil {
		return err
	}
	if err := b.waitReady(ctx, 30*time.Second); err != nil {
		_ = b.kill()
		return err
	}
	return nil
}

// waitReady polls until the broker accepts connections: storeedge answers
// GET /readyz with 200 and its MQTT port accepts TCP; for mosquitto the MQTT
// port accepting TCP is the only signal.
func (b *broker) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	hc := &http.Client{Timeout: time.Second}
	ready := func() bool {
		if b.kind == kindStoreedge {
			resp, err := hc.Get("http://" + b.httpAddr + "/readyz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return false
			}
		}
		c, err := net.DialTimeout("tcp", b.addr, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	for {
		if ready() {
			return nil
		}
		select {
		case <-b.exited:
			return fmt.Errorf("%s exited during start-up (%v); log %s:\n%s", b.name, b.waitErr, b.logPath, b.logTail(20))
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v (tcp %s, http %s); log %s:\n%s",
				b.name, timeout, b.addr, b.httpAddr, b.logPath, b.logTail(20))
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
}

// running reports whether the process is still alive.
func (b *broker) running() bool {
	if b.cmd == nil {
		return false
	}
	select {
	case <-b.exited:
		return false
	default:
		return true
	}
}

func (b *broker) pid() int { return b.cmd.Process.Pid }

// stop asks the broker to exit (SIGTERM) and kills it after 15 s.
func (b *broker) stop() error {
	if !b.running() {
		return nil
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
		return nil
	case <-time.After(15 * time.Second):
		_ = b.kill()
		return fmt.Errorf("%s did not exit within 15 s of SIGTERM; killed", b.name)
	}
}

// kill stops the broker with SIGKILL and waits for it.
func (b *broker) kill() error {
	if !b.running() {
		return nil
	}
	if err := b.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	<-b.exited
	return nil
}

// unexpectedExit returns an error if the broker died while it was in use.
func (b *broker) unexpectedExit() error {
	if b.cmd != nil && !b.running() {
		return fmt.Errorf("%s exited unexpectedly (%v); log %s:\n%s", b.name, b.waitErr, b.logPath, b.logTail(20))
	}
	return nil
}

// logTail returns the last n lines of the broker's log.
func (b *broker) logTail(n int) string {
	data, err := os.ReadFile(b.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  | " + string(bytes.Join(lines, []byte("\n  | ")))
}

// findMosquitto resolves the mosquitto executable.
func findMosquitto(flagVal string) (string, error) {
	const hint = "mosquitto not found; install the Debian package: apt-get install mosquitto (or pass -mosquitto PATH)"
	if flagVal != "" {
		p, err := exec.LookPath(flagVal)
		if err != nil {
			return "", fmt.Errorf("-mosquitto %s: %v; %s", flagVal, err, hint)
		}
		return filepath.Abs(p)
	}
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return filepath.Abs(p)
	}
	if st, err := os.Stat("/usr/sbin/mosquitto"); err == nil && !st.IsDir() {
		return "/usr/sbin/mosquitto", nil
	}
	return "", errors.New(hint)
}

// findStoreedge resolves the storeedge executable.
func findStoreedge(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("storeedge binary %s: %v; build it with `go build -o bin/storeedge ./broker/cmd/storeedge`, pass -storeedge PATH, or validate the harness alone with -self-check", abs, err)
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("storeedge binary %s is not an executable file", abs)
	}
	return abs, nil
}

// scrapeMetrics returns storeedge's own counters and gauges from /metrics
// (histogram buckets left out), so a run's JSON says why messages went
// missing (e.g. storeedge_messages_dropped_total). nil for mosquitto or when
// the endpoint does not answer.
func (b *broker) scrapeMetrics() map[string]float64 {
	if b.kind != kindStoreedge || !b.running() {
		return nil
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	resp, err := hc.Get("http://" + b.httpAddr + "/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil
	}
	return parseMetrics(body, "storeedge_")
}

// parseMetrics extracts "name{labels} value" samples with the given prefix
// from the Prometheus text format, skipping histogram buckets.
func parseMetrics(body []byte, prefix string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		name := line[:i]
		if strings.Contains(name, "_bucket{") {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[name] = v
	}
	return out
}

// maxProfileSeconds keeps a CPU profile under the storeedge HTTP server's
// 30 s write timeout (pprof refuses longer ones).
const maxProfileSeconds = 25

// cpuProfile starts fetching a CPU profile of secs seconds (1..25) from
// storeedge's /debug/pprof/profile into path and returns at once; wait blocks
// until the profile is written. Read it with `go tool pprof -top BINARY PATH`.
func (b *broker) cpuProfile(secs int, path string) (wait func() error) {
	secs = min(max(secs, 1), maxProfileSeconds)
	done := make(chan error, 1)
	go func() {
		hc := &http.Client{Timeout: time.Duration(secs+10) * time.Second}
		resp, err := hc.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", b.httpAddr, secs))
		if err != nil {
			done <- fmt.Errorf("cpu profile: %w", err)
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("cpu profile: HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(body))
		}
		if err == nil {
			err = os.WriteFile(path, body, 0o644)
		}
		done <- err
	}()
	return func() error { return <-done }
}
