package main

import (
	"context"
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
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/internal/testkit/testbroker"
)

// device is a registry entry used by these tests.
type device struct{ id, role, password string }

var (
	kiosk  = device{"kiosk-01", "kiosk", "kiosk-pass-01"}
	anna   = device{"staff-anna", "staff", "anna-pass-01"}
	admin  = device{"admin-1", "admin", "admin-pass-01"}
	kiosk2 = device{"kiosk-02", "kiosk", "kiosk-pass-02"}
)

var (
	hashMu sync.Mutex
	hashes = map[string]string{}
)

func registry(t *testing.T, devs ...device) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("devices:\n")
	for _, d := range devs {
		hashMu.Lock()
		h, ok := hashes[d.password]
		if !ok {
			var err error
			if h, err = auth.HashPassword(d.password); err != nil {
				t.Fatal(err)
			}
			hashes[d.password] = h
		}
		hashMu.Unlock()
		fmt.Fprintf(&b, "  - id: %s\n    role: %s\n    password_hash: %q\n", d.id, d.role, h)
	}
	return b.String()
}

// needTool finds a foreign peer; under CI a missing one is a failure naming
// the Debian package, never a silent skip.
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		msg := fmt.Sprintf("%s not found: install the Debian package %s (make deps)", name, pkg)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

func startDaemon(t *testing.T, extra string, devs ...device) *testbroker.Proc {
	t.Helper()
	return testbroker.Start(t, testbroker.Options{
		Dir: t.TempDir(), TCP: testbroker.FreePort(t), HTTP: testbroker.FreePort(t),
		Devices: registry(t, devs...), Extra: extra,
	})
}

type conn struct {
	*paho.Client
	ack  *paho.Connack
	mu   sync.Mutex
	msgs []*paho.Publish
}

func (c *conn) got() []*paho.Publish {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*paho.Publish(nil), c.msgs...)
}

// login connects a v5 client as d; will, when set, is a retained QoS 1 Last Will.
func login(t *testing.T, addr string, d device, clientID string, will *paho.WillMessage) (*conn, error) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	c := &conn{}
	c.Client = paho.NewClient(paho.ClientConfig{Conn: nc, ClientID: clientID,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			c.mu.Lock()
			c.msgs = append(c.msgs, pr.Packet)
			c.mu.Unlock()
			return true, nil
		}}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.ack, err = c.Connect(ctx, &paho.Connect{ClientID: clientID, KeepAlive: 30, CleanStart: true,
		Username: d.id, UsernameFlag: d.id != "", Password: []byte(d.password), PasswordFlag: d.password != "",
		WillMessage: will})
	t.Cleanup(func() { nc.Close() })
	if err != nil {
		if c.ack != nil {
			return c, fmt.Errorf("connack 0x%02x: %w", c.ack.ReasonCode, err)
		}
		return nil, err
	}
	return c, nil
}

