package metrics_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/storeedge/storeedge/broker/mqtt/metrics"
	"github.com/storeedge/storeedge/internal/testkit/mqtttest"
)

// refusedUser is the username the test auth hook refuses.
const refusedUser = "intruder"

// testAuth allows every client except refusedUser, and every topic.
type testAuth struct{ mqtt.HookBase }

func (h *testAuth) ID() string { return "test-auth" }
func (h *testAuth) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}
func (h *testAuth) OnConnectAuthenticate(_ *mqtt.Client, pk packets.Packet) bool {
	return string(pk.Connect.Username) != refusedUser
}
func (h *testAuth) OnACLCheck(*mqtt.Client, string, bool) bool { return true }

// startBroker runs a mochi server with the metrics hook on a loopback port.
func startBroker(t *testing.T) (*metrics.Metrics, string) {
	t.Helper()
	srv := mqtttest.New(t, mqtttest.Options{})
	m := metrics.New(srv.Server)
	srv.Add(t, new(testAuth), m.Hook())
	srv.Serve(t)
	return m, srv.Addr
}

// dial connects a paho v5 client; received gets every PUBLISH it receives.
func dial(t *testing.T, addr, id, user string, received chan<- *paho.Publish) (*paho.Client, *paho.Connack, error) {
	t.Helper()
	cp := &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30}
	if user != "" {
		cp.Username, cp.UsernameFlag = user, true
	}
	var onPublish func(*paho.Publish)
	if received != nil {
		onPublish = func(p *paho.Publish) { received <- p }
	}
	return mqtttest.Dial(t, addr, cp, onPublish)
}

// scrape fetches the exposition and returns each sample keyed by name{labels}.
func scrape(t *testing.T, h http.Handler) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: status %d: %s", rec.Code, rec.Body)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("scrape: bad sample %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// waitMetrics polls the exposition until every want holds (value minus its
// base, if any, equals want) or the deadline passes.
func waitMetrics(t *testing.T, h http.Handler, base, want map[string]float64) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := scrape(t, h)
		var bad []string
		for k, w := range want {
			v, ok := got[k]
			if d := v - base[k]; !ok || d != w {
				bad = append(bad, fmt.Sprintf("%s: got %v (present %v), want %v", k, d, ok, w))
			}
		}
		if len(bad) == 0 {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics did not settle:\n  %s", strings.Join(bad, "\n  "))
		}
		time.Sleep(10 * time.Millisecond) // poll interval, not a sync point
	}
}

func TestBrokerTrafficCounted(t *testing.T) {
	m, addr := startBroker(t)
	h := m.Handler()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	got := make(chan *paho.Publish, 64)
	sub, _, err := dial(t, addr, "sub", "", got)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "t/#", QoS: 1}}}); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	pub, _, err := dial(t, addr, "pub", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	waitMetrics(t, h, nil, map[string]float64{
		"storeedge_connections":    2,
		"storeedge_connects_total": 2,
		"storeedge_subscriptions":  1,
	})
	base := scrape(t, h)

	const n0, n1 = 5, 7
	for i := range n0 + n1 {
		qos := byte(0)
		if i >= n0 {
			qos = 1
		}
		p := &paho.Publish{Topic: "t/x", QoS: qos, Payload: bytes.Repeat([]byte{'x'}, 100)}
		if _, err := pub.Publish(ctx, p); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	if _, err := pub.Publish(ctx, &paho.Publish{Topic: "t/r", QoS: 1, Retain: true, Payload: []byte("kept")}); err != nil {
		t.Fatalf("publish retained: %v", err)
	}
	for i := range n0 + n1 + 1 {
		select {
		case <-got:
		case <-ctx.Done():
			t.Fatalf("subscriber got %d of %d messages", i, n0+n1+1)
		}
	}

	after := waitMetrics(t, h, base, map[string]float64{
		`storeedge_messages_received_total{qos="0"}`:                  n0,
		`storeedge_messages_received_total{qos="1"}`:                  n1 + 1,
		`storeedge_messages_received_total{qos="2"}`:                  0,
		`storeedge_messages_sent_total{qos="0"}`:                      n0,
		`storeedge_messages_sent_total{qos="1"}`:                      n1 + 1,
		`storeedge_messages_sent_total{qos="2"}`:                      0,
		"storeedge_retained_messages":                                 1,
		"storeedge_connects_total":                                    0,
		"storeedge_connections":                                       0,
		`storeedge_messages_dropped_total{reason="send_buffer_full"}`: 0,
		`storeedge_messages_dropped_total{reason="queue_full"}`:       0,
		`storeedge_disconnects_total{reason="queue_full"}`:            0,
		`storeedge_connect_timeouts_total`:                            0,
	})
	// Each PUBLISH carries at least its payload both ways.
	const payloads = float64((n0+n1)*100 + len("kept"))
	if d := after["storeedge_bytes_received_total"] - base["storeedge_bytes_received_total"]; d < payloads {
		t.Errorf("bytes_received moved by %v, want >= %v", d, payloads)
	}
	if d := after["storeedge_bytes_sent_total"] - base["storeedge_bytes_sent_total"]; d < payloads {
		t.Errorf("bytes_sent moved by %v, want >= %v", d, payloads)
	}
	if _, ok := after["storeedge_inflight_messages"]; !ok {
		t.Error("storeedge_inflight_messages missing")
	}

	if err := pub.Disconnect(&paho.Disconnect{}); err != nil {
		t.Fatalf("disconnect: %v", err)
	}
	waitMetrics(t, h, nil, map[string]float64{"storeedge_connections": 1})
}

func TestRefusedConnectCounted(t *testing.T) {
	m, addr := startBroker(t)
	h := m.Handler()

	// MQTT v5: CONNACK 0x86 Bad User Name or Password.
	_, ack, err := dial(t, addr, "bad5", refusedUser, nil)
	if err == nil {
		t.Fatal("connect as refused user succeeded")
	}
	if ack == nil || ack.ReasonCode != 0x86 {
		t.Fatalf("connack = %+v, want reason 0x86", ack)
	}

	// MQTT 3.1.1: mochi rewrites 0x86 to return code 0x05 Not Authorized.
	if code := connectV3(t, addr, refusedUser); code != 0x05 {
		t.Fatalf("v3 connack return code = %#x, want 0x05", code)
	}
	if code := connectV3(t, addr, "kiosk"); code != 0x00 {
		t.Fatalf("v3 connack return code = %#x, want 0x00", code)
	}

	waitMetrics(t, h, nil, map[string]float64{
		`storeedge_connect_refused_total{reason="0x86"}`: 1,
		`storeedge_connect_refused_total{reason="0x05"}`: 1,
		"storeedge_connects_total":                       1,
	})
}

// connectV3 sends an MQTT 3.1.1 CONNECT over raw TCP and returns the CONNACK
// return code.
func connectV3(t *testing.T, addr, user string) byte {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatalf("deadline: %v", err)
	}
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connect},
		ProtocolVersion: 4,
		Connect: packets.ConnectParams{
			ProtocolName:     []byte("MQTT"),
			Clean:            true,
			Keepalive:        30,
			ClientIdentifier: "v3-" + user,
			UsernameFlag:     true,
			Username:         []byte(user),
		},
	}
	var buf bytes.Buffer
	if err := pk.ConnectEncode(&buf); err != nil {
		t.Fatalf("encode connect: %v", err)
	}
	if _, err := conn.Write(buf.Bytes()); err != nil {
		t.Fatalf("write connect: %v", err)
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(conn, ack); err != nil {
		t.Fatalf("read connack: %v", err)
	}
	if ack[0] != 0x20 || ack[1] != 2 {
		t.Fatalf("not a v3 CONNACK: % x", ack)
	}
	return ack[3]
}

