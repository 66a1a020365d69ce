package conformance

// A tiny raw-TCP MQTT client for the checks that need the exact bytes on the
// wire: it writes packets built here by hand and reads whole packets back as
// bytes, so a test sees a remaining length, a reason code that a library
// would hide, or a property a library would drop or merge.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// Packet types (high nibble of the first byte).
const (
	typeConnect     = 1
	typeConnack     = 2
	typePublish     = 3
	typePuback      = 4
	typePubrec      = 5
	typePubrel      = 6
	typePubcomp     = 7
	typeSubscribe   = 8
	typeSuback      = 9
	typeUnsubscribe = 10
	typeUnsuback    = 11
	typePingreq     = 12
	typePingresp    = 13
	typeDisconnect  = 14
)

var typeNames = map[byte]string{typeConnect: "CONNECT", typeConnack: "CONNACK", typePublish: "PUBLISH",
	typePuback: "PUBACK", typePubrec: "PUBREC", typePubrel: "PUBREL", typePubcomp: "PUBCOMP",
	typeSubscribe: "SUBSCRIBE", typeSuback: "SUBACK", typeUnsubscribe: "UNSUBSCRIBE", typeUnsuback: "UNSUBACK",
	typePingreq: "PINGREQ", typePingresp: "PINGRESP", typeDisconnect: "DISCONNECT", 15: "AUTH"}

// MQTT 5 property identifiers.
const (
	propPayloadFormat     = 0x01
	propMessageExpiry     = 0x02
	propContentType       = 0x03
	propResponseTopic     = 0x08
	propCorrelationData   = 0x09
	propSubscriptionID    = 0x0B
	propSessionExpiry     = 0x11
	propServerKeepAlive   = 0x13
	propWillDelay         = 0x18
	propReasonString      = 0x1F
	propReceiveMaximum    = 0x21
	propTopicAliasMaximum = 0x22
	propTopicAlias        = 0x23
	propUserProperty      = 0x26
	propMaximumPacketSize = 0x27
)

// frame is one packet as read from the wire.
type frame struct {
	Raw   []byte // the whole packet, fixed header included
	Type  byte
	Flags byte
	Body  []byte // variable header and payload (Remaining Length bytes)
}

func (f frame) String() string {
	name := typeNames[f.Type]
	if name == "" {
		name = fmt.Sprintf("type %d", f.Type)
	}
	return fmt.Sprintf("%s % x", name, f.Raw)
}

// rawConn is one raw MQTT connection.
type rawConn struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("raw dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, r: bufio.NewReader(c)}
}

func (rc *rawConn) write(pkt []byte) {
	rc.t.Helper()
	_ = rc.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := rc.c.Write(pkt); err != nil {
		rc.t.Fatalf("raw write % x: %v", pkt, err)
	}
}

// next reads one packet; io.EOF (or another error) when the connection ends
// or nothing comes within d.
func (rc *rawConn) next(d time.Duration) (frame, error) {
	_ = rc.c.SetReadDeadline(time.Now().Add(d))
	h, err := rc.r.ReadByte()
	if err != nil {
		return frame{}, err
	}
	raw := []byte{h}
	var n, mul int
	for i := 0; ; i++ {
		b, err := rc.r.ReadByte()
		if err != nil {
			return frame{}, err
		}
		raw = append(raw, b)
		n += int(b&0x7f) << mul
		mul += 7
		if b&0x80 == 0 {
			break
		}
		if i == 3 {
			return frame{}, errors.New("malformed remaining length")
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(rc.r, body); err != nil {
		return frame{}, err
	}
	return frame{Raw: append(raw, body...), Type: h >> 4, Flags: h & 0x0f, Body: body}, nil
}

// expect reads the next packet, which must be of type typ.
func (rc *rawConn) expect(typ byte) frame {
	rc.t.Helper()
	f, err := rc.next(10 * time.Second)
	if err != nil {
		rc.t.Fatalf("waiting for %s: %v", typeNames[typ], err)
	}
	if f.Type != typ {
		rc.t.Fatalf("want %s, got %s", typeNames[typ], f)
	}
	return f
}

// closedWithin waits up to d for the server to close the connection and
// returns what it sent before closing (a DISCONNECT, say).
func (rc *rawConn) closedWithin(d time.Duration) (sent []frame, closed bool) {
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return sent, false
		}
		f, err := rc.next(left)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return sent, false
			}
			return sent, true
		}
		sent = append(sent, f)
	}
}

