package broker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/storeedge/storeedge/internal/testkit/mqtttest"
)

// The MQTT core's limits as a device maker meets them (issue: true to the
// standard, fair to slow clients, closed to half-open sockets). The
// standard's own statements are checked in broker/mqtt/conformance.

// packetReader reads whole MQTT packets from a raw connection.
type packetReader struct {
	t       *testing.T
	r       *bufio.Reader
	nc      net.Conn
	version byte
}

func newPacketReader(t *testing.T, nc net.Conn) *packetReader {
	return &packetReader{t: t, r: bufio.NewReaderSize(nc, 64<<10), nc: nc, version: 5}
}

// next returns the next packet, decoded as p.version.
func (p *packetReader) next(timeout time.Duration) (packets.Packet, error) {
	_ = p.nc.SetReadDeadline(time.Now().Add(timeout))
	b, err := p.r.ReadByte()
	if err != nil {
		return packets.Packet{}, err
	}
	var fh packets.FixedHeader
	if err := fh.Decode(b); err != nil {
		return packets.Packet{}, err
	}
	if fh.Remaining, _, err = packets.DecodeLength(p.r); err != nil {
		return packets.Packet{}, err
	}
	body := make([]byte, fh.Remaining)
	if _, err := io.ReadFull(p.r, body); err != nil {
		return packets.Packet{}, err
	}
	pk := packets.Packet{FixedHeader: fh, ProtocolVersion: p.version}
	switch fh.Type {
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	}
	return pk, err
}

// expect reads until a packet of type typ arrives.
func (p *packetReader) expect(typ byte) packets.Packet {
	p.t.Helper()
	for {
		pk, err := p.next(10 * time.Second)
		if err != nil {
			p.t.Fatalf("waiting for packet type %d: %v", typ, err)
		}
		if pk.FixedHeader.Type == typ {
			return pk
		}
	}
}

func (c *rawClient) puback(id uint16) {
	ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, ProtocolVersion: 5, PacketID: id}
	c.write(ack, ack.PubackEncode)
}

func (c *rawClient) subscribe(filter string, qos byte) {
	sub := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, ProtocolVersion: 5, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: filter, Qos: qos}}}
	c.write(sub, sub.SubscribeEncode)
}

// dialRawSession connects a raw MQTT 5 client with an hour's session expiry
// (a persistent session unless clean) and returns it with its reader, past
// the CONNACK.
func dialRawSession(t *testing.T, addr, id string, clean bool) (*rawClient, *packetReader, packets.Packet) {
	t.Helper()
	c := dialRawWith(t, addr, id, clean, packets.Properties{SessionExpiryInterval: 3600, SessionExpiryIntervalFlag: true})
	r := newPacketReader(t, c.nc)
	ack := r.expect(packets.Connack)
	if ack.ReasonCode != 0 {
		t.Fatalf("CONNACK 0x%02x", ack.ReasonCode)
	}
	return c, r, ack
}

// publishNumbered publishes, on one raw connection so that their order is
// known, n QoS 1 messages numbered 0..n-1 in their first 8 bytes, each of size
// bytes, with up to 128 unacknowledged, and waits for every PUBACK.
func publishNumbered(t *testing.T, addr, id, topic string, n, size int) {
	t.Helper()
	c, r, _ := dialRawSession(t, addr, id, true)
	defer c.nc.Close()
	sem := make(chan struct{}, 128)
	acks := make(chan error, 1)
	go func() {
		for got := 0; got < n; got++ {
			pk, err := r.next(30 * time.Second)
			if err == nil && pk.FixedHeader.Type != packets.Puback {
				err = fmt.Errorf("packet type %d, want a PUBACK", pk.FixedHeader.Type)
			}
			if err == nil && pk.ReasonCode >= 0x80 {
				err = fmt.Errorf("PUBACK 0x%02x", pk.ReasonCode)
			}
			if err != nil {
				acks <- fmt.Errorf("after %d PUBACKs: %w", got, err)
				return
			}
			<-sem
		}
		acks <- nil
	}()
	var mu sync.Mutex
	for i := 0; i < n; i++ {
		payload := make([]byte, size)
		binary.BigEndian.PutUint64(payload, uint64(i))
		pub := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, ProtocolVersion: 5,
			TopicName: topic, PacketID: uint16(i%60000 + 1), Payload: payload}
		select {
		case sem <- struct{}{}:
		case err := <-acks:
			t.Fatalf("publisher: %v", err)
		}
		mu.Lock()
		c.write(pub, pub.PublishEncode)
		mu.Unlock()
	}
	if err := <-acks; err != nil {
		t.Fatalf("publisher: %v", err)
	}
}

