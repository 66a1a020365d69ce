package conformance

import (
	"bytes"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestMQTT311_2_3_1_6_PubackPacketIdentifier: MQTT 3.1.1 [MQTT-2.3.1-6] "A
// PUBACK, PUBREC or PUBREL Packet MUST contain the same Packet Identifier as
// the PUBLISH Packet that was originally sent." In 3.1.1 these packets are
// exactly four bytes, Remaining Length 2 and the identifier (3.4, 3.5, 3.7):
// no reason code, no properties. Checked byte for byte for QoS 1 and QoS 2,
// plain and retained, and with mosquitto_pub.
func TestMQTT311_2_3_1_6_PubackPacketIdentifier(t *testing.T) {
	t.Parallel()
	s := startStore(t, []string{"pub"}, nil)
	rc := dialRaw(t, s.Addr)
	rc.write(rawConnect{ClientID: "pub", CleanStart: true, KeepAlive: 30}.packet(4))
	if ca := parseConnack(t, rc.expect(typeConnack), 4); ca.Reason != 0 {
		t.Fatalf("CONNACK return code %d", ca.Reason)
	}
	for _, retain := range []bool{false, true} {
		rc.write(publishPacket(4, "lab/puback311", 1, retain, 0xbeef, nil, []byte("hello")))
		if f := rc.expect(typePuback); !bytes.Equal(f.Raw, []byte{0x40, 0x02, 0xbe, 0xef}) {
			t.Errorf("retain %v: PUBACK % x, want 40 02 be ef", retain, f.Raw)
		}
		rc.write(publishPacket(4, "lab/puback311", 2, retain, 0x0102, nil, []byte("hello")))
		if f := rc.expect(typePubrec); !bytes.Equal(f.Raw, []byte{0x50, 0x02, 0x01, 0x02}) {
			t.Errorf("retain %v: PUBREC % x, want 50 02 01 02", retain, f.Raw)
		}
		rc.write([]byte{0x62, 0x02, 0x01, 0x02}) // PUBREL
		if f := rc.expect(typePubcomp); !bytes.Equal(f.Raw, []byte{0x70, 0x02, 0x01, 0x02}) {
			t.Errorf("retain %v: PUBCOMP % x, want 70 02 01 02", retain, f.Raw)
		}
	}
	t.Run("mosquitto_pub", func(t *testing.T) {
		bin := needTool(t, "mosquitto_pub", "mosquitto-clients")
		for _, q := range []string{"1", "2"} {
			out := runTool(t, bin, append(mosquittoArgs(t, s, "pub:m"+q), "-V", "311", "-d", "-q", q,
				"-t", "lab/puback311", "-m", "hello")...)
			want := map[string]string{"1": "received PUBACK (Mid: 1", "2": "received PUBCOMP (Mid: 1"}[q]
			if !strings.Contains(out, want) {
				t.Errorf("QoS %s: no %q in mosquitto_pub's output:\n%s", q, want, out)
			}
		}
	})
}

// TestMQTT311_3_9_3_2_SubackReturnCodes: MQTT 3.1.1 [MQTT-3.9.3-1] "The
// order of return codes in the SUBACK Packet MUST match the order of Topic
// Filters in the SUBSCRIBE Packet." [MQTT-3.9.3-2] "SUBACK return codes
// other than 0x00, 0x01, 0x02 and 0x80 are reserved and MUST NOT be used."
// A filter the ACL refuses is 0x80 (not MQTT 5's 0x87): byte for byte
// (packet id and one return code per filter, no properties), and with
// mosquitto_sub.
func TestMQTT311_3_9_3_2_SubackReturnCodes(t *testing.T) {
	t.Parallel()
	s := startStore(t, []string{"sub"}, nil)
	rc := dialRaw(t, s.Addr)
	rc.write(rawConnect{ClientID: "sub", CleanStart: true, KeepAlive: 30}.packet(4))
	if ca := parseConnack(t, rc.expect(typeConnack), 4); ca.Reason != 0 {
		t.Fatalf("CONNACK return code %d", ca.Reason)
	}
	rc.write(subscribePacket(4, 0x0a0b, nil, subReq{"lab/suback311/a", 1}, subReq{"$nope/refused", 1}, subReq{"lab/suback311/b", 2}))
	f := rc.expect(typeSuback)
	if want := []byte{0x90, 0x05, 0x0a, 0x0b, 0x01, 0x80, 0x02}; !bytes.Equal(f.Raw, want) {
		t.Errorf("SUBACK % x, want % x", f.Raw, want)
	}
	t.Run("mosquitto_sub", func(t *testing.T) {
		bin := needTool(t, "mosquitto_sub", "mosquitto-clients")
		out := runTool(t, bin, append(mosquittoArgs(t, s, "sub:m"), "-V", "311", "-d", "-E", "-q", "1",
			"-t", "lab/suback311/a", "-t", "$nope/refused", "-t", "lab/suback311/b")...)
		m := regexp.MustCompile(`Subscribed \(mid: \d+\): ([0-9, ]+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no SUBACK in mosquitto_sub's output:\n%s", out)
		}
		var codes []int
		for _, c := range strings.Split(m[1], ",") {
			n, _ := strconv.Atoi(strings.TrimSpace(c))
			codes = append(codes, n)
		}
		if !slices.Equal(codes, []int{1, 128, 1}) {
			t.Errorf("mosquitto_sub (MQTT 3.1.1) got return codes %v, want [1 128 1]:\n%s", codes, out)
		}
	})
}