// connect5 logs in with MQTT 5 (as a registered device, password "pw-"+id)
// and returns the CONNACK, which must accept the connection.
func (rc *rawConn) connect5(o rawConnect) connack {
	rc.t.Helper()
	rc.write(o.packet(5))
	f := rc.expect(typeConnack)
	ca := parseConnack(rc.t, f, 5)
	if ca.Reason != 0 {
		rc.t.Fatalf("CONNACK refused: 0x%02x %v", ca.Reason, ca.Props)
	}
	return ca
}

// rawConnect describes a CONNECT packet.
type rawConnect struct {
	ClientID, Username string
	KeepAlive          uint16
	CleanStart         bool
	Props              []byte // MQTT 5 properties (props())
	WillTopic          string
	WillPayload        []byte
	WillQoS            byte
	WillProps          []byte
}

func (o rawConnect) packet(version byte) []byte {
	var vh []byte
	vh = appendString(vh, "MQTT")
	vh = append(vh, version)
	flags := byte(0xC0) // user name and password
	if o.CleanStart {
		flags |= 0x02
	}
	if o.WillTopic != "" {
		flags |= 0x04 | o.WillQoS<<3
	}
	vh = append(vh, flags)
	vh = binary.BigEndian.AppendUint16(vh, o.KeepAlive)
	if version == 5 {
		vh = appendProps(vh, o.Props)
	}
	vh = appendString(vh, o.ClientID)
	if o.WillTopic != "" {
		if version == 5 {
			vh = appendProps(vh, o.WillProps)
		}
		vh = appendString(vh, o.WillTopic)
		vh = appendBinary(vh, o.WillPayload)
	}
	user := o.Username
	if user == "" {
		user, _, _ = strings.Cut(o.ClientID, ":")
	}
	vh = appendString(vh, user)
	vh = appendString(vh, "pw-"+user)
	return packet(typeConnect<<4, vh)
}

type connack struct {
	SessionPresent bool
	Reason         byte
	Props          []prop
}

func parseConnack(t testing.TB, f frame, version byte) connack {
	t.Helper()
	if len(f.Body) < 2 {
		t.Fatalf("short CONNACK %s", f)
	}
	ca := connack{SessionPresent: f.Body[0]&1 == 1, Reason: f.Body[1]}
	if version == 5 {
		ps, rest, err := parseProps(f.Body[2:])
		if err != nil || len(rest) != 0 {
			t.Fatalf("CONNACK properties of %s: %v (%d bytes left)", f, err, len(rest))
		}
		ca.Props = ps
	}
	return ca
}

// packet prepends a fixed header to body.
func packet(first byte, body []byte) []byte {
	out := []byte{first}
	out = appendVarint(out, len(body))
	return append(out, body...)
}

func appendVarint(b []byte, n int) []byte {
	for {
		c := byte(n & 0x7f)
		n >>= 7
		if n > 0 {
			c |= 0x80
		}
		b = append(b, c)
		if n == 0 {
			return b
		}
	}
}

func appendString(b []byte, s string) []byte { return appendBinary(b, []byte(s)) }

func appendBinary(b, v []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
	return append(b, v...)
}

func appendProps(b, props []byte) []byte {
	b = appendVarint(b, len(props))
	return append(b, props...)
}

// propBuf builds a property list.
type propBuf []byte

func props() *propBuf { return &propBuf{} }

func (p *propBuf) u16(id byte, v uint16) *propBuf {
	*p = binary.BigEndian.AppendUint16(append(*p, id), v)
	return p
}

func (p *propBuf) u32(id byte, v uint32) *propBuf {
	*p = binary.BigEndian.AppendUint32(append(*p, id), v)
	return p
}

func (p *propBuf) u8(id, v byte) *propBuf { *p = append(*p, id, v); return p }

func (p *propBuf) str(id byte, s string) *propBuf {
	*p = appendString(append(*p, id), s)
	return p
}

func (p *propBuf) bin(id byte, v []byte) *propBuf {
	*p = appendBinary(append(*p, id), v)
	return p
}

func (p *propBuf) varint(id byte, v int) *propBuf {
	*p = appendVarint(append(*p, id), v)
	return p
}

func (p *propBuf) user(k, v string) *propBuf {
	*p = appendString(appendString(append(*p, propUserProperty), k), v)
	return p
}

