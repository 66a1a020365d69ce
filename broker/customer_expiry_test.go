package broker_test

import (
	"testing"
	"time"

	"github.com/storeedge/storeedge/internal/storetest"
)

// TestExpiredCustomerIsDisconnected: a customer still connected when its
// session's chat.customer_session_ttl passes is disconnected (it used to
// stay connected, only its grants going silent).
func TestExpiredCustomerIsDisconnected(t *testing.T) {
	tabDev := storetest.Device{ID: "tab-1", Role: "chat-tablet"}
	s := storetest.Start(t, storetest.Options{Devices: []storetest.Device{tabDev}})
	tablet := s.Connect(t, tabDev, "")
	cust := s.CustomerLogin(t, tablet, "", "phone", false)
	srv := s.Broker().Server()
	connected := func() bool {
		cl, ok := srv.Clients.Get(cust.ID)
		return ok && !cl.Closed()
	}
	if !connected() {
		t.Fatal("customer not connected")
	}
	s.Advance(25 * time.Hour) // past the default 24 h
	deadline := time.Now().Add(10 * time.Second)
	for connected() {
		if time.Now().After(deadline) {
			t.Fatal("expired customer still connected 10 s later")
		}
		time.Sleep(20 * time.Millisecond) // polling the connection with a deadline
	}
	if cl, ok := srv.Clients.Get(tablet.ID); !ok || cl.Closed() {
		t.Fatal("the chat tablet was disconnected too")
	}
}
