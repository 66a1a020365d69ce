package auth

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"golang.org/x/crypto/bcrypt"
)

const (
	codeServerBusy    = 0x89
	codeQuotaExceeded = 0x97
)

// connectFrom logs in with paho from the local address ip (any 127.x.y.z)
// and returns the CONNACK code, the client (nil when refused) and what the
// server's DISCONNECT said, once it comes.
func (b *testBroker) connectFrom(t *testing.T, ip string, o connectOpts) (byte, *paho.Client, <-chan byte) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", b.addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", ip, err)
	}
	disc := make(chan byte, 1)
	c := paho.NewClient(paho.ClientConfig{
		Conn:               conn,
		PacketTimeout:      20 * time.Second,
		OnClientError:      func(error) {},
		OnServerDisconnect: func(d *paho.Disconnect) { disc <- d.ReasonCode },
	})
	cp := &paho.Connect{ClientID: o.clientID, KeepAlive: 30, CleanStart: true,
		Username: o.username, UsernameFlag: true, Password: []byte(o.password), PasswordFlag: true}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ca, err := c.Connect(ctx, cp)
	if ca == nil {
		t.Fatalf("connect %s from %s: no CONNACK: %v", o.clientID, ip, err)
	}
	if err != nil {
		return ca.ReasonCode, nil, disc
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return ca.ReasonCode, c, disc
}

// TestConnectionsPerIdentityCapped: one customer opening many connections
// (client ids cust-x:0, cust-x:1...) gets CONNACK 0x97 past its cap, as
// does a device past its own; reconnecting with a client id already
// connected takes it over; kiosks and staff still log in.
func TestConnectionsPerIdentityCapped(t *testing.T) {
	fc := newFakeCustomers()
	fc.add("cust-x", "s3cret-x")
	b := startBroker(t, devicesYAML(t, ""), nil, withCustomers(t, fc), func(c *brokerCfg) {
		c.MaxConnectionsPerIdentity = 3
		c.MaxConnectionsPerCustomer = 2
	})
	cust := func(i int) connectOpts {
		return connectOpts{clientID: fmt.Sprintf("cust-x:%d", i), username: "cust-x", password: "s3cret-x"}
	}
	for i := range 2 {
		if code := b.connackCode(t, cust(i)); code != codeOK {
			t.Fatalf("customer connection %d: CONNACK %#x", i, code)
		}
	}
	for i := 2; i < 50; i++ {
		if code := b.connackCode(t, cust(i)); code != codeQuotaExceeded {
			t.Fatalf("customer connection %d past the cap: CONNACK %#x, want 0x97", i, code)
		}
	}
	if code := b.connackCode(t, cust(1)); code != codeOK {
		t.Fatalf("customer taking over its own client id: CONNACK %#x", code)
	}
	kiosk := func(s string) connectOpts {
		return connectOpts{clientID: "kiosk-01:" + s, username: "kiosk-01", password: "pw-kiosk-01"}
	}
	for _, s := range []string{"a", "b", "c"} {
		if code := b.connackCode(t, kiosk(s)); code != codeOK {
			t.Fatalf("kiosk %s: CONNACK %#x", s, code)
		}
	}
	if code := b.connackCode(t, kiosk("d")); code != codeQuotaExceeded {
		t.Fatalf("fourth kiosk-01 connection: CONNACK %#x, want 0x97", code)
	}
	b.login(t, roleDevices[3]) // staff
	b.login(t, roleDevices[4]) // admin
	// A connection that ends frees its place.
	c, _, err := b.connect(t, kiosk("a"))
	if err != nil {
		t.Fatal(err)
	}
	_ = c.c.Disconnect(&paho.Disconnect{})
	poll(t, "kiosk-01:a gone", func() bool { _, ok := b.srv.Clients.Get("kiosk-01:a"); return !ok })
	if code := b.connackCode(t, kiosk("d")); code != codeOK {
		t.Fatalf("kiosk-01:d after kiosk-01:a left: CONNACK %#x", code)
	}
}

