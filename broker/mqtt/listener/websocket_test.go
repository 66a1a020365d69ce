package listener_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/gorilla/websocket"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/storeedge/storeedge/broker/mqtt/listener"
	"github.com/storeedge/storeedge/internal/testkit/mqtttest"
	"github.com/storeedge/storeedge/internal/testkit/testpki"
)

const wsPath = "/mqtt"

// startBroker runs a mochi server whose only listener is l.
func startBroker(t *testing.T, l listeners.Listener) *mqtttest.Server {
	t.Helper()
	return mqtttest.Start(t, mqtttest.Options{Hooks: []mqtt.Hook{new(auth.AllowHook)}, NoTCP: true, Listeners: []listeners.Listener{l}})
}

// client is an autopaho connection over WebSocket with its received messages.
type client struct {
	cm  *autopaho.ConnectionManager
	got chan *paho.Publish
}

// connect dials rawURL with autopaho, sending origin (if not empty) as the
// Origin header, and waits for the MQTT session.
func connect(ctx context.Context, t *testing.T, rawURL, id, origin string, tlsCfg *tls.Config) (*client, error) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	c := &client{got: make(chan *paho.Publish, 16)}
	connErr := make(chan error, 1)
	cfg := autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{u},
		TlsCfg:                        tlsCfg,
		KeepAlive:                     30,
		CleanStartOnInitialConnection: true,
		ConnectTimeout:                5 * time.Second,
		OnConnectError: func(err error) {
			select {
			case connErr <- err:
			default:
			}
		},
		ClientConfig: paho.ClientConfig{
			ClientID: id,
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){
				func(pr paho.PublishReceived) (bool, error) {
					c.got <- pr.Packet
					return true, nil
				},
			},
		},
	}
	if origin != "" {
		cfg.WebSocketCfg = &autopaho.WebSocketConfig{
			Header: func(*url.URL, *tls.Config) http.Header { return http.Header{"Origin": {origin}} },
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cm, err := autopaho.NewConnection(cctx, cfg)
	if err != nil {
		cancel()
		return nil, err
	}
	t.Cleanup(func() {
		dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer dcancel()
		_ = cm.Disconnect(dctx)
		cancel()
	})
	up := make(chan error, 1)
	go func() { up <- cm.AwaitConnection(ctx) }()
	select {
	case err := <-up:
		if err != nil {
			return nil, err
		}
	case err := <-connErr:
		return nil, err
	}
	c.cm = cm
	return c, nil
}

func newWS(t *testing.T, origins []string) *listener.Websocket {
	t.Helper()
	return listener.NewWebsocket("ws", "127.0.0.1:0", wsPath, origins, nil)
}

func wsURL(ws *listener.Websocket) string { return "ws://" + ws.Address() + wsPath }

func TestAddressAfterInit(t *testing.T) {
	ws := newWS(t, nil)
	if got := ws.Address(); got != "127.0.0.1:0" {
		t.Fatalf("Address before Init = %q", got)
	}
	if ws.ID() != "ws" || ws.Protocol() != "ws" {
		t.Fatalf("ID/Protocol = %q/%q", ws.ID(), ws.Protocol())
	}
	startBroker(t, ws)
	host, port, err := net.SplitHostPort(ws.Address())
	if err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("Address after Init = %q (%v), want a bound port", ws.Address(), err)
	}
}

// TestMochiTCPReportsBoundAddress pins why this package has no TCP listener:
// mochi's own reports the bound port after Init.
func TestMochiTCPReportsBoundAddress(t *testing.T) {
	tcp := listeners.NewTCP(listeners.Config{ID: "tcp", Address: "127.0.0.1:0"})
	startBroker(t, tcp)
	if _, port, err := net.SplitHostPort(tcp.Address()); err != nil || port == "0" {
		t.Fatalf("mochi TCP Address after Init = %q (%v)", tcp.Address(), err)
	}
}

