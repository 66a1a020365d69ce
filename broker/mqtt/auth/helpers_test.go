package auth

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"golang.org/x/crypto/bcrypt"

	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/internal/testkit/mqtttest"
)

// fakeClock is the hook's clock in tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// logSink is a slog.Handler that keeps the records, to assert on what the
// hook logs (and does not log).
type logSink struct {
	mu    sync.Mutex
	lines []string
}

func (s *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (s *logSink) WithAttrs([]slog.Attr) slog.Handler       { return s }
func (s *logSink) WithGroup(string) slog.Handler            { return s }
func (s *logSink) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	s.mu.Lock()
	s.lines = append(s.lines, b.String())
	s.mu.Unlock()
	return nil
}

func (s *logSink) count(substr string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, l := range s.lines {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}

func (s *logSink) all() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.lines, "\n")
}

// A test device: one per role, with the password "pw-<id>".
type testDevice struct{ id, role, clientID string }

var roleDevices = []testDevice{
	{"kiosk-01", "kiosk", "kiosk-01:screen"},
	{"tab-01", "chat-tablet", "tab-01"},
	{"cam-01", "camera", "cam-01"},
	{"staff-anna", "staff", "staff-anna:console-2"},
	{"owner", "admin", "owner"},
	{"hq-bridge", "cloud", "hq-bridge"},
}

var (
	fastHashOnce sync.Once
	fastHashes   = map[string]string{}
)

// devicesYAML is a registry with the role devices (bcrypt at the minimum cost
// to keep the tests fast) plus extra YAML entries.
func devicesYAML(t testing.TB, extra string) []byte {
	t.Helper()
	fastHashOnce.Do(func() {
		for _, d := range roleDevices {
			h, err := bcrypt.GenerateFromPassword([]byte("pw-"+d.id), bcrypt.MinCost)
			if err != nil {
				panic(err)
			}
			fastHashes[d.id] = string(h)
		}
	})
	var b strings.Builder
	b.WriteString("devices:\n")
	for _, d := range roleDevices {
		fmt.Fprintf(&b, "  - id: %s\n    role: %s\n    password_hash: %q\n", d.id, d.role, fastHashes[d.id])
	}
	b.WriteString(extra)
	return []byte(b.String())
}

type testBroker struct {
	srv   *mqtttest.Server
	hook  *Hook
	addr  string
	clock *fakeClock
	logs  *logSink
}

// close stops the server (once; later calls do nothing).
func (b *testBroker) close(t *testing.T) {
	if err := b.srv.Close(); err != nil {
		t.Errorf("close broker: %v", err)
	}
}

// brokerCfg is what a test may change before the broker serves: the hook's
// options and extra setup (more hooks) after the auth hook is added.
type brokerCfg struct {
	Options
	setup func(*testBroker)
}

type brokerOpt func(*brokerCfg)

// startBroker runs an in-process mochi server with the auth hook on
// 127.0.0.1:0 (TLS when serverTLS is set).
func startBroker(t *testing.T, devices []byte, serverTLS *tls.Config, mods ...brokerOpt) *testBroker {
	t.Helper()
	b := &testBroker{clock: newFakeClock(), logs: &logSink{}}
	b.srv = mqtttest.New(t, mqtttest.Options{InlineClient: true, TLS: serverTLS})
	cfg := brokerCfg{Options: Options{
		Server:  b.srv.Server,
		Devices: devices,
		ACL:     configs.ACL,
		Now:     b.clock.Now,
		Log:     slog.New(b.logs),
	}}
	for _, m := range mods {
		m(&cfg)
	}
	h, err := NewHook(cfg.Options)
	if err != nil {
		t.Fatalf("NewHook: %v", err)
	}
	b.hook = h
	b.srv.Add(t, h)
	if cfg.setup != nil {
		cfg.setup(b)
	}
	b.srv.Serve(t)
	b.addr = b.srv.Addr
	return b
}

type testClient struct {
	c    *paho.Client
	id   string
	msgs chan *paho.Publish
}