func TestStoreMetrics(t *testing.T) {
	m := metrics.New(nil)
	h := m.Handler()

	if _, ok := scrape(t, h)["storeedge_store_bytes"]; ok {
		t.Error("storeedge_store_bytes exported before SetStoreSize")
	}
	m.ObserveCommit(2*time.Millisecond, 3)
	m.ObserveCommit(300*time.Millisecond, 1)
	m.SetStoreSize(func() int64 { return 4096 })
	m.IncQueueDropped()
	m.IncQueueDropped()
	m.IncPublishRejected("too_large")

	got := scrape(t, h)
	want := map[string]float64{
		"storeedge_store_commit_seconds_count":                 2,
		`storeedge_store_commit_seconds_bucket{le="0.0001"}`:   0,
		`storeedge_store_commit_seconds_bucket{le="0.0025"}`:   1,
		`storeedge_store_commit_seconds_bucket{le="0.5"}`:      2,
		`storeedge_store_commit_seconds_bucket{le="1"}`:        2,
		"storeedge_store_commit_writes_total":                  4,
		"storeedge_store_bytes":                                4096,
		"storeedge_session_queue_dropped_total":                2,
		`storeedge_publish_rejected_total{reason="too_large"}`: 1,
	}
	for k, w := range want {
		if v, ok := got[k]; !ok || v != w {
			t.Errorf("%s = %v (present %v), want %v", k, v, ok, w)
		}
	}
	for _, k := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := got[k]; !ok {
			t.Errorf("%s missing: Go/process collectors not registered", k)
		}
	}
	if _, ok := got["storeedge_connections"]; ok {
		t.Error("broker gauges exported without a server")
	}
}

func TestNilMetricsIsNoop(t *testing.T) {
	var m *metrics.Metrics
	m.ObserveCommit(time.Millisecond, 1)
	m.SetStoreSize(func() int64 { return 1 })
	m.IncQueueDropped()
	m.IncPublishRejected("x")
}

func TestHookHotPathAllocs(t *testing.T) {
	hk := metrics.New(nil).Hook()
	pub := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: "t/x", Payload: []byte("p")}
	ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: 1}
	b := []byte{0x30}
	if n := testing.AllocsPerRun(1000, func() {
		_, _ = hk.OnPacketRead(nil, pub)
		hk.OnPacketSent(nil, pub, b)
		hk.OnPacketSent(nil, ack, b)
	}); n != 0 {
		t.Fatalf("hook hot path allocates %v times per run, want 0", n)
	}
}

func BenchmarkHookOnPacketRead(b *testing.B) {
	hk := metrics.New(nil).Hook()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: "t/x", Payload: make([]byte, 256)}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = hk.OnPacketRead(nil, pk)
	}
}

func BenchmarkHookOnPacketSent(b *testing.B) {
	hk := metrics.New(nil).Hook()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 0}, TopicName: "t/x", Payload: make([]byte, 256)}
	buf := make([]byte, 262)
	b.ReportAllocs()
	for b.Loop() {
		hk.OnPacketSent(nil, pk, buf)
	}
}

func BenchmarkHookOnPacketSentParallel(b *testing.B) {
	hk := metrics.New(nil).Hook()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: "t/x", Payload: make([]byte, 256)}
	buf := make([]byte, 262)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			hk.OnPacketSent(nil, pk, buf)
		}
	})
}
