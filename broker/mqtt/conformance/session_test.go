package conformance

import (
	"fmt"
	"testing"
)

// TestMQTT_3_1_2_23_SessionExpiryInterval: [MQTT-3.1.2-23] "The Client and
// Server MUST store the Session State after the Network Connection is closed
// if the Session Expiry Interval is greater than 0"; the Session State holds
// the subscriptions and the QoS 1 and 2 messages queued for the client (4.1).
// "If the Session Expiry Interval is absent the value 0 is used. If it is set
// to 0, or is absent, the Session ends when the Network Connection is
// closed" (3.1.2.11.2), and [MQTT-3.2.2-3]: Session Present is 1 when the
// server resumes a session, else 0. [MQTT-3.1.2-4]: "If Clean Start is set
// to 1, the Client and Server MUST discard any existing Session and start a
// new Session."
func TestMQTT_3_1_2_23_SessionExpiryInterval(t *testing.T) {
	t.Parallel()
	s := startStore(t, []string{"pub", "dev"}, nil)
	pub := connect(t, s, "pub", opts{})

	t.Run("expiry 60 keeps subscriptions and queued messages", func(t *testing.T) {
		c := connect(t, s, "dev:keep", opts{SessionExpiry: 60})
		c.subscribe(sub("lab/session/keep", 1))
		c.disconnect()
		for i := 1; i <= 3; i++ {
			pub.send("lab/session/keep", 1, fmt.Sprint("queued ", i))
		}
		c = connect(t, s, "dev:keep", opts{Resume: true, SessionExpiry: 60})
		if !c.Connack.SessionPresent {
			t.Errorf("CONNACK Session Present 0 for a session with expiry 60 s")
		}
		// No SUBSCRIBE: the session's subscription delivers the queue and what
		// is published now.
		pub.send("lab/session/keep", 1, "live")
		got := c.waitPayload("live")
		var payloads []string
		for _, m := range got {
			payloads = append(payloads, string(m.Payload))
		}
		if want := "[queued 1 queued 2 queued 3 live]"; fmt.Sprint(payloads) != want {
			t.Errorf("the resumed session received %q, want %s", payloads, want)
		}
	})

	t.Run("expiry 0 ends the session with the connection", func(t *testing.T) {
		c := connect(t, s, "dev:gone", opts{}) // no Session Expiry Interval: 0
		c.subscribe(sub("lab/session/gone", 1))
		c.disconnect()
		pub.send("lab/session/gone", 1, "lost")
		c = connect(t, s, "dev:gone", opts{Resume: true})
		if c.Connack.SessionPresent {
			t.Errorf("CONNACK Session Present 1 for a session that ended with its connection")
		}
		checkNothingQueued(t, c, pub, "lab/session/gone")
	})

	t.Run("clean start discards the session", func(t *testing.T) {
		c := connect(t, s, "dev:clean", opts{SessionExpiry: 60})
		c.subscribe(sub("lab/session/clean", 1))
		c.disconnect()
		pub.send("lab/session/clean", 1, "lost")
		c = connect(t, s, "dev:clean", opts{SessionExpiry: 60}) // Clean Start 1
		if c.Connack.SessionPresent {
			t.Errorf("CONNACK Session Present 1 for a Clean Start")
		}
		checkNothingQueued(t, c, pub, "lab/session/clean")
	})
}

// checkNothingQueued shows that c, just connected, has nothing of an old
// session: pub publishes on topic, then on a marker topic c subscribes to
// now; when the marker arrives nothing else may have, neither a message
// queued for the old session nor one delivered through its subscription.
func checkNothingQueued(t *testing.T, c, pub *client, topic string) {
	t.Helper()
	c.subscribe(sub(topic+"/marker", 1))
	pub.send(topic, 1, "after")
	pub.send(topic+"/marker", 1, "marker")
	got := c.waitPayload("marker")
	if len(got) != 1 {
		t.Errorf("the new session received messages of the old one: %s", dump(got))
	}
}

// TestMQTT_3_1_4_3_TakeoverKeepsTheNewConnection: [MQTT-3.1.4-3] "If the
// ClientId represents a Client already connected to the Server, the Server
// sends a DISCONNECT packet to the existing Client with Reason Code of 0x8E
// (Session taken over)" — and the new connection is the client from then
// on. A tablet whose Wi-Fi dropped reconnects with the same client id while
// its old socket is still open; every time, what it subscribes to next must
// reach it. (The old connection's ending could still see itself not taken
// over and remove the session by client id: its successor's subscription
// to the same reply topic and its place among the server's clients, so the
// replies were dropped.)
func TestMQTT_3_1_4_3_TakeoverKeepsTheNewConnection(t *testing.T) {
	t.Parallel()
	s := startStore(t, []string{"pub", "dev"}, nil)
	pub := connect(t, s, "pub", opts{})
	for _, session := range []struct {
		name string
		o    opts
	}{{"clean start", opts{}}, {"resumed session", opts{Resume: true, SessionExpiry: 60}}} {
		t.Run(session.name, func(t *testing.T) {
			for i := 1; i <= 250; i++ {
				c := connect(t, s, "dev:tablet", session.o)                      // the previous one is left open
				topic := fmt.Sprintf("lab/takeover/%d", session.o.SessionExpiry) // its reply topic, the same every time
				c.subscribe(sub(topic, 1))
				reply := fmt.Sprint("reply ", i)
				pub.send(topic, 1, reply)
				c.waitPayload(reply)
			}
		})
	}
}