// countNumbered collects numbered payloads from an autopaho client until it
// has all n distinct ones.
func countNumbered(t *testing.T, c *autoClient, n int, within time.Duration) {
	t.Helper()
	seen := make(map[uint64]bool, n)
	deadline := time.After(within)
	for len(seen) < n {
		select {
		case p := <-c.got:
			seen[binary.BigEndian.Uint64(p.Payload)] = true
		case <-deadline:
			t.Fatalf("healthy subscriber got %d of %d", len(seen), n)
		}
	}
}

func metricValue(t *testing.T, b *Broker, series string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + b.Addrs().HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile("(?m)^" + regexp.QuoteMeta(series) + ` ([0-9.e+]+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in /metrics", series)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A QoS 1 subscriber that stops reading while connected loses nothing: what
// does not fit its send buffer waits in its session, in order, and arrives
// when it reads again. Meanwhile the publisher and a healthy subscriber of the
// same messages are served in full.
func TestStalledSubscriberLosesNothing(t *testing.T) {
	for _, persistent := range []bool{false, true} {
		t.Run(fmt.Sprintf("persistent=%v", persistent), func(t *testing.T) {
			const n, size = 4000, 4096 // 16 MiB: well past the socket buffers
			b := startWithDevice(t, "admin-1", "admin", func(c *Config) { c.Limits.SendBufferBytes = 64 << 10 })
			addr := b.Addrs().TCP
			stalled, r, _ := dialRawSession(t, addr, "admin-1:stalled", !persistent)
			stalled.subscribe("lab/stall", 1)
			r.expect(packets.Suback)

			healthy := dialAuto(t, "mqtt://"+addr, "admin-1", "pass-admin-1", nil)
			healthy.got = make(chan *paho.Publish, n)
			if _, err := healthy.Subscribe(context.Background(), &paho.Subscribe{
				Subscriptions: []paho.SubscribeOptions{{Topic: "lab/stall", QoS: 1}}}); err != nil {
				t.Fatal(err)
			}
			publishNumbered(t, addr, "admin-1:pub", "lab/stall", n, size)
			countNumbered(t, healthy, n, 30*time.Second)

			if persistent {
				// The stalled tablet's connection is gone; it comes back
				// to the same session.
				stalled.nc.Close()
				stalled, r, _ = dialRawSession(t, addr, "admin-1:stalled", false)
			}
			next := uint64(0)
			for next < n {
				pk, err := r.next(10 * time.Second)
				if err != nil {
					t.Fatalf("stalled subscriber got %d of %d, then: %v", next, n, err)
				}
				switch pk.FixedHeader.Type {
				case packets.Publish:
					got := binary.BigEndian.Uint64(pk.Payload)
					if got < next && pk.FixedHeader.Dup {
						stalled.puback(pk.PacketID) // a resend of one already seen
						continue
					}
					if got != next {
						t.Fatalf("stalled subscriber: message %d after %d (lost or out of order)", got, next-1)
					}
					next++
					stalled.puback(pk.PacketID)
				case packets.Disconnect:
					t.Fatalf("disconnected (0x%02x) after %d of %d", pk.ReasonCode, next, n)
				}
			}
			if v := metricValue(t, b, `storeedge_messages_dropped_total{reason="queue_full"}`); v != 0 {
				t.Errorf("queue_full drops: %v", v)
			}
		})
	}
}

// A connected subscriber that falls further behind than max_queued_messages is
// told (DISCONNECT 0x97 quota exceeded) after what it was being sent, and the
// disconnect is counted; a persistent session then gets, in order, what its
// queue held.
func TestSlowSubscriberPastQueueBoundIsDisconnected(t *testing.T) {
	const n, size, bound = 1500, 4096, 200
	b := startWithDevice(t, "admin-1", "admin", func(c *Config) {
		c.Limits.SendBufferBytes = 16 << 10
		c.Limits.MaxQueuedMessages = bound
	})
	addr := b.Addrs().TCP
	stalled, r, _ := dialRawSession(t, addr, "admin-1:stalled", false)
	stalled.subscribe("lab/stall", 1)
	r.expect(packets.Suback)
	publishNumbered(t, addr, "admin-1:pub", "lab/stall", n, size)

	// It reads again, acknowledging as it goes: first what was on its way,
	// then the DISCONNECT (its acknowledgements arriving after the broker
	// has finished writing must not make the DISCONNECT go missing).
	next := uint64(0)
	var reason byte
	for reason == 0 {
		pk, err := r.next(10 * time.Second)
		if err != nil {
			t.Fatalf("after %d messages, no DISCONNECT: %v", next, err)
		}
		switch pk.FixedHeader.Type {
		case packets.Publish:
			if got := binary.BigEndian.Uint64(pk.Payload); got != next {
				t.Fatalf("message %d after %d", got, next-1)
			}
			next++
			stalled.puback(pk.PacketID)
		case packets.Disconnect:
			reason = pk.ReasonCode
		}
	}
	if reason != 0x97 {
		t.Fatalf("DISCONNECT 0x%02x, want 0x97 quota exceeded", reason)
	}
	if v := metricValue(t, b, `storeedge_disconnects_total{reason="queue_full"}`); v != 1 {
		t.Fatalf("disconnects_total{queue_full} = %v, want 1", v)
	}
	if _, err := r.next(5 * time.Second); !errors.Is(err, io.EOF) && !isClosed(err) {
		t.Fatalf("after DISCONNECT the connection stays open: %v", err)
	}
	stalled.nc.Close()
	// Back on the same session: the queue from the first message it did not
	// acknowledge, in order; the rest are counted.
	stalled, r, connack := dialRawSession(t, addr, "admin-1:stalled", false)
	if !connack.SessionPresent {
		t.Fatal("session not present after the disconnect")
	}
	// A marker published now arrives after everything the session held.
	const marker = math.MaxUint64
	pub := dialAuto(t, "mqtt://"+addr, "admin-1:marker", "pass-admin-1", nil)
	if _, err := pub.Publish(context.Background(), &paho.Publish{Topic: "lab/stall", QoS: 1,
		Payload: binary.BigEndian.AppendUint64(nil, marker)}); err != nil {
		t.Fatal(err)
	}
	got := next
	for {
		pk, err := r.next(10 * time.Second)
		if err != nil {
			t.Fatalf("resumed session after message %d: %v", got, err)
		}
		if pk.FixedHeader.Type != packets.Publish {
			continue
		}
		stalled.puback(pk.PacketID)
		v := binary.BigEndian.Uint64(pk.Payload)
		if v == marker {
			break
		}
		if v < next && pk.FixedHeader.Dup {
			continue // sent before, its PUBACK lost with the connection
		}
		if v != got {
			t.Fatalf("resumed session: message %d, want %d", v, got)
		}
		got++
	}
	if got < bound {
		t.Fatalf("the session held %d messages, want at least its bound %d", got, bound)
	}
	dropped := metricValue(t, b, `storeedge_session_queue_dropped_total`) +
		metricValue(t, b, `storeedge_messages_dropped_total{reason="queue_full"}`)
	if int(dropped) < n-int(got) {
		t.Fatalf("%d messages neither delivered nor counted (counted %v)", n-int(got)-int(dropped), dropped)
	}
}

func isClosed(err error) bool {
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// Subscribers that read as fast as they can lose no QoS 0 message of a burst.
func TestQoS0FanOutToHealthyReadersLosesNothing(t *testing.T) {
	const subs, n = 5, 20000
	b := startWithDevice(t, "admin-1", "admin", nil)
	addr := b.Addrs().TCP
	var clients []*autoClient
	for k := 0; k < subs; k++ {
		c := dialAuto(t, "mqtt://"+addr, fmt.Sprintf("admin-1:sub%d", k), "pass-admin-1", nil)
		c.got = make(chan *paho.Publish, n)
		if _, err := c.Subscribe(context.Background(), &paho.Subscribe{
			Subscriptions: []paho.SubscribeOptions{{Topic: "lab/out0", QoS: 0}}}); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	pub := dialAuto(t, "mqtt://"+addr, "admin-1:pub", "pass-admin-1", nil)
	payload := make([]byte, 256)
	for i := 0; i < n; i++ {
		binary.BigEndian.PutUint64(payload, uint64(i))
		if _, err := pub.Publish(context.Background(), &paho.Publish{Topic: "lab/out0", QoS: 0, Payload: bytes.Clone(payload)}); err != nil {
			t.Fatal(err)
		}
	}
	// A QoS 1 marker after the burst: once a subscriber has it, everything
	// before it on the same connection has been written.
	if _, err := pub.Publish(context.Background(), &paho.Publish{Topic: "lab/out0", QoS: 1, Payload: []byte("end-of-burst")}); err != nil {
		t.Fatal(err)
	}
	for k, c := range clients {
		count := 0
		deadline := time.After(30 * time.Second)
	read:
		for {
			select {
			case p := <-c.got:
				if string(p.Payload) == "end-of-burst" {
					break read
				}
				count++
			case <-deadline:
				t.Fatalf("subscriber %d: no end of burst after %d messages", k, count)
			}
		}
		if count != n {
			t.Errorf("subscriber %d got %d of %d QoS 0 messages", k, count, n)
		}
	}
	if v := metricValue(t, b, `storeedge_messages_dropped_total{reason="send_buffer_full"}`); v != 0 {
		t.Errorf("send_buffer_full drops: %v", v)
	}
}

// A socket that never completes its CONNECT is closed after
// limits.connect_timeout, and counted.
func TestConnectTimeoutClosesHalfOpenSockets(t *testing.T) {
	b := startWithDevice(t, "admin-1", "admin", func(c *Config) { c.Limits.ConnectTimeout = time.Second })
	silent, err := net.Dial("tcp", b.Addrs().TCP)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	// The other claims a 16 KiB CONNECT and sends three bytes of it.
	partial, err := net.Dial("tcp", b.Addrs().TCP)
	if err != nil {
		t.Fatal(err)
	}
	defer partial.Close()
	if _, err := partial.Write([]byte{0x10, 0xff, 0x7f, 0x00, 0x04, 'M'}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for _, c := range []net.Conn{silent, partial} {
		_ = c.SetReadDeadline(time.Now().Add(8 * time.Second))
		if _, err := c.Read(make([]byte, 16)); !errors.Is(err, io.EOF) && !isClosed(err) {
			t.Fatalf("the half-open connection is still open after %v: %v", time.Since(start).Round(time.Millisecond), err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for metricValue(t, b, "storeedge_connect_timeouts_total") != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("connect_timeouts_total = %v, want 2", metricValue(t, b, "storeedge_connect_timeouts_total"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// limits.max_keepalive: an MQTT 5 client asking for no keep alive, or more
// than the cap, is told the cap (Server Keep Alive) and held to it; one asking
// for less keeps its own; an MQTT 3.1.1 client asking for more is refused.
func TestMaxKeepalive(t *testing.T) {
	b := startWithDevice(t, "admin-1", "admin", func(c *Config) { c.Limits.MaxKeepalive = 2 })
	addr := b.Addrs().TCP
	connect := func(version byte, keepalive uint16) (net.Conn, packets.Packet) {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		name := []byte("MQTT")
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: version,
			Connect: packets.ConnectParams{ProtocolName: name, Clean: true, Keepalive: keepalive,
				ClientIdentifier: fmt.Sprintf("admin-1:ka%d-%d", version, keepalive),
				UsernameFlag:     true, Username: []byte("admin-1"), PasswordFlag: true, Password: []byte("pass-admin-1")}}
		var buf bytes.Buffer
		if err := pk.ConnectEncode(&buf); err != nil {
			t.Fatal(err)
		}
		if _, err := nc.Write(buf.Bytes()); err != nil {
			t.Fatal(err)
		}
		r := newPacketReader(t, nc)
		r.version = version
		ack, err := r.next(5 * time.Second)
		if err != nil || ack.FixedHeader.Type != packets.Connack {
			t.Fatalf("v%d keepalive %d: no CONNACK: %v", version, keepalive, err)
		}
		return nc, ack
	}
	for _, asked := range []uint16{0, 600} {
		nc, ack := connect(5, asked)
		if ack.ReasonCode != 0 || !ack.Properties.ServerKeepAliveFlag || ack.Properties.ServerKeepAlive != 2 {
			t.Fatalf("v5 asking %d: CONNACK 0x%02x, Server Keep Alive %v/%d, want the cap 2",
				asked, ack.ReasonCode, ack.Properties.ServerKeepAliveFlag, ack.Properties.ServerKeepAlive)
		}
		// Held to it: silent past 1.5 x 2 s, the connection is closed.
		start := time.Now()
		_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := nc.Read(make([]byte, 16)); !isClosed(err) {
			t.Fatalf("v5 asking %d: still open after %v (%v)", asked, time.Since(start), err)
		}
		if d := time.Since(start); d < 2*time.Second || d > 6*time.Second {
			t.Fatalf("v5 asking %d: closed after %v, want about 3 s", asked, d)
		}
	}
	if _, ack := connect(5, 1); ack.ReasonCode != 0 || ack.Properties.ServerKeepAliveFlag {
		t.Fatalf("v5 asking 1 (under the cap): CONNACK 0x%02x, Server Keep Alive set %v", ack.ReasonCode, ack.Properties.ServerKeepAliveFlag)
	}
	if _, ack := connect(4, 60); ack.ReasonCode != 0x02 {
		t.Fatalf("v3.1.1 asking 60 over a cap of 2: CONNACK 0x%02x, want 0x02 identifier rejected", ack.ReasonCode)
	}
	if _, ack := connect(4, 2); ack.ReasonCode != 0 {
		t.Fatalf("v3.1.1 asking 2: CONNACK 0x%02x", ack.ReasonCode)
	}
}

// slowLogin is an authentication that takes its time, as a password check
// does on the store box while other logins are queued before it.
type slowLogin struct {
	mqtt.HookBase
	took time.Duration
}

func (h *slowLogin) ID() string { return "slow-login" }
func (h *slowLogin) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}
func (h *slowLogin) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool {
	time.Sleep(h.took) // the check's own duration, not a wait for anything
	return true
}
func (h *slowLogin) OnACLCheck(*mqtt.Client, string, bool) bool { return true }

// The keep alive is the client's silence the server tolerates, counted from
// its last packet; the time the server takes to check a login is not the
// client's. A client with keep alive 1 whose login took 2 s gets its
// CONNACK (the keep alive's deadline, set before the check, used to expire
// the CONNACK's write: EOF and no CONNACK), and is held to 1.5 s after it.
func TestSlowLoginStillGetsItsConnack(t *testing.T) {
	srv := mqtttest.Start(t, mqtttest.Options{Hooks: []mqtt.Hook{&slowLogin{took: 2 * time.Second}}})
	nc, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 5,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 1, ClientIdentifier: "slow"}}
	var buf bytes.Buffer
	if err := pk.ConnectEncode(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	r := newPacketReader(t, nc)
	r.version = 5
	ack, err := r.next(10 * time.Second)
	if err != nil || ack.FixedHeader.Type != packets.Connack || ack.ReasonCode != 0 {
		t.Fatalf("no CONNACK after a 2 s login with keep alive 1: %v (%v)", err, ack.FixedHeader.Type)
	}
	start := time.Now()
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Read(make([]byte, 16)); !isClosed(err) {
		t.Fatalf("still open %v after the CONNACK (%v)", time.Since(start), err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("closed %v after the CONNACK, want about 1.5 s", d)
	}
}

// A client disconnected for falling behind that does not read at all is not
// kept for ever: after limits.slow_client_grace its connection is closed.
func TestSlowClientGraceClosesAClientThatNeverReads(t *testing.T) {
	const n, size, bound = 600, 4096, 100
	b := startWithDevice(t, "admin-1", "admin", func(c *Config) {
		c.Limits.SendBufferBytes = 16 << 10
		c.Limits.MaxQueuedMessages = bound
		c.Limits.SlowClientGrace = time.Second
	})
	addr := b.Addrs().TCP
	stalled, r, _ := dialRawSession(t, addr, "admin-1:stalled", true)
	stalled.subscribe("lab/stall", 1)
	r.expect(packets.Suback)
	publishNumbered(t, addr, "admin-1:pub", "lab/stall", n, size) // its connection is closed when it returns
	if v := metricValue(t, b, `storeedge_disconnects_total{reason="queue_full"}`); v != 1 {
		t.Fatalf("disconnects_total{queue_full} = %v, want 1", v)
	}
	// The stalled client never reads; the broker lets it go after the grace.
	deadline := time.Now().Add(10 * time.Second)
	for metricValue(t, b, "storeedge_connections") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the stalled client is still connected 10 s after its disconnect (grace 1 s)")
		}
		time.Sleep(50 * time.Millisecond) // polling the broker's gauge
	}
}
