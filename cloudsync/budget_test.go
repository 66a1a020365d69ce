package cloudsync_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/cloudsync"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

// statusWatch reads the retained cloudsync/status as a local client sees
// it. In configs/acl.yaml only the admin role may subscribe to
// cloudsync/status (its grant "#"); no other role's subscribe grants
// cover it.
type statusWatch struct {
	t *testing.T
	c *storetest.Client
}

func watchStatus(t *testing.T, s *storetest.Store, admin storetest.Device) *statusWatch {
	t.Helper()
	c := s.Connect(t, admin, "status")
	c.Subscribe(t, cloudsync.StatusTopic)
	return &statusWatch{t: t, c: c}
}

// all decodes every status received so far, oldest first.
func (w *statusWatch) all() []cloudsync.Status {
	w.t.Helper()
	var out []cloudsync.Status
	for _, m := range w.c.Msgs(storetest.Topic(cloudsync.StatusTopic)) {
		var st cloudsync.Status
		if err := json.Unmarshal(m.Payload, &st); err != nil {
			w.t.Fatalf("cloudsync/status is not a Status: %v: %s", err, m.Payload)
		}
		out = append(out, st)
	}
	return out
}

// until polls (deadline: within) until the latest status satisfies ok.
func (w *statusWatch) until(what string, within time.Duration, ok func(cloudsync.Status) bool) cloudsync.Status {
	w.t.Helper()
	deadline := time.Now().Add(within)
	for {
		all := w.all()
		if n := len(all); n > 0 && ok(all[n-1]) {
			return all[n-1]
		}
		if time.Now().After(deadline) {
			last := "none"
			if n := len(all); n > 0 {
				b, _ := json.Marshal(all[n-1])
				last = string(b)
			}
			w.t.Fatalf("cloudsync/status: not %s within %s; last status: %s", what, within, last)
		}
		time.Sleep(10 * time.Millisecond) // polling, bounded by the deadline
	}
}

