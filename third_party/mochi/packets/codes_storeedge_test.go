package packets

import "testing"

// TestV3ConnackCodeCoversEveryV5Code: every MQTT 5 CONNACK reason code maps
// to a 3.1.1 return code (1-5) or to none (close without CONNACK); none is
// passed through as a code a 3.1.1 client cannot read (0x82 was).
func TestV3ConnackCodeCoversEveryV5Code(t *testing.T) {
	want := map[byte]byte{ // 0 = closed without CONNACK
		0x80: 0x03, 0x81: 0, 0x82: 0, 0x83: 0x03, 0x84: 0x01, 0x85: 0x02, 0x86: 0x05, 0x87: 0x05,
		0x88: 0x03, 0x89: 0x03, 0x8A: 0x05, 0x8C: 0x05, 0x90: 0, 0x95: 0, 0x97: 0x03, 0x99: 0,
		0x9A: 0x03, 0x9B: 0x03, 0x9C: 0x03, 0x9D: 0x03, 0x9F: 0x03,
	}
	for v5, w := range want {
		got, ok := V3ConnackCode(v5)
		if w == 0 {
			if ok {
				t.Errorf("%#x -> %#x, want no CONNACK", v5, got)
			}
			continue
		}
		if !ok || got != w {
			t.Errorf("%#x -> %#x (%v), want %#x", v5, got, ok, w)
		}
	}
	for c := 0x80; c <= 0xFF; c++ {
		if got, ok := V3ConnackCode(byte(c)); ok && (got < 1 || got > 5) {
			t.Errorf("%#x -> %#x: not a 3.1.1 return code", c, got)
		}
	}
	for c := byte(0); c <= 5; c++ {
		if got, ok := V3ConnackCode(c); !ok || got != c {
			t.Errorf("3.1.1 code %#x changed to %#x", c, got)
		}
	}
}
