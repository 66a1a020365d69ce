package conformance

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

// Reason codes each packet type may carry (MQTT 5.0, 3.4.2.1, 3.5.2.1,
// 3.7.2.1, 3.9.3, 3.11.3).
var (
	pubackCodes   = []byte{0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99}
	pubrecCodes   = pubackCodes
	pubcompCodes  = []byte{0x00, 0x92}
	subackCodes   = []byte{0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2}
	unsubackCodes = []byte{0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91}
	// A publish that went through: Success, or No matching subscribers.
	publishOK = []byte{0x00, 0x10}
)

// requestUser are the user properties a test puts on the request an ack
// answers; the ack must not carry them back.
var requestUser = [][2]string{{"trace", "t-1"}, {"trace", "t-2"}, {"device", "kiosk-7"}}

// richProps are PUBLISH properties: the user properties above, a content
// type, a response topic, correlation data and a payload format.
func richProps() []byte {
	p := props()
	for _, u := range requestUser {
		p.user(u[0], u[1])
	}
	return p.str(propContentType, "text/plain").str(propResponseTopic, "lab/reply").
		bin(propCorrelationData, []byte("corr-1")).u8(propPayloadFormat, 1).bytes()
}

// checkAck checks the raw bytes of an acknowledgement with one reason code
// (PUBACK, PUBREC, PUBREL, PUBCOMP): its packet id, a reason code from valid
// and from want, a Remaining Length that is 2 (the short form, reason 0x00),
// 3 (reason only) or 4 and more with a property list holding only a Reason
// String and User Properties, none of them copied from the request.
func checkAck(t *testing.T, f frame, pid uint16, valid, want []byte, sent [][2]string) rawAck {
	t.Helper()
	a := parseAck(t, f)
	if a.PID != pid {
		t.Errorf("%s: packet id %d, want %d", f, a.PID, pid)
	}
	if f.Flags != 0 && f.Type != typePubrel {
		t.Errorf("%s: fixed header flags %x, want 0", f, f.Flags)
	}
	rc := a.reason()
	if !slices.Contains(valid, rc) {
		t.Errorf("%s: reason code 0x%02x is not a %s reason code (%x)", f, rc, typeNames[f.Type], valid)
	} else if !slices.Contains(want, rc) {
		t.Errorf("%s: reason code 0x%02x, want one of %x", f, rc, want)
	}
	if len(f.Body) == 2 {
		return a // the short form: 0x00, no properties
	}
	for _, p := range a.Props {
		if p.ID != propReasonString && p.ID != propUserProperty {
			t.Errorf("%s: property %v is not allowed on %s", f, p, typeNames[f.Type])
		}
	}
	for _, u := range userProps(a.Props) {
		if slices.Contains(sent, u) {
			t.Errorf("%s (remaining length %d): the request's user property %q=%q is copied back",
				f, len(f.Body), u[0], u[1])
		}
	}
	return a
}

// TestMQTT_3_4_2_1_PubackReasonCode: [MQTT-3.4.2-1] "The Client or Server
// sending the PUBACK packet MUST use one of the PUBACK Reason Codes." A QoS 1
// PUBLISH that is accepted is answered 0x00 (Success) or 0x10 (No matching
// subscribers); with 0x00 and no properties the PUBACK has Remaining Length
// 2 (3.4.2.1). Its properties are the sender's own, a Reason String or User
// Property about the acknowledgement (3.4.2.2), never the PUBLISH's copied
// back: checked on the raw bytes for a plain and a retained publish, and with
// mosquitto_pub.
func TestMQTT_3_4_2_1_PubackReasonCode(t *testing.T) {
	t.Parallel()
	s := startStore(t, []string{"pub"}, nil)
	for _, retain := range []bool{false, true} {
		name := map[bool]string{false: "publish", true: "retained"}[retain]
		t.Run(name, func(t *testing.T) {
			rc := dialRaw(t, s.Addr)
			rc.connect5(rawConnect{ClientID: "pub:" + name, CleanStart: true, KeepAlive: 30})
			rc.write(publishPacket(5, "lab/puback/"+name, 1, retain, 0x1234, richProps(), []byte("hello")))
			checkAck(t, rc.expect(typePuback), 0x1234, pubackCodes, publishOK, requestUser)
		})
	}
	t.Run("mosquitto_pub", func(t *testing.T) {
		bin := needTool(t, "mosquitto_pub", "mosquitto-clients")
		for _, retain := range []bool{false, true} {
			args := append(mosquittoArgs(t, s, fmt.Sprintf("pub:m-%v", retain)), "-V", "5", "-d", "-q", "1",
				"-D", "publish", "user-property", "trace", "m-1", "-t", "lab/puback/mosquitto", "-m", "hello")
			if retain {
				args = append(args, "-r")
			}
			out := runTool(t, bin, args...)
			m := regexp.MustCompile(`received PUBACK \(Mid: \d+, RC:(\d+)\)`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("retain %v: no PUBACK in mosquitto_pub's output:\n%s", retain, out)
			}
			if code, _ := strconv.Atoi(m[1]); !slices.Contains(publishOK, byte(code)) {
				t.Errorf("retain %v: mosquitto_pub got PUBACK reason code 0x%02x, want 0x00 or 0x10:\n%s", retain, code, out)
			}
		}
	})
}