// TestReservedConnectionsForStaff: once only limits.reserved_connections
// slots are left, kiosks get 0x89 and staff and admin still log in.
func TestReservedConnectionsForStaff(t *testing.T) {
	b := startBroker(t, devicesYAML(t, ""), nil, func(c *brokerCfg) {
		c.ReservedConnections = 2
		c.ReservedRoles = []string{"staff", "admin"}
		c.setup = func(b *testBroker) { b.srv.Options.Capabilities.MaximumClients = 5 }
	})
	for _, s := range []string{"a", "b", "c"} {
		if code := b.connackCode(t, connectOpts{clientID: "kiosk-01:" + s, username: "kiosk-01", password: "pw-kiosk-01"}); code != codeOK {
			t.Fatalf("kiosk %s: CONNACK %#x", s, code)
		}
	}
	if code := b.connackCode(t, connectOpts{clientID: "tab-01", username: "tab-01", password: "pw-tab-01"}); code != codeServerBusy {
		t.Fatalf("chat tablet into a reserved slot: CONNACK %#x, want 0x89", code)
	}
	b.login(t, roleDevices[3]) // staff
	b.login(t, roleDevices[4]) // admin
	if n := b.logs.count("kept for staff"); n == 0 {
		t.Fatalf("refusal not logged:\n%s", b.logs.all())
	}
}

// TestPasswordGuessersDoNotDelayARealLogin: 60 wrong-password logins from
// one address, queued before a real device's, with one password check
// running at a time (auth.password_workers 1): the device, from another
// address, is served in turn, not after all of them.
func TestPasswordGuessersDoNotDelayARealLogin(t *testing.T) {
	const guessers = 60
	// Cost 8: a check takes long enough (a few ms) for the guesses to queue.
	var reg strings.Builder
	for _, id := range []string{"slow-01", "guessed-01"} {
		hash, err := bcrypt.GenerateFromPassword([]byte("pw-"+id), 8)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&reg, "  - id: %s\n    role: kiosk\n    password_hash: %q\n", id, hash)
	}
	b := startBroker(t, devicesYAML(t, reg.String()), nil, func(c *brokerCfg) { c.PasswordWorkers = 1 })

	// Guesses at another device's password, written as raw CONNECTs so
	// that all are queued at once.
	var answered atomic.Int32
	first := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for i := range guessers {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
		conn, err := d.Dial("tcp", b.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		cp := &packets.Connect{ProtocolName: "MQTT", ProtocolVersion: 5, ClientID: fmt.Sprintf("guessed-01:%d", i), KeepAlive: 30, CleanStart: true,
			UsernameFlag: true, Username: "guessed-01", PasswordFlag: true, Password: []byte("wrong")}
		if _, err := cp.WriteTo(conn); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
			if _, err := packets.ReadPacket(conn); err == nil {
				answered.Add(1)
				once.Do(func() { close(first) })
			}
		}()
	}
	select {
	case <-first: // the checks are under way, the rest queued
	case <-time.After(30 * time.Second):
		t.Fatal("no guess answered within 30 s")
	}

	start, answeredAtStart := time.Now(), int(answered.Load())
	code, _, _ := b.connectFrom(t, "127.0.0.3", connectOpts{clientID: "slow-01", username: "slow-01", password: "pw-slow-01"})
	took := time.Since(start)
	waiting := guessers - int(answered.Load())
	t.Logf("real login took %s with %d guesses still waiting", took, waiting)
	if code != codeOK {
		t.Fatalf("real login: CONNACK %#x", code)
	}
	// In turn: the check running, then at most one guess, then the device;
	// behind all of them it would have waited for every guess (~60 checks
	// of ~50-100 ms, 5.5 s when this test was written). Counted in checks
	// rather than seconds, so that a slow machine (or -race) cannot fail it.
	if during := guessers - waiting - answeredAtStart; during > 3 {
		t.Fatalf("real login answered after %d of the %d queued guesses (%s)", during, guessers-answeredAtStart, took)
	}
	wg.Wait()
}

