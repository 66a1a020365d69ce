package camera

import (
	"strings"
	"testing"
)

// FuzzParseSignal: whatever a client publishes on a signaling topic is
// either a signal or an error, never a panic.
func FuzzParseSignal(f *testing.F) {
	f.Add("camera/cam-1/signal/w-1", []byte(`{"v":1,"type":"offer","from":"c","sdp":"v=0"}`))
	f.Add("camera/cam-1/signal/up-1", []byte(`{"v":1,"type":"candidate","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}}`))
	f.Add("camera/cam-1/signal/w-1", []byte(`{"v":1,"type":"bye","reason":"closed"}`))
	f.Add("camera//signal/", []byte(`{}`))
	f.Add("camera/a/signal/b", []byte(`{"type":"answer"}`))
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		cam, session, sig, err := parseSignal(topic, payload)
		if err != nil {
			return
		}
		if cam == "" || session == "" || strings.Contains(cam, "/") || strings.Contains(session, "/") {
			t.Fatalf("%q gave camera %q session %q", topic, cam, session)
		}
		if (sig.Type == SignalOffer || sig.Type == SignalAnswer) && sig.SDP == "" {
			t.Fatalf("%s without sdp accepted", sig.Type)
		}
	})
}

func TestParseSignalRefuses(t *testing.T) {
	for _, tt := range []struct{ topic, payload string }{
		{"camera/cam-1/signal/w-1", `not json`},
		{"camera/cam-1/signal/w-1", `{"type":"hello"}`},
		{"camera/cam-1/signal/w-1", `{"type":"offer"}`},
		{"camera/cam-1/other/w-1", `{"type":"bye"}`},
		{"camera/cam-1/signal/w-1/x", `{"type":"bye"}`},
		{"camera/cam-1/signal/w-1", `{"type":"offer","sdp":"` + strings.Repeat("a", maxSignalBytes) + `"}`},
	} {
		if _, _, _, err := parseSignal(tt.topic, []byte(tt.payload)); err == nil {
			t.Errorf("%s %.40s accepted", tt.topic, tt.payload)
		}
	}
}