func TestPublishSubscribe(t *testing.T) {
	ws := newWS(t, []string{"https://kiosk.shop.example"})
	startBroker(t, ws)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// A device (no Origin) and a browser page from an allowed origin.
	sub, err := connect(ctx, t, wsURL(ws), "sub", "", nil)
	if err != nil {
		t.Fatalf("device connect: %v", err)
	}
	if _, err := sub.cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "chat/+/events", QoS: 1}}}); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	pub, err := connect(ctx, t, wsURL(ws), "pub", "HTTPS://Kiosk.Shop.Example:443", nil)
	if err != nil {
		t.Fatalf("allowed-origin connect: %v", err)
	}
	for i, qos := range []byte{0, 1} {
		want := fmt.Sprintf("hello %d", i)
		if _, err := pub.cm.Publish(ctx, &paho.Publish{Topic: "chat/c1/events", QoS: qos, Payload: []byte(want)}); err != nil {
			t.Fatalf("publish: %v", err)
		}
		select {
		case m := <-sub.got:
			if string(m.Payload) != want || m.QoS != qos {
				t.Fatalf("got %q qos %d, want %q qos %d", m.Payload, m.QoS, want, qos)
			}
		case <-ctx.Done():
			t.Fatalf("message %d not delivered", i)
		}
	}
}

func TestMessageLargerThanFrames(t *testing.T) {
	ws := newWS(t, nil)
	ws.SetMaxMessageSize(1 << 20)
	startBroker(t, ws)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	sub, err := connect(ctx, t, wsURL(ws), "sub", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sub.cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "media/#", QoS: 1}}}); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	pub, err := connect(ctx, t, wsURL(ws), "pub", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	// 300 KiB: gorilla writes 4 KiB frames both ways, so this is ~75 frames
	// in one message each way.
	payload := make([]byte, 300<<10)
	if _, err := rand.Read(payload); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.cm.Publish(ctx, &paho.Publish{Topic: "media/photo", QoS: 1, Payload: payload}); err != nil {
		t.Fatalf("publish: %v", err)
	}
	select {
	case m := <-sub.got:
		if !bytes.Equal(m.Payload, payload) {
			t.Fatalf("payload corrupted: got %d bytes", len(m.Payload))
		}
	case <-ctx.Done():
		t.Fatal("large message not delivered")
	}
}

// rawConn is a gorilla client speaking MQTT 3.1.1 by hand, to control how
// packets map onto WebSocket messages.
type rawConn struct {
	t  *testing.T
	ws *websocket.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, rawURL string, header http.Header, protocols ...string) (*rawConn, *http.Response, error) {
	t.Helper()
	if protocols == nil {
		protocols = []string{listener.Subprotocol}
	}
	d := websocket.Dialer{Subprotocols: protocols, HandshakeTimeout: 5 * time.Second}
	ws, resp, err := d.Dial(rawURL, header)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, resp, err
	}
	t.Cleanup(func() { ws.Close() })
	if err := ws.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	rc := &rawConn{t: t, ws: ws}
	rc.br = bufio.NewReader(&messageStream{ws: ws})
	return rc, resp, nil
}

func (rc *rawConn) send(chunks ...[]byte) {
	rc.t.Helper()
	for _, c := range chunks {
		if err := rc.ws.WriteMessage(websocket.BinaryMessage, c); err != nil {
			rc.t.Fatalf("write: %v", err)
		}
	}
}

