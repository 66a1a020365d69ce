// Package storetest runs a whole store broker for tests — in this process
// or, for kill -9 tests, as a child process — with a clock the test moves,
// and gives tests real MQTT 5 clients that call services and collect
// events. Services' own tests and the end-to-end stories use it instead of
// each building a broker by hand.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/internal/testkit/testbroker"
	"github.com/storeedge/storeedge/internal/timesync"
)

// Device is a registered device of the test store; its password is "pw-"+ID.
type Device struct{ ID, Role string }

// Options configure Start.
type Options struct {
	// Devices are written to the registry.
	Devices []Device
	// Start is the clock's first reading (default 2026-11-23 08:00 in
	// Asia/Shanghai, a Monday).
	Start time.Time
	// Config adjusts the configuration (the embedded default, with the
	// devices file, a temporary data dir and loopback listeners).
	Config func(*broker.Config)
	// Process runs the broker as a child process (the test binary itself:
	// its TestMain must call Main first), so a test can kill -9 it.
	Process bool
	// MaxOpenFiles, with Process, is the child's file descriptor limit
	// (RLIMIT_NOFILE), set before the broker starts; 0 = inherited.
	MaxOpenFiles uint64
	// Wire sets, at each in-process start, what the file cannot hold
	// (broker.Config's Admins, Catalogs); see FileAdmins.
	Wire func(s *Store, cfg *broker.Config)
}

// DefaultStart is the clock's default first reading.
var DefaultStart = time.Date(2026, 11, 23, 8, 0, 0, 0, time.FixedZone("CST", 8*3600))

// Store is a running test store.
type Store struct {
	t    testing.TB
	o    Options
	Dir  string // the data dir survives restarts
	Addr string // MQTT over TCP
	HTTP string // the HTTP listener, host:port

	cfgPath, clockPath string

	clockMu sync.Mutex
	now     time.Time

	b    *broker.Broker // in-process
	proc *exec.Cmd      // child process
	exit chan error
}