// qos2 runs a QoS 2 PUBLISH and its PUBREL, both with user properties, and
// returns the PUBREC and the PUBCOMP.
func qos2(t *testing.T, s *storetest.Store, clientID string, retain bool) (pubrec, pubcomp frame) {
	t.Helper()
	rc := dialRaw(t, s.Addr)
	rc.connect5(rawConnect{ClientID: clientID, CleanStart: true, KeepAlive: 30})
	rc.write(publishPacket(5, "lab/qos2/"+clientID[strings.IndexByte(clientID, ':')+1:], 2, retain, 0x0102, richProps(), []byte("hello")))
	pubrec = rc.expect(typePubrec)
	rc.write(ackPacket(typePubrel, 0x0102, 0, props().user("release", "r-1").bytes()))
	pubcomp = rc.expect(typePubcomp)
	return pubrec, pubcomp
}

// TestMQTT_3_5_2_1_PubrecReasonCode: [MQTT-3.5.2-1] "The Client or Server
// sending the PUBREC packet MUST use one of the PUBREC Reason Code values."
// An accepted QoS 2 PUBLISH gets 0x00 or 0x10, Remaining Length 2 for 0x00
// without properties, and none of the PUBLISH's properties back (3.5.2.2):
// for a plain and a retained publish, and with mosquitto_pub.
func TestMQTT_3_5_2_1_PubrecReasonCode(t *testing.T) {
	t.Parallel()
	s := startStore(t, []string{"pub"}, nil)
	for _, retain := range []bool{false, true} {
		name := map[bool]string{false: "publish", true: "retained"}[retain]
		t.Run(name, func(t *testing.T) {
			pubrec, _ := qos2(t, s, "pub:"+name, retain)
			checkAck(t, pubrec, 0x0102, pubrecCodes, publishOK, requestUser)
		})
	}
	t.Run("mosquitto_pub", func(t *testing.T) {
		bin := needTool(t, "mosquitto_pub", "mosquitto-clients")
		args := append(mosquittoArgs(t, s, "pub:m"), "-V", "5", "-d", "-q", "2", "-r",
			"-D", "publish", "user-property", "trace", "m-1", "-t", "lab/qos2/mosquitto", "-m", "hello")
		out := runTool(t, bin, args...)
		// mosquitto prints the PUBREC's reason code only when it is not 0x00.
		m := regexp.MustCompile(`received PUBREC \(Mid: \d+(?:, RC:(\d+))?\)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no PUBREC in mosquitto_pub's output:\n%s", out)
		}
		if code, _ := strconv.Atoi(m[1]); m[1] != "" && !slices.Contains(publishOK, byte(code)) {
			t.Errorf("mosquitto_pub got PUBREC reason code 0x%02x:\n%s", code, out)
		}
		if !strings.Contains(out, "received PUBCOMP") {
			t.Errorf("no PUBCOMP in mosquitto_pub's output:\n%s", out)
		}
	})
}

// TestMQTT_3_7_2_1_PubcompReasonCode: [MQTT-3.7.2-1] "The Client or Server
// sending the PUBCOMP packet MUST use one of the PUBCOMP Reason Code values."
// The PUBCOMP that completes an accepted QoS 2 PUBLISH is 0x00 (0x92 would
// mean the broker lost the packet id), Remaining Length 2 without properties,
// and carries neither the PUBLISH's nor the PUBREL's user properties
// (3.7.2.2): for a plain and a retained publish, and with mosquitto_pub.
func TestMQTT_3_7_2_1_PubcompReasonCode(t *testing.T) {
	t.Parallel()
	s := startStore(t, []string{"pub"}, nil)
	sent := append([][2]string{{"release", "r-1"}}, requestUser...)
	for _, retain := range []bool{false, true} {
		name := map[bool]string{false: "publish", true: "retained"}[retain]
		t.Run(name, func(t *testing.T) {
			_, pubcomp := qos2(t, s, "pub:"+name, retain)
			checkAck(t, pubcomp, 0x0102, pubcompCodes, []byte{0x00}, sent)
		})
	}
	t.Run("mosquitto_pub", func(t *testing.T) {
		bin := needTool(t, "mosquitto_pub", "mosquitto-clients")
		args := append(mosquittoArgs(t, s, "pub:m"), "-V", "5", "-d", "-q", "2",
			"-D", "publish", "user-property", "trace", "m-1", "-t", "lab/qos2/mosquitto", "-m", "hello")
		out := runTool(t, bin, args...)
		m := regexp.MustCompile(`received PUBCOMP \(Mid: \d+, RC:(\d+)\)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no PUBCOMP in mosquitto_pub's output:\n%s", out)
		}
		if m[1] != "0" {
			t.Errorf("mosquitto_pub got PUBCOMP reason code %s, want 0:\n%s", m[1], out)
		}
	})
}

