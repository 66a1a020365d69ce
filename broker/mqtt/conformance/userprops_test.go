package conformance

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/eclipse/paho.golang/paho"
)

// TestMQTT_3_3_2_17_UserPropertiesUnaltered: [MQTT-3.3.2-17] "The Server
// MUST send all User Properties unaltered in a PUBLISH packet when
// forwarding the Application Message to a Client." [MQTT-3.3.2-18] "The
// Server MUST maintain the order of User Properties when forwarding the
// Application Message." Four user properties (a repeated key, an empty
// value, non-ASCII text) published at QoS 0, 1 and 2 reach a paho
// subscriber, and mosquitto_sub, in the same order, with the other
// properties of the message (content type, response topic, correlation
// data, payload format: [MQTT-3.3.2-20], -15, -16, -4).
func TestMQTT_3_3_2_17_UserPropertiesUnaltered(t *testing.T) {
	t.Parallel()
	s := startStore(t, []string{"pub", "sub"}, nil)
	c := connect(t, s, "sub", opts{})
	c.subscribe(sub("lab/userprops/#", 2))
	pub := connect(t, s, "pub", opts{})
	for qos := byte(0); qos <= 2; qos++ {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			payload := fmt.Sprintf("user properties at QoS %d", qos)
			pub.publish(&paho.Publish{Topic: fmt.Sprintf("lab/userprops/q%d", qos), QoS: qos,
				Payload: []byte(payload), Properties: fullProps()})
			got := c.waitPayload(payload)
			if d := sameProps(got[len(got)-1].Properties); d != "[]" {
				t.Errorf("forwarded with %s", d)
			}
		})
	}
	t.Run("mosquitto_sub", func(t *testing.T) {
		bin := needTool(t, "mosquitto_sub", "mosquitto-clients")
		out := startTool(t, bin, append(mosquittoArgs(t, s, "sub:mosquitto"),
			"-V", "5", "-d", "-q", "1", "-t", "lab/userprops/mosquitto", "-C", "1", "-F", "%t|%P")...)
		out.until("Subscribed")
		pub.publish(&paho.Publish{Topic: "lab/userprops/mosquitto", QoS: 1, Payload: []byte("x"), Properties: fullProps()})
		line := out.until("lab/userprops/mosquitto|")
		var want []string
		for _, u := range fullProps().User {
			want = append(want, u.Key+":"+u.Value)
		}
		got := strings.Fields(strings.TrimPrefix(line, "lab/userprops/mosquitto|"))
		if !slices.Equal(got, want) {
			t.Errorf("mosquitto_sub printed user properties %q, want %q", got, want)
		}
	})
}

// TestMQTT_3_1_2_29_UserPropertiesWithoutProblemInformation: [MQTT-3.1.2-29]
// "If the value of Request Problem Information is 0, the Server MAY return a
// Reason String or User Properties on a CONNACK or DISCONNECT packet, but
// MUST NOT send a Reason String or User Properties on any packet other than
// PUBLISH, CONNACK, or DISCONNECT." The exception for PUBLISH matters: its
// user properties are the application's data, which [MQTT-3.3.2-17] says
// are forwarded unaltered. paho.golang sends Request Problem Information 0
// whenever it sends any CONNECT property and is not told otherwise, so this
// is what many devices ask for. A subscriber asking 0 still gets a message's
// user properties, in order; a publisher asking 0 gets no Reason String nor
// User Property on the PUBACK refusing a publish (0x87, checked raw).
func TestMQTT_3_1_2_29_UserPropertiesWithoutProblemInformation(t *testing.T) {
	t.Parallel()
	s := startStore(t, []string{"pub", "sub"}, nil)
	t.Run("PUBLISH keeps its user properties", func(t *testing.T) {
		c := connect(t, s, "sub", opts{NoProblemInfo: true})
		c.subscribe(sub("lab/rpi", 1))
		pub := connect(t, s, "pub", opts{})
		pub.publish(&paho.Publish{Topic: "lab/rpi", QoS: 1, Payload: []byte("rpi 0"), Properties: fullProps()})
		got := c.waitPayload("rpi 0")
		if d := sameProps(got[len(got)-1].Properties); d != "[]" {
			t.Errorf("forwarded to a client with Request Problem Information 0 with %s", d)
		}
	})
	t.Run("PUBACK carries no problem information", func(t *testing.T) {
		rc := dialRaw(t, s.Addr)
		rc.connect5(rawConnect{ClientID: "pub:raw", CleanStart: true, KeepAlive: 30,
			Props: props().u8(0x17, 0).bytes()}) // Request Problem Information 0
		rc.write(publishPacket(5, "$nope/refused", 1, false, 5, richProps(), []byte("x")))
		f := rc.expect(typePuback)
		a := checkAck(t, f, 5, pubackCodes, pubackCodes, requestUser)
		if a.reason() < 0x80 {
			t.Errorf("%s: a publish outside the ACL was accepted", f)
		}
		if len(a.Props) > 0 {
			t.Errorf("%s: PUBACK to a client with Request Problem Information 0 carries %v", f, a.Props)
		}
	})
}
