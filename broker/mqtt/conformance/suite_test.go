package conformance

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"gopkg.in/yaml.v3"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

// labRole is the ACL role of the suite's devices: the lab/ topics, and
// $lab/ for the `$` topic checks (a grant by name, so that the broker's topic
// matching, not the ACL, decides what a wildcard subscription receives).
const labRole = "conformance"

// wait bounds every wait for something that must happen.
const wait = 10 * time.Second

// startStore starts a store whose registered devices (role labRole) are the
// given ids; each logs in with password "pw-"+id and a client id of the id
// or id:suffix.
func startStore(t *testing.T, devices []string, adjust func(*broker.Config)) *storetest.Store {
	t.Helper()
	var acl struct {
		Roles map[string]map[string]any `yaml:"roles"`
	}
	if err := yaml.Unmarshal(configs.ACL, &acl); err != nil {
		t.Fatal(err)
	}
	acl.Roles[labRole] = map[string]any{
		"description": "MQTT conformance suite",
		"publish":     []string{"lab/#", "$lab/#"},
		"retain":      []string{"lab/#", "$lab/#"},
		"subscribe":   []string{"lab/#", "$lab/#", "#"},
	}
	b, err := yaml.Marshal(acl)
	if err != nil {
		t.Fatal(err)
	}
	aclPath := filepath.Join(t.TempDir(), "acl.yaml")
	if err := os.WriteFile(aclPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	devs := make([]storetest.Device, len(devices))
	for i, id := range devices {
		devs[i] = storetest.Device{ID: id, Role: labRole}
	}
	return storetest.Start(t, storetest.Options{Devices: devs, Config: func(c *broker.Config) {
		c.Auth.ACLFile = aclPath
		c.Limits.ConnectRatePerMinute = 0 // every client of the suite comes from 127.0.0.1
		if adjust != nil {
			adjust(c)
		}
	}})
}

// client is a paho MQTT 5 client that keeps what it receives.
type client struct {
	t       testing.TB
	ID      string
	s       *storetest.Store
	Connack *paho.Connack
	pc      *paho.Client
	conn    net.Conn

	mu   sync.Mutex
	msgs []*paho.Publish
	more chan struct{} // closed and replaced at every message
	disc *paho.Disconnect
}

// opts are the CONNECT settings of a client; the zero value is a clean
// session with Keep Alive 30 and no expiry.
type opts struct {
	Resume            bool // Clean Start 0
	SessionExpiry     uint32
	ReceiveMaximum    uint16
	TopicAliasMaximum uint16
	Will              *paho.WillMessage
	WillProps         *paho.WillProperties
	// NoProblemInfo sends Request Problem Information 0, what paho.golang
	// sends unless told otherwise. The suite's clients ask for 1 (the
	// protocol's default) everywhere else, so that each test checks its own
	// statement; TestMQTT_3_1_2_29_UserPropertiesWithoutProblemInformation
	// checks this one.
	NoProblemInfo bool
}

// connect logs clientID (device id or id:suffix) in; the CONNACK must accept it.
func connect(t testing.TB, s *storetest.Store, clientID string, o opts) *client {
	t.Helper()
	c := &client{t: t, ID: clientID, s: s, more: make(chan struct{})}
	conn, err := net.DialTimeout("tcp", s.Addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	c.conn = conn
	c.pc = paho.NewClient(paho.ClientConfig{
		Conn:          conn,
		PacketTimeout: wait,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			c.mu.Lock()
			c.msgs = append(c.msgs, pr.Packet)
			close(c.more)
			c.more = make(chan struct{})
			c.mu.Unlock()
			return true, nil
		}},
		OnServerDisconnect: func(d *paho.Disconnect) {
			c.mu.Lock()
			c.disc = d
			c.mu.Unlock()
		},
		OnClientError: func(error) {},
	})
	user, _, _ := strings.Cut(clientID, ":")
	cp := &paho.Connect{ClientID: clientID, KeepAlive: 30, CleanStart: !o.Resume,
		Username: user, UsernameFlag: true, Password: []byte("pw-" + user), PasswordFlag: true,
		Properties:  &paho.ConnectProperties{RequestProblemInfo: !o.NoProblemInfo},
		WillMessage: o.Will, WillProperties: o.WillProps}
	if o.SessionExpiry > 0 {
		cp.Properties.SessionExpiryInterval = &o.SessionExpiry
	}
	if o.ReceiveMaximum > 0 {
		cp.Properties.ReceiveMaximum = &o.ReceiveMaximum
	}
	if o.TopicAliasMaximum > 0 {
		cp.Properties.TopicAliasMaximum = &o.TopicAliasMaximum
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ca, err := c.pc.Connect(ctx, cp)
	if err != nil {
		conn.Close()
		t.Fatalf("connect %s: %v (%+v)", clientID, err, ca)
	}
	c.Connack = ca
	t.Cleanup(c.disconnect)
	return c
}

// subscribe sends one SUBSCRIBE and returns its SUBACK, which must grant
// every filter.
func (c *client) subscribe(subs ...paho.SubscribeOptions) *paho.Suback {
	c.t.Helper()
	return c.subscribeWith(nil, subs...)
}

func (c *client) subscribeWith(props *paho.SubscribeProperties, subs ...paho.SubscribeOptions) *paho.Suback {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	sa, err := c.pc.Subscribe(ctx, &paho.Subscribe{Subscriptions: subs, Properties: props})
	if err != nil || sa == nil || len(sa.Reasons) != len(subs) {
		c.t.Fatalf("%s subscribe %+v: %v %+v", c.ID, subs, err, sa)
	}
	for i, r := range sa.Reasons {
		if r >= 0x80 {
			c.t.Fatalf("%s subscribe %s: refused with 0x%02x", c.ID, subs[i].Topic, r)
		}
	}
	return sa
}

// sub is a subscription to filter at QoS qos.
func sub(filter string, qos byte) paho.SubscribeOptions {
	return paho.SubscribeOptions{Topic: filter, QoS: qos}
}

// publish sends p and waits for its PUBACK or PUBCOMP (QoS 1, 2), which must
// not refuse it.
func (c *client) publish(p *paho.Publish) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	r, err := c.pc.Publish(ctx, p)
	if err != nil {
		c.t.Fatalf("%s publish %s: %v", c.ID, p.Topic, err)
	}
	if r != nil && r.ReasonCode >= 0x80 {
		c.t.Fatalf("%s publish %s: refused with 0x%02x", c.ID, p.Topic, r.ReasonCode)
	}
}