// next reads one MQTT packet from the stream of messages.
func (rc *rawConn) next() (byte, []byte, error) {
	first, err := rc.br.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mul := 0, 1
	for {
		b, err := rc.br.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(b&0x7f) * mul
		if b&0x80 == 0 {
			break
		}
		mul *= 128
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(rc.br, body); err != nil {
		return 0, nil, err
	}
	return first >> 4, body, nil
}

func (rc *rawConn) expect(typ byte) []byte {
	rc.t.Helper()
	got, body, err := rc.next()
	if err != nil {
		rc.t.Fatalf("reading packet type %d: %v", typ, err)
	}
	if got != typ {
		rc.t.Fatalf("got packet type %d, want %d", got, typ)
	}
	return body
}

// messageStream concatenates incoming WebSocket messages.
type messageStream struct {
	ws *websocket.Conn
	r  io.Reader
}

func (s *messageStream) Read(p []byte) (int, error) {
	for {
		if s.r == nil {
			_, r, err := s.ws.NextReader()
			if err != nil {
				return 0, err
			}
			s.r = r
		}
		n, err := s.r.Read(p)
		if err == io.EOF {
			s.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func encode(t *testing.T, pk packets.Packet) []byte {
	t.Helper()
	pk.ProtocolVersion = 4
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Subscribe:
		err = pk.SubscribeEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	case packets.Pingreq:
		err = pk.PingreqEncode(&buf)
	default:
		err = fmt.Errorf("no encoder for %d", pk.FixedHeader.Type)
	}
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return buf.Bytes()
}

func connectPacket(t *testing.T, id string) []byte {
	return encode(t, packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Connect},
		Connect: packets.ConnectParams{
			ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: id,
		},
	})
}

func TestPacketsAcrossMessageBoundaries(t *testing.T) {
	ws := newWS(t, nil)
	startBroker(t, ws)
	rc, _, err := dialRaw(t, wsURL(ws), nil)
	if err != nil {
		t.Fatal(err)
	}

	// One CONNECT split over three messages, the first ending inside the
	// fixed header.
	conn := connectPacket(t, "raw")
	rc.send(conn[:1], conn[1:5], conn[5:])
	if ack := rc.expect(packets.Connack); len(ack) != 2 || ack[1] != 0 {
		t.Fatalf("CONNACK % x", ack)
	}

	// SUBSCRIBE, PUBLISH and PINGREQ in one message.
	sub := encode(t, packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1},
		PacketID:    1,
		Filters:     packets.Subscriptions{{Filter: "a/b", Qos: 0}},
	})
	pub := encode(t, packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish},
		TopicName:   "a/b",
		Payload:     []byte("both in one"),
	})
	ping := encode(t, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})
	rc.send(bytes.Join([][]byte{sub, pub, ping}, nil))

	rc.expect(packets.Suback)
	// mochi writes PINGRESP on the reading goroutine and PUBLISH through the
	// client's write queue, so these two may come in either order.
	var gotPub, gotPong bool
	for !gotPub || !gotPong {
		typ, body, err := rc.next()
		switch {
		case err != nil:
			t.Fatalf("read: %v", err)
		case typ == packets.Publish && !gotPub:
			if !bytes.HasSuffix(body, []byte("both in one")) {
				t.Fatalf("PUBLISH body %q", body)
			}
			gotPub = true
		case typ == packets.Pingresp && !gotPong:
			gotPong = true
		default:
			t.Fatalf("unexpected packet type %d", typ)
		}
	}
}

func TestReadLimit(t *testing.T) {
	const limit = 1024
	ws := newWS(t, nil)
	ws.SetMaxMessageSize(limit)
	startBroker(t, ws)
	rc, _, err := dialRaw(t, wsURL(ws), nil)
	if err != nil {
		t.Fatal(err)
	}
	rc.send(connectPacket(t, "big"))
	rc.expect(packets.Connack)
	rc.send(encode(t, packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1},
		PacketID:    1,
		Filters:     packets.Subscriptions{{Filter: "a/b"}},
	}))
	rc.expect(packets.Suback)

	// A message of exactly the limit passes: 1 byte of packet type, 2 of
	// remaining length, 5 of topic, the rest payload.
	pub := encode(t, packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish},
		TopicName:   "a/b",
		Payload:     make([]byte, limit-1-2-5),
	})
	if len(pub) != limit {
		t.Fatalf("test packet is %d bytes, want %d", len(pub), limit)
	}
	rc.send(pub)
	rc.expect(packets.Publish)

	// A frame announcing more than the limit is refused from its header
	// (sent alone, so the server has nothing unread and closes with a FIN,
	// not a reset that could swallow the close frame).
	hdr := []byte{0x82, 0x80 | 126, byte((limit + 1) >> 8), byte((limit + 1) & 0xff), 1, 2, 3, 4}
	if _, err := rc.ws.NetConn().Write(hdr); err != nil {
		t.Fatal(err)
	}
	_, _, err = rc.next()
	if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Fatalf("after an oversized frame: %v, want close 1009", err)
	}
}

