package cloudsync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/broker/services/chat"
	"github.com/storeedge/storeedge/cloudsync"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

// Devices of the downlink tests. Only admin may subscribe to hq/... and
// cloudsync/status (configs/acl.yaml); staff answers chats; the cloud role
// is the legacy HQ bridge device, which may publish on hq/... itself.
var (
	dlAdmin  = storetest.Device{ID: "admin-1", Role: "admin"}
	dlStaff  = storetest.Device{ID: "staff-anna", Role: "staff"}
	dlBridge = storetest.Device{ID: "hq-bridge", Role: "cloud"}
)

// hqSendID publishes one QoS 1 message from HQ with the user property id
// and returns the PUBACK's reason code: 0x00 when HQ's broker had a
// subscriber for it (the store's session, online or not), 0x10 when
// nobody was subscribed and it was dropped.
func hqSendID(t *testing.T, pub *paho.Client, topic, id string, payload []byte) byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pr, err := pub.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: payload,
		Properties: &paho.PublishProperties{User: paho.UserProperties{{Key: cloudsync.PropID, Value: id}}}})
	if err != nil {
		t.Fatalf("HQ publish %s (id %s): %v", topic, id, err)
	}
	if pr == nil {
		return 0
	}
	return pr.ReasonCode
}

// hqSendQueued is hqSendID for a message that must be queued for the
// store: HQ's broker answers 0x00 (a subscriber), not 0x10 (none).
func hqSendQueued(t *testing.T, pub *paho.Client, topic, id string, payload []byte) {
	t.Helper()
	if rc := hqSendID(t, pub, topic, id, payload); rc != 0 {
		t.Fatalf("HQ publish %s (id %s): PUBACK reason 0x%02x, want 0x00: the store's session is not subscribed", topic, id, rc)
	}
}

