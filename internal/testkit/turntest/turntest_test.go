package turntest_test

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/pion/turn/v5"

	"github.com/storeedge/storeedge/internal/testkit/turntest"
)

// TestAllocateWithCredentials: a TURN client allocates a relay address with
// the REST credentials, and is refused with a wrong password.
func TestAllocateWithCredentials(t *testing.T) {
	srv := turntest.Start(t, turntest.Options{})
	user, pass := srv.Credentials("viewer", time.Minute)
	if err := allocate(srv, user, pass); err != nil {
		t.Fatalf("allocate with good credentials: %v", err)
	}
	if err := allocate(srv, user, "d3Jvbmc="); err == nil {
		t.Fatal("allocate with a wrong password succeeded")
	}
	old, oldPass := srv.Credentials("viewer", -time.Minute)
	if err := allocate(srv, old, oldPass); err == nil {
		t.Fatal("allocate with expired credentials succeeded")
	}
}

func allocate(srv *turntest.Server, user, pass string) error {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer conn.Close()
	addr := net.JoinHostPort(srv.IP, strconv.Itoa(srv.Port))
	c, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: user, Password: pass, Realm: srv.Realm, RTO: 200 * time.Millisecond})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Listen(); err != nil {
		return err
	}
	relay, err := c.Allocate()
	if err != nil {
		return err
	}
	return relay.Close()
}