// Start starts a store and stops it when the test ends.
func Start(t testing.TB, o Options) *Store {
	t.Helper()
	if o.Start.IsZero() {
		o.Start = DefaultStart
	}
	dir := t.TempDir()
	s := &Store{t: t, o: o, Dir: dir, now: o.Start,
		cfgPath: filepath.Join(dir, "store.yaml"), clockPath: filepath.Join(dir, "clock")}
	var b strings.Builder
	b.WriteString("devices:\n")
	for _, d := range o.Devices {
		h, err := bcrypt.GenerateFromPassword([]byte("pw-"+d.ID), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "  - id: %s\n    role: %s\n    password_hash: %q\n", d.ID, d.Role, h)
	}
	if err := os.WriteFile(filepath.Join(dir, "devices.yaml"), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := broker.DefaultConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Auth.DevicesFile = filepath.Join(dir, "devices.yaml")
	// In process the first start binds port 0 and pins the ports it got
	// (pinPorts), so clients reconnect to the same address after a
	// restart and no other test can take a port between "free" and
	// "bound". A child process cannot tell its ports back, so it gets
	// ports that were free a moment ago, and spawn retries on a clash.
	if o.Process {
		cfg.Listeners = broker.ListenersConfig{TCP: testbroker.FreePort(t), HTTP: testbroker.FreePort(t)}
	} else {
		cfg.Listeners = broker.ListenersConfig{TCP: "127.0.0.1:0", HTTP: "127.0.0.1:0"}
	}
	cfg.Booking.Tick = 50 * time.Millisecond
	cfg.Log.Level = "warn"
	if o.Config != nil {
		o.Config(&cfg)
	}
	s.Addr, s.HTTP = cfg.Listeners.TCP, cfg.Listeners.HTTP
	s.writeConfig(cfg)
	s.writeClock()
	if o.Process {
		s.spawnFirst(cfg)
	} else {
		s.up()
		s.pinPorts(cfg)
	}
	t.Cleanup(s.stop)
	return s
}

func (s *Store) writeConfig(cfg broker.Config) {
	s.t.Helper()
	y, err := yaml.Marshal(cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(s.cfgPath, y, 0o600); err != nil {
		s.t.Fatal(err)
	}
}

// pinPorts writes the addresses the first start bound (port 0) into the
// config, so a restart listens where the clients already point.
func (s *Store) pinPorts(cfg broker.Config) {
	s.t.Helper()
	a := s.b.Addrs()
	pin := func(configured *string, bound string) {
		if *configured != "" && bound != "" {
			*configured = bound
		}
	}
	pin(&cfg.Listeners.TCP, a.TCP)
	pin(&cfg.Listeners.HTTP, a.HTTP)
	pin(&cfg.Listeners.Websocket, a.Websocket)
	pin(&cfg.Listeners.TLS, a.TLS)
	s.Addr, s.HTTP = cfg.Listeners.TCP, cfg.Listeners.HTTP
	s.writeConfig(cfg)
}

// spawnFirst starts the child the first time; when another test took one
// of its ports in the meantime it tries again on new ones.
func (s *Store) spawnFirst(cfg broker.Config) {
	s.t.Helper()
	for attempt := 1; ; attempt++ {
		err := s.trySpawn()
		if err == nil {
			return
		}
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			s.t.Fatal(err)
		}
		cfg.Listeners.TCP, cfg.Listeners.HTTP = testbroker.FreePort(s.t), testbroker.FreePort(s.t)
		s.Addr, s.HTTP = cfg.Listeners.TCP, cfg.Listeners.HTTP
		s.writeConfig(cfg)
	}
}

// Now reads the store's clock.
func (s *Store) Now() time.Time {
	s.clockMu.Lock()
	defer s.clockMu.Unlock()
	return s.now
}

// Advance moves the store's clock forward by d.
func (s *Store) Advance(d time.Duration) { s.Set(s.Now().Add(d)) }

// Set moves the store's clock to t (never backwards).
func (s *Store) Set(t time.Time) {
	s.clockMu.Lock()
	if t.Before(s.now) {
		s.clockMu.Unlock()
		s.t.Fatalf("storetest: clock moved back from %v to %v", s.now, t)
	}
	s.now = t
	s.clockMu.Unlock()
	s.writeClock()
}

// Jump sets the store's clock to t, forward or back: a box without a
// real-time clock that NTP sets, or a step back.
func (s *Store) Jump(t time.Time) {
	s.clockMu.Lock()
	s.now = t
	s.clockMu.Unlock()
	s.writeClock()
}

func (s *Store) writeClock() {
	tmp := s.clockPath + ".tmp"
	if err := os.WriteFile(tmp, []byte(s.Now().Format(time.RFC3339Nano)), 0o600); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Rename(tmp, s.clockPath); err != nil {
		s.t.Fatal(err)
	}
}

func (s *Store) up() {
	s.t.Helper()
	if s.o.Process {
		s.spawn()
		return
	}
	cfg, err := broker.LoadConfig(s.cfgPath)
	if err != nil {
		s.t.Fatal(err)
	}
	cfg.Now = s.Now
	cfg.ClockSource = clockSet // the test's clock; Wire may say otherwise
	cfg.Stderr = io.Discard    // the setup address: tests read Broker().SetupAddress()
	if s.o.Wire != nil {
		s.o.Wire(s, &cfg)
	}
	var logTo io.Writer = io.Discard
	if os.Getenv("STORETEST_LOG") != "" { // debugging a test: the broker's log on stderr
		logTo = os.Stderr
	}
	b, err := broker.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(logTo, nil)))
	if err != nil {
		s.t.Fatal(err)
	}
	s.b = b
}

// Restart stops the store cleanly and starts it again on the same data.
func (s *Store) Restart() {
	s.t.Helper()
	s.stop()
	s.up()
}

// Kill kills the child process with SIGKILL (Options.Process) and waits
// for it to be gone; Up starts it again.
func (s *Store) Kill() {
	s.t.Helper()
	if s.proc == nil {
		s.t.Fatal("storetest: Kill needs Options.Process")
	}
	_ = s.proc.Process.Kill()
	<-s.exit
	s.proc = nil
}

// Stop stops the store cleanly (the clock may then move while it is
// off); Up starts it again.
func (s *Store) Stop() { s.t.Helper(); s.stop() }

// Broker is the in-process broker, nil while it is down or when the store
// runs as a child process (Options.Process).
func (s *Store) Broker() *broker.Broker { return s.b }

