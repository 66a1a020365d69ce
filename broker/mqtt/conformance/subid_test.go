package conformance

import (
	"fmt"
	"slices"
	"testing"
)

// TestMQTT_3_3_4_3_SubscriptionIdentifiers: [MQTT-3.3.4-3] "If the Client
// specified a Subscription Identifier for any of the overlapping
// subscriptions the Server MUST send those Subscription Identifiers in the
// message which is published as the result of the subscriptions."
// [MQTT-3.3.4-4] "If the Server sends a single copy of the message it MUST
// include in the PUBLISH packet the Subscription Identifiers for all matching
// subscriptions which have a Subscription Identifiers, their order is not
// significant." [MQTT-3.3.4-5] "If the Server sends multiple PUBLISH packets
// it MUST send, in each of them, the Subscription Identifier of the matching
// subscription if it has a Subscription Identifier." A raw client subscribes
// lab/sid/+ with identifier 7, lab/sid/# with 300 (two bytes as a variable
// byte integer) and lab/sid/a with none; three topics match one, two and
// three of them.
func TestMQTT_3_3_4_3_SubscriptionIdentifiers(t *testing.T) {
	t.Parallel()
	s := startStore(t, []string{"pub", "sub"}, nil)
	rc := dialRaw(t, s.Addr)
	rc.connect5(rawConnect{ClientID: "sub", CleanStart: true, KeepAlive: 30})
	for i, sr := range []struct {
		filter string
		id     int
	}{{"lab/sid/+", 7}, {"lab/sid/#", 300}, {"lab/sid/a", 0}} {
		var p []byte
		if sr.id > 0 {
			p = props().varint(propSubscriptionID, sr.id).bytes()
		}
		rc.write(subscribePacket(5, uint16(i+1), p, subReq{sr.filter, 1}))
		if a := parseAck(t, rc.expect(typeSuback)); a.reason() != 1 {
			t.Fatalf("subscribe %s: reason 0x%02x", sr.filter, a.reason())
		}
	}
	pub := connect(t, s, "pub", opts{})
	want := map[string][]uint32{ // topic → identifiers of the matching subscriptions
		"lab/sid/b/c": {300},
		"lab/sid/b":   {7, 300},
		"lab/sid/a":   {7, 300}, // and lab/sid/a, which has none
	}
	matching := map[string]int{"lab/sid/b/c": 1, "lab/sid/b": 2, "lab/sid/a": 3}
	for _, topic := range []string{"lab/sid/b/c", "lab/sid/b", "lab/sid/a"} {
		pub.send(topic, 1, topic)
	}
	pub.send("lab/sid/end/x", 1, "end") // only lab/sid/#: the last to arrive

	copies := map[string][][]uint32{}
	for {
		f, err := rc.next(wait)
		if err != nil {
			t.Fatalf("waiting for the end marker: %v; so far %v", err, copies)
		}
		p := parsePublish(t, f, 5)
		rc.write(ackPacket(typePuback, p.PID, 0, nil))
		if p.Topic == "lab/sid/end/x" {
			break
		}
		var ids []uint32
		for _, pr := range findProps(p.Props, propSubscriptionID) {
			ids = append(ids, pr.Int)
		}
		copies[p.Topic] = append(copies[p.Topic], ids)
	}
	for topic, ids := range want {
		c := copies[topic]
		switch {
		case len(c) == 0:
			t.Errorf("%s: not delivered", topic)
		case len(c) > matching[topic]:
			t.Errorf("%s: %d copies for %d matching subscriptions", topic, len(c), matching[topic])
		case len(c) == 1:
			got := slices.Clone(c[0])
			slices.Sort(got)
			if fmt.Sprint(got) != fmt.Sprint(ids) {
				t.Errorf("%s: one copy with subscription identifiers %v, want %v (MQTT-3.3.4-3, -4)", topic, c[0], ids)
			}
		default:
			var all []uint32
			for _, one := range c {
				if len(one) > 1 {
					t.Errorf("%s: a copy of several carries identifiers %v, more than its own subscription's (MQTT-3.3.4-5)", topic, one)
				}
				all = append(all, one...)
			}
			slices.Sort(all)
			if fmt.Sprint(all) != fmt.Sprint(ids) {
				t.Errorf("%s: %d copies with identifiers %v, want %v between them (MQTT-3.3.4-5)", topic, len(c), c, ids)
			}
		}
	}
}
