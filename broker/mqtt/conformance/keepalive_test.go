package conformance

import (
	"testing"
	"time"

	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

// checkKeepAlive connects two raw clients with Keep Alive keepAlive (MQTT
// version 4 or 5): one says nothing more, the other sends PINGREQ every
// half Keep Alive. The silent one must be closed after no less than the
// effective Keep Alive and no more than one and a half times it (plus a
// second of slack); the pinging one must still be connected then. For MQTT
// 5 the effective value is the CONNACK's Server Keep Alive if there is one.
// Time itself is what is tested here, so the waits are real.
func checkKeepAlive(t *testing.T, s *storetest.Store, version byte, keepAlive uint16) {
	t.Helper()
	dial := func(id string) (*rawConn, time.Time, uint16) {
		rc := dialRaw(t, s.Addr)
		start := time.Now() // before the CONNECT: the server's clock starts later
		o := rawConnect{ClientID: id, CleanStart: true, KeepAlive: keepAlive}
		if version == 4 {
			rc.write(o.packet(4))
			if ca := parseConnack(t, rc.expect(typeConnack), 4); ca.Reason != 0 {
				t.Fatalf("CONNACK return code %d", ca.Reason)
			}
			return rc, start, keepAlive
		}
		ca := rc.connect5(o)
		if p := findProps(ca.Props, propServerKeepAlive); len(p) > 0 {
			return rc, start, uint16(p[0].Int)
		}
		return rc, start, keepAlive
	}
	pinger, _, _ := dial("dev:pinger")
	silent, start, effective := dial("dev:silent")
	if effective != keepAlive {
		t.Logf("CONNACK Server Keep Alive %d replaces the client's %d", effective, keepAlive)
	}
	if effective == 0 || effective > 20 {
		t.Fatalf("effective Keep Alive %d s: this test needs 1 to 20", effective)
	}
	ka := time.Duration(effective) * time.Second
	stopPing := make(chan struct{})
	pingDone := make(chan int)
	go func() {
		pings := 0
		defer func() { pingDone <- pings }()
		tick := time.NewTicker(ka / 2)
		defer tick.Stop()
		for {
			select {
			case <-stopPing:
				return
			case <-tick.C:
				if _, err := pinger.c.Write(pingreqPacket); err != nil {
					return
				}
				pings++
			}
		}
	}()
	sent, closed := silent.closedWithin(ka*3/2 + time.Second)
	after := time.Since(start)
	close(stopPing)
	pings := <-pingDone
	if !closed {
		t.Fatalf("a client silent for %v (Keep Alive %v) is still connected", after.Round(time.Millisecond), ka)
	}
	if after < ka {
		t.Errorf("a silent client was disconnected after %v, before its Keep Alive of %v", after.Round(time.Millisecond), ka)
	}
	for _, f := range sent {
		if f.Type != typeDisconnect {
			t.Errorf("the silent client was sent %s", f)
		}
	}
	t.Logf("silent client closed after %v (Keep Alive %v)", after.Round(time.Millisecond), ka)
	// The pinging client has been sent a PINGRESP for each PINGREQ and
	// nothing else, and is still connected: one more PINGREQ is answered.
	pinger.write(pingreqPacket)
	for i := 0; i <= pings; i++ {
		f, err := pinger.next(wait)
		if err != nil {
			t.Fatalf("the client that pinged every %v s was disconnected (PINGRESP %d of %d): %v", ka.Seconds()/2, i+1, pings+1, err)
		}
		if f.Type != typePingresp {
			t.Fatalf("the pinging client was sent %s", f)
		}
	}
}

// TestMQTT_3_1_2_22_KeepAlive: [MQTT-3.1.2-22] "If the Keep Alive value is
// non-zero and the Server does not receive an MQTT Control Packet from the
// Client within one and a half times the Keep Alive time period, it MUST
// close the Network Connection to the Client as if the network had failed."
// [MQTT-3.2.2-21] "If the Server sends a Server Keep Alive on the CONNACK
// packet, the Client MUST use this value instead of the Keep Alive value the
// Client sent on CONNECT", and [MQTT-3.2.2-22] without one the server uses
// the client's: the effective Keep Alive is the one the CONNACK gives, and
// the server holds itself to it. Keep Alive 2 s.
func TestMQTT_3_1_2_22_KeepAlive(t *testing.T) {
	t.Parallel()
	checkKeepAlive(t, startStore(t, []string{"dev"}, nil), 5, 2)
}

// TestMQTT311_3_1_2_24_KeepAlive: MQTT 3.1.1 [MQTT-3.1.2-24] "If the Keep
// Alive value is non-zero and the Server does not receive a Control Packet
// from the Client within one and a half times the Keep Alive time period, it
// MUST disconnect the Network Connection to the Client as if the network had
// failed." The same check for a 3.1.1 client (no Server Keep Alive there),
// Keep Alive 2 s.
func TestMQTT311_3_1_2_24_KeepAlive(t *testing.T) {
	t.Parallel()
	checkKeepAlive(t, startStore(t, []string{"dev"}, nil), 4, 2)
}