// Up starts the store again after Kill or Stop.
func (s *Store) Up() { s.t.Helper(); s.up() }

func (s *Store) stop() {
	if s.b != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.b.Shutdown(ctx); err != nil {
			s.t.Errorf("storetest: shutdown: %v", err)
		}
		s.b = nil
	}
	if s.proc != nil {
		_ = s.proc.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exit:
		case <-time.After(30 * time.Second):
			_ = s.proc.Process.Kill()
			<-s.exit
		}
		s.proc = nil
	}
}

// clockSet is the test store's clock source: the clock a test moves
// counts as set from a time source (whatever this machine's kernel says
// of its own), unless Options.Wire gives another.
func clockSet() (timesync.Status, error) { return timesync.Status{Synced: true, Source: "test"}, nil }

// childEnv names the configuration a child process runs.
const childEnv = "STORETEST_BROKER_CONFIG"

// nofileEnv carries Options.MaxOpenFiles to the child.
const nofileEnv = "STORETEST_BROKER_NOFILE"

func (s *Store) spawn() {
	s.t.Helper()
	if err := s.trySpawn(); err != nil {
		s.t.Fatal(err)
	}
}

// trySpawn starts the child process and waits until it is ready.
func (s *Store) trySpawn() error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+s.cfgPath)
	if s.o.MaxOpenFiles > 0 {
		cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%d", nofileEnv, s.o.MaxOpenFiles))
	}
	out, err := os.OpenFile(filepath.Join(s.Dir, "broker.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		return err
	}
	s.proc, s.exit = cmd, make(chan error, 1)
	go func() { s.exit <- cmd.Wait(); out.Close() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + s.HTTP + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-s.exit:
			s.proc = nil
			log, _ := os.ReadFile(filepath.Join(s.Dir, "broker.log"))
			return fmt.Errorf("storetest: broker process exited: %v\n%s", err, log)
		default:
		}
		if time.Now().After(deadline) {
			return errors.New("storetest: broker process not ready within 30 s")
		}
		time.Sleep(20 * time.Millisecond) // polling readiness with a deadline
	}
}

// Main runs the broker when this process is a test store's child (see
// Options.Process) and exits; otherwise it returns at once. Call it first
// in TestMain.
func Main() {
	path := os.Getenv(childEnv)
	if path == "" {
		return
	}
	if err := child(path); err != nil {
		fmt.Fprintln(os.Stderr, "storetest child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func child(path string) error {
	if v := os.Getenv(nofileEnv); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%s: %w", nofileEnv, err)
		}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: n}); err != nil {
			return fmt.Errorf("set file descriptor limit: %w", err)
		}
	}
	cfg, err := broker.LoadConfig(path)
	if err != nil {
		return err
	}
	clock := filepath.Join(filepath.Dir(path), "clock")
	cfg.ClockSource = clockSet
	cfg.Now = func() time.Time {
		b, err := os.ReadFile(clock)
		if err != nil {
			return time.Time{}
		}
		t, err := time.Parse(time.RFC3339Nano, string(b))
		if err != nil {
			return time.Time{}
		}
		return t
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	b, err := broker.Start(ctx, cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return b.Shutdown(sctx)
}

// Msg is a message a client received (answers excluded).
type Msg struct {
	Topic   string
	Payload []byte
}

// Client is a paho MQTT 5 client of the test store.
type Client struct {
	s                  *Store
	ID                 string // client id
	Username           string // the device id or customer id it logged in as
	username, password string
	persistent         bool

	n    atomic.Int64
	mu   sync.Mutex
	c    *paho.Client
	wait map[string]chan []byte
	msgs []Msg
	subs []string
	more chan struct{} // closed and replaced at every message
}

// Connect logs a device in with client id dev.ID (or dev.ID:suffix).
func (s *Store) Connect(t testing.TB, dev Device, suffix string) *Client {
	t.Helper()
	return s.ConnectAs(t, dev.ID, "pw-"+dev.ID, suffix, false)
}

// ConnectAs logs in with any credentials. A persistent client keeps its
// session (Clean Start off, one hour expiry): what it is sent while away
// arrives when it reconnects.
func (s *Store) ConnectAs(t testing.TB, username, password, suffix string, persistent bool) *Client {
	t.Helper()
	c := &Client{s: s, ID: username, Username: username, username: username, password: password, persistent: persistent,
		wait: map[string]chan []byte{}, more: make(chan struct{})}
	if suffix != "" {
		c.ID += ":" + suffix
	}
	if err := c.dial(true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.close() })
	c.Subscribe(t, "reply/"+c.ID+"/#")
	return c
}