// metrics fetches /metrics from the store's HTTP listener and returns the
// storeedge_cloud_ samples, keyed by name with labels.
func metrics(t *testing.T, s *storetest.Store) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + s.HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "storeedge_cloud_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// rawClient is a plain paho MQTT 5 client of the store, for reading a
// PUBACK's reason code (storetest.Client.Publish fails the test on one).
func rawClient(t *testing.T, s *storetest.Store, dev storetest.Device, suffix string) *paho.Client {
	t.Helper()
	conn, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	id := dev.ID + ":" + suffix
	c := paho.NewClient(paho.ClientConfig{Conn: conn, ClientID: id, OnClientError: func(error) {}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: id, KeepAlive: 30, CleanStart: true,
		Username: dev.ID, UsernameFlag: true, Password: []byte("pw-" + dev.ID), PasswordFlag: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c
}

// hello is the one entry the bridge files itself when a database is linked
// the first time (store/hello), before any of the test's.
const hello = 1

// linked is what a broker's bridge files at its first link before any of
// the test's entries: the hello and the backfill's one snapshot entry, the
// shop (shop/info).
const linked = hello + 1

func TestDiskBudgetEvictsTelemetryKeepsChat(t *testing.T) {
	const budget = 20000
	hqb := startMosquitto(t, mosquittotest.Options{})
	k := newConsumer(t, hqb.Addr, "hq-consumer", "stores/+/up/#")
	px := link(t, hqb.Addr)

	kiosk := storetest.Device{ID: "kiosk-1", Role: "kiosk"}
	staff := storetest.Device{ID: "staff-anna", Role: "staff"}
	admin := storetest.Device{ID: "admin-1", Role: "admin"}
	var store string
	s := storetest.Start(t, storetest.Options{Devices: []storetest.Device{kiosk, staff, admin},
		Config: cloudConfig(px.Addr(), func(c *broker.Config) { c.Cloud.MaxOutboxBytes = budget; store = c.StoreID })})
	w := watchStatus(t, s, admin)

	// 0. While the line is up, a customer at home writes through HQ: her
	// conversation opens, and its first entries (her message, any
	// assistant reply) reach HQ at once. Then the line goes out: from here
	// on nothing drains.
	st1 := s.Connect(t, staff, "")
	hqDeliver(t, hqPublisher(t, hqb.Addr), "stores/"+store+"/down/chat/message", "hqm-1",
		[]byte(`{"v":1,"id":"hqm-1","customer":"hq-1234","kind":"text","text":"Hello, do you groom poodles?","lang":"en"}`),
		func() bool { return hasConversation(st1, "hq-1234") })
	var hist0 struct {
		LastSeq uint64 `json:"last_seq"`
	}
	storetest.OK(t, st1.Call(t, "chat", "history", `{"conversation":"hq-1234"}`)).Decode(t, &hist0)
	early := int(hist0.LastSeq) // the customer's message and any assistant reply
	w.until("sending the conversation's first entries", 10*time.Second, func(st cloudsync.Status) bool {
		return st.Connected && st.Backlog == 0 && st.Acked == uint64(early+linked)
	})
	px.Down()
	w.until("published (link down)", 10*time.Second, func(st cloudsync.Status) bool { return !st.Connected })

	// 1. Telemetry fills the budget: QoS 0 heartbeats (filed in the
	// background, so wait until all are in), then QoS 1 status messages
	// that go past the budget and push the oldest telemetry out.
	dev := s.Connect(t, kiosk, "")
	raw := rawClient(t, s, kiosk, "raw")
	const heartbeats = 30
	pad := strings.Repeat("x", 300)
	for i := range heartbeats {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := raw.Publish(ctx, &paho.Publish{Topic: "devices/kiosk-1/telemetry", QoS: 0,
			Payload: fmt.Appendf(nil, `{"n":%d,"pad":%q}`, i, pad)})
		cancel()
		if err != nil {
			t.Fatalf("telemetry %d: %v", i, err)
		}
	}
	w.until(fmt.Sprintf("holding the %d heartbeats", heartbeats), 10*time.Second,
		func(st cloudsync.Status) bool { return st.Backlog == heartbeats })
	pad = strings.Repeat("y", 600)
	for i := range 30 {
		dev.Publish(t, "devices/kiosk-1/status", fmt.Appendf(nil, `{"n":%d,"pad":%q}`, i, pad))
	}
	st := w.until("evicting telemetry", 10*time.Second, func(st cloudsync.Status) bool {
		return st.Evicted["telemetry"] > 0
	})
	if st.Refused != 0 || st.BacklogBytes > budget {
		t.Fatalf("telemetry alone: refused %d, backlog %d bytes (budget %d); want 0 refused, within budget",
			st.Refused, st.BacklogBytes, budget)
	}

	// 2. Chat with HQ: staff join the remote customer's conversation and
	// reply. Every stored message of the conversation is one outbox entry
	// on chat/hq-1234/hq.
	storetest.OK(t, st1.Call(t, "chat", "open", `{"conversation":"hq-1234"}`))
	const replies = 12
	text := strings.Repeat("Yes, we groom poodles. ", 60) // 1380 bytes
	var lastSeq uint64
	for i := range replies {
		var ans struct {
			Seq uint64 `json:"seq"`
		}
		storetest.OK(t, st1.Call(t, "chat", "send",
			fmt.Sprintf(`{"conversation":"hq-1234","kind":"text","text":%q}`, fmt.Sprintf("%d: %s", i, text)))).Decode(t, &ans)
		lastSeq = ans.Seq
	}
	var hist struct {
		LastSeq uint64 `json:"last_seq"`
	}
	storetest.OK(t, st1.Call(t, "chat", "history", `{"conversation":"hq-1234"}`)).Decode(t, &hist)
	if hist.LastSeq != lastSeq || lastSeq < replies+1 {
		t.Fatalf("conversation hq-1234: last seq %d, last send's seq %d, want equal and at least %d", hist.LastSeq, lastSeq, replies+1)
	}
	chatEntries := int(lastSeq) - early // the staff's replies, waiting

	// 3. Bookings at the kiosk: each is one change on booking/changes.
	var av struct {
		Days []struct {
			Slots []struct {
				Start string `json:"start"`
			} `json:"slots"`
		} `json:"days"`
	}
	storetest.OK(t, dev.Call(t, "booking", "availability", `{"service":"tasting","date":"2026-11-25"}`)).Decode(t, &av)
	const bookings = 5
	if len(av.Days) != 1 || len(av.Days[0].Slots) < 2*bookings {
		t.Fatalf("tasting on 2026-11-25: %+v, want at least %d slots", av, 2*bookings)
	}
	for i := range bookings {
		storetest.OK(t, dev.Call(t, "booking", "book", fmt.Sprintf(`{"service":"tasting","start":%q,"customer":"cust-b%d"}`,
			av.Days[0].Slots[2*i].Start, i))) // 20 minutes on a 15-minute grid: every other start is free
	}
	// Every conversation goes to HQ: each booking's card in its
	// customer's conversation is a chat entry too.
	cards := bookings
	want := chatEntries + cards + bookings

	// Only chat and bookings are left, over budget; nothing of them was
	// evicted.
	st = w.until("holding only chat and bookings, over budget", 10*time.Second, func(st cloudsync.Status) bool {
		return st.Backlog == int64(want) && st.OverBudget > 0
	})
	if st.Evicted["chat"] != 0 || st.Evicted["booking"] != 0 || st.Evicted["telemetry"] == 0 {
		t.Fatalf("evicted %v: want telemetry only", st.Evicted)
	}
	refusedBefore := st.Refused
	t.Logf("over budget: %d chat + %d booking entries, %d bytes (%d over), evicted %v", chatEntries, bookings,
		st.BacklogBytes, st.OverBudget, st.Evicted)

	// 4. A device's QoS 1 telemetry is now refused: PUBACK 0x97.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	pr, err := raw.Publish(ctx, &paho.Publish{Topic: "devices/kiosk-1/status", QoS: 1, Payload: []byte(`{"online":true}`)})
	cancel()
	if err == nil || pr == nil || pr.ReasonCode != 0x97 {
		t.Fatalf("QoS 1 status over budget: response %+v, err %v; want PUBACK 0x97 (quota exceeded)", pr, err)
	}
	st = w.until("counting the refusal", 10*time.Second, func(st cloudsync.Status) bool { return st.Refused > refusedBefore })
	if st.Backlog != int64(want) || st.Evicted["chat"] != 0 || st.Evicted["booking"] != 0 {
		t.Fatalf("after the refusal: backlog %d (want %d), evicted %v", st.Backlog, want, st.Evicted)
	}
	m := metrics(t, s)
	if m[`storeedge_cloud_evicted_total{class="telemetry"}`] <= 0 || m["storeedge_cloud_refused_total"] <= 0 ||
		m[`storeedge_cloud_evicted_total{class="chat"}`] != 0 || m[`storeedge_cloud_evicted_total{class="booking"}`] != 0 {
		t.Fatalf("metrics: %v; want telemetry evictions and refusals, no chat or booking evictions", m)
	}
	t.Logf("refused %d; metrics evicted{telemetry} %g refused %g", st.Refused,
		m[`storeedge_cloud_evicted_total{class="telemetry"}`], m["storeedge_cloud_refused_total"])

	// 5. The line comes back: every chat and booking entry reaches HQ,
	// nothing of the evicted telemetry does.
	px.Up()
	k.waitFirst(early+want, 20*time.Second)
	st = w.until("drained", 20*time.Second, func(st cloudsync.Status) bool {
		return st.Connected && st.Backlog == 0 && st.Acked == uint64(early+want+linked)
	})
	byClass := map[string]int{}
	chatSeqs := map[uint64]bool{}
	changeSeqs := map[uint64]bool{}
	for _, msg := range k.messages() {
		switch msg.LocalTopic {
		case "chat/hq-1234/hq":
			byClass["chat"]++
			var e struct {
				Type, Origin string
				Seq          uint64
			}
			if err := json.Unmarshal(msg.Payload, &e); err != nil || e.Type != "message" || e.Origin != fmt.Sprintf("hq-1234/%d", e.Seq) {
				t.Fatalf("chat entry %s: %v", msg.Payload, err)
			}
			chatSeqs[e.Seq] = true
		case "chat/cust-b0/hq", "chat/cust-b1/hq", "chat/cust-b2/hq", "chat/cust-b3/hq", "chat/cust-b4/hq":
			byClass["card"]++
		case "booking/changes":
			byClass["booking"]++
			var ch struct {
				Seq  uint64
				Type string
			}
			if err := json.Unmarshal(msg.Payload, &ch); err != nil || ch.Type != "created" {
				t.Fatalf("booking change %s: %v", msg.Payload, err)
			}
			changeSeqs[ch.Seq] = true
		default:
			byClass["other"]++
			t.Errorf("HQ got %s: only chat and bookings were left", msg.LocalTopic)
		}
	}
	if all, first := k.counts(); first != early+want || byClass["chat"] != early+chatEntries || byClass["card"] != cards || byClass["booking"] != bookings || byClass["other"] != 0 {
		t.Fatalf("HQ has %d distinct messages (%d in all) by class %v; want %d chat, %d card, %d booking, nothing else",
			first, all, byClass, early+chatEntries, cards, bookings)
	}
	for i := uint64(1); i <= lastSeq; i++ {
		if !chatSeqs[i] {
			t.Errorf("chat message hq-1234/%d never reached HQ", i)
		}
	}
	for i := uint64(1); i <= bookings; i++ {
		if !changeSeqs[i] {
			t.Errorf("booking change %d never reached HQ", i)
		}
	}
	if st.Sent != uint64(early+want+linked) {
		t.Errorf("sent %d entries, want %d (the evicted telemetry must not go)", st.Sent, early+want+linked)
	}
}

func TestStatusReportsLinkAndBacklog(t *testing.T) {
	hqb := startMosquitto(t, mosquittotest.Options{})
	k := newConsumer(t, hqb.Addr, "hq-consumer", "stores/+/up/#")
	px := link(t, hqb.Addr)
	px.Down()

	kiosk := storetest.Device{ID: "kiosk-1", Role: "kiosk"}
	admin := storetest.Device{ID: "admin-1", Role: "admin"}
	s := storetest.Start(t, storetest.Options{Devices: []storetest.Device{kiosk, admin},
		// A rate limit spreads the drain over several status intervals.
		Config: cloudConfig(px.Addr(), func(c *broker.Config) { c.Cloud.Rate = 200 })})
	w := watchStatus(t, s, admin)

	// The hello and the shop are filed one after the other as the bridge
	// starts; a status may be published between them.
	st := w.until("down with an error, the hello and the shop waiting", 10*time.Second, func(st cloudsync.Status) bool {
		return !st.Connected && st.LastError != "" && st.Backlog >= linked
	})
	if st.Backlog != linked || st.Acked != 0 {
		t.Fatalf("before any entry but the hello and the shop: %+v", st)
	}
	dev := s.Connect(t, kiosk, "")
	const n = 200
	for i := range n {
		dev.Publish(t, "devices/kiosk-1/status", fmt.Appendf(nil, `{"n":%d}`, i))
		if i == n/2-1 {
			w.until("showing the first half", 10*time.Second, func(st cloudsync.Status) bool { return st.Backlog == n/2+linked })
		}
	}
	st = w.until("holding the backlog", 10*time.Second, func(st cloudsync.Status) bool {
		return st.Backlog == n+linked && st.OldestAge > 0 && st.BacklogBytes > 0
	})
	if st.Connected || st.LastError == "" || st.Acked != 0 || st.Sent != 0 {
		t.Fatalf("while down: %+v", st)
	}
	m := metrics(t, s)
	if m["storeedge_cloud_connected"] != 0 || m["storeedge_cloud_backlog_entries"] != n+linked {
		t.Fatalf("metrics while down: %v", m)
	}

	px.Up()
	w.until("connected", 10*time.Second, func(st cloudsync.Status) bool { return st.Connected })
	k.waitFirst(n, 20*time.Second)
	st = w.until("drained", 20*time.Second, func(st cloudsync.Status) bool {
		return st.Connected && st.Backlog == 0 && st.Acked == n+linked
	})
	if st.OldestAge != 0 || st.BacklogBytes != 0 || st.Inflight != 0 {
		t.Fatalf("drained: %+v", st)
	}
	var rate float64
	for _, x := range w.all() {
		rate = max(rate, x.DrainRate)
	}
	t.Logf("highest drain rate shown: %.1f/s", rate)
	if rate <= 0 {
		t.Fatalf("no status showed a drain rate > 0 (%d statuses)", len(w.all()))
	}
	for i, msg := range k.messages() {
		if msg.LocalTopic != "devices/kiosk-1/status" || string(msg.Payload) != fmt.Sprintf(`{"n":%d}`, i) {
			t.Fatalf("HQ message %d: %s %s", i, msg.LocalTopic, msg.Payload)
		}
	}
	m = metrics(t, s)
	if m["storeedge_cloud_connected"] != 1 || m["storeedge_cloud_backlog_entries"] != 0 || m["storeedge_cloud_acked_total"] != n+linked {
		t.Fatalf("metrics after the drain: %v", m)
	}
}
