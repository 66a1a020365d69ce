package conformance

import (
	"fmt"
	"testing"
)

// TestMQTT_3_3_4_9_ReceiveMaximum: [MQTT-3.3.4-9] "The Server MUST NOT send
// more than Receive Maximum QoS 1 and QoS 2 PUBLISH packets for which it has
// not received PUBACK, PUBCOMP, or PUBREC with a Reason Code of 128 or
// greater from the Client." A raw client connects with Receive Maximum 2 and
// does not acknowledge; six QoS 1 messages are published to it, then a QoS 0
// marker (QoS 0 is not held back by flow control, 4.9). When the marker
// arrives at most two QoS 1 PUBLISHes may have. Then the client acknowledges
// one message at a time: never more than two may be outstanding, and all six
// arrive, in the order they were published ([MQTT-4.6.0-6]).
func TestMQTT_3_3_4_9_ReceiveMaximum(t *testing.T) {
	t.Parallel()
	s := startStore(t, []string{"pub", "sub"}, nil)
	rc := dialRaw(t, s.Addr)
	rc.connect5(rawConnect{ClientID: "sub", CleanStart: true, KeepAlive: 30,
		Props: props().u16(propReceiveMaximum, 2).bytes()})
	rc.write(subscribePacket(5, 1, nil, subReq{"lab/flow", 1}))
	rc.expect(typeSuback)

	pub := connect(t, s, "pub", opts{})
	const n = 6
	for i := 1; i <= n; i++ {
		pub.send("lab/flow", 1, fmt.Sprint(i))
	}
	pub.send("lab/flow", 0, "marker")

	var got []string     // QoS 1 payloads in arrival order
	var unacked []uint16 // packet ids not acknowledged yet
	most, marker := 0, false
	read := func() {
		t.Helper()
		f, err := rc.next(wait)
		if err != nil {
			t.Fatalf("after %d QoS 1 messages (%d unacknowledged): %v", len(got), len(unacked), err)
		}
		p := parsePublish(t, f, 5)
		if p.QoS == 0 {
			marker = string(p.Payload) == "marker"
			return
		}
		got = append(got, string(p.Payload))
		unacked = append(unacked, p.PID)
		most = max(most, len(unacked))
	}
	for !marker {
		read()
	}
	if len(unacked) > 2 {
		t.Errorf("%d unacknowledged QoS 1 PUBLISHes sent to a client with Receive Maximum 2 (before the QoS 0 marker): %q", len(unacked), got)
	}
	for len(got) < n || len(unacked) > 0 {
		if len(unacked) > 0 {
			rc.write(ackPacket(typePuback, unacked[0], 0, nil))
			unacked = unacked[1:]
		}
		if len(got) < n {
			read()
		}
	}
	if most > 2 {
		t.Errorf("up to %d QoS 1 PUBLISHes were unacknowledged at once; the client's Receive Maximum is 2", most)
	}
	want := []string{"1", "2", "3", "4", "5", "6"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("messages arrived as %q, want %q", got, want)
	}
}