// TestMQTT_3_9_3_2_SubackReasonCodes: [MQTT-3.9.3-1] "The order of Reason
// Codes in the SUBACK packet MUST match the order of Topic Filters in the
// SUBSCRIBE packet." [MQTT-3.9.3-2] "The Server sending the SUBACK packet
// MUST send one of the Subscribe Reason Code values for each Topic Filter
// received." A granted filter gets its QoS (at most the one asked for), a
// filter the ACL refuses 0x80 or more. The SUBACK's properties are the
// server's own (3.9.2.1): the SUBSCRIBE's user properties are not echoed.
func TestMQTT_3_9_3_2_SubackReasonCodes(t *testing.T) {
	t.Parallel()
	s := startStore(t, []string{"sub"}, nil)
	rc := dialRaw(t, s.Addr)
	rc.connect5(rawConnect{ClientID: "sub", CleanStart: true, KeepAlive: 30})
	p := props()
	for _, u := range requestUser {
		p.user(u[0], u[1])
	}
	rc.write(subscribePacket(5, 0x0a0b, p.bytes(),
		subReq{"lab/suback/a", 1}, subReq{"$nope/refused", 1}, subReq{"lab/suback/b", 2}, subReq{"lab/suback/c", 0}))
	f := rc.expect(typeSuback)
	a := parseAck(t, f)
	if a.PID != 0x0a0b {
		t.Errorf("%s: packet id 0x%04x, want 0x0a0b", f, a.PID)
	}
	if len(a.Reasons) != 4 {
		t.Fatalf("%s: %d reason codes for 4 topic filters", f, len(a.Reasons))
	}
	for i, asked := range []byte{1, 0xff, 2, 0} { // 0xff: refused by the ACL
		r := a.Reasons[i]
		switch {
		case !slices.Contains(subackCodes, r):
			t.Errorf("%s: reason code 0x%02x (filter %d) is not a Subscribe Reason Code", f, r, i+1)
		case asked == 0xff && r < 0x80:
			t.Errorf("%s: filter %d, which the ACL refuses, was granted (0x%02x)", f, i+1, r)
		case asked != 0xff && r > asked:
			t.Errorf("%s: filter %d granted 0x%02x, more than the QoS %d asked for (or refused)", f, i+1, r, asked)
		}
	}
	checkAckProps(t, f, a, "SUBSCRIBE", "SUBACK")
}

// checkAckProps checks that an acknowledgement of a request carrying
// requestUser has only a Reason String or user properties of its own
// (3.9.2.1, 3.11.2.1).
func checkAckProps(t *testing.T, f frame, a rawAck, request, answer string) {
	t.Helper()
	for _, pr := range a.Props {
		if pr.ID != propReasonString && pr.ID != propUserProperty {
			t.Errorf("%s: property %v is not allowed on %s", f, pr, answer)
		}
	}
	for _, u := range userProps(a.Props) {
		if slices.Contains(requestUser, u) {
			t.Errorf("%s: the %s's user property %q=%q is echoed in the %s", f, request, u[0], u[1], answer)
		}
	}
}