// TryConnectAs is ConnectAs that answers a refused login with the error
// instead of failing the test (a login that has ended, was revoked, …).
func (s *Store) TryConnectAs(t testing.TB, username, password, suffix string) (*Client, error) {
	t.Helper()
	c := &Client{s: s, ID: username, Username: username, username: username, password: password,
		wait: map[string]chan []byte{}, more: make(chan struct{})}
	if suffix != "" {
		c.ID += ":" + suffix
	}
	if err := c.dial(true); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.close() })
	c.Subscribe(t, "reply/"+c.ID+"/#")
	return c, nil
}

func (c *Client) dial(first bool) error {
	conn, err := net.Dial("tcp", c.s.Addr)
	if err != nil {
		return fmt.Errorf("dial %s: %w", c.s.Addr, err)
	}
	pc := paho.NewClient(paho.ClientConfig{
		Conn:          conn,
		PacketTimeout: 10 * time.Second,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			c.received(pr.Packet)
			return true, nil
		}},
		OnClientError: func(error) {},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A persistent client resumes its session on every later connect.
	cp := &paho.Connect{ClientID: c.ID, KeepAlive: 30, CleanStart: first || !c.persistent,
		Username: c.username, UsernameFlag: true, Password: []byte(c.password), PasswordFlag: true}
	if c.persistent {
		exp := uint32(3600)
		cp.Properties = &paho.ConnectProperties{SessionExpiryInterval: &exp}
	}
	if ca, err := pc.Connect(ctx, cp); err != nil {
		return fmt.Errorf("connect %s: %w (%+v)", c.ID, err, ca)
	}
	c.mu.Lock()
	c.c = pc
	c.mu.Unlock()
	return nil
}

func (c *Client) received(p *paho.Publish) {
	if strings.HasPrefix(p.Topic, "reply/") {
		if p.Properties != nil {
			c.mu.Lock()
			ch := c.wait[string(p.Properties.CorrelationData)]
			c.mu.Unlock()
			if ch != nil {
				select {
				case ch <- p.Payload:
				default:
				}
			}
		}
		return
	}
	c.mu.Lock()
	c.msgs = append(c.msgs, Msg{Topic: p.Topic, Payload: append([]byte(nil), p.Payload...)})
	close(c.more)
	c.more = make(chan struct{})
	c.mu.Unlock()
}

func (c *Client) close() {
	c.mu.Lock()
	pc := c.c
	c.mu.Unlock()
	if pc != nil {
		_ = pc.Disconnect(&paho.Disconnect{})
	}
}

// Close disconnects the client (a phone put away).
func (c *Client) Close() { c.close() }

// Reconnect connects again after the store restarted (a persistent client
// resumes its session; others subscribe again to what they had).
func (c *Client) Reconnect(t testing.TB) {
	t.Helper()
	c.close()
	if err := c.dial(false); err != nil {
		t.Fatal(err)
	}
	if !c.persistent {
		c.mu.Lock()
		subs := c.subs
		c.subs = nil
		c.mu.Unlock()
		for _, f := range subs {
			c.Subscribe(t, f)
		}
	}
}

// Subscribe subscribes at QoS 1 and fails the test when it is refused.
func (c *Client) Subscribe(t testing.TB, filter string) {
	t.Helper()
	if code := c.TrySubscribe(t, filter); code >= 0x80 {
		t.Fatalf("%s subscribe %s: refused with 0x%02x", c.ID, filter, code)
	}
}