// send publishes payload on topic at qos.
func (c *client) send(topic string, qos byte, payload string) {
	c.t.Helper()
	c.publish(&paho.Publish{Topic: topic, QoS: qos, Payload: []byte(payload)})
}

// received returns the messages so far.
func (c *client) received() []*paho.Publish {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*paho.Publish(nil), c.msgs...)
}

// waitFor waits until a message matching pred has arrived and returns the
// messages received up to and including the first one that matched.
func (c *client) waitFor(what string, pred func(*paho.Publish) bool) []*paho.Publish {
	c.t.Helper()
	deadline := time.After(wait)
	for {
		c.mu.Lock()
		more := c.more
		msgs := append([]*paho.Publish(nil), c.msgs...)
		c.mu.Unlock()
		for i, m := range msgs {
			if pred(m) {
				return msgs[:i+1]
			}
		}
		select {
		case <-more:
		case <-deadline:
			c.t.Fatalf("%s: no %s within %v; received: %s", c.ID, what, wait, dump(msgs))
			return nil
		}
	}
}

// waitPayload waits for a message with this payload.
func (c *client) waitPayload(payload string) []*paho.Publish {
	c.t.Helper()
	return c.waitFor(fmt.Sprintf("message %q", payload), func(p *paho.Publish) bool { return string(p.Payload) == payload })
}

func dump(msgs []*paho.Publish) string {
	if len(msgs) == 0 {
		return "nothing"
	}
	var b strings.Builder
	for _, m := range msgs {
		fmt.Fprintf(&b, "\n  %s q%d r%v %q", m.Topic, m.QoS, m.Retain, m.Payload)
	}
	return b.String()
}

// drop closes the TCP connection without a DISCONNECT, as a device losing
// its Wi-Fi does.
func (c *client) drop() { c.conn.Close() }

// disconnect sends a normal DISCONNECT (reason 0x00).
// It returns once the server has closed the connection too: a reconnect
// that reaches the server before it reads the DISCONNECT takes over the
// open session, which is correct but not what the tests mean to check.
func (c *client) disconnect() {
	_ = c.pc.Disconnect(&paho.Disconnect{ReasonCode: 0})
	select {
	case <-c.pc.Done():
	case <-time.After(wait):
	}
	b := c.s.Broker()
	if b == nil {
		return
	}
	deadline := time.Now().Add(wait)
	for {
		cl, ok := b.Server().Clients.Get(c.ID)
		if !ok || cl.Closed() {
			return
		}
		if time.Now().After(deadline) {
			c.t.Errorf("%s: the server still holds the connection %v after its DISCONNECT", c.ID, wait)
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// needTool returns the path of a peer program. Without it the test is
// skipped, or fails under CI, where a missing peer must not pass silently.
func needTool(t testing.TB, name, debPackage string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing: install the Debian package %s", name, debPackage)
		}
		t.Skipf("%s is missing (Debian package %s)", name, debPackage)
	}
	return p
}

// mosquittoArgs are the connection arguments of the mosquitto clients for
// device id with client id clientID.
func mosquittoArgs(t testing.TB, s *storetest.Store, clientID string) []string {
	t.Helper()
	host, port, err := net.SplitHostPort(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	user, _, _ := strings.Cut(clientID, ":")
	return []string{"-h", host, "-p", port, "-i", clientID, "-u", user, "-P", "pw-" + user}
}

// runTool runs a peer program to its end (20 s at most) and returns its
// combined output.
func runTool(t testing.TB, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*wait)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// lineReader streams the output lines of a running peer program.
type lineReader struct {
	t     testing.TB
	lines chan string
	seen  []string
}

// startTool starts a peer program that keeps running; it is killed when the
// test ends. Its standard output is line buffered (stdbuf), as on a
// terminal: a program writing to a pipe would hold its lines back.
func startTool(t testing.TB, bin string, args ...string) *lineReader {
	t.Helper()
	stdbuf := needTool(t, "stdbuf", "coreutils")
	cmd := exec.Command(stdbuf, append([]string{"-oL", bin}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lr := &lineReader{t: t, lines: make(chan string, 1024)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lr.lines <- sc.Text()
		}
		close(lr.lines)
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return lr
}

// until reads lines until one contains s and returns it.
func (lr *lineReader) until(s string) string {
	lr.t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case l, ok := <-lr.lines:
			if !ok {
				lr.t.Fatalf("output ended before %q:\n%s", s, strings.Join(lr.seen, "\n"))
			}
			lr.seen = append(lr.seen, l)
			if strings.Contains(l, s) {
				return l
			}
		case <-deadline:
			lr.t.Fatalf("no %q within %v:\n%s", s, wait, strings.Join(lr.seen, "\n"))
		}
	}
}
