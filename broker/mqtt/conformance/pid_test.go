package conformance

import (
	"testing"

	"github.com/eclipse/paho.golang/paho"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

// holdOne logs clientID in (a 60 s session), subscribes it to topic at QoS
// 1 and returns the QoS 1 PUBLISH it then receives and does not acknowledge:
// a retained message sent on subscribing, or a live one published after.
func holdOne(t *testing.T, s *storetest.Store, pub *client, clientID, topic string, retained bool) (*rawConn, rawPublish) {
	t.Helper()
	if retained {
		pub.publish(&paho.Publish{Topic: topic, QoS: 1, Retain: true, Payload: []byte("held")})
	}
	rc := dialRaw(t, s.Addr)
	rc.connect5(rawConnect{ClientID: clientID, CleanStart: true, KeepAlive: 30,
		Props: props().u32(propSessionExpiry, 60).bytes()})
	rc.write(subscribePacket(5, 1, nil, subReq{topic, 1}))
	rc.expect(typeSuback)
	if !retained {
		pub.send(topic, 1, "held")
	}
	return rc, parsePublish(t, rc.expect(typePublish), 5)
}

// TestMQTT_2_2_1_3_PacketIdentifiersIndependent: [MQTT-2.2.1-3] "Each time
// a Client sends a new SUBSCRIBE, UNSUBSCRIBE, or PUBLISH (where QoS > 0)
// MQTT Control Packet it MUST assign it a non-zero Packet Identifier that is
// currently unused", unused by the client: "The Client and Server assign
// Packet Identifiers independently of each other" (2.2.1, non-normative),
// so both may use the same one at once. A client holds a QoS 1 message from
// the server unacknowledged (a live one; a retained one sent on
// subscribing) and sends a SUBSCRIBE, an UNSUBSCRIBE and a PUBLISH with that
// message's packet id: each must be answered as usual, not with 0x91
// (Packet Identifier in use), which is about the client's own identifiers.
func TestMQTT_2_2_1_3_PacketIdentifiersIndependent(t *testing.T) {
	t.Parallel()
	s := startStore(t, []string{"pub", "sub"}, nil)
	pub := connect(t, s, "pub", opts{})
	for _, retained := range []bool{false, true} {
		name := map[bool]string{false: "live", true: "retained"}[retained]
		t.Run(name, func(t *testing.T) {
			topic := "lab/pid/" + name
			rc, held := holdOne(t, s, pub, "sub:"+name, topic, retained)
			id := held.PID
			rc.write(subscribePacket(5, id, nil, subReq{topic + "-other", 1}))
			if f := rc.expect(typeSuback); parseAck(t, f).reason() != 0x01 {
				t.Errorf("SUBSCRIBE with packet id %d, which the server uses for its own PUBLISH: %s, want reason 0x01", id, f)
			}
			rc.write(unsubscribePacket(id, nil, topic+"-other"))
			if f := rc.expect(typeUnsuback); parseAck(t, f).reason() != 0x00 {
				t.Errorf("UNSUBSCRIBE with packet id %d, which the server uses for its own PUBLISH: %s, want reason 0x00", id, f)
			}
			rc.write(publishPacket(5, topic+"-own", 1, false, id, nil, []byte("mine")))
			checkAck(t, rc.expect(typePuback), id, pubackCodes, publishOK, nil)
		})
	}
}

// TestMQTT_4_4_0_1_ResendUnacknowledged: [MQTT-4.4.0-1] "When a Client
// reconnects with Clean Start set to 0 and a session is present, both the
// Client and Server MUST resend any unacknowledged PUBLISH packets (where
// QoS > 0) and PUBREL packets using their original Packet Identifiers."
// [MQTT-3.3.1-1] "The DUP flag MUST be set to 1 by the Client or Server when
// it attempts to re-deliver a PUBLISH packet." A client of a 60 s session
// leaves a QoS 1 message unacknowledged (a live one; a retained one sent on
// subscribing), loses its connection and comes back: the message comes
// again, first, with DUP 1 and the same packet id. A message published after
// the reconnection marks the end: it comes after any resend.
func TestMQTT_4_4_0_1_ResendUnacknowledged(t *testing.T) {
	t.Parallel()
	s := startStore(t, []string{"pub", "sub"}, nil)
	pub := connect(t, s, "pub", opts{})
	for _, retained := range []bool{false, true} {
		name := map[bool]string{false: "live", true: "retained"}[retained]
		t.Run(name, func(t *testing.T) {
			topic := "lab/resend/" + name
			rc, held := holdOne(t, s, pub, "sub:"+name, topic, retained)
			rc.c.Close()
			rc = dialRaw(t, s.Addr)
			ca := rc.connect5(rawConnect{ClientID: "sub:" + name, KeepAlive: 30,
				Props: props().u32(propSessionExpiry, 60).bytes()})
			if !ca.SessionPresent {
				t.Fatalf("CONNACK Session Present 0 for a session with expiry 60 s")
			}
			pub.send(topic, 1, "after")
			f := rc.expect(typePublish)
			again := parsePublish(t, f, 5)
			switch {
			case string(again.Payload) != "held":
				t.Errorf("the unacknowledged message (packet id %d) was not sent again; first after the reconnection: %s", held.PID, f)
			case again.PID != held.PID || !again.Dup:
				t.Errorf("the unacknowledged message came again with packet id %d and DUP %v; want its original id %d and DUP 1", again.PID, again.Dup, held.PID)
			}
		})
	}
}