// waitDownlinkReady returns once the store's downlink is connected and
// subscribed at HQ: HQ sends probes on hq/broadcast/probe (each with a new
// id) until one reaches dev, which must be subscribed to that topic.
func waitDownlinkReady(t *testing.T, pub *paho.Client, dev *storetest.Client) {
	t.Helper()
	const topic = "hq/broadcast/probe"
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; ; i++ {
		id := fmt.Sprintf("probe-%d-%d", time.Now().UnixNano(), i)
		hqSendID(t, pub, topic, id, []byte(id))
		retry := time.Now().Add(300 * time.Millisecond)
		for time.Now().Before(retry) {
			if len(dev.Msgs(storetest.Topic(topic))) > 0 {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no probe from HQ reached the store within 20 s (%d sent)", i+1)
		}
	}
}

// waitMsgs polls dev until n messages match pred, for at most within.
func waitMsgs(t *testing.T, dev *storetest.Client, n int, within time.Duration, what string, pred func(storetest.Msg) bool) []storetest.Msg {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := dev.Msgs(pred)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d messages within %s", what, len(got), n, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lastStatus is the newest cloudsync/status dev received after the first
// message on topic after ("" = any).
func lastStatus(t *testing.T, dev *storetest.Client, after string) (cloudsync.Status, bool) {
	t.Helper()
	ms := dev.Msgs(nil)
	if after != "" {
		i := slices.IndexFunc(ms, func(m storetest.Msg) bool { return m.Topic == after })
		if i < 0 {
			return cloudsync.Status{}, false
		}
		ms = ms[i+1:]
	}
	i := len(ms) - 1
	for i >= 0 && ms[i].Topic != cloudsync.StatusTopic {
		i--
	}
	var s cloudsync.Status
	if i < 0 {
		return s, false
	}
	if err := json.Unmarshal(ms[i].Payload, &s); err != nil {
		t.Fatalf("cloudsync/status is not JSON: %v: %s", err, ms[i].Payload)
	}
	return s, true
}

// waitStatus polls the status dev receives (after the first message on
// topic after, "" = any) until ok accepts it.
func waitStatus(t *testing.T, dev *storetest.Client, after string, within time.Duration, what string, ok func(cloudsync.Status) bool) cloudsync.Status {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		s, have := lastStatus(t, dev, after)
		if have && ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("cloudsync/status: %s not within %s; last: %+v", what, within, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// promo is the payload of promotion n; copy tells a resend from the first.
type promo struct {
	ID   string `json:"id"`
	N    int    `json:"n"`
	Copy int    `json:"copy"`
}

func promoPayload(n, copy int) []byte {
	b, _ := json.Marshal(promo{ID: fmt.Sprintf("promo-%d", n), N: n, Copy: copy})
	return b
}

// HQ sends 1000 promotions (and 50 of them again) while the store is
// offline. When the link returns, a device subscribed to hq/promo/# gets
// each promotion once, unchanged, and no resend. After a restart of the
// store, HQ resends 10 of them: the store still knows their ids and
// delivers none.
func TestDownlinkQueuedWhileOfflineArrivesOnce(t *testing.T) {
	const total, repeats = 1000, 50
	hqb := startMosquitto(t, mosquittotest.Options{})
	px := link(t, hqb.Addr)
	var store string
	s := storetest.Start(t, storetest.Options{Devices: []storetest.Device{dlAdmin, dlStaff},
		Config: cloudConfig(px.Addr(), func(c *broker.Config) { store = c.StoreID })})
	// Persistent, as a kiosk's session is: what the store delivers while
	// it restarts waits for it.
	dev := s.ConnectAs(t, dlAdmin.ID, "pw-"+dlAdmin.ID, "", true)
	dev.Subscribe(t, "hq/promo/#")
	dev.Subscribe(t, "hq/broadcast/probe")
	dev.Subscribe(t, cloudsync.StatusTopic)
	pub := hqPublisher(t, hqb.Addr)
	waitDownlinkReady(t, pub, dev)

	// The store goes offline.
	px.Down()
	px.Cut()
	waitStatus(t, dev, "", 10*time.Second, "connected false", func(st cloudsync.Status) bool { return !st.Connected })

	down := "stores/" + store + "/down/promo/"
	for n := range total {
		hqSendQueued(t, pub, down+strconv.Itoa(n), fmt.Sprintf("promo-%d", n), promoPayload(n, 1))
	}
	repeated := map[int]bool{}
	for i := range repeats {
		n := i * (total / repeats)
		repeated[n] = true
		hqSendQueued(t, pub, down+strconv.Itoa(n), fmt.Sprintf("promo-%d", n), promoPayload(n, 2))
	}
	// The last message: once it is in, everything before it was handled.
	hqSendQueued(t, pub, down+"end", "promo-end", []byte("end"))
	if got := dev.Msgs(func(m storetest.Msg) bool { return strings.HasPrefix(m.Topic, "hq/promo/") }); len(got) != 0 {
		t.Fatalf("%d promotions reached the store while it was offline", len(got))
	}

	px.Up()
	waitMsgs(t, dev, 1, 90*time.Second, "the end marker", storetest.Topic("hq/promo/end"))

	count := map[int]int{}
	all := 0
	var resends []int // HQ's resends (same id) that were delivered
	for _, m := range dev.Msgs(func(m storetest.Msg) bool { return strings.HasPrefix(m.Topic, "hq/promo/") }) {
		if m.Topic == "hq/promo/end" {
			continue
		}
		all++
		n, err := strconv.Atoi(strings.TrimPrefix(m.Topic, "hq/promo/"))
		if err != nil {
			t.Fatalf("unexpected topic %s", m.Topic)
		}
		var p promo
		if err := json.Unmarshal(m.Payload, &p); err != nil {
			t.Fatalf("%s: payload %s: %v", m.Topic, m.Payload, err)
		}
		if p.N != n || p.ID != fmt.Sprintf("promo-%d", n) {
			t.Fatalf("%s carries another promotion: %s", m.Topic, m.Payload)
		}
		if p.Copy != 1 {
			resends = append(resends, n)
		}
		count[n]++
	}
	if len(resends) > 0 {
		t.Fatalf("HQ's resends of %d promotions (same id) were delivered: %v", len(resends), resends)
	}
	var missing, twice []int
	for n := range total {
		switch c := count[n]; {
		case c == 0:
			missing = append(missing, n)
		case c > 1:
			twice = append(twice, n)
		}
	}
	if len(missing) > 0 || len(twice) > 0 || len(count) != total || all != total {
		t.Fatalf("delivered %d messages, %d distinct promotions; want %d each. missing %v; more than once %v",
			all, len(count), total, missing, twice)
	}
	for n := range repeated {
		if count[n] != 1 {
			t.Fatalf("repeated promotion %d delivered %d times", n, count[n])
		}
	}
	st := waitStatus(t, dev, "", 10*time.Second, "50 duplicates counted", func(st cloudsync.Status) bool {
		return st.Downlink.Duplicates >= repeats
	})
	if st.Downlink.Failed != 0 {
		t.Fatalf("status counts failed downlink messages: %+v", st.Downlink)
	}

	// The store restarts. While it is down, HQ resends 5 promotions it
	// already delivered and sends a new one; once it is back, 5 more
	// resends. Only the new promotion is delivered.
	s.Stop()
	resent := []int{3, 111, 222, 333, 444, 555, 666, 777, 888, 999}
	for _, n := range resent[:5] {
		hqSendQueued(t, pub, down+strconv.Itoa(n), fmt.Sprintf("promo-%d", n), promoPayload(n, 3))
	}
	hqSendQueued(t, pub, down+strconv.Itoa(total), fmt.Sprintf("promo-%d", total), promoPayload(total, 1))
	s.Up()
	dev.Reconnect(t)
	for _, n := range resent[5:] {
		hqSendQueued(t, pub, down+strconv.Itoa(n), fmt.Sprintf("promo-%d", n), promoPayload(n, 3))
	}
	hqSendQueued(t, pub, down+"end2", "promo-end2", []byte("end2"))
	waitMsgs(t, dev, 1, 30*time.Second, "the end marker after the restart", storetest.Topic("hq/promo/end2"))
	waitMsgs(t, dev, 1, 10*time.Second, "the promotion sent while the store restarted", storetest.Topic(fmt.Sprintf("hq/promo/%d", total)))
	var again []string
	for _, m := range dev.Msgs(func(m storetest.Msg) bool { return strings.HasPrefix(m.Topic, "hq/promo/") }) {
		if p := (promo{}); json.Unmarshal(m.Payload, &p) == nil && p.Copy == 3 {
			again = append(again, m.Topic)
		}
	}
	if len(again) > 0 {
		t.Fatalf("after the restart, already delivered promotions came again: %v", again)
	}
	if n := len(dev.Msgs(storetest.Topic(fmt.Sprintf("hq/promo/%d", total)))); n != 1 {
		t.Fatalf("the promotion sent while the store restarted was delivered %d times", n)
	}
	// The restarted bridge received the 10 resends and counted them as
	// repeats, not as failures: its status, published after it delivered
	// the end marker (its counters started at zero).
	st = waitStatus(t, dev, "hq/promo/end2", 10*time.Second, "10 duplicates after the restart", func(st cloudsync.Status) bool {
		return st.Connected && st.Downlink.Duplicates >= uint64(len(resent))
	})
	if st.Downlink.Failed != 0 {
		t.Fatalf("status after the restart counts failed downlink messages: %+v", st.Downlink)
	}
}

// A customer at home writes to the store through HQ. The message lands in
// the customer's conversation once (HQ's replay stores nothing), staff see
// it with the chat service, and the staff reply goes up to HQ on
// stores/{store}/up/chat/{conv}/hq with its text.
func TestDownlinkChatReachesConversation(t *testing.T) {
	const cust = "hq-c42"
	hqb := startMosquitto(t, mosquittotest.Options{})
	k := newConsumer(t, hqb.Addr, "hq-consumer", "stores/+/up/#")
	px := link(t, hqb.Addr)
	var store string
	s := storetest.Start(t, storetest.Options{Devices: []storetest.Device{dlAdmin, dlStaff},
		Config: cloudConfig(px.Addr(), func(c *broker.Config) { store = c.StoreID })})
	admin := s.Connect(t, dlAdmin, "")
	admin.Subscribe(t, "hq/broadcast/probe")
	staff := s.Connect(t, dlStaff, "")
	pub := hqPublisher(t, hqb.Addr)
	waitDownlinkReady(t, pub, admin)

	down := "stores/" + store + "/down/chat/message"
	m1 := fmt.Sprintf(`{"v":1,"id":"hq-m-1","customer":%q,"kind":"text","text":"Is the grooming room free on Saturday?","lang":"en"}`, cust)
	m2 := fmt.Sprintf(`{"v":1,"id":"hq-m-2","customer":%q,"kind":"text","text":"It is for a small poodle.","lang":"en"}`, cust)
	hqSendQueued(t, pub, down, "hq-m-1", []byte(m1))
	hqSendQueued(t, pub, down, "hq-m-1", []byte(m1)) // HQ replays it
	hqSendQueued(t, pub, down, "hq-m-2", []byte(m2))

	// Staff see the conversation, both messages, each once.
	type history struct {
		Messages []chat.Message `json:"messages"`
	}
	var h history
	deadline := time.Now().Add(20 * time.Second)
	for {
		a, err := staff.TryCall("chat", "history", fmt.Sprintf("hist-%d", time.Now().UnixNano()), fmt.Sprintf(`{"conversation":%q}`, cust))
		if err != nil {
			t.Fatal(err)
		}
		h = history{}
		if a.OK {
			a.Decode(t, &h)
			if hasMsg(h.Messages, "hq-m-2") {
				break
			}
		} else if a.Error == nil || a.Error.Code != "not_found" {
			t.Fatalf("history: %s", a)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the customer's messages are not in conversation %s within 20 s: %s", cust, a)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var fromCust []chat.Message
	for _, m := range h.Messages {
		if m.From == cust {
			fromCust = append(fromCust, m)
		}
	}
	if len(fromCust) != 2 || fromCust[0].ID != "hq-m-1" || fromCust[0].Text != "Is the grooming room free on Saturday?" ||
		fromCust[1].ID != "hq-m-2" || fromCust[1].Text != "It is for a small poodle." || fromCust[0].Seq >= fromCust[1].Seq {
		t.Fatalf("the customer's messages in the conversation: %+v", h.Messages)
	}

	// Staff join and reply.
	storetest.OK(t, staff.Call(t, "chat", "open", fmt.Sprintf(`{"conversation":%q}`, cust)))
	const reply = "Yes, 10:00 is free. See you Saturday!"
	var sent struct {
		Seq uint64 `json:"seq"`
	}
	storetest.OK(t, staff.Call(t, "chat", "send", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":%q}`, cust, reply))).Decode(t, &sent)

	upTopic := "stores/" + store + "/up/chat/" + cust + "/hq"
	var got chat.HQEntry
	deadline = time.Now().Add(20 * time.Second)
	for found := false; !found; {
		for _, m := range k.messages() {
			var e chat.HQEntry
			if m.Topic != upTopic || json.Unmarshal(m.Payload, &e) != nil {
				continue
			}
			if e.Type == "message" && e.From == dlStaff.ID {
				got, found = e, true
			}
		}
		if !found {
			if time.Now().After(deadline) {
				t.Fatalf("the staff reply did not reach HQ on %s within 20 s; HQ has %d messages", upTopic, len(k.messages()))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if got.Text != reply || got.Conversation != cust || got.Kind != "text" || got.Seq != sent.Seq || got.Auto {
		t.Fatalf("the staff reply at HQ: %+v", got)
	}
	// HQ's replica has the customer's message once: the replay stored nothing.
	n := 0
	for _, m := range k.messages() {
		var e chat.HQEntry
		if m.Topic == upTopic && json.Unmarshal(m.Payload, &e) == nil && e.Type == "message" && e.ID == "hq-m-1" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("HQ has the customer's message hq-m-1 %d times, want once", n)
	}
}

func hasMsg(ms []chat.Message, id string) bool {
	for _, m := range ms {
		if m.ID == id {
			return true
		}
	}
	return false
}

// With a topic map that takes every local topic, what came from HQ (hq/...)
// is delivered locally and never goes back up, not even when a device
// publishes on hq/... itself; a device's own message on another topic does
// go up, so the map is live.
func TestNoLoops(t *testing.T) {
	mapFile := filepath.Join(t.TempDir(), "cloud.yaml")
	if err := os.WriteFile(mapFile, []byte("map:\n  - { local: \"#\", class: telemetry, qos: 1 }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hqb := startMosquitto(t, mosquittotest.Options{})
	k := newConsumer(t, hqb.Addr, "hq-consumer", "stores/+/up/#")
	px := link(t, hqb.Addr)
	var store string
	s := storetest.Start(t, storetest.Options{Devices: []storetest.Device{dlAdmin, dlBridge},
		Config: cloudConfig(px.Addr(), func(c *broker.Config) { store = c.StoreID; c.Cloud.MapFile = mapFile })})
	dev := s.Connect(t, dlAdmin, "")
	dev.Subscribe(t, "hq/#")
	pub := hqPublisher(t, hqb.Addr)
	waitDownlinkReady(t, pub, dev)

	for i := range 20 {
		hqSendQueued(t, pub, "stores/"+store+"/down/promo/x", fmt.Sprintf("x-%d", i), fmt.Appendf(nil, `{"x":%d}`, i))
		hqSendQueued(t, pub, "hq/broadcast/y", fmt.Sprintf("y-%d", i), fmt.Appendf(nil, `{"y":%d}`, i))
	}
	waitMsgs(t, dev, 20, 20*time.Second, "hq/promo/x delivered locally", storetest.Topic("hq/promo/x"))
	waitMsgs(t, dev, 20, 20*time.Second, "hq/broadcast/y delivered locally", storetest.Topic("hq/broadcast/y"))

	// A device (the old bridge's role) publishes on hq/... itself.
	bridge := s.Connect(t, dlBridge, "")
	bridge.Publish(t, "hq/promo/echo", []byte(`{"echo":1}`))
	dev.Publish(t, "hq/broadcast/echo", []byte(`{"echo":2}`))
	waitMsgs(t, dev, 1, 10*time.Second, "the device's hq/promo/echo", storetest.Topic("hq/promo/echo"))
	// And a message the default map would not take.
	dev.Publish(t, "audit/door/open", []byte(`{"door":"back"}`))

	// The uplink is oldest first within a class (all of it is telemetry
	// here): once the last message is at HQ, anything filed before it is.
	deadline := time.Now().Add(20 * time.Second)
	for {
		found := false
		for _, m := range k.messages() {
			if m.LocalTopic == "audit/door/open" && string(m.Payload) == `{"door":"back"}` {
				found = true
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the device's audit/door/open did not reach HQ within 20 s: the map is not live; HQ has %+v", k.messages())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, m := range k.messages() {
		if strings.HasPrefix(m.LocalTopic, cloudsync.LocalPrefix) || strings.Contains(m.Topic, "/up/hq/") {
			t.Errorf("went back up to HQ: %s (local %s) %s", m.Topic, m.LocalTopic, m.Payload)
		}
	}
	k.mu.Lock()
	bad := append([]string(nil), k.bad...)
	k.mu.Unlock()
	if len(bad) > 0 {
		t.Errorf("HQ got messages that are not uplink messages: %v", bad)
	}
}
