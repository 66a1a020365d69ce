package conformance

import (
	"fmt"
	"testing"
)

// TestMQTT_4_8_2_3_SharedSubscription: a message matching a Shared
// Subscription $share/{ShareName}/{filter} is sent to only one of the
// sessions attached to it (4.8.2), and [MQTT-4.8.2-3] "The Server MUST
// respect the granted QoS for the Clients subscription". Two members of
// $share/g/lab/shared, one granted QoS 1 and one QoS 0, and an ordinary
// subscriber of lab/shared; 20 QoS 1 messages. The ordinary subscriber gets
// all 20, the group each of them exactly once, each member at its own QoS.
// Every client also subscribes to a marker topic, published last: when a
// client has the marker it has everything the group will ever send it.
func TestMQTT_4_8_2_3_SharedSubscription(t *testing.T) {
	t.Parallel()
	s := startStore(t, []string{"pub", "sub"}, nil)
	a := connect(t, s, "sub:a", opts{})
	a.subscribe(sub("$share/g/lab/shared", 1), sub("lab/shared-end", 1))
	b := connect(t, s, "sub:b", opts{})
	b.subscribe(sub("$share/g/lab/shared", 0), sub("lab/shared-end", 1))
	all := connect(t, s, "sub:all", opts{})
	all.subscribe(sub("lab/shared", 1), sub("lab/shared-end", 1))

	pub := connect(t, s, "pub", opts{})
	const n = 20
	for i := 1; i <= n; i++ {
		pub.send("lab/shared", 1, fmt.Sprint(i))
	}
	pub.send("lab/shared-end", 1, "end")

	seen := map[string]string{}
	for _, m := range []struct {
		c   *client
		qos byte
	}{{a, 1}, {b, 0}} {
		for _, p := range m.c.waitPayload("end") {
			if p.Topic != "lab/shared" {
				continue
			}
			if p.QoS != m.qos {
				t.Errorf("%s (granted QoS %d) got message %s at QoS %d", m.c.ID, m.qos, p.Payload, p.QoS)
			}
			if other, dup := seen[string(p.Payload)]; dup {
				t.Errorf("message %s went to %s and to %s of the same share group", p.Payload, other, m.c.ID)
			}
			seen[string(p.Payload)] = m.c.ID
		}
	}
	if len(seen) != n {
		t.Errorf("the share group received %d of %d messages: %v", len(seen), n, seen)
	}
	if got := len(all.waitPayload("end")) - 1; got != n {
		t.Errorf("the ordinary subscriber received %d of %d messages", got, n)
	}
}