// TrySubscribe subscribes and returns the SUBACK reason code (≥ 0x80: refused).
func (c *Client) TrySubscribe(t testing.TB, filter string) byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.mu.Lock()
	pc := c.c
	c.mu.Unlock()
	sa, err := pc.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}})
	if sa == nil || len(sa.Reasons) != 1 {
		t.Fatalf("%s subscribe %s: %v %+v", c.ID, filter, err, sa)
	}
	if sa.Reasons[0] < 0x80 {
		c.mu.Lock()
		c.subs = append(c.subs, filter)
		c.mu.Unlock()
	}
	return sa.Reasons[0]
}

// Publish sends a QoS 1 message (HQ's bridge publishing hq/…, say).
func (c *Client) Publish(t testing.TB, topic string, payload []byte) {
	t.Helper()
	c.PublishQoS(t, topic, payload, 1)
}

// PublishQoS sends a message at QoS qos (0 returns once it is written).
func (c *Client) PublishQoS(t testing.TB, topic string, payload []byte, qos byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.mu.Lock()
	pc := c.c
	c.mu.Unlock()
	if _, err := pc.Publish(ctx, &paho.Publish{Topic: topic, QoS: qos, Payload: payload}); err != nil {
		t.Fatalf("%s publish %s: %v", c.ID, topic, err)
	}
}

// Answer is a service's answer.
type Answer struct {
	OK    bool       `json:"ok"`
	Error *svc.Error `json:"error"`
	Raw   []byte     `json:"-"`
}

// Decode decodes the answer's fields into v.
func (a Answer) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(a.Raw, v); err != nil {
		t.Fatalf("decode %s: %v", a.Raw, err)
	}
}

// Reason is the error's details.reason ("" when there is none).
func (a Answer) Reason() string {
	var x struct {
		Error struct {
			Details struct {
				Reason string `json:"reason"`
			} `json:"details"`
		} `json:"error"`
	}
	_ = json.Unmarshal(a.Raw, &x)
	return x.Error.Details.Reason
}

func (a Answer) String() string { return string(a.Raw) }

// Call sends svc/{service}/{op} with body's fields (a JSON object, without
// id and v) under a fresh request id and waits for the answer.
func (c *Client) Call(t testing.TB, service, op, body string) Answer {
	t.Helper()
	return c.CallID(t, service, op, fmt.Sprintf("%s-r%d", strings.ReplaceAll(c.ID, ":", "."), c.n.Add(1)), body)
}

// CallID is Call with the request id given (to repeat a request).
func (c *Client) CallID(t testing.TB, service, op, reqID, body string) Answer {
	t.Helper()
	a, err := c.TryCall(service, op, reqID, body)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TryCall is CallID returning its failure.
func (c *Client) TryCall(service, op, reqID, body string) (Answer, error) {
	corr := fmt.Sprint(c.n.Add(1))
	payload := fmt.Sprintf(`{"id":%q,"v":1`, reqID)
	if body = strings.TrimSpace(body); body != "" && body != "{}" {
		payload += "," + body[1:]
	} else {
		payload += "}"
	}
	ch := make(chan []byte, 1)
	c.mu.Lock()
	c.wait[corr] = ch
	pc := c.c
	c.mu.Unlock()
	defer func() { c.mu.Lock(); delete(c.wait, corr); c.mu.Unlock() }()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, err := pc.Publish(ctx, &paho.Publish{Topic: "svc/" + service + "/" + op, QoS: 1, Payload: []byte(payload),
		Properties: &paho.PublishProperties{ResponseTopic: "reply/" + c.ID + "/r", CorrelationData: []byte(corr)}})
	if err != nil {
		return Answer{}, fmt.Errorf("%s publish %s/%s: %w", c.ID, service, op, err)
	}
	select {
	case raw := <-ch:
		a := Answer{Raw: raw}
		if err := json.Unmarshal(raw, &a); err != nil {
			return a, fmt.Errorf("answer to %s/%s is not JSON: %w: %s", service, op, err, raw)
		}
		return a, nil
	case <-ctx.Done():
		return Answer{}, fmt.Errorf("%s: no answer to %s/%s %s within 15 s", c.ID, service, op, payload)
	}
}

// OK asserts a successful answer.
func OK(t testing.TB, a Answer) Answer {
	t.Helper()
	if !a.OK {
		t.Fatalf("want ok, got %s", a.Raw)
	}
	return a
}

// Fails asserts an error answer with code and (when not "") reason.
func Fails(t testing.TB, a Answer, code, reason string) Answer {
	t.Helper()
	if a.OK || a.Error == nil || a.Error.Code != code || (reason != "" && a.Reason() != reason) {
		t.Fatalf("want error %s/%s, got %s", code, reason, a.Raw)
	}
	return a
}

// Msgs returns the messages received so far that match pred.
func (c *Client) Msgs(pred func(Msg) bool) []Msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Msg
	for _, m := range c.msgs {
		if pred == nil || pred(m) {
			out = append(out, m)
		}
	}
	return out
}