// TestMQTT_3_11_3_2_UnsubackReasonCodes: [MQTT-3.11.3-1] "The order of
// Reason Codes in the UNSUBACK packet MUST match the order of Topic Filters
// in the UNSUBSCRIBE packet." [MQTT-3.11.3-2] "The Server sending the
// UNSUBACK packet MUST use one of the UNSUBSCRIBE Reason Code values for each
// Topic Filter received." A filter that was subscribed is 0x00 (Success),
// one that never was 0x11 (No subscription existed) or 0x00; the
// UNSUBSCRIBE's user properties are not echoed (3.11.2.1).
func TestMQTT_3_11_3_2_UnsubackReasonCodes(t *testing.T) {
	t.Parallel()
	s := startStore(t, []string{"sub"}, nil)
	rc := dialRaw(t, s.Addr)
	rc.connect5(rawConnect{ClientID: "sub", CleanStart: true, KeepAlive: 30})
	rc.write(subscribePacket(5, 1, nil, subReq{"lab/unsuback/a", 1}, subReq{"lab/unsuback/b", 1}))
	rc.expect(typeSuback)
	p := props()
	for _, u := range requestUser {
		p.user(u[0], u[1])
	}
	rc.write(unsubscribePacket(0x0c0d, p.bytes(), "lab/unsuback/a", "lab/unsuback/never", "lab/unsuback/b"))
	f := rc.expect(typeUnsuback)
	a := parseAck(t, f)
	if a.PID != 0x0c0d {
		t.Errorf("%s: packet id 0x%04x, want 0x0c0d", f, a.PID)
	}
	if len(a.Reasons) != 3 {
		t.Fatalf("%s: %d reason codes for 3 topic filters", f, len(a.Reasons))
	}
	for i, want := range [][]byte{{0x00}, {0x00, 0x11}, {0x00}} {
		r := a.Reasons[i]
		if !slices.Contains(unsubackCodes, r) {
			t.Errorf("%s: reason code 0x%02x (filter %d) is not an Unsubscribe Reason Code", f, r, i+1)
		} else if !slices.Contains(want, r) {
			t.Errorf("%s: filter %d got 0x%02x, want one of %x", f, i+1, r, want)
		}
	}
	checkAckProps(t, f, a, "UNSUBSCRIBE", "UNSUBACK")
}

// bigUser is a user property larger than the Maximum Packet Size the
// clients of the next two tests announce.
var bigUser = [2]string{"blob", strings.Repeat("x", 200)}

// TestMQTT_3_4_2_3_PubackUserPropertyWithinMaximumPacketSize: [MQTT-3.4.2-3]
// "The sender MUST NOT send this property [User Property] if it would
// increase the size of the PUBACK packet beyond the Maximum Packet Size
// specified by the receiver." A client announcing Maximum Packet Size 64
// publishes (QoS 1) with a 200-byte user property: it must get its PUBACK,
// 64 bytes at most.
func TestMQTT_3_4_2_3_PubackUserPropertyWithinMaximumPacketSize(t *testing.T) {
	t.Parallel()
	s := startStore(t, []string{"pub"}, nil)
	rc := dialRaw(t, s.Addr)
	rc.connect5(rawConnect{ClientID: "pub", CleanStart: true, KeepAlive: 30,
		Props: props().u32(propMaximumPacketSize, 64).bytes()})
	rc.write(publishPacket(5, "lab/mps", 1, false, 7, props().user(bigUser[0], bigUser[1]).bytes(), []byte("x")))
	f, err := rc.next(wait)
	if err != nil {
		t.Fatalf("no PUBACK to a publish with a large user property (client Maximum Packet Size 64): %v", err)
	}
	if f.Type != typePuback || len(f.Raw) > 64 {
		t.Fatalf("want a PUBACK of 64 bytes at most, got %d bytes: %s", len(f.Raw), f)
	}
	checkAck(t, f, 7, pubackCodes, publishOK, [][2]string{bigUser})
}

// TestMQTT_3_9_2_2_SubackUserPropertyWithinMaximumPacketSize: [MQTT-3.9.2-2]
// "The Server MUST NOT send this property [User Property] if it would
// increase the size of the SUBACK packet beyond the Maximum Packet Size
// specified by the Client." A SUBSCRIBE with a 200-byte user property from a
// client announcing Maximum Packet Size 64 must get its SUBACK, 64 bytes at
// most.
func TestMQTT_3_9_2_2_SubackUserPropertyWithinMaximumPacketSize(t *testing.T) {
	t.Parallel()
	s := startStore(t, []string{"sub"}, nil)
	rc := dialRaw(t, s.Addr)
	rc.connect5(rawConnect{ClientID: "sub", CleanStart: true, KeepAlive: 30,
		Props: props().u32(propMaximumPacketSize, 64).bytes()})
	rc.write(subscribePacket(5, 9, props().user(bigUser[0], bigUser[1]).bytes(), subReq{"lab/mps", 1}))
	f, err := rc.next(wait)
	if err != nil {
		t.Fatalf("no SUBACK to a SUBSCRIBE with a large user property (client Maximum Packet Size 64): %v", err)
	}
	if f.Type != typeSuback || len(f.Raw) > 64 {
		t.Fatalf("want a SUBACK of 64 bytes at most, got %d bytes: %s", len(f.Raw), f)
	}
	if a := parseAck(t, f); a.PID != 9 || len(a.Reasons) != 1 || a.Reasons[0] != 1 {
		t.Errorf("%s: want packet id 9 and reason 0x01", f)
	}
}
