package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/storeedge/storeedge/broker"
)

// TestWelcomeShowsTheActualPort: the example command in the start-up
// banner uses the port the broker listens on, not 1883.
func TestWelcomeShowsTheActualPort(t *testing.T) {
	for _, tc := range []struct{ tcp, want string }{
		{"[::]:18830", "-h 127.0.0.1 -p 18830 "},
		{"0.0.0.0:2883", "-h 127.0.0.1 -p 2883 "},
		{"192.168.1.20:1884", "-h 192.168.1.20 -p 1884 "},
	} {
		var b bytes.Buffer
		printWelcome(&b, broker.Addrs{TCP: tc.tcp, HTTP: "127.0.0.1:8080"})
		if !strings.Contains(b.String(), "mosquitto_sub "+tc.want) {
			t.Errorf("TCP %s: banner does not say %q:\n%s", tc.tcp, tc.want, b.String())
		}
	}
	var b bytes.Buffer
	printWelcome(&b, broker.Addrs{TLS: "[::]:8883"})
	if strings.Contains(b.String(), "mosquitto_sub") {
		t.Errorf("no TCP listener, yet an example for one:\n%s", b.String())
	}
}