func TestTextMessageRefused(t *testing.T) {
	ws := newWS(t, nil)
	startBroker(t, ws)
	rc, _, err := dialRaw(t, wsURL(ws), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.ws.WriteMessage(websocket.TextMessage, connectPacket(t, "text")); err != nil {
		t.Fatal(err)
	}
	_, _, err = rc.next()
	if !websocket.IsCloseError(err, websocket.CloseUnsupportedData) {
		t.Fatalf("after a text message: %v, want close 1003", err)
	}
}

func TestHandshakeRefusals(t *testing.T) {
	ws := newWS(t, []string{"https://console.shop.example"})
	startBroker(t, ws)
	for _, tc := range []struct {
		name, path, origin string
		protocols          []string
		code               int
	}{
		{"wrong path", "/other", "", nil, http.StatusNotFound},
		{"root path", "/", "", nil, http.StatusNotFound},
		{"forbidden origin", wsPath, "https://evil.example", nil, http.StatusForbidden},
		{"origin with other port", wsPath, "https://console.shop.example:8443", nil, http.StatusForbidden},
		{"no mqtt subprotocol", wsPath, "", []string{"chat"}, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			_, resp, err := dialRaw(t, "ws://"+ws.Address()+tc.path, h, tc.protocols...)
			if err == nil {
				t.Fatal("handshake succeeded")
			}
			if resp == nil || resp.StatusCode != tc.code {
				t.Fatalf("response %v (%v), want status %d", resp, err, tc.code)
			}
		})
	}

	// A plain HTTP GET on the path is told to upgrade.
	resp, err := http.Get("http://" + ws.Address() + wsPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("plain GET: %d, want 426", resp.StatusCode)
	}
}

func TestOriginRules(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name    string
		allowed []string
		origin  string
		ok      bool
	}{
		{"no origin, empty list", nil, "", true},
		{"origin, empty list", nil, "http://localhost:8080", false},
		{"listed", []string{"http://localhost:8080"}, "http://localhost:8080", true},
		{"wildcard", []string{"*"}, "https://anything.example", true},
		{"null origin refused", []string{"http://localhost:8080"}, "null", false},
		// The box's own pages: the origin's host is the host asked for
		// (127.0.0.1 here), on another port (the HTTP listener's).
		{"same host, other port, empty list", nil, "http://127.0.0.1:8080", true},
		{"same host, https", nil, "https://127.0.0.1", true},
		{"other host, empty list", nil, "http://127.0.0.2:8080", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws := newWS(t, tc.allowed)
			startBroker(t, ws)
			_, err := connect(ctx, t, wsURL(ws), "c", tc.origin, nil)
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && (err == nil || !strings.Contains(err.Error(), "bad handshake")) {
				t.Fatalf("got %v, want a refused handshake", err)
			}
		})
	}
}

func TestCloseDisconnectsClients(t *testing.T) {
	ws := newWS(t, nil)
	srv := startBroker(t, ws)
	rc, _, err := dialRaw(t, wsURL(ws), nil)
	if err != nil {
		t.Fatal(err)
	}
	rc.send(encode(t, packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Connect},
		Connect:     packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: "closing"},
	}))
	rc.expect(packets.Connack)
	// An upgraded connection that never sends CONNECT.
	idle, _, err := dialRaw(t, wsURL(ws), nil)
	if err != nil {
		t.Fatal(err)
	}

	addr := ws.Address()
	srv.Close()
	for _, c := range []*rawConn{rc, idle} {
		for {
			_, _, err := c.next()
			if err == nil {
				continue // e.g. a DISCONNECT
			}
			var ce *websocket.CloseError
			if !errors.As(err, &ce) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
				t.Fatalf("connection ended with %v, want a close", err)
			}
			break
		}
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("listener still accepting after Close")
	}
}

func TestTLS(t *testing.T) {
	ca := testpki.New(t)
	serverCfg := &tls.Config{Certificates: []tls.Certificate{ca.Server(t, "storeedge")}, MinVersion: tls.VersionTLS12}
	roots := ca.Pool
	ws := listener.NewWebsocket("wss", "127.0.0.1:0", wsPath, nil, serverCfg)
	if ws.Protocol() != "wss" {
		t.Fatalf("Protocol = %q", ws.Protocol())
	}
	startBroker(t, ws)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := connect(ctx, t, "wss://"+ws.Address()+wsPath, "tls", "", &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("wss connect: %v", err)
	}
	if _, err := c.cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "x", QoS: 1}}}); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	if _, err := c.cm.Publish(ctx, &paho.Publish{Topic: "x", QoS: 1, Payload: []byte("secure")}); err != nil {
		t.Fatalf("publish: %v", err)
	}
	select {
	case m := <-c.got:
		if string(m.Payload) != "secure" {
			t.Fatalf("got %q", m.Payload)
		}
	case <-ctx.Done():
		t.Fatal("not delivered over wss")
	}
}
