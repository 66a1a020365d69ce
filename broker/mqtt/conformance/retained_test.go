package conformance

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/eclipse/paho.golang/paho"
)

// fullProps are the properties of an application message the broker must
// pass on unaltered: user properties (a repeated key, an empty value,
// non-ASCII text, in this order), content type, response topic, correlation
// data and payload format.
func fullProps() *paho.PublishProperties {
	pf := byte(1)
	return &paho.PublishProperties{
		User: paho.UserProperties{{Key: "trace", Value: "t-1"}, {Key: "shop", Value: "门店-12"},
			{Key: "trace", Value: "t-2"}, {Key: "empty", Value: ""}},
		ContentType:     "application/json",
		ResponseTopic:   "lab/reply/kiosk-7",
		CorrelationData: []byte{0, 1, 2, 0xfe, 0xff},
		PayloadFormat:   &pf,
	}
}

// sameProps reports how got differs from the properties fullProps sets ("" =
// not at all).
func sameProps(got *paho.PublishProperties) string {
	want := fullProps()
	if got == nil {
		return "no properties"
	}
	var diff []string
	if !slices.Equal(got.User, want.User) {
		diff = append(diff, fmt.Sprintf("user properties %q, want %q", got.User, want.User))
	}
	if got.ContentType != want.ContentType {
		diff = append(diff, fmt.Sprintf("content type %q", got.ContentType))
	}
	if got.ResponseTopic != want.ResponseTopic {
		diff = append(diff, fmt.Sprintf("response topic %q", got.ResponseTopic))
	}
	if !bytes.Equal(got.CorrelationData, want.CorrelationData) {
		diff = append(diff, fmt.Sprintf("correlation data %x", got.CorrelationData))
	}
	if got.PayloadFormat == nil || *got.PayloadFormat != 1 {
		diff = append(diff, fmt.Sprintf("payload format %v", got.PayloadFormat))
	}
	return fmt.Sprint(diff)
}

// TestMQTT_3_3_1_5_RetainedMessageKeepsProperties: [MQTT-3.3.1-5] "If the
// RETAIN flag is set to 1 in a PUBLISH packet sent by a Client to a Server,
// the Server MUST replace any existing retained message for this topic and
// store the Application Message", and an Application Message is its payload,
// QoS, Topic Name and properties (1.2). A later subscriber gets the retained
// copy ([MQTT-3.3.1-9], with RETAIN 1) with the user properties in order
// ([MQTT-3.3.2-17], [MQTT-3.3.2-18]), content type ([MQTT-3.3.2-20]),
// response topic ([MQTT-3.3.2-15]), correlation data ([MQTT-3.3.2-16]) and
// payload format ([MQTT-3.3.2-4]) it was published with: at QoS 0, 1 and 2,
// also after the broker restarts (retained messages survive restarts:
// PROTOCOL.md, "Delivery guarantees").
func TestMQTT_3_3_1_5_RetainedMessageKeepsProperties(t *testing.T) {
	t.Parallel()
	s := startStore(t, []string{"pub", "sub"}, nil)
	pub := connect(t, s, "pub", opts{})
	for qos := byte(0); qos <= 2; qos++ {
		pub.publish(&paho.Publish{Topic: fmt.Sprintf("lab/retained/q%d", qos), QoS: qos, Retain: true,
			Payload: []byte(fmt.Sprintf("retained at QoS %d", qos)), Properties: fullProps()})
	}
	// The QoS 0 publish has no acknowledgement: a QoS 1 publish after it
	// (same connection, processed in order) is.
	pub.send("lab/retained/sync", 1, "sync")
	check := func(t *testing.T, suffix string) {
		for qos := byte(0); qos <= 2; qos++ {
			t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
				c := connect(t, s, fmt.Sprintf("sub:q%d%s", qos, suffix), opts{})
				topic := fmt.Sprintf("lab/retained/q%d", qos)
				c.subscribe(sub(topic, 2))
				m := c.waitFor("the retained message", func(p *paho.Publish) bool { return p.Topic == topic })
				got := m[len(m)-1]
				if !got.Retain {
					t.Errorf("the retained copy arrived with RETAIN 0")
				}
				if got.QoS != qos {
					t.Errorf("the retained copy arrived at QoS %d, published at %d (subscription QoS 2)", got.QoS, qos)
				}
				if string(got.Payload) != fmt.Sprintf("retained at QoS %d", qos) {
					t.Errorf("payload %q", got.Payload)
				}
				if d := sameProps(got.Properties); d != "[]" {
					t.Errorf("the retained copy lost its properties: %s", d)
				}
			})
		}
	}
	t.Run("live", func(t *testing.T) { check(t, "") })
	s.Restart()
	t.Run("after restart", func(t *testing.T) { check(t, "-restarted") })
}
