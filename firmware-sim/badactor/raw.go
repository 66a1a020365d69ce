package badactor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/eclipse/paho.golang/packets"
)

// dial opens a TCP connection that is closed when ctx ends; done closes it.
func dial(ctx context.Context, addr string) (conn net.Conn, done func(), err error) {
	var d net.Dialer
	conn, err = d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	return conn, func() { stop(); _ = conn.Close() }, nil
}

// expectClosed reads whatever the broker sends until it closes conn; an
// error when the connection is still open after wait.
func expectClosed(ctx context.Context, conn net.Conn, wait time.Duration) (string, error) {
	start := time.Now()
	deadline := start.Add(wait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := conn.SetReadDeadline(deadline); err != nil {
		return "", fmt.Errorf("set read deadline: %w", err)
	}
	var first []byte
	total := 0
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		total += n
		if k := min(n, 8-len(first)); k > 0 {
			first = append(first, buf[:k]...)
		}
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return "", fmt.Errorf("waiting for the broker to close the connection: %w", ctx.Err())
		}
		if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
			return "", fmt.Errorf("the connection is still open after %v (%s)", time.Since(start).Round(time.Millisecond), received(total, first))
		}
		return fmt.Sprintf("closed after %v (%s, then %s)", time.Since(start).Round(time.Millisecond), received(total, first), closeReason(err)), nil
	}
}

func received(total int, first []byte) string {
	if total == 0 {
		return "nothing received"
	}
	return fmt.Sprintf("received %d bytes: % x", total, first)
}

func closeReason(err error) string {
	switch {
	case errors.Is(err, io.EOF):
		return "EOF"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	}
	return err.Error()
}

// sendThenExpectClosed writes b and waits for the broker to close.
func (r *runner) sendThenExpectClosed(ctx context.Context, b []byte) (string, error) {
	conn, done, err := dial(ctx, r.t.Addr)
	if err != nil {
		return "", err
	}
	defer done()
	if _, err := conn.Write(b); err != nil {
		return "", fmt.Errorf("write %d bytes: %w", len(b), err)
	}
	return expectClosed(ctx, conn, r.tm.closed)
}

func checkGarbageHTTP(ctx context.Context, r *runner) (string, error) {
	return r.sendThenExpectClosed(ctx, []byte("GET /mqtt HTTP/1.1\r\nHost: store\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"))
}

func checkGarbageRandom(ctx context.Context, r *runner) (string, error) {
	b := make([]byte, 512)
	rng := rand.New(rand.NewPCG(42, 7))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	if b[0]>>4 == packets.CONNECT {
		b[0] ^= 0x80
	}
	return r.sendThenExpectClosed(ctx, b)
}

// A remaining length of five bytes (the limit is four).
func checkMalformedLength(ctx context.Context, r *runner) (string, error) {
	return r.sendThenExpectClosed(ctx, []byte{0x10, 0x80, 0x80, 0x80, 0x80, 0x01, 0x00, 0x04, 'M', 'Q', 'T', 'T'})
}

// A CONNECT whose remaining length ends after the protocol version and
// flags: keep alive, properties and client id are missing.
func checkShortConnect(ctx context.Context, r *runner) (string, error) {
	return r.sendThenExpectClosed(ctx, []byte{0x10, 0x08, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0xC2})
}

// Half of a valid CONNECT, then the client stops sending (half-close).
func checkCutConnect(ctx context.Context, r *runner) (string, error) {
	var full bytes.Buffer
	if _, err := r.connectPacket(r.clientID("bad-cut")).WriteTo(&full); err != nil {
		return "", fmt.Errorf("encode CONNECT: %w", err)
	}
	conn, done, err := dial(ctx, r.t.Addr)
	if err != nil {
		return "", err
	}
	defer done()
	half := full.Bytes()[:full.Len()/2]
	if _, err := conn.Write(half); err != nil {
		return "", fmt.Errorf("write: %w", err)
	}
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return "", fmt.Errorf("not a TCP connection: %T", conn)
	}
	if err := tc.CloseWrite(); err != nil {
		return "", fmt.Errorf("half-close: %w", err)
	}
	d, err := expectClosed(ctx, conn, r.tm.closed)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("sent %d of %d bytes; %s", len(half), full.Len(), d), nil
}