type connectOpts struct {
	clientID, username, password string
	will                         *paho.WillMessage
	tls                          *tls.Config
	cleanStart                   bool
	sessionExpiry                uint32
}

// connect opens a paho (MQTT 5) connection. It returns the CONNACK and
// Connect's error; on success the client is disconnected at the end of the test.
func (b *testBroker) connect(t *testing.T, o connectOpts) (*testClient, *paho.Connack, error) {
	t.Helper()
	var conn net.Conn
	var err error
	if o.tls != nil {
		var tc *tls.Conn
		tc, err = tls.Dial("tcp", b.addr, o.tls)
		if err == nil {
			conn = packets.NewThreadSafeConn(tc)
		}
	} else {
		conn, err = net.Dial("tcp", b.addr)
	}
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	tc := &testClient{id: o.clientID, msgs: make(chan *paho.Publish, 256)}
	tc.c = paho.NewClient(paho.ClientConfig{
		Conn:          conn,
		PacketTimeout: 20 * time.Second,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) {
				select {
				case tc.msgs <- pr.Packet:
				default: // a test that does not read messages
				}
				return true, nil
			},
		},
		OnClientError: func(error) {},
	})
	cp := &paho.Connect{
		ClientID:    o.clientID,
		KeepAlive:   30,
		CleanStart:  o.cleanStart || o.sessionExpiry == 0,
		WillMessage: o.will,
	}
	if o.sessionExpiry > 0 {
		cp.Properties = &paho.ConnectProperties{SessionExpiryInterval: &o.sessionExpiry}
	}
	if o.username != "" {
		cp.Username, cp.UsernameFlag = o.username, true
	}
	if o.password != "" {
		cp.Password, cp.PasswordFlag = []byte(o.password), true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ca, err := tc.c.Connect(ctx, cp)
	if err == nil {
		t.Cleanup(func() { _ = tc.c.Disconnect(&paho.Disconnect{}) })
	}
	return tc, ca, err
}

// login connects a role device with its password and fails the test if it
// cannot.
func (b *testBroker) login(t *testing.T, d testDevice) *testClient {
	t.Helper()
	c, ca, err := b.connect(t, connectOpts{clientID: d.clientID, username: d.id, password: "pw-" + d.id})
	if err != nil {
		t.Fatalf("login %s: %v (connack %+v)", d.id, err, ca)
	}
	return c
}

// connackCode connects and returns the CONNACK reason code (0 = accepted).
func (b *testBroker) connackCode(t *testing.T, o connectOpts) byte {
	t.Helper()
	_, ca, err := b.connect(t, o)
	if ca == nil {
		t.Fatalf("connect %+v: no CONNACK: %v", o, err)
	}
	return ca.ReasonCode
}

// publish sends a QoS 1 message and returns the PUBACK reason code.
func (c *testClient) publish(t *testing.T, topic string, retain bool) byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pr, err := c.c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Retain: retain, Payload: []byte("x")})
	if pr == nil {
		t.Fatalf("%s publish %q: no PUBACK: %v", c.id, topic, err)
	}
	return pr.ReasonCode
}

// subscribe returns the SUBACK reason code for one filter (QoS 1).
func (c *testClient) subscribe(t *testing.T, filter string) byte {
	t.Helper()
	return c.subscribeQoS(t, filter, 1)
}

func (c *testClient) subscribeQoS(t *testing.T, filter string, qos byte) byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sa, err := c.c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: qos}}})
	if sa == nil || len(sa.Reasons) != 1 {
		t.Fatalf("%s subscribe %q: no SUBACK: %v", c.id, filter, err)
	}
	return sa.Reasons[0]
}

func (c *testClient) unsubscribe(t *testing.T, filter string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.c.Unsubscribe(ctx, &paho.Unsubscribe{Topics: []string{filter}}); err != nil {
		t.Fatalf("%s unsubscribe %q: %v", c.id, filter, err)
	}
}

// next waits for the next message, failing after a deadline.
func (c *testClient) next(t *testing.T) *paho.Publish {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no message within 5 s", c.id)
		return nil
	}
}

// poll waits until cond is true or the deadline passes.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
