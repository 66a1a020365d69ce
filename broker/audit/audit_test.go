package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	st "github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/proto"
)

var (
	admin = st.Device{ID: "admin-1", Role: "admin"}
	anna  = st.Device{ID: "staff-anna", Role: "staff"}
)

// hqInbox subscribes at HQ's broker to everything stores send up, as HQ
// does (a store keeps the chat and booking entries no consumer takes),
// and collects what is under one local topic prefix.
type hqInbox struct {
	mu   sync.Mutex
	msgs []*paho.Publish
}

func (h *hqInbox) wait(t *testing.T, n int) []*paho.Publish {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		h.mu.Lock()
		got := append([]*paho.Publish(nil), h.msgs...)
		h.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("HQ received %d entries, want %d", len(got), n)
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
}

func subscribeHQ(t *testing.T, addr, prefix string) *hqInbox {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	in := &hqInbox{}
	c := paho.NewClient(paho.ClientConfig{Conn: conn, ClientID: "hq-audit", OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(p paho.PublishReceived) (bool, error) {
			if _, local, ok := strings.Cut(p.Packet.Topic, "/up/"); ok && strings.HasPrefix(local, prefix) {
				in.mu.Lock()
				in.msgs = append(in.msgs, p.Packet)
				in.mu.Unlock()
			}
			return true, nil
		}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{KeepAlive: 30, ClientID: "hq-audit", CleanStart: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "stores/+/up/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return in
}

type view struct {
	ID       string `json:"id"`
	Customer string `json:"customer"`
	Contact  *struct {
		Name string `json:"name"`
	} `json:"contact"`
}

func after(t *testing.T, e proto.AuditEntry) view {
	t.Helper()
	var v view
	if err := json.Unmarshal(e.After, &v); err != nil {
		t.Fatalf("entry %d after %s: %v", e.Seq, e.After, err)
	}
	return v
}

func list(t *testing.T, c *st.Client, body string) proto.AuditPage {
	t.Helper()
	var p proto.AuditPage
	st.OK(t, c.Call(t, "admin", "audit.list", body)).Decode(t, &p)
	return p
}

// Staff take three bookings in the console; each is an entry of the
// activity log with the staff member, the action, the booking and what it
// became, at the store's time. Admins page through it newest first; staff
// may not read it. Every entry reaches HQ's broker through the outbox, and
// the log survives a restart, with the customer's name sealed on disk.
func TestActivityLog(t *testing.T) {
	hq := mosquittotest.Start(t, mosquittotest.Options{})
	inbox := subscribeHQ(t, hq.Addr, "audit/")
	s := st.Start(t, st.Options{Devices: []st.Device{admin, anna}, Config: func(c *broker.Config) {
		c.Cloud.URL = "mqtt://" + hq.Addr
		c.Cloud.ReconnectMin, c.Cloud.ReconnectMax = 20*time.Millisecond, 200*time.Millisecond
	}})
	staff := s.Connect(t, anna, "")
	adm := s.Connect(t, admin, "")

	const secret = "Wang Fangfang"
	var ids []string
	for i, body := range []string{
		`{"service":"dog-bath","start":"2026-11-24T10:00:00+08:00","source":"walk_in","contact":{"name":"` + secret + `","phone":"138 0013 8000"}}`,
		`{"service":"dog-bath","start":"2026-11-24T13:00:00+08:00","customer":"cust-a"}`,
		`{"service":"dog-bath","start":"2026-11-24T15:00:00+08:00","customer":"cust-b","source":"phone"}`,
	} {
		if i > 0 {
			s.Advance(time.Minute)
		}
		var a struct {
			Booking struct {
				ID string `json:"id"`
			} `json:"booking"`
		}
		st.OK(t, staff.Call(t, "booking", "book", body)).Decode(t, &a)
		ids = append(ids, a.Booking.ID)
	}

	check := func(t *testing.T) {
		t.Helper()
		p := list(t, adm, `{"limit":2}`)
		if len(p.Entries) != 2 || !p.More || p.Next != p.Entries[1].Seq || p.Kept != 3 || p.Dropped != 0 {
			t.Fatalf("first page: %+v", p)
		}
		rest := list(t, adm, fmt.Sprintf(`{"limit":2,"before":%d}`, p.Next))
		if len(rest.Entries) != 1 || rest.More {
			t.Fatalf("second page: %+v", rest)
		}
		all := append(p.Entries, rest.Entries...)
		for i, e := range all {
			id := ids[2-i] // newest first
			if e.Actor != anna.ID || e.Action != "booking.book" || e.Target != id || after(t, e).ID != id || e.Before != nil {
				t.Errorf("entry %d: %+v", i, e)
			}
			if want := st.DefaultStart.Add(time.Duration(2-i) * time.Minute); !e.TS.Equal(want) {
				t.Errorf("entry %d at %v, want the store's clock %v", i, e.TS, want)
			}
		}
		if c := after(t, all[2]).Contact; c == nil || c.Name != secret {
			t.Errorf("the walk-in's entry does not show the booking as made: %s", all[2].After)
		}
	}
	check(t)
	st.Fails(t, staff.Call(t, "admin", "audit.list", `{}`), "forbidden", "")
	st.Fails(t, adm.Call(t, "admin", "audit.list", `{"limit":"ten"}`), "bad_request", "")

	// HQ got every entry, in order, as the list shows them.
	got := inbox.wait(t, 3)
	for i, m := range got[:3] {
		var e proto.AuditEntry
		if err := json.Unmarshal(m.Payload, &e); err != nil {
			t.Fatalf("HQ got %s: %v", m.Payload, err)
		}
		if m.Topic != "stores/"+"demo-store"+"/up/audit/entries" || e.Seq != uint64(i+1) || e.Target != ids[i] || e.Actor != anna.ID || after(t, e).ID != ids[i] {
			t.Errorf("HQ got %s on %s", m.Payload, m.Topic)
		}
	}

	s.Restart()
	adm.Reconnect(t)
	check(t)

	s.Stop()
	raw, err := os.ReadFile(filepath.Join(s.Dir, "data", broker.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(secret)) {
		t.Errorf("the customer's name is in the database file in the clear")
	}
}