func (p *propBuf) bytes() []byte {
	if p == nil {
		return nil
	}
	return *p
}

// publish builds a PUBLISH; props is nil for MQTT 3.1.1.
func publishPacket(version byte, topic string, qos byte, retain bool, pid uint16, props []byte, payload []byte) []byte {
	first := byte(typePublish<<4) | qos<<1
	if retain {
		first |= 1
	}
	vh := appendString(nil, topic)
	if qos > 0 {
		vh = binary.BigEndian.AppendUint16(vh, pid)
	}
	if version == 5 {
		vh = appendProps(vh, props)
	}
	return packet(first, append(vh, payload...))
}

// ackPacket builds a PUBACK, PUBREC, PUBREL or PUBCOMP of MQTT 5 with a reason
// code and properties (or the short form when both are empty).
func ackPacket(typ byte, pid uint16, reason byte, props []byte) []byte {
	first := typ << 4
	if typ == typePubrel {
		first |= 0x02
	}
	vh := binary.BigEndian.AppendUint16(nil, pid)
	if reason != 0 || len(props) > 0 {
		vh = append(vh, reason)
		vh = appendProps(vh, props)
	}
	return packet(first, vh)
}

type subReq struct {
	Filter  string
	Options byte // QoS in bits 0-1, No Local 2, Retain As Published 3, Retain Handling 4-5
}

func subscribePacket(version byte, pid uint16, props []byte, subs ...subReq) []byte {
	vh := binary.BigEndian.AppendUint16(nil, pid)
	if version == 5 {
		vh = appendProps(vh, props)
	}
	for _, s := range subs {
		vh = appendString(vh, s.Filter)
		vh = append(vh, s.Options)
	}
	return packet(typeSubscribe<<4|0x02, vh)
}

func unsubscribePacket(pid uint16, props []byte, filters ...string) []byte {
	vh := binary.BigEndian.AppendUint16(nil, pid)
	vh = appendProps(vh, props)
	for _, f := range filters {
		vh = appendString(vh, f)
	}
	return packet(typeUnsubscribe<<4|0x02, vh)
}

var pingreqPacket = []byte{typePingreq << 4, 0}

// prop is one decoded MQTT 5 property.
type prop struct {
	ID    byte
	Int   uint32 // byte, two and four byte integers, variable byte integers
	Str   string // UTF-8 strings; the key of a user property
	Val   string // the value of a user property
	Bin   []byte // binary data
	IsInt bool
}

func (p prop) String() string {
	switch {
	case p.ID == propUserProperty:
		return fmt.Sprintf("user(%q=%q)", p.Str, p.Val)
	case p.IsInt:
		return fmt.Sprintf("0x%02x=%d", p.ID, p.Int)
	case p.Bin != nil:
		return fmt.Sprintf("0x%02x=%q", p.ID, p.Bin)
	default:
		return fmt.Sprintf("0x%02x=%q", p.ID, p.Str)
	}
}

// parseProps decodes a property length and the properties that follow.
func parseProps(b []byte) ([]prop, []byte, error) {
	n, w, err := readVarint(b)
	if err != nil {
		return nil, nil, err
	}
	b = b[w:]
	if n > len(b) {
		return nil, nil, fmt.Errorf("property length %d, %d bytes left", n, len(b))
	}
	list, rest := b[:n], b[n:]
	var out []prop
	for len(list) > 0 {
		id := list[0]
		list = list[1:]
		p := prop{ID: id}
		var ok bool
		switch id {
		case 0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A: // byte
			if ok = len(list) >= 1; ok {
				p.Int, p.IsInt, list = uint32(list[0]), true, list[1:]
			}
		case 0x13, 0x21, 0x22, 0x23: // two byte integer
			if ok = len(list) >= 2; ok {
				p.Int, p.IsInt, list = uint32(binary.BigEndian.Uint16(list)), true, list[2:]
			}
		case 0x02, 0x11, 0x18, 0x27: // four byte integer
			if ok = len(list) >= 4; ok {
				p.Int, p.IsInt, list = binary.BigEndian.Uint32(list), true, list[4:]
			}
		case 0x0B: // variable byte integer
			v, w, err := readVarint(list)
			if ok = err == nil; ok {
				p.Int, p.IsInt, list = uint32(v), true, list[w:]
			}
		case 0x03, 0x08, 0x12, 0x15, 0x1A, 0x1C, 0x1F: // UTF-8 string
			var s []byte
			if s, list, ok = readBinary(list); ok {
				p.Str = string(s)
			}
		case 0x09, 0x16: // binary data
			var s []byte
			if s, list, ok = readBinary(list); ok {
				p.Bin = append([]byte{}, s...)
			}
		case propUserProperty:
			var k, v []byte
			if k, list, ok = readBinary(list); ok {
				if v, list, ok = readBinary(list); ok {
					p.Str, p.Val = string(k), string(v)
				}
			}
		default:
			return nil, nil, fmt.Errorf("unknown property 0x%02x", id)
		}
		if !ok {
			return nil, nil, fmt.Errorf("truncated property 0x%02x", id)
		}
		out = append(out, p)
	}
	return out, rest, nil
}

