package auth

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage/bolt"
	"go.etcd.io/bbolt"
)

// TestRestartRestoredSession: a persistent session is stored, the broker
// restarts, mochi restores the session offline and asks the hook whether a
// message may be queued for it (no cached grants, no connection). The
// message must be queued and delivered when the device comes back.
func TestRestartRestoredSession(t *testing.T) {
	d := roleDevices[0] // kiosk-01, client id kiosk-01:screen
	b2, cl := restoredOfflineSession(t, d, "reply/"+d.clientID+"/#")
	if g := b2.hook.clients.get(d.clientID); g != nil {
		t.Fatal("test setup: grants already cached")
	}
	if !b2.hook.CanRead(cl, "reply/"+d.clientID+"/booking") {
		t.Fatal("restored session may not receive its replies")
	}
	if b2.hook.CanRead(cl, "booking/events") {
		t.Fatal("restored session may read beyond its role")
	}
	if err := b2.srv.Publish("reply/"+d.clientID+"/booking", []byte("queued while offline"), false, 1); err != nil {
		t.Fatal(err)
	}
	if cl.State.Inflight.Len() != 1 {
		t.Fatalf("message not queued for the offline session (%d inflight)", cl.State.Inflight.Len())
	}
	c2, ca, err := b2.connect(t, connectOpts{clientID: d.clientID, username: d.id, password: "pw-" + d.id, sessionExpiry: 3600})
	if err != nil {
		t.Fatalf("reconnect: %v (%+v)", err, ca)
	}
	if !ca.SessionPresent {
		t.Fatal("session not present")
	}
	if m := c2.next(t); string(m.Payload) != "queued while offline" {
		t.Fatalf("got %q", m.Payload)
	}
}

// restoredOfflineSession gives device d a persistent session (subscribed to
// filter, when not empty) in a broker with mochi's bolt storage, takes it
// offline, restarts the broker and returns the second broker and the session
// it restored from storage: one the auth hook has never seen connect.
func restoredOfflineSession(t *testing.T, d testDevice, filter string) (*testBroker, *mqtt.Client) {
	t.Helper()
	return restoredSession(t, connectOpts{clientID: d.clientID, username: d.id, password: "pw-" + d.id}, filter, nil)
}

// restoredSession is restoredOfflineSession for any login o (made
// persistent); setup, when not nil, runs on both brokers before they serve.
func restoredSession(t *testing.T, o connectOpts, filter string, setup func(*testBroker)) (*testBroker, *mqtt.Client) {
	t.Helper()
	dbPath := filepath.Join(t.TempDir(), "mochi.bolt")
	withBolt := func(b *testBroker) {
		t.Helper()
		if err := b.srv.AddHook(new(bolt.Hook), &bolt.Options{
			Path:    dbPath,
			Options: &bbolt.Options{Timeout: time.Second},
		}); err != nil {
			t.Fatal(err)
		}
		if setup != nil {
			setup(b)
		}
	}
	devices := devicesYAML(t, "")
	b1 := startBrokerWith(t, devices, withBolt)
	o.sessionExpiry = 3600
	c, ca, err := b1.connect(t, o)
	if err != nil {
		t.Fatalf("login: %v (%+v)", err, ca)
	}
	if filter != "" {
		if code := c.subscribe(t, filter); code >= 0x80 {
			t.Fatalf("subscribe: 0x%02X", code)
		}
	}
	if err := c.c.Disconnect(&paho.Disconnect{}); err != nil {
		t.Fatal(err)
	}
	poll(t, "session offline", func() bool {
		cl, ok := b1.srv.Clients.Get(o.clientID)
		return ok && cl.Closed()
	})
	b1.close(t)

	b2 := startBrokerWith(t, devices, withBolt)
	cl, ok := b2.srv.Clients.Get(o.clientID)
	if !ok {
		t.Fatal("session not restored")
	}
	return b2, cl
}

// startBrokerWith starts a test broker and lets setup add hooks (after the
// auth hook) before it serves.
func startBrokerWith(t *testing.T, devices []byte, setup func(*testBroker)) *testBroker {
	t.Helper()
	return startBroker(t, devices, nil, func(c *brokerCfg) { c.setup = setup })
}
