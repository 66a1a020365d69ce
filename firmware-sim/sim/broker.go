package sim

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

//go:embed demo-services.yaml
var demoServices string

// middayZone is a time zone in which it is about noon at now: the spawned
// store's day then has hours behind and ahead of it. A store day in a fixed
// zone ends at its midnight, and in the last minutes before it every new
// booking is for tomorrow, which cannot be checked in today; a demo or a
// drill run then would post no stages.
func middayZone(now time.Time) string {
	switch off := 12 - now.UTC().Hour(); { // -11 … 12, all valid Etc zones
	case off > 0:
		return fmt.Sprintf("Etc/GMT-%d", off) // POSIX signs: GMT-8 is UTC+8
	case off < 0:
		return fmt.Sprintf("Etc/GMT+%d", -off)
	default:
		return "Etc/UTC"
	}
}

// servicesYAML is the demo catalogue with n tables and n groomers on
// round-the-clock shifts, its hours in time zone zone.
func servicesYAML(n int, zone string) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "  - {id: table-%d, kind: table, name: {zh: 美容台%d, en: Table %d}}\n", i, i, i)
		fmt.Fprintf(&b, "  - {id: groomer-%d, kind: groomer, name: {zh: 美容师%d, en: Groomer %d}, shifts: {weekly: "+
			"{mon: [\"00:00-24:00\"], tue: [\"00:00-24:00\"], wed: [\"00:00-24:00\"], thu: [\"00:00-24:00\"], "+
			"fri: [\"00:00-24:00\"], sat: [\"00:00-24:00\"], sun: [\"00:00-24:00\"]}}}\n", i, i, i)
	}
	out := strings.Replace(demoServices, "RESOURCES\n", b.String(), 1)
	return strings.Replace(out, "time_zone: Asia/Shanghai\n", "time_zone: "+zone+"\n", 1)
}

// Broker is a store broker the simulator runs as a child process, so that
// a drill can restart it.
type Broker struct {
	Bin       string
	Dir       string
	TCP, HTTP string
	// CloudURL, when set, turns cloudsync on towards HQ at that address.
	CloudURL string
	StoreID  string
	// Zone is the time zone of the store's hours (middayZone at start).
	Zone string

	cmd  *exec.Cmd
	exit chan error
	log  *os.File
}

// freeAddr is a loopback address that was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("sim: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// NewBroker prepares a broker in dir for the fleet (registry and demo
// catalogue written, free ports chosen); Start runs it.
func NewBroker(bin, dir string, f *Fleet, cloudURL string) (*Broker, error) {
	b := &Broker{Bin: bin, Dir: dir, CloudURL: cloudURL, StoreID: "sim-store", Zone: middayZone(time.Now())}
	var err error
	if b.TCP, err = freeAddr(); err != nil {
		return nil, err
	}
	if b.HTTP, err = freeAddr(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	if err := f.WriteRegistry(filepath.Join(dir, "devices.yaml")); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "services.yaml"), []byte(servicesYAML(f.Tables(), b.Zone)), 0o600); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	var c strings.Builder
	fmt.Fprintf(&c, "store_id: %s\ndata_dir: %q\n", b.StoreID, filepath.Join(dir, "data"))
	fmt.Fprintf(&c, "listeners:\n  tcp: %q\n  websocket: \"\"\n  tls: \"\"\n  http: %q\n", b.TCP, b.HTTP)
	fmt.Fprintf(&c, "auth:\n  devices_file: %q\n", filepath.Join(dir, "devices.yaml"))
	// Every simulated device connects from this one address.
	c.WriteString("limits:\n  connect_rate_per_minute: 100000\n  max_connections: 5000\n  max_pending_connects: 5000\n  max_pending_connects_per_address: 5000\n")
	fmt.Fprintf(&c, "booking:\n  services_file: %q\n", filepath.Join(dir, "services.yaml"))
	c.WriteString("log:\n  level: warn\n")
	// The relay offers loopback candidates: the simulated cameras and
	// viewers run on this machine, which may have no other interface.
	// A short linger: in load mode staff glance at many cameras, and one
	// glanced at should not keep streaming for the default half minute.
	c.WriteString("camera:\n  loopback: true\n  linger: 5s\n  rooms: {")
	rooms := f.CameraRooms()
	sep := ""
	for _, d := range f.Devices {
		if room, ok := rooms[d.ID]; ok {
			fmt.Fprintf(&c, "%s%s: %s", sep, d.ID, room)
			sep = ", "
		}
	}
	c.WriteString("}\n")
	if cloudURL != "" {
		fmt.Fprintf(&c, "cloud:\n  url: %q\n  reconnect_min: 100ms\n  reconnect_max: 1s\n  status_interval: 1s\n", cloudURL)
	}
	if err := os.WriteFile(filepath.Join(dir, "store.yaml"), []byte(c.String()), 0o600); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	return b, nil
}

// Start runs the broker and waits until it answers /readyz.
func (b *Broker) Start(ctx context.Context) error {
	log, err := os.OpenFile(filepath.Join(b.Dir, "broker.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("sim: broker log: %w", err)
	}
	cmd := exec.Command(b.Bin, "-config", filepath.Join(b.Dir, "store.yaml"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("sim: start broker %s: %w", b.Bin, err)
	}
	b.cmd, b.log, b.exit = cmd, log, make(chan error, 1)
	go func() { b.exit <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + b.HTTP + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-b.exit:
			b.cmd = nil
			return fmt.Errorf("sim: broker exited at start: %v (see %s)", err, filepath.Join(b.Dir, "broker.log"))
		case <-ctx.Done():
			return fmt.Errorf("sim: broker not ready: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond): // polls readiness until the deadline
		}
		if time.Now().After(deadline) {
			return errors.New("sim: broker not ready within 30 s")
		}
	}
}

// Stop stops the broker with SIGTERM (kill: SIGKILL) and waits for it.
func (b *Broker) Stop(kill bool) error {
	if b.cmd == nil {
		return nil
	}
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	_ = b.cmd.Process.Signal(sig)
	var err error
	select {
	case err = <-b.exit:
	case <-time.After(30 * time.Second):
		_ = b.cmd.Process.Kill()
		err = <-b.exit
	}
	b.cmd = nil
	b.log.Close()
	if kill || err == nil {
		return nil
	}
	return fmt.Errorf("sim: broker stopped with %w (see %s)", err, filepath.Join(b.Dir, "broker.log"))
}

// Alive reports whether the broker answers /healthz.
func (b *Broker) Alive() bool {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + b.HTTP + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