// ErrTimeout is what WaitFor reports when nothing matched in time.
var ErrTimeout = errors.New("storetest: nothing matched within the deadline")

// WaitFor waits (10 s at most) until n messages matching pred have arrived
// and returns them.
func (c *Client) WaitFor(t testing.TB, n int, pred func(Msg) bool) []Msg {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		more := c.more
		c.mu.Unlock()
		if got := c.Msgs(pred); len(got) >= n {
			return got
		}
		select {
		case <-more:
		case <-deadline:
			t.Fatalf("%s: %d matching messages within 10 s, got %d; all: %s", c.ID, n, len(c.Msgs(pred)), c.dump())
			return nil
		}
	}
}

func (c *Client) dump() string {
	var b strings.Builder
	for _, m := range c.Msgs(nil) {
		fmt.Fprintf(&b, "\n  %s %s", m.Topic, m.Payload)
	}
	return b.String()
}

// Topic matches messages on one topic.
func Topic(topic string) func(Msg) bool { return func(m Msg) bool { return m.Topic == topic } }

// CustomerLogin does what a customer's phone does after scanning the code a
// chat tablet or staff device (by) shows: it asks chat/session for
// customer ("" = a new customer), redeems the token at the HTTP listener
// and connects with the login it gets. It returns the customer's client.
func (s *Store) CustomerLogin(t testing.TB, by *Client, customer, suffix string, persistent bool) *Client {
	t.Helper()
	username, password := s.CustomerCredentials(t, by, customer)
	return s.ConnectAs(t, username, password, suffix, persistent)
}

// CustomerCredentials is CustomerLogin without the connection: the
// customer's username (its customer id) and password, for a client of
// another kind (the device SDK, a browser page).
func (s *Store) CustomerCredentials(t testing.TB, by *Client, customer string) (username, password string) {
	t.Helper()
	body := "{}"
	if customer != "" {
		body = fmt.Sprintf(`{"customer":%q}`, customer)
	}
	var sess struct {
		URL string `json:"url"`
	}
	OK(t, by.Call(t, "chat", "session", body)).Decode(t, &sess)
	_, token, ok := strings.Cut(sess.URL, "?t=")
	if !ok {
		t.Fatalf("session URL %q has no token", sess.URL)
	}
	req, _ := json.Marshal(map[string]string{"token": token})
	resp, err := http.Post("http://"+s.HTTP+"/chat/redeem", "application/json", strings.NewReader(string(req)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var l struct{ Customer, Username, Password string }
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("redeem: %d %v", resp.StatusCode, err)
	}
	return l.Username, l.Password
}

// CounterCustomerAsks is a new customer who came in through the printed
// counter code (POST /chat/start) asking q from her phone; it returns the
// automatic replies she got, one per line, as staff (by) read them.
func (s *Store) CounterCustomerAsks(t testing.TB, by *Client, q string) string {
	t.Helper()
	resp, err := http.Post("http://"+s.HTTP+"/chat/start", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	var l struct{ Username, Password string }
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /chat/start: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	c := s.ConnectAs(t, l.Username, l.Password, "phone", false)
	var open struct{ Conversation string }
	OK(t, c.Call(t, "chat", "open", `{}`)).Decode(t, &open)
	OK(t, c.Call(t, "chat", "send", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":%q}`, open.Conversation, q)))
	var h struct {
		Messages []struct {
			Auto bool
			Text string
		}
	}
	OK(t, by.Call(t, "chat", "history", fmt.Sprintf(`{"conversation":%q}`, open.Conversation))).Decode(t, &h)
	var out []string
	for _, m := range h.Messages {
		if m.Auto {
			out = append(out, m.Text)
		}
	}
	return strings.Join(out, "\n")
}
