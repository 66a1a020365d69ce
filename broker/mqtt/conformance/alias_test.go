package conformance

import (
	"fmt"
	"net"
	"testing"
)

// TestMQTT_3_3_2_12_TopicAliasFromClient: [MQTT-3.3.2-12] "A Server MUST
// accept all Topic Alias values greater than 0 and less than or equal to the
// Topic Alias Maximum value that it returned in the CONNACK packet." and
// 3.3.2.3.4: "A Topic Alias value of 0 or greater than the Maximum is a
// Protocol Error, the receiver uses DISCONNECT with Reason Code of 0x94
// (Topic Alias invalid)"; an absent Topic Alias Maximum is 0, the client
// may then send none ([MQTT-3.2.2-18]). The publisher sets aliases 1 and the
// CONNACK's maximum with a topic, then publishes with the alias alone: a
// subscriber gets every message on its full topic. An alias one above the
// maximum (1, when the CONNACK announces none) must end the connection with
// DISCONNECT 0x94.
func TestMQTT_3_3_2_12_TopicAliasFromClient(t *testing.T) {
	t.Parallel()
	s := startStore(t, []string{"pub", "sub"}, nil)
	watch := connect(t, s, "sub", opts{})
	watch.subscribe(sub("lab/alias/#", 1))
	rc := dialRaw(t, s.Addr)
	ca := rc.connect5(rawConnect{ClientID: "pub", CleanStart: true, KeepAlive: 30})
	var tam uint32
	if p := findProps(ca.Props, propTopicAliasMaximum); len(p) > 0 {
		tam = p[0].Int
	}
	t.Logf("CONNACK Topic Alias Maximum %d", tam)
	pid := uint16(0)
	publish := func(topic string, alias uint32, payload string) {
		pid++
		rc.write(publishPacket(5, topic, 1, false, pid, props().u16(propTopicAlias, uint16(alias)).bytes(), []byte(payload)))
	}
	if tam > 0 {
		for _, alias := range []uint32{1, tam} {
			topic := fmt.Sprintf("lab/alias/%d", alias)
			publish(topic, alias, "set "+topic)
			checkAck(t, rc.expect(typePuback), pid, pubackCodes, publishOK, nil)
			publish("", alias, "use "+topic)
			checkAck(t, rc.expect(typePuback), pid, pubackCodes, publishOK, nil)
			for _, p := range []string{"set ", "use "} {
				got := watch.waitPayload(p + topic)
				if m := got[len(got)-1]; m.Topic != topic {
					t.Errorf("message %q published with alias %d arrived on %q, want %q", m.Payload, alias, m.Topic, topic)
				}
			}
		}
	}
	if tam == 65535 {
		return // no alias above the maximum exists
	}
	// The server handles a connection's packets in order: a PINGRESP to a
	// PINGREQ sent after the PUBLISH means the PUBLISH did not end the
	// connection.
	publish("lab/alias/over", tam+1, "over the maximum")
	rc.write(pingreqPacket)
	var sent []frame
	for {
		f, err := rc.next(wait)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("Topic Alias %d (CONNACK maximum %d): no answer to PINGREQ and no close within %v (got %v)", tam+1, tam, wait, sent)
		}
		if err != nil { // closed
			break
		}
		sent = append(sent, f)
		if f.Type == typePingresp {
			t.Fatalf("Topic Alias %d (CONNACK maximum %d) was accepted: got %v, the connection stays open", tam+1, tam, sent)
		}
	}
	if len(sent) == 0 || sent[len(sent)-1].Type != typeDisconnect {
		t.Errorf("Topic Alias %d (maximum %d): the connection was closed without DISCONNECT 0x94 (got %v)", tam+1, tam, sent)
		return
	}
	if d := sent[len(sent)-1]; len(d.Body) < 1 || d.Body[0] != 0x94 {
		t.Errorf("Topic Alias %d (maximum %d): %s, want reason 0x94 (Topic Alias invalid)", tam+1, tam, d)
	}
}

