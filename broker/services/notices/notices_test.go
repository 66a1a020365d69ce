package notices_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/cloudsync"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	st "github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/proto"
)

var (
	anna  = st.Device{ID: "staff-anna", Role: "staff"}
	olga  = st.Device{ID: "admin-olga", Role: "admin"}
	kiosk = st.Device{ID: "kiosk-1", Role: "kiosk"}
)

// hqSide is HQ's broker (a real mosquitto) with a client that sends down
// and reads what the store sends up.
type hqSide struct {
	t     *testing.T
	c     *paho.Client
	addr  string
	store string
	n     int

	mu   sync.Mutex
	acks []proto.NoticeAck
}

func startHQ(t *testing.T) *hqSide {
	t.Helper()
	b := mosquittotest.Start(t, mosquittotest.Options{})
	h := &hqSide{t: t, addr: b.Addr}
	conn, err := net.Dial("tcp", b.Addr)
	if err != nil {
		t.Fatal(err)
	}
	h.c = paho.NewClient(paho.ClientConfig{Conn: conn, ClientID: "hq",
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			var a proto.NoticeAck
			if strings.HasSuffix(pr.Packet.Topic, "/up/notice/ack") && json.Unmarshal(pr.Packet.Payload, &a) == nil {
				h.mu.Lock()
				h.acks = append(h.acks, a)
				h.mu.Unlock()
			}
			return true, nil
		}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := h.c.Connect(ctx, &paho.Connect{KeepAlive: 30, ClientID: "hq", CleanStart: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "stores/+/up/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.c.Disconnect(&paho.Disconnect{}) })
	return h
}

func (h *hqSide) config(c *broker.Config) {
	c.Cloud.URL = "mqtt://" + h.addr
	c.Cloud.ReconnectMin, c.Cloud.ReconnectMax = 20*time.Millisecond, 200*time.Millisecond
	h.store = c.StoreID
}

// send publishes a notice as HQ does, each time under a new message id
// (so cloudsync's own dedup does not hide a repeat from the service). While
// the store's link is still coming up HQ's broker has no subscriber
// (0x10): it is sent again, up to 20 s.
func (h *hqSide) send(topic string, n any) {
	h.t.Helper()
	p, _ := json.Marshal(n)
	deadline := time.Now().Add(20 * time.Second)
	for {
		h.n++
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		pr, err := h.c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: p,
			Properties: &paho.PublishProperties{User: paho.UserProperties{{Key: cloudsync.PropID, Value: fmt.Sprintf("hq-msg-%d", h.n)}}}})
		cancel()
		if err != nil {
			h.t.Fatalf("HQ publish %s: %v", topic, err)
		}
		if pr == nil || pr.ReasonCode != 0x10 {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("HQ publish %s: the store's link never subscribed", topic)
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
}

// waitAcks returns the acknowledgements once there are n.
func (h *hqSide) waitAcks(n int) []proto.NoticeAck {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		h.mu.Lock()
		a := append([]proto.NoticeAck(nil), h.acks...)
		h.mu.Unlock()
		if len(a) >= n {
			return a
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("HQ got %d notice acks, want %d: %+v", len(a), n, a)
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
}

func list(t *testing.T, c *st.Client) []proto.StoreNotice {
	t.Helper()
	var l proto.NoticesList
	st.OK(t, c.Call(t, "notices", "list", `{}`)).Decode(t, &l)
	return l.Notices
}

// HQ sends the store a promotion: the store keeps it once (a repeat under
// another message id stores nothing and files no second ack), tells HQ it
// has it (notice/ack arrives on HQ's broker), shows it to staff at once
// (notices/events) and in the list, newest first; a notice to every store
// is kept the same way and still reaches the kiosks; an expired one is acknowledged and not shown; an
// invalid one is neither kept nor acknowledged.
func TestNoticesFromHQ(t *testing.T) {
	hq := startHQ(t)
	s := st.Start(t, st.Options{Devices: []st.Device{anna, kiosk}, Config: hq.config})
	staff := s.Connect(t, anna, "")
	staff.Subscribe(t, proto.TopicNoticeEvents)
	k := s.Connect(t, kiosk, "")
	k.Subscribe(t, "hq/broadcast/#")
	sent := s.Now().Add(-time.Hour).UTC()

	promo := proto.Notice{V: 1, ID: "promo-1", Kind: proto.NoticePromotion, Title: "Spa week -20%", Body: "Every bath and groom.", From: "marketing", SentAt: sent}
	hq.send(proto.CloudDownTopic(hq.store, "notice"), promo)
	ev := staff.WaitFor(t, 1, st.Topic(proto.TopicNoticeEvents))
	var e proto.NoticeEvent
	if err := json.Unmarshal(ev[0].Payload, &e); err != nil || e.Type != "notice" || e.Notice.ID != "promo-1" || e.Notice.Title != "Spa week -20%" ||
		!e.Notice.Received.Equal(s.Now()) {
		t.Fatalf("event: %s %v", ev[0].Payload, err)
	}
	if a := hq.waitAcks(1); a[0].ID != "promo-1" || !a[0].TS.Equal(s.Now()) {
		t.Fatalf("ack: %+v", a)
	}

	// The same notice again (HQ repeated the request): nothing new.
	hq.send(proto.CloudDownTopic(hq.store, "notice"), promo)
	// To all stores; then one that has already expired; then a bad one.
	all := proto.Notice{V: 1, ID: "n-inventory", Kind: proto.NoticeNotice, Title: "Inventory on Sunday", SentAt: sent, Expires: s.Now().Add(48 * time.Hour)}
	hq.send(proto.TopicBroadcastNotice, all)
	hq.send(proto.CloudDownTopic(hq.store, "notice"), proto.Notice{V: 1, ID: "n-old", Kind: proto.NoticeNotice, Title: "Yesterday", SentAt: sent, Expires: s.Now().Add(-time.Minute)})
	hq.send(proto.CloudDownTopic(hq.store, "notice"), map[string]any{"v": 1, "id": "n-bad", "kind": "notice", "title": " ", "sent_at": sent})
	hq.send(proto.CloudDownTopic(hq.store, "notice"), proto.Notice{V: 1, ID: "n-last", Kind: proto.NoticeNotice, Title: "Last", SentAt: sent})

	// The outbox sends in order: had the repeat or the bad notice filed an
	// ack, it would be among these four.
	acks := hq.waitAcks(4)
	var ids []string
	for _, a := range acks {
		ids = append(ids, a.ID)
	}
	if strings.Join(ids, ",") != "promo-1,n-inventory,n-old,n-last" {
		t.Fatalf("acks: %v", ids)
	}
	staff.WaitFor(t, 3, st.Topic(proto.TopicNoticeEvents))
	// The kiosk still gets what HQ broadcasts, as before.
	if m := k.WaitFor(t, 1, st.Topic(proto.TopicBroadcastNotice)); !strings.Contains(string(m[0].Payload), "Inventory on Sunday") {
		t.Fatalf("kiosk: %s", m[0].Payload)
	}
	if n := len(staff.Msgs(st.Topic(proto.TopicNoticeEvents))); n != 3 {
		t.Fatalf("%d events, want 3 (promo-1, n-inventory, n-last)", n)
	}
	got := list(t, staff)
	ids = ids[:0]
	for _, n := range got {
		ids = append(ids, n.ID)
	}
	if strings.Join(ids, ",") != "n-last,n-inventory,promo-1" || got[2].Body != "Every bath and groom." || got[2].From != "marketing" {
		t.Fatalf("list: %+v", got)
	}

	// Two days on, the inventory notice has expired.
	s.Advance(49 * time.Hour)
	ids = ids[:0]
	for _, n := range list(t, staff) {
		ids = append(ids, n.ID)
	}
	if strings.Join(ids, ",") != "n-last,promo-1" {
		t.Fatalf("after expiry: %v", ids)
	}
	// Kept across a restart.
	s.Restart()
	staff.Reconnect(t)
	if l := list(t, staff); len(l) != 2 {
		t.Fatalf("after restart: %+v", l)
	}
}

// The store keeps the newest notices.keep: a new one past it lets the
// oldest go. Only notices.roles may list them.
func TestNoticesKeepTheNewest(t *testing.T) {
	hq := startHQ(t)
	s := st.Start(t, st.Options{Devices: []st.Device{anna, olga}, Config: func(c *broker.Config) {
		hq.config(c)
		c.Notices.Keep = 3
		c.Notices.Roles = []string{"admin"}
	}})
	st.Fails(t, s.Connect(t, anna, "").Call(t, "notices", "list", `{}`), "forbidden", "")
	staff := s.Connect(t, olga, "")
	for i := 1; i <= 5; i++ {
		hq.send(proto.CloudDownTopic(hq.store, "notice"), proto.Notice{V: 1, ID: fmt.Sprintf("n-%d", i), Kind: proto.NoticeNotice, Title: fmt.Sprint("Notice ", i), SentAt: s.Now()})
	}
	hq.waitAcks(5)
	var ids []string
	for _, n := range list(t, staff) {
		ids = append(ids, n.ID)
	}
	if strings.Join(ids, ",") != "n-5,n-4,n-3" {
		t.Fatalf("kept: %v", ids)
	}
}
