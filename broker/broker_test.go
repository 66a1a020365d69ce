package broker

import (
	"regexp"

	"github.com/storeedge/storeedge/internal/testkit/testpki"

	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/storeedge/storeedge/broker/mqtt/auth"
)

// One broker, three transports: a kiosk over TCP and a staff tablet over
// WebSocket log in with passwords, a camera over TLS with its client
// certificate, and they hear each other.
func TestListenersTCPWebsocketTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.New(t)
	caFile, certFile, keyFile := ca.Files(t, dir)
	hash, err := auth.HashPassword("staff-pass-01")
	if err != nil {
		t.Fatal(err)
	}
	devices := fmt.Sprintf(`devices:
  - id: staff-anna
    role: staff
    password_hash: %q
  - id: kiosk-01
    role: kiosk
    password_hash: %q
  - id: cam-room-1
    role: camera
    cert_cn: cam-room-1.store.local
`, hash, hash)
	if err := os.WriteFile(filepath.Join(dir, "devices.yaml"), []byte(devices), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := DefaultConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Auth.DevicesFile = filepath.Join(dir, "devices.yaml")
	cfg.Listeners = ListenersConfig{TCP: "127.0.0.1:0", Websocket: "127.0.0.1:0", WebsocketPath: "/mqtt",
		TLS: "127.0.0.1:0", TLSCertFile: certFile, TLSKeyFile: keyFile, TLSClientCAFile: caFile, HTTP: "127.0.0.1:0"}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := Start(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown(context.Background())
	a := b.Addrs()
	for _, addr := range []string{a.TCP, a.Websocket, a.TLS, a.HTTP} {
		if strings.HasSuffix(addr, ":0") || addr == "" {
			t.Fatalf("listener address not resolved: %+v", a)
		}
	}

	staff := dialAuto(t, "ws://"+a.Websocket+"/mqtt", "staff-anna", "staff-pass-01", nil)
	if _, err := staff.Subscribe(context.Background(), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "devices/+/status", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	kiosk := dialAuto(t, "mqtt://"+a.TCP, "kiosk-01", "staff-pass-01", nil)
	cam := dialAuto(t, "mqtts://"+a.TLS, "cam-room-1", "", &tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{ca.Client(t, "cam-room-1.store.local")}})
	for _, c := range []struct {
		cm    *autopaho.ConnectionManager
		topic string
	}{{kiosk.ConnectionManager, "devices/kiosk-01/status"}, {cam.ConnectionManager, "devices/cam-room-1/status"}} {
		if _, err := c.cm.Publish(context.Background(), &paho.Publish{Topic: c.topic, QoS: 1, Payload: []byte("online")}); err != nil {
			t.Fatalf("publish %s: %v", c.topic, err)
		}
	}
	want := map[string]bool{"devices/kiosk-01/status": false, "devices/cam-room-1/status": false}
	deadline := time.After(10 * time.Second)
	for n := 0; n < 2; {
		select {
		case m := <-staff.got:
			if seen, ok := want[m.Topic]; ok && !seen {
				want[m.Topic] = true
				n++
			}
		case <-deadline:
			t.Fatalf("staff over WebSocket did not hear both devices: %v", want)
		}
	}
	// A camera without its certificate is refused.
	if _, err := tryAuto("mqtts://"+a.TLS, "cam-room-1", "", &tls.Config{RootCAs: ca.Pool}); err == nil {
		t.Fatal("camera without a certificate or password logged in")
	}
}

type autoClient struct {
	*autopaho.ConnectionManager
	got chan *paho.Publish
}

func dialAuto(t *testing.T, raw, id, password string, tlsCfg *tls.Config) *autoClient {
	t.Helper()
	c, err := tryAuto(raw, id, password, tlsCfg)
	if err != nil {
		t.Fatalf("%s as %s: %v", raw, id, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = c.Disconnect(ctx)
	})
	return c
}

func tryAuto(raw, id, password string, tlsCfg *tls.Config) (*autoClient, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	c := &autoClient{got: make(chan *paho.Publish, 16)}
	failed := make(chan error, 1)
	cfg := autopaho.ClientConfig{
		ServerUrls: []*url.URL{u}, TlsCfg: tlsCfg, KeepAlive: 30, ConnectTimeout: 5 * time.Second,
		CleanStartOnInitialConnection: true,
		OnConnectError: func(err error) {
			select {
			case failed <- err:
			default:
			}
		},
		ClientConfig: paho.ClientConfig{ClientID: id, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) { c.got <- pr.Packet; return true, nil }}},
	}
	if password != "" {
		device, _, _ := strings.Cut(id, ":") // client id <device>:<suffix>
		cfg.ConnectUsername, cfg.ConnectPassword = device, []byte(password)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cm, err := autopaho.NewConnection(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	up := make(chan error, 1)
	go func() { up <- cm.AwaitConnection(ctx) }()
	select {
	case err = <-up:
	case err = <-failed:
	}
	if err != nil {
		dctx, dcancel := context.WithTimeout(context.Background(), time.Second)
		defer dcancel()
		_ = cm.Disconnect(dctx)
		return nil, err
	}
	c.ConnectionManager = cm
	return c, nil
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"unknown key":        "listners:\n  tcp: \":1\"\n",
		"bad store id":       "store_id: \"a b\"\n",
		"half a tls pair":    "listeners:\n  tls_cert_file: x.pem\n",
		"zero connections":   "limits:\n  max_connections: 0\n",
		"queue over pids":    "limits:\n  max_queued_messages: 70000\n",
		"anonymous, no role": "auth:\n  allow_anonymous: true\n  anonymous_role: \"\"\n",
		"bad log level":      "log:\n  level: loud\n",
		"ws path not rooted": "listeners:\n  websocket_path: mqtt\n",
		"not yaml":           "{",
		"no camera viewers":  "camera:\n  max_viewers: 0\n",
		"camera ports":       "camera:\n  udp_ports: \"50100-50000\"\n",
		"camera ports word":  "camera:\n  udp_ports: many\n",
		"ice server no urls": "camera:\n  ice_servers: [{username: u}]\n",
		"short grace":        "camera:\n  offline_grace: 1ms\n",
		"endless gathering":  "camera:\n  gather_timeout: 5m\n",
		"tiny send buffer":   "limits:\n  send_buffer_bytes: 100\n",
		"no connect timeout": "limits:\n  connect_timeout: 0s\n",
		"no slow grace":      "limits:\n  slow_client_grace: 1ms\n",
		"setup unlimited":    "setup:\n  attempts_per_minute: 0\n",
		"setup total < one":  "setup:\n  attempts_per_minute: 20\n  attempts_total_per_minute: 5\n",
		"counter unlimited":  "setup:\n  counter_starts_per_minute: 0\n",
		"counter per addr 0": "setup:\n  counter_starts_per_address_per_hour: 0\n",
		"nobody edits faq":   "chat:\n  faq_roles: []\n",
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadConfig(p); err == nil {
			t.Errorf("%s: config accepted", name)
		}
	}
	if _, err := LoadConfig(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("missing config file accepted")
	}
	c, err := LoadConfig("")
	if err != nil {
		t.Fatalf("embedded default: %v", err)
	}
	if c.Auth.AllowAnonymous {
		t.Fatal("the embedded default allows anonymous clients")
	}
	// An older store.yaml with the count-based send buffer still loads.
	old := filepath.Join(dir, "old.yaml")
	_ = os.WriteFile(old, []byte("limits:\n  max_pending_writes: 1024\n"), 0o600)
	if _, err := LoadConfig(old); err != nil {
		t.Fatalf("a config with limits.max_pending_writes: %v", err)
	}
	// A partial file keeps the other defaults.
	p := filepath.Join(dir, "partial.yaml")
	_ = os.WriteFile(p, []byte("store_id: shop-7\n"), 0o600)
	c, err = LoadConfig(p)
	if err != nil || c.StoreID != "shop-7" || c.Listeners.TCP != ":1883" {
		t.Fatalf("partial config: %+v %v", c, err)
	}
	// The relay's UDP range, as a firewall needs it.
	_ = os.WriteFile(p, []byte("camera:\n  udp_ports: \"50000-50199\"\n"), 0o600)
	if c, err = LoadConfig(p); err != nil {
		t.Fatal(err)
	}
	if lo, hi, err := c.Camera.udpPorts(); err != nil || lo != 50000 || hi != 50199 {
		t.Fatalf("udp_ports: %d-%d %v", lo, hi, err)
	}
}