func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// mosquitto_pub and mosquitto_sub, MQTT 3.1.1 and 5, talk to the broker and
// to a paho client through it.
func TestForeignClientsV311AndV5(t *testing.T) {
	pub := needTool(t, "mosquitto_pub", "mosquitto-clients")
	sub := needTool(t, "mosquitto_sub", "mosquitto-clients")
	p := startDaemon(t, "", kiosk, anna)
	host, port, _ := net.SplitHostPort(p.Opts.TCP)

	watcher, err := login(t, p.Opts.TCP, anna, "staff-anna:watch", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watcher.Subscribe(context.Background(), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "devices/+/status", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}

	for _, v := range []string{"mqttv311", "mqttv5"} {
		t.Run(v, func(t *testing.T) {
			payload := `{"v":1,"state":"online","via":"` + v + `"}`
			out, err := exec.Command(pub, "-V", v, "-h", host, "-p", port, "-i", kiosk.id, "-u", kiosk.id, "-P", kiosk.password,
				"-q", "1", "-r", "-t", "devices/kiosk-01/status", "-m", payload).CombinedOutput()
			if err != nil {
				t.Fatalf("mosquitto_pub: %v\n%s", err, out)
			}
			// A foreign subscriber gets the retained status...
			out, err = exec.Command(sub, "-V", v, "-h", host, "-p", port, "-i", "staff-anna:"+v, "-u", anna.id, "-P", anna.password,
				"-q", "1", "-t", "devices/+/status", "-C", "1", "-W", "10").CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != payload {
				t.Fatalf("mosquitto_sub: %v, got %q want %q", err, out, payload)
			}
			// ...and so does the paho client, live.
			poll(t, "paho to see "+v, func() bool {
				for _, m := range watcher.got() {
					if string(m.Payload) == payload {
						return true
					}
				}
				return false
			})
		})
	}

	// Wrong password and a topic outside the grant, as a foreign client sees them.
	out, err := exec.Command(pub, "-V", "mqttv311", "-h", host, "-p", port, "-i", kiosk.id, "-u", kiosk.id, "-P", "wrong",
		"-t", "devices/kiosk-01/status", "-m", "x").CombinedOutput()
	if err == nil || !strings.Contains(strings.ToLower(string(out)), "not authori") {
		t.Fatalf("wrong password: err=%v out=%q, want a refusal naming authorisation", err, out)
	}
	out, err = exec.Command(sub, "-V", "mqttv5", "-h", host, "-p", port, "-i", kiosk.id, "-u", kiosk.id, "-P", kiosk.password,
		"-t", "#", "-C", "1", "-W", "3").CombinedOutput()
	if !strings.Contains(string(out), "denied") {
		t.Fatalf("kiosk subscribing to #: err=%v out=%q, want not authorised", err, out)
	}
}

// SIGTERM: connections close, Last Wills are delivered and stored, the process
// exits 0; SIGHUP: a device added to the registry can log in while existing
// connections stay up.
func TestSignals(t *testing.T) {
	p := startDaemon(t, "", kiosk, anna, admin)
	watcher, err := login(t, p.Opts.TCP, anna, anna.id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watcher.Subscribe(context.Background(), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "devices/+/status", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}

	// SIGHUP: kiosk-02 is unknown, then registered.
	if _, err := login(t, p.Opts.TCP, kiosk2, kiosk2.id, nil); err == nil {
		t.Fatal("unregistered kiosk-02 logged in")
	}
	if err := os.WriteFile(filepath.Join(p.Opts.Dir, "devices.yaml"), []byte(registry(t, kiosk, anna, admin, kiosk2)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var k2 *conn
	poll(t, "kiosk-02 to log in after SIGHUP", func() bool {
		k2, err = login(t, p.Opts.TCP, kiosk2, kiosk2.id, nil)
		return err == nil
	})
	if _, err := k2.Publish(context.Background(), &paho.Publish{Topic: "devices/kiosk-02/status", QoS: 1, Payload: []byte("online")}); err != nil {
		t.Fatal(err)
	}
	poll(t, "the connection made before SIGHUP to still receive", func() bool { return len(watcher.got()) > 0 })

	// SIGTERM with a kiosk whose Last Will is a retained "offline".
	will := &paho.WillMessage{Topic: "devices/kiosk-01/status", QoS: 1, Retain: true, Payload: []byte(`{"v":1,"state":"offline"}`)}
	if _, err := login(t, p.Opts.TCP, kiosk, kiosk.id, will); err != nil {
		t.Fatal(err)
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	st, err := p.Wait(20 * time.Second)
	if err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	if st.ExitCode() != 0 {
		t.Fatalf("exit code %d after SIGTERM\n%s", st.ExitCode(), p.Log())
	}
	p2 := testbroker.Start(t, p.Opts)
	a, err := login(t, p2.Opts.TCP, admin, admin.id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Subscribe(context.Background(), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "devices/kiosk-01/status", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	poll(t, "the kiosk's Last Will, retained across the restart", func() bool {
		for _, m := range a.got() {
			if string(m.Payload) == `{"v":1,"state":"offline"}` {
				return true
			}
		}
		return false
	})
}

// Each connection limit gives the documented answer.
func TestConnectionLimits(t *testing.T) {
	p := startDaemon(t, "limits:\n  max_connections: 2\n  max_packet_size: 2048\n  connect_rate_per_minute: 0\n", kiosk, anna, admin)

	a, err := login(t, p.Opts.TCP, anna, "staff-anna:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.ack.Properties.MaximumPacketSize; got == nil || *got != 2048 {
		t.Fatalf("CONNACK Maximum Packet Size = %v, want 2048", got)
	}
	if _, err := login(t, p.Opts.TCP, anna, "staff-anna:2", nil); err != nil {
		t.Fatal(err)
	}
	c, err := login(t, p.Opts.TCP, anna, "staff-anna:3", nil)
	if err == nil || c == nil || c.ack.ReasonCode != 0x89 {
		t.Fatalf("third connection with max_connections 2: %v, want CONNACK 0x89 server busy", err)
	}

	// An oversized packet closes that connection and nothing else.
	nc, err := net.Dial("tcp", p.Opts.TCP)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// A PUBLISH header announcing 4000 bytes: refused before it is read.
	if _, err := nc.Write([]byte{0x30, 0xa0, 0x1f}); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(nc); err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("oversized packet: connection not closed: %v", err)
	}
	if _, err := a.Publish(context.Background(), &paho.Publish{Topic: "devices/staff-anna/status", QoS: 1, Payload: []byte("ok")}); err != nil {
		t.Fatalf("other clients affected: %v", err)
	}
}

// The HTTP endpoints answer, and /metrics counts what happened.
func TestHTTPEndpoints(t *testing.T) {
	p := startDaemon(t, "", anna)
	a, err := login(t, p.Opts.TCP, anna, anna.id, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := a.Publish(context.Background(), &paho.Publish{Topic: "devices/staff-anna/telemetry", QoS: 1, Payload: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = login(t, p.Opts.TCP, device{"staff-anna", "", "nope"}, "staff-anna:x", nil)
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + p.Opts.HTTP + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("/healthz %d", code)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("/readyz %d", code)
	}
	var body string
	// The broker counts a packet after writing it, which can be after the
	// client has read it: poll until both have been counted.
	poll(t, "metrics to count 3 QoS 1 publishes and the refused login", func() bool {
		_, body = get("/metrics")
		return strings.Contains(body, `storeedge_messages_received_total{qos="1"} 3`) &&
			strings.Contains(body, `storeedge_connect_refused_total{reason="0x86"} 1`)
	})
	for _, want := range []string{"storeedge_connections 1", "storeedge_store_commit_seconds_bucket", "storeedge_store_bytes", `reason="0x86"`, "storeedge_bytes_received_total"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q\n%s", want, grepLines(body, "storeedge_"))
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
