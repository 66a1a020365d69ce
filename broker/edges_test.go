package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/storeedge/storeedge/broker/mqtt/auth"
)

// dialV3 sends an MQTT 3.1.1 CONNECT for id (device = id before ":",
// password "pass-<device>"), with a will when will is not nil.
func dialV3(t *testing.T, addr, id string, will *packets.Packet) (*rawClient, *packetReader) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &rawClient{t: t, nc: nc}
	device := id
	for i := range id {
		if id[i] == ':' {
			device = id[:i]
			break
		}
	}
	connect := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 4,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: id,
			UsernameFlag: true, Username: []byte(device), PasswordFlag: true, Password: []byte("pass-" + device)}}
	if will != nil {
		connect.Connect.WillFlag = true
		connect.Connect.WillTopic = will.TopicName
		connect.Connect.WillPayload = will.Payload
	}
	c.write(connect, connect.ConnectEncode)
	r := newPacketReader(t, nc)
	r.version = 4
	return c, r
}

// closedWithoutAnswer reads until the broker closes nc and returns what it sent.
func closedWithoutAnswer(t *testing.T, nc net.Conn) []byte {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(nc)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after 10 s (read %x)", b)
	}
	return b
}

// TestPublishToSysIsRefused: a QoS 1/2 publish to $SYS gets PUBACK / PUBREC
// 0x87 (it used to get no answer, leaving the client waiting for ever); an
// MQTT 3.1.1 client, which has no negative acknowledgement, is disconnected.
func TestPublishToSysIsRefused(t *testing.T) {
	b := startWithDevice(t, "admin-1", "admin", nil)
	addr := b.Addrs().TCP
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	pc := paho.NewClient(paho.ClientConfig{Conn: nc, PacketTimeout: 5 * time.Second, OnClientError: func(error) {}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := pc.Connect(ctx, &paho.Connect{ClientID: "admin-1", KeepAlive: 30, CleanStart: true,
		Username: "admin-1", UsernameFlag: true, Password: []byte("pass-admin-1"), PasswordFlag: true}); err != nil {
		t.Fatal(err)
	}
	defer pc.Disconnect(&paho.Disconnect{})
	for _, qos := range []byte{1, 2} {
		pr, err := pc.Publish(ctx, &paho.Publish{Topic: "$SYS/broker/clients/connected", QoS: qos, Payload: []byte("0")})
		if pr == nil {
			t.Fatalf("QoS %d publish to $SYS: no acknowledgement: %v", qos, err)
		}
		if pr.ReasonCode != packets.ErrNotAuthorized.Code {
			t.Fatalf("QoS %d publish to $SYS: reason %#x, want 0x87", qos, pr.ReasonCode)
		}
	}

	v3, r := dialV3(t, addr, "admin-1:v3", nil)
	if ack := r.expect(packets.Connack); ack.ReasonCode != 0 {
		t.Fatalf("v3 CONNACK %#x", ack.ReasonCode)
	}
	pub := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, ProtocolVersion: 4,
		TopicName: "$SYS/broker/uptime", PacketID: 1, Payload: []byte("0")}
	v3.write(pub, pub.PublishEncode)
	if got := closedWithoutAnswer(t, v3.nc); len(got) != 0 {
		t.Fatalf("v3 publish to $SYS answered with %x, want the connection closed", got)
	}
}

// TestV3ConnackReturnCodes: an MQTT 3.1.1 client only ever gets return
// codes 0-5. A CONNECT that does not conform is closed without a CONNACK
// [MQTT-3.1.4-1] (it used to get 0x82, which a 3.1.1 client cannot read); a
// refusal 3.1.1 has no code for is 0x03; a will with an empty message is
// allowed.
func TestV3ConnackReturnCodes(t *testing.T) {
	b := startWithDevice(t, "kiosk-01", "kiosk", func(c *Config) { c.Limits.MaxConnectionsPerIdentity = 1 })
	addr := b.Addrs().TCP

	// Reserved connect flag set [MQTT-3.1.2-3].
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write([]byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x03, 0, 30, 0, 1, 'a'}); err != nil {
		t.Fatal(err)
	}
	if got := closedWithoutAnswer(t, nc); len(got) != 0 {
		t.Fatalf("CONNECT with the reserved flag answered with %x, want the connection closed", got)
	}

	// A will with an empty message (3.1.3.4 allows it).
	_, r := dialV3(t, addr, "kiosk-01", &packets.Packet{TopicName: "devices/kiosk-01/status"})
	if ack := r.expect(packets.Connack); ack.ReasonCode != 0 {
		t.Fatalf("empty will message: CONNACK %#x, want 0", ack.ReasonCode)
	}
	// An unknown device: 0x86 in MQTT 5, 0x05 not authorized here (3.1.1's
	// 0x04 means a malformed user name or password).
	_, r = dialV3(t, addr, "nobody", nil)
	if ack := r.expect(packets.Connack); ack.ReasonCode != packets.Err3NotAuthorized.Code {
		t.Fatalf("unknown device: CONNACK %#x, want 0x05", ack.ReasonCode)
	}
	// Past limits.max_connections_per_identity: 0x97 in MQTT 5, 0x03 here.
	_, r = dialV3(t, addr, "kiosk-01:second", nil)
	if ack := r.expect(packets.Connack); ack.ReasonCode != packets.Err3ServerUnavailable.Code {
		t.Fatalf("second connection past the cap: CONNACK %#x, want 0x03", ack.ReasonCode)
	}
}