// A second broker on the same data directory fails fast with a clear error
// instead of waiting for the lock.
func TestSecondBrokerOnSameDataDir(t *testing.T) {
	cfg, _ := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Listeners = ListenersConfig{TCP: "127.0.0.1:0"}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := Start(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown(context.Background())
	_, err = Start(context.Background(), cfg, log)
	if err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("second broker: %v, want a 'locked' error", err)
	}
}

// A client with more unacknowledged QoS 2 publishes than receive_maximum is
// disconnected with reason 0x93, and the broker keeps serving others.
// startWithDevice starts an in-process broker on loopback (TCP and HTTP)
// whose registry holds one device with the password "pass-"+id; limits
// adjusts the configuration first.
func startWithDevice(t *testing.T, id, role string, limits func(*Config)) *Broker {
	t.Helper()
	dir := t.TempDir()
	hash, err := auth.HashPassword("pass-" + id)
	if err != nil {
		t.Fatal(err)
	}
	devices := fmt.Sprintf("devices:\n  - id: %s\n    role: %s\n    password_hash: %q\n", id, role, hash)
	if err := os.WriteFile(filepath.Join(dir, "devices.yaml"), []byte(devices), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _ := DefaultConfig()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Auth.DevicesFile = filepath.Join(dir, "devices.yaml")
	cfg.Listeners = ListenersConfig{TCP: "127.0.0.1:0", HTTP: "127.0.0.1:0"}
	if limits != nil {
		limits(&cfg)
	}
	b, err := Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Shutdown(context.Background()) })
	return b
}

