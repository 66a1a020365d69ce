package conformance

import (
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// TestMQTT_3_1_3_9_WillDelayInterval: [MQTT-3.1.3-9] "If a new Network
// Connection to this Session is made before the Will Delay Interval has
// passed, the Server MUST NOT send the Will Message." and [MQTT-3.1.2-8]
// "The Will Message MUST be published after the Network Connection is
// subsequently closed and either the Will Delay Interval has elapsed or the
// Session ends". A device with a 60 s session and a Will delayed by 2 s
// loses its connection and comes back at once (Clean Start 0) with another
// Will; then it loses the connection again and stays away. Only the second
// Will may be published, no sooner than 2 s after the connection dropped. A
// first Will sent despite the reconnection would have been due earlier, so
// it would arrive before the second.
func TestMQTT_3_1_3_9_WillDelayInterval(t *testing.T) {
	t.Parallel()
	s := startStore(t, []string{"dev", "watch"}, nil)
	watch := connect(t, s, "watch", opts{})
	watch.subscribe(sub("lab/will/#", 1))

	delay := uint32(2)
	will := func(payload string) opts {
		return opts{SessionExpiry: 60,
			Will:      &paho.WillMessage{Topic: "lab/will/dev", QoS: 1, Payload: []byte(payload)},
			WillProps: &paho.WillProperties{WillDelayInterval: &delay}}
	}
	first := connect(t, s, "dev", will("first will"))
	first.drop()
	o := will("second will")
	o.Resume = true
	second := connect(t, s, "dev", o)
	if !second.Connack.SessionPresent {
		t.Errorf("the device came back within its session expiry: want Session Present 1")
	}
	dropped := time.Now()
	second.drop()
	got := watch.waitPayload("second will")
	since := time.Since(dropped)
	for _, m := range got {
		if string(m.Payload) == "first will" {
			t.Errorf("the first Will was published although the device reconnected within the Will Delay Interval")
		}
	}
	if since < time.Duration(delay)*time.Second-100*time.Millisecond {
		t.Errorf("the Will was published %v after the connection dropped; its delay is %d s", since, delay)
	}
	t.Logf("second will after %v", since)
}