// readAliased reads n PUBLISHes on a raw connection, resolving topic
// aliases as a client must (3.3.2.3.4), and checks each alias against the
// client's Topic Alias Maximum.
func readAliased(t *testing.T, rc *rawConn, n int, clientMax uint32) (topics []string, aliases int) {
	t.Helper()
	mapped := map[uint32]string{}
	for i := 0; i < n; i++ {
		f, err := rc.next(wait)
		if err != nil {
			t.Fatalf("message %d of %d: %v", i+1, n, err)
		}
		p := parsePublish(t, f, 5)
		topic := p.Topic
		if a := findProps(p.Props, propTopicAlias); len(a) > 0 {
			aliases++
			alias := a[0].Int
			if alias == 0 || alias > clientMax {
				t.Errorf("%s: Topic Alias %d, the client's Topic Alias Maximum is %d", f, alias, clientMax)
			}
			if topic != "" {
				mapped[alias] = topic
			} else if topic = mapped[alias]; topic == "" {
				t.Errorf("%s: an empty topic with alias %d, which was never set", f, alias)
			}
		} else if topic == "" {
			t.Errorf("%s: an empty topic without alias", f)
		}
		topics = append(topics, topic)
		if p.QoS > 0 {
			rc.write(ackPacket(typePuback, p.PID, 0, nil))
		}
	}
	return topics, aliases
}

// aliasTraffic publishes two rounds over five topics (QoS 1) for a raw
// subscriber of lab/alias-out/#, and returns the topics in publish order.
func aliasTraffic(t *testing.T, pub *client) []string {
	var want []string
	for round := 0; round < 2; round++ {
		for i := 1; i <= 5; i++ {
			topic := fmt.Sprintf("lab/alias-out/topic-%d", i)
			pub.send(topic, 1, "x")
			want = append(want, topic)
		}
	}
	return want
}

// TestMQTT_3_3_2_11_TopicAliasToClient: [MQTT-3.3.2-11] "A Server MUST NOT
// send a PUBLISH packet with a Topic Alias greater than the Topic Alias
// Maximum value sent by the Client in the CONNECT packet." A client that
// accepts 2 aliases receives ten messages over five topics: any alias the
// broker uses is 1 or 2, is set with a topic before it is used alone, and
// every message resolves to the topic it was published on.
func TestMQTT_3_3_2_11_TopicAliasToClient(t *testing.T) {
	t.Parallel()
	s := startStore(t, []string{"pub", "sub"}, nil)
	rc := dialRaw(t, s.Addr)
	rc.connect5(rawConnect{ClientID: "sub", CleanStart: true, KeepAlive: 30,
		Props: props().u16(propTopicAliasMaximum, 2).bytes()})
	rc.write(subscribePacket(5, 1, nil, subReq{"lab/alias-out/#", 1}))
	rc.expect(typeSuback)
	want := aliasTraffic(t, connect(t, s, "pub", opts{}))
	got, aliases := readAliased(t, rc, len(want), 2)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("topics resolved to %q, want %q", got, want)
	}
	t.Logf("%d of %d messages carried a topic alias", aliases, len(want))
}

// TestMQTT_3_1_2_27_NoTopicAliasWithoutMaximum: [MQTT-3.1.2-27] "If Topic
// Alias Maximum is absent or zero, the Server MUST NOT send any Topic
// Aliases to the Client." A client that announces none receives the same ten
// messages: not one may carry a Topic Alias, every one its full topic.
func TestMQTT_3_1_2_27_NoTopicAliasWithoutMaximum(t *testing.T) {
	t.Parallel()
	s := startStore(t, []string{"pub", "sub"}, nil)
	rc := dialRaw(t, s.Addr)
	rc.connect5(rawConnect{ClientID: "sub", CleanStart: true, KeepAlive: 30})
	rc.write(subscribePacket(5, 1, nil, subReq{"lab/alias-out/#", 1}))
	rc.expect(typeSuback)
	want := aliasTraffic(t, connect(t, s, "pub", opts{}))
	got, aliases := readAliased(t, rc, len(want), 0)
	if aliases > 0 {
		t.Errorf("%d messages carried a Topic Alias to a client that announced no Topic Alias Maximum", aliases)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("topics %q, want %q", got, want)
	}
}