// TestLoginBackoffAfterWrongPasswords: after auth.login_backoff_after wrong
// passwords for one device from one address, even the right password from
// there is refused unchecked (and counted) until the window has passed;
// the same device from another address logs in meanwhile.
func TestLoginBackoffAfterWrongPasswords(t *testing.T) {
	var refused atomic.Int32
	b := startBroker(t, devicesYAML(t, ""), nil, func(c *brokerCfg) {
		c.LoginBackoffAfter = 3
		c.LoginBackoffMax = time.Minute
		c.OnLoginBackoff = func() { refused.Add(1) }
	})
	wrong := connectOpts{clientID: "kiosk-01", username: "kiosk-01", password: "nope"}
	right := connectOpts{clientID: "kiosk-01", username: "kiosk-01", password: "pw-kiosk-01"}
	for i := range 3 {
		if code, _, _ := b.connectFrom(t, "127.0.0.2", wrong); code != codeBadCredentials {
			t.Fatalf("wrong password %d: CONNACK %#x", i, code)
		}
	}
	if code, _, _ := b.connectFrom(t, "127.0.0.2", right); code != codeBadCredentials {
		t.Fatalf("right password inside the backoff window: CONNACK %#x, want 0x86", code)
	}
	if refused.Load() != 1 {
		t.Fatalf("refusals by backoff counted: %d, want 1", refused.Load())
	}
	if b.logs.count("refused unchecked for a while") == 0 {
		t.Fatalf("backoff not logged:\n%s", b.logs.all())
	}
	if code, c, _ := b.connectFrom(t, "127.0.0.3", right); code != codeOK {
		t.Fatalf("same device from another address: CONNACK %#x", code)
	} else {
		_ = c.Disconnect(&paho.Disconnect{})
	}
	b.clock.Advance(1100 * time.Millisecond) // the first window is 1 s
	if code, _, _ := b.connectFrom(t, "127.0.0.2", right); code != codeOK {
		t.Fatalf("right password after the window: CONNACK %#x", code)
	}
}

// TestInactiveCustomerDisconnected: a connected customer whose session
// expires is disconnected with DISCONNECT 0xA0; devices stay.
func TestInactiveCustomerDisconnected(t *testing.T) {
	fc := newFakeCustomers()
	fc.add("cust-a1", "s3cret-a1")
	fc.add("cust-b2", "s3cret-b2")
	b := startBroker(t, devicesYAML(t, ""), nil, withCustomers(t, fc))
	_, _, discA := b.connectFrom(t, "127.0.0.1", connectOpts{clientID: "cust-a1:phone", username: "cust-a1", password: "s3cret-a1"})
	_, _, discB := b.connectFrom(t, "127.0.0.1", connectOpts{clientID: "cust-b2", username: "cust-b2", password: "s3cret-b2"})
	b.login(t, roleDevices[0])
	if n := b.hook.DisconnectInactiveCustomers(); n != 0 {
		t.Fatalf("%d disconnected while every session is active", n)
	}
	fc.expire("cust-a1", true)
	if n := b.hook.DisconnectInactiveCustomers(); n != 1 {
		t.Fatalf("%d disconnected, want 1", n)
	}
	select {
	case code := <-discA:
		if code != 0xA0 {
			t.Fatalf("DISCONNECT %#x, want 0xA0", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("expired customer not disconnected")
	}
	select {
	case code := <-discB:
		t.Fatalf("active customer disconnected (%#x)", code)
	default:
	}
	if _, ok := b.srv.Clients.Get("kiosk-01:screen"); !ok {
		t.Fatal("kiosk gone")
	}
}