func readVarint(b []byte) (int, int, error) {
	var n, mul int
	for i := 0; i < 4; i++ {
		if i >= len(b) {
			return 0, 0, errors.New("truncated variable byte integer")
		}
		n += int(b[i]&0x7f) << mul
		mul += 7
		if b[i]&0x80 == 0 {
			return n, i + 1, nil
		}
	}
	return 0, 0, errors.New("malformed variable byte integer")
}

func readBinary(b []byte) ([]byte, []byte, bool) {
	if len(b) < 2 {
		return nil, nil, false
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+n {
		return nil, nil, false
	}
	return b[2 : 2+n], b[2+n:], true
}

// rawPublish is a decoded PUBLISH.
type rawPublish struct {
	Topic   string
	QoS     byte
	Retain  bool
	Dup     bool
	PID     uint16
	Props   []prop
	Payload []byte
}

func parsePublish(t testing.TB, f frame, version byte) rawPublish {
	t.Helper()
	if f.Type != typePublish {
		t.Fatalf("want PUBLISH, got %s", f)
	}
	p := rawPublish{QoS: f.Flags >> 1 & 3, Retain: f.Flags&1 == 1, Dup: f.Flags&8 != 0}
	topic, rest, ok := readBinary(f.Body)
	if !ok {
		t.Fatalf("PUBLISH without a topic: %s", f)
	}
	p.Topic = string(topic)
	if p.QoS > 0 {
		if len(rest) < 2 {
			t.Fatalf("PUBLISH without a packet id: %s", f)
		}
		p.PID, rest = binary.BigEndian.Uint16(rest), rest[2:]
	}
	if version == 5 {
		ps, r, err := parseProps(rest)
		if err != nil {
			t.Fatalf("PUBLISH properties of %s: %v", f, err)
		}
		p.Props, rest = ps, r
	}
	p.Payload = rest
	return p
}

// rawAck is a decoded PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK or UNSUBACK.
type rawAck struct {
	PID     uint16
	Reasons []byte // none when the short form was used (reason 0x00)
	Props   []prop
}

func parseAck(t testing.TB, f frame) rawAck {
	t.Helper()
	if len(f.Body) < 2 {
		t.Fatalf("short %s", f)
	}
	a := rawAck{PID: binary.BigEndian.Uint16(f.Body)}
	rest := f.Body[2:]
	switch f.Type {
	case typeSuback, typeUnsuback:
		ps, r, err := parseProps(rest)
		if err != nil {
			t.Fatalf("properties of %s: %v", f, err)
		}
		a.Props, a.Reasons = ps, r
	default:
		if len(rest) == 0 {
			return a
		}
		a.Reasons, rest = rest[:1], rest[1:]
		if len(rest) == 0 {
			return a
		}
		ps, r, err := parseProps(rest)
		if err != nil || len(r) != 0 {
			t.Fatalf("properties of %s: %v (%d bytes left)", f, err, len(r))
		}
		a.Props = ps
	}
	return a
}

// reason is the ack's (first) reason code, 0x00 for the short form.
func (a rawAck) reason() byte {
	if len(a.Reasons) == 0 {
		return 0
	}
	return a.Reasons[0]
}

func findProps(ps []prop, id byte) []prop {
	var out []prop
	for _, p := range ps {
		if p.ID == id {
			out = append(out, p)
		}
	}
	return out
}

func userProps(ps []prop) [][2]string {
	var out [][2]string
	for _, p := range findProps(ps, propUserProperty) {
		out = append(out, [2]string{p.Str, p.Val})
	}
	return out
}