// lineCounter is a log handler that counts records by message.
type lineCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *lineCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *lineCounter) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *lineCounter) WithGroup(string) slog.Handler            { return c }
func (c *lineCounter) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[r.Message]++
	return nil
}

func (c *lineCounter) count(substr string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for m, k := range c.n {
		if strings.Contains(m, substr) {
			n += k
		}
	}
	return n
}

// TestStalledClientLoggedOncePerDisconnect: 1 500 messages for a client that
// has stopped reading give one log line (and one count in
// storeedge_disconnects_total), not one line per message ("client store
// quota reached" was logged 9 744 times in one run).
func TestStalledClientLoggedOncePerDisconnect(t *testing.T) {
	dir := t.TempDir()
	hash, err := auth.HashPassword("pass-admin-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "devices.yaml"),
		[]byte(fmt.Sprintf("devices:\n  - id: admin-1\n    role: admin\n    password_hash: %q\n", hash)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _ := DefaultConfig()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Auth.DevicesFile = filepath.Join(dir, "devices.yaml")
	cfg.Listeners = ListenersConfig{TCP: "127.0.0.1:0", HTTP: "127.0.0.1:0"}
	cfg.Limits.SendBufferBytes = 16 << 10
	cfg.Limits.MaxQueuedMessages = 200
	logs := &lineCounter{n: map[string]int{}}
	b, err := Start(context.Background(), cfg, slog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Shutdown(context.Background()) })
	addr := b.Addrs().TCP
	stalled, r, _ := dialRawSession(t, addr, "admin-1:stalled", false)
	stalled.subscribe("lab/stall", 1)
	r.expect(packets.Suback)
	publishNumbered(t, addr, "admin-1:pub", "lab/stall", 1500, 4096)
	if v := metricValue(t, b, `storeedge_disconnects_total{reason="queue_full"}`); v != 1 {
		t.Fatalf("disconnects_total{queue_full} = %v, want 1", v)
	}
	if n := logs.count("too far behind"); n != 1 {
		t.Fatalf("%d log lines about the stalled client, want 1", n)
	}
	if n := logs.count("quota"); n != 0 {
		t.Fatalf("%d log lines about a quota", n)
	}
}

// oneCustomer is a customer store with one customer whose session can end.
type oneCustomer struct {
	id, secret string
	active     atomic.Bool
}

func (c *oneCustomer) VerifyCustomer(id string, secret []byte) (bool, error) {
	return id == c.id && string(secret) == c.secret && c.active.Load(), nil
}

func (c *oneCustomer) CustomerActive(id string) bool { return id == c.id && c.active.Load() }

// TestEndedCustomerSessionDisconnects: a connected customer whose session
// ends (chat.customer_session_ttl passes, or it is no longer valid) is
// disconnected with DISCONNECT 0xA0 within seconds; it used to stay
// connected, its grants only going silent.
func TestEndedCustomerSessionDisconnects(t *testing.T) {
	b := startWithDevice(t, "admin-1", "admin", nil)
	cust := &oneCustomer{id: "cust-a1b2c3", secret: "s3cret"}
	cust.active.Store(true)
	if err := b.auth.SetCustomers(cust); err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial("tcp", b.Addrs().TCP)
	if err != nil {
		t.Fatal(err)
	}
	disc := make(chan byte, 1)
	pc := paho.NewClient(paho.ClientConfig{Conn: nc, OnClientError: func(error) {},
		OnServerDisconnect: func(d *paho.Disconnect) { disc <- d.ReasonCode }})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := pc.Connect(ctx, &paho.Connect{ClientID: cust.id + ":phone", KeepAlive: 30, CleanStart: true,
		Username: cust.id, UsernameFlag: true, Password: []byte(cust.secret), PasswordFlag: true}); err != nil {
		t.Fatal(err)
	}
	defer pc.Disconnect(&paho.Disconnect{})
	dialAuto(t, "mqtt://"+b.Addrs().TCP, "admin-1", "pass-admin-1", nil)

	cust.active.Store(false)
	select {
	case code := <-disc:
		if code != packets.ErrMaxConnectTime.Code {
			t.Fatalf("DISCONNECT %#x, want 0xA0", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("customer whose session ended still connected 5 s later")
	}
	if cl, ok := b.Server().Clients.Get("admin-1"); !ok || cl.Closed() {
		t.Fatal("the admin was disconnected too")
	}
}