// connectPacket is an MQTT 5 CONNECT with the honest device's credentials.
func (r *runner) connectPacket(cid string) *packets.Connect {
	return &packets.Connect{ProtocolName: "MQTT", ProtocolVersion: 5, ClientID: cid, CleanStart: true, KeepAlive: 30,
		Username: r.t.DeviceID, UsernameFlag: true, Password: []byte(r.t.Password), PasswordFlag: true,
		Properties: &packets.Properties{}}
}

// rawConnect logs the honest device in on conn and returns the CONNACK.
func (r *runner) rawConnect(ctx context.Context, conn net.Conn, cid string) (*packets.Connack, error) {
	if _, err := r.connectPacket(cid).WriteTo(conn); err != nil {
		return nil, fmt.Errorf("send CONNECT: %w", err)
	}
	deadline := time.Now().Add(r.tm.answer)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := conn.SetReadDeadline(deadline); err != nil {
		return nil, fmt.Errorf("set read deadline: %w", err)
	}
	p, err := packets.ReadPacket(conn)
	if err != nil {
		return nil, fmt.Errorf("read CONNACK: %w", err)
	}
	ca, ok := p.Content.(*packets.Connack)
	if !ok {
		return nil, fmt.Errorf("got %s instead of CONNACK", p.PacketType())
	}
	if ca.ReasonCode != packets.ConnackSuccess {
		return ca, fmt.Errorf("CONNACK 0x%02X for %s", ca.ReasonCode, cid)
	}
	if err := conn.SetReadDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("clear read deadline: %w", err)
	}
	return ca, nil
}

// A QoS 0 PUBLISH to the device's own telemetry topic (allowed), 1 KiB
// larger than the broker's maximum packet size.
func checkOversizePacket(ctx context.Context, r *runner) (string, error) {
	conn, done, err := dial(ctx, r.t.Addr)
	if err != nil {
		return "", err
	}
	defer done()
	ca, err := r.rawConnect(ctx, conn, r.clientID("bad-big"))
	if err != nil {
		return "", err
	}
	limit := r.maxPacket()
	var notes []string
	switch announced := ca.Properties; {
	case announced == nil || announced.MaximumPacketSize == nil:
		notes = append(notes, "CONNACK announces no Maximum Packet Size")
	case int(*announced.MaximumPacketSize) != limit:
		return "", fmt.Errorf("CONNACK announces Maximum Packet Size %d, the target says %d", *announced.MaximumPacketSize, limit)
	default:
		notes = append(notes, fmt.Sprintf("CONNACK announces Maximum Packet Size %d", limit))
	}
	pkt := publishPacket("devices/"+r.t.DeviceID+"/telemetry", limit+1024)
	werr := make(chan error, 1)
	go func() { _, err := conn.Write(pkt); werr <- err }()
	d, err := expectClosed(ctx, conn, r.tm.closed)
	done() // ends the write, if it is still blocked
	w := <-werr
	if err != nil {
		return "", err
	}
	if w != nil {
		notes = append(notes, "the write failed: "+closeReason(w))
	}
	return fmt.Sprintf("sent a %d-byte PUBLISH; %s; %s", len(pkt), d, strings.Join(notes, "; ")), nil
}

// publishPacket is an MQTT 5 QoS 0 PUBLISH of size bytes in all, or one
// more where no remaining length adds up to size (size is well above the
// topic's length).
func publishPacket(topic string, size int) []byte {
	rem := -1
	for lenBytes := 1; lenBytes <= 4 && rem < 0; lenBytes++ {
		if n := size - 1 - lenBytes; len(varInt(n)) == lenBytes {
			rem = n
		}
	}
	if rem < 0 {
		return publishPacket(topic, size+1)
	}
	b := make([]byte, 0, size)
	b = append(b, 0x30)
	b = append(b, varInt(rem)...)
	b = append(b, byte(len(topic)>>8), byte(len(topic)))
	b = append(b, topic...)
	b = append(b, 0) // no properties
	for len(b) < cap(b) {
		b = append(b, 'x')
	}
	return b
}

// varInt is n as an MQTT variable byte integer.
func varInt(n int) []byte {
	var b []byte
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}