// rawClient is an MQTT 5 connection written packet by packet, for clients
// that misbehave on purpose.
type rawClient struct {
	t  *testing.T
	nc net.Conn
}

// dialRaw connects as client id; the device (username) is the part of id
// before any ":".
func dialRaw(t *testing.T, addr, id string) *rawClient {
	t.Helper()
	return dialRawWith(t, addr, id, true, packets.Properties{})
}

// dialRawWith sends CONNECT with Clean Start clean and the given properties;
// it does not wait for the CONNACK.
func dialRawWith(t *testing.T, addr, id string, clean bool, props packets.Properties) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &rawClient{t: t, nc: nc}
	device, _, _ := strings.Cut(id, ":")
	connect := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 5,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: clean, Keepalive: 30, ClientIdentifier: id,
			UsernameFlag: true, Username: []byte(device), PasswordFlag: true, Password: []byte("pass-" + device)},
		Properties: props}
	c.write(connect, connect.ConnectEncode)
	return c
}

func (c *rawClient) write(pk packets.Packet, enc func(*bytes.Buffer) error) {
	c.t.Helper()
	var buf bytes.Buffer
	if err := enc(&buf); err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.nc.Write(buf.Bytes()); err != nil {
		c.t.Fatal(err)
	}
}

func TestReceiveMaximumExceeded(t *testing.T) {
	b := startWithDevice(t, "kiosk-01", "kiosk", func(c *Config) { c.Limits.ReceiveMaximum = 4 })
	c := dialRaw(t, b.Addrs().TCP, "kiosk-01")
	nc, write := c.nc, c.write
	// Five QoS 2 publishes, never released: one more than receive_maximum.
	for i := 1; i <= 5; i++ {
		pub := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 2}, ProtocolVersion: 5,
			TopicName: "devices/kiosk-01/telemetry", PacketID: uint16(i), Payload: []byte("{}")}
		write(pub, pub.PublishEncode)
	}
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	raw, _ := io.ReadAll(nc) // the broker closes the connection after its DISCONNECT
	// The last packet is the DISCONNECT: type 0xE0, remaining length, reason code.
	i := bytes.LastIndexByte(raw, 0xE0)
	if i < 0 || i+2 >= len(raw) || raw[i+2] != 0x93 {
		t.Fatalf("no DISCONNECT 0x93 in %x", raw)
	}
}

// A subscriber that stops reading loses QoS 0 messages once its send buffer
// (limits.send_buffer_bytes) is full; they are counted, and the publisher and
// the broker carry on.
func TestSendBufferDropsQoS0(t *testing.T) {
	b := startWithDevice(t, "admin-1", "admin", func(c *Config) { c.Limits.SendBufferBytes = 4096 })
	stalled := dialRaw(t, b.Addrs().TCP, "admin-1:stalled")
	sub := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, ProtocolVersion: 5, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: "lab/flood", Qos: 0}}}
	stalled.write(sub, sub.SubscribeEncode)
	// The stalled client never reads again: once the socket buffers are
	// full, messages for it pile up in the broker until the limit.
	pub := dialAuto(t, "mqtt://"+b.Addrs().TCP, "admin-1", "pass-admin-1", nil)
	payload := make([]byte, 64<<10)
	metrics := func() string {
		resp, err := http.Get("http://" + b.Addrs().HTTP + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	dropped := regexp.MustCompile(`storeedge_messages_dropped_total\{reason="send_buffer_full"\} ([1-9][0-9]*)`)
	deadline := time.Now().Add(20 * time.Second)
	for !dropped.MatchString(metrics()) {
		if time.Now().After(deadline) {
			t.Fatalf("no slow-subscriber drops counted:\n%s", grepMetrics(metrics(), "dropped", "subscriptions", "connections", "messages_"))
		}
		for i := 0; i < 50; i++ {
			if _, err := pub.Publish(context.Background(), &paho.Publish{Topic: "lab/flood", QoS: 0, Payload: payload}); err != nil {
				t.Fatalf("the publisher was affected: %v", err)
			}
		}
	}
	// The publisher is still served.
	if _, err := pub.Publish(context.Background(), &paho.Publish{Topic: "devices/admin-1/status", QoS: 1, Payload: []byte("ok")}); err != nil {
		t.Fatalf("after the drops: %v", err)
	}
}

func grepMetrics(body string, subs ...string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		for _, s := range subs {
			if strings.Contains(l, s) && !strings.HasPrefix(l, "#") {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
