package conformance

import (
	"regexp"
	"strings"
	"testing"

	"github.com/eclipse/paho.golang/paho"
)

// dollarFilters are wildcard filters that would match $lab/x or $lab/r
// if the first level were not special.
var dollarFilters = []string{"#", "+/x", "+/+", "+/#"}

// TestMQTT_4_7_2_1_DollarTopicsNotMatchedByWildcards: [MQTT-4.7.2-1] "The
// Server MUST NOT match Topic Filters starting with a wildcard character (#
// or +) with Topic Names beginning with a $ character." A client subscribed
// to #, +/x, +/+ and +/# sees neither a live message on $lab/x nor a
// retained one on $lab/r, while another subscribed to $lab/# by name gets
// both (so they were published). The ACL grants $lab/# to the test role by
// name, so it is the broker's matching that is checked, not the ACL.
// Ordering: lab/x is published after $lab/x by the same client, and lab/r
// is retained like $lab/r; each must arrive first.
func TestMQTT_4_7_2_1_DollarTopicsNotMatchedByWildcards(t *testing.T) {
	t.Parallel()
	s := startStore(t, []string{"pub", "sub"}, nil)
	pub := connect(t, s, "pub", opts{})
	pub.publish(&paho.Publish{Topic: "$lab/r", QoS: 1, Retain: true, Payload: []byte("retained dollar")})
	pub.publish(&paho.Publish{Topic: "lab/r", QoS: 1, Retain: true, Payload: []byte("retained plain")})

	named := connect(t, s, "sub:named", opts{})
	named.subscribe(sub("$lab/#", 1))
	named.waitPayload("retained dollar")

	wild := connect(t, s, "sub:wild", opts{})
	var subs []paho.SubscribeOptions
	for _, f := range dollarFilters {
		// QoS 0: nothing is in flight to this client when it sends its next
		// SUBSCRIBE (see TestMQTT_2_2_1_3_PacketIdentifiersIndependent).
		subs = append(subs, sub(f, 0))
	}
	wild.subscribe(subs...)
	// The retained messages of those filters are sent after their SUBACK;
	// this subscription and the message published to it come after them.
	wild.subscribe(sub("lab/marker/retained", 1))
	pub.send("lab/marker/retained", 1, "retained marker")
	wild.waitPayload("retained marker")

	pub.send("$lab/x", 1, "live dollar")
	pub.send("lab/x", 1, "live plain")
	named.waitPayload("live dollar")
	got := wild.waitPayload("live plain")
	for _, m := range got {
		if strings.HasPrefix(m.Topic, "$") {
			t.Errorf("a subscription to %v received %s %q", dollarFilters, m.Topic, m.Payload)
		}
	}
	if !strings.Contains(dump(got), "retained plain") {
		t.Errorf("the wildcard subscriber did not get the retained lab/r: %s", dump(got))
	}
}

// TestMQTT311_4_7_2_1_DollarTopicsNotMatchedByWildcards: MQTT 3.1.1
// [MQTT-4.7.2-1] "The Server MUST NOT match Topic Filters starting with a
// wildcard character (# or +) with Topic Names beginning with a $
// character." The same check with mosquitto_sub speaking 3.1.1, subscribed
// to # and +/x while a retained message waits on $lab/r: the first message
// it receives must be lab/x, published after $lab/x.
func TestMQTT311_4_7_2_1_DollarTopicsNotMatchedByWildcards(t *testing.T) {
	t.Parallel()
	bin := needTool(t, "mosquitto_sub", "mosquitto-clients")
	s := startStore(t, []string{"pub", "sub"}, nil)
	pub := connect(t, s, "pub", opts{})
	pub.publish(&paho.Publish{Topic: "$lab/r", QoS: 1, Retain: true, Payload: []byte("retained dollar")})
	out := startTool(t, bin, append(mosquittoArgs(t, s, "sub:mosquitto"),
		"-V", "311", "-d", "-q", "1", "-t", "#", "-t", "+/x", "-C", "1")...)
	out.until("Subscribed")
	pub.send("$lab/x", 1, "live dollar")
	pub.send("lab/x", 1, "live plain")
	line := out.until("received PUBLISH")
	m := regexp.MustCompile(`received PUBLISH \(d\d, q\d, r\d, m\d+, '([^']*)'`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("cannot read %q", line)
	}
	if m[1] != "lab/x" {
		t.Errorf("mosquitto_sub (MQTT 3.1.1) subscribed to # and +/x first received %q, want lab/x", m[1])
	}
}
