package fleet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"

	"github.com/storeedge/storeedge/cloudsync/hq"
	"github.com/storeedge/storeedge/firmware-sim/fleet"
	"github.com/storeedge/storeedge/internal/testkit/faultproxy"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	"github.com/storeedge/storeedge/proto"
)

// hqSide collects what HQ's broker hands a consumer of the shared uplink
// subscription and of the stores' presence.
type hqSide struct {
	mu     sync.Mutex
	copies map[string]int                 // store + " " + origin → copies
	first  map[string]hq.Message          // store + " " + origin → first copy
	status map[string][]proto.StoreStatus // store → presence seen, in order
	bad    []string
}

func newHQ() *hqSide {
	return &hqSide{copies: map[string]int{}, first: map[string]hq.Message{}, status: map[string][]proto.StoreStatus{}}
}

func (h *hqSide) take(p *paho.Publish) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var st proto.StoreStatus
	if n := len(p.Topic); n > 7 && p.Topic[n-7:] == "/status" {
		if err := json.Unmarshal(p.Payload, &st); err != nil {
			h.bad = append(h.bad, fmt.Sprintf("%s: %v", p.Topic, err))
			return
		}
		h.status[st.Store] = append(h.status[st.Store], st)
		return
	}
	m, err := hq.Parse(p)
	if err != nil {
		h.bad = append(h.bad, err.Error())
		return
	}
	k := m.Store + " " + m.Origin
	h.copies[k]++
	if h.copies[k] == 1 {
		h.first[k] = m
	}
}

// consume runs a consumer with a persistent session (it survives a broker
// restart when the broker persists) until the test ends.
func consume(t *testing.T, addr string, h *hqSide) {
	t.Helper()
	u, _ := url.Parse("mqtt://" + addr)
	ctx, cancel := context.WithCancel(context.Background())
	up := make(chan struct{}, 1)
	cm, err := autopaho.NewConnection(ctx, autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{u},
		KeepAlive:                     30,
		CleanStartOnInitialConnection: true,
		SessionExpiryInterval:         3600,
		ConnectRetryDelay:             50 * time.Millisecond,
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			_, err := cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
				{Topic: "stores/+/up/#", QoS: 1}, {Topic: "stores/+/status", QoS: 1}}})
			if err == nil {
				select {
				case up <- struct{}{}:
				default:
				}
			}
		},
		ClientConfig: paho.ClientConfig{ClientID: "hq-test-consumer",
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
				h.take(pr.Packet)
				return true, nil
			}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-cm.Done() })
	select {
	case <-up:
	case <-time.After(10 * time.Second):
		t.Fatal("the consumer did not subscribe within 10s")
	}
}

func waitFor(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// every reports how many filed entries HQ has not received, and how many
// it received more than once.
func (h *hqSide) missing(f *fleet.Fleet) (missing, doubled int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range f.Stores() {
		for _, e := range s.Entries() {
			switch n := h.copies[s.ID+" "+e.Origin]; {
			case n == 0:
				missing++
			case n > 1:
				doubled++
			}
		}
	}
	return missing, doubled
}

func TestStoresSendWhatCloudsyncSends(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.Options{})
	h := newHQ()
	consume(t, b.Addr, h)
	f, err := fleet.Start(context.Background(), fleet.Options{Broker: b.Addr, Stores: 20, Manual: true, Ramp: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	for _, s := range f.Stores() {
		for _, k := range []string{fleet.KindChat, fleet.KindBooking, fleet.KindTelemetry, fleet.KindChat, fleet.KindBooking, fleet.KindChat} {
			if _, err := s.File(k); err != nil {
				t.Fatal(err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := f.WaitDrained(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "every entry at HQ", func() bool { m, _ := h.missing(f); return m == 0 })
	// A store tells HQ its backlog emptied in a presence of its own, sent
	// after its last acknowledgement: it may come a moment after the
	// entries.
	waitFor(t, 10*time.Second, "every store's presence with an empty backlog", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, s := range f.Stores() {
			st := h.status[s.ID]
			if len(st) == 0 || st[len(st)-1].Backlog != 0 {
				return false
			}
		}
		return true
	})

	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.bad) > 0 {
		t.Fatalf("messages HQ cannot read: %v", h.bad)
	}
	for _, s := range f.Stores() {
		if len(s.Epoch) != 16 {
			t.Fatalf("store %s epoch %q: want 16 hex chars", s.ID, s.Epoch)
		}
		var chat, booking uint64
		for _, e := range s.Entries() {
			m := h.first[s.ID+" "+e.Origin]
			if m.Epoch != s.Epoch || m.Stream != e.Stream || m.Seq != e.Seq || !m.Stored.Equal(e.Stored) {
				t.Fatalf("%s seq %d arrived as epoch %q stream %q seq %d ts %v; filed %+v", s.ID, e.Seq, m.Epoch, m.Stream, m.Seq, m.Stored, e)
			}
			if m.Topic != "stores/"+s.ID+"/up/"+e.Topic {
				t.Fatalf("topic %q, want stores/%s/up/%s", m.Topic, s.ID, e.Topic)
			}
			switch e.Kind {
			case fleet.KindChat:
				chat++
				var c proto.HQChatEntry
				if err := json.Unmarshal(m.Payload, &c); err != nil || c.Type != "message" || c.Customer == "" || c.Conversation != e.Conversation || c.Seq != e.ChatSeq || c.Text == "" {
					t.Fatalf("chat payload %s (%v)", m.Payload, err)
				}
				if m.SSeq != chat || m.Origin != s.Epoch+"/"+c.Origin {
					t.Fatalf("chat sseq %d origin %q; want sseq %d origin %s/%s", m.SSeq, m.Origin, chat, s.Epoch, c.Origin)
				}
			case fleet.KindBooking:
				booking++
				var c proto.Change
				if err := json.Unmarshal(m.Payload, &c); err != nil || c.Seq != e.ChangeSeq || c.Booking == "" || c.Rev == 0 {
					t.Fatalf("booking payload %s (%v)", m.Payload, err)
				}
				if m.SSeq != booking {
					t.Fatalf("booking sseq %d, want %d", m.SSeq, booking)
				}
			case fleet.KindTelemetry:
				if m.SSeq != 0 {
					t.Fatalf("telemetry carries sseq %d; evictable streams have none", m.SSeq)
				}
			}
		}
		if chat != 3 || booking != 2 {
			t.Fatalf("store %s: %d chat, %d booking", s.ID, chat, booking)
		}
		st := h.status[s.ID]
		if len(st) == 0 || !st[0].Online || st[0].Epoch != s.Epoch {
			t.Fatalf("store %s presence %+v: want online with its epoch", s.ID, st)
		}
		if last := st[len(st)-1]; last.Backlog != 0 || last.OldestAt != nil {
			t.Fatalf("store %s: last presence %+v after the drain, want backlog 0", s.ID, last)
		}
	}
}

func TestCutStoreLeavesItsWillAndDrainsOnReturn(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.Options{})
	h := newHQ()
	consume(t, b.Addr, h)
	f, err := fleet.Start(context.Background(), fleet.Options{Broker: b.Addr, Stores: 3, Manual: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	s := f.Stores()[1]
	waitFor(t, 10*time.Second, "store connected", s.Connected)
	s.Cut()
	waitFor(t, 10*time.Second, "the Will: offline", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		st := h.status[s.ID]
		return len(st) > 0 && !st[len(st)-1].Online
	})
	h.mu.Lock()
	st := h.status[s.ID]
	will := st[len(st)-1]
	if !st[0].Online || !will.TS.Equal(st[0].TS) || will.Epoch != "" || will.Backlog != 0 {
		h.mu.Unlock()
		t.Fatalf("the Will %+v: want only the connect time, the first presence's ts %v", will, st[0].TS)
	}
	h.mu.Unlock()
	if err := s.FileSpan(300, 72*time.Hour); err != nil {
		t.Fatal(err)
	}
	if s.Connected() || s.Backlog() != 300 {
		t.Fatalf("cut store connected %v backlog %d", s.Connected(), s.Backlog())
	}
	es := s.Entries()
	if age := es[len(es)-1].Stored.Sub(es[0].Stored); age < 71*time.Hour {
		t.Fatalf("entries span %v, want three days", age)
	}
	s.Restore()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := f.WaitDrained(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "every entry at HQ", func() bool { m, _ := h.missing(f); return m == 0 })
	h.mu.Lock()
	defer h.mu.Unlock()
	st = h.status[s.ID]
	var back *proto.StoreStatus
	for i := range st {
		if st[i].Online && st[i].Backlog == 300 {
			back = &st[i]
		}
	}
	if back == nil || back.OldestAt == nil || !back.OldestAt.Equal(es[0].Stored) {
		t.Fatalf("no presence with backlog 300 and the oldest entry's time on return: %+v", st)
	}
	if last := st[len(st)-1]; !last.Online || last.Backlog != 0 {
		t.Fatalf("last presence %+v, want online with backlog 0", last)
	}
}

// Links cut mid-publish (no PUBACK comes back): each store sends again
// from its first unacknowledged entry, and every entry reaches HQ.
func TestCutLinksResendUnacknowledged(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.Options{})
	h := newHQ()
	consume(t, b.Addr, h)
	px, err := faultproxy.New("127.0.0.1:0", b.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f, err := fleet.Start(ctx, fleet.Options{Broker: px.Addr(), Stores: 50, Rate: 600, Ramp: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	for cut := 1; cut <= 3; cut++ {
		acked := f.Totals().Acked
		waitFor(t, 15*time.Second, "entries acknowledged", func() bool { return f.Totals().Acked >= acked+300 })
		// Hold the bytes so that publishes are in flight, then reset
		// every connection.
		px.Stall(true)
		waitFor(t, 5*time.Second, "publishes in flight", func() bool {
			t := f.Totals()
			return t.Sends > t.Acked+20
		})
		px.Cut()
		px.Stall(false)
	}
	f.StopFiling()
	dctx, dcancel := context.WithTimeout(ctx, 30*time.Second)
	defer dcancel()
	if err := f.WaitDrained(dctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "every entry at HQ", func() bool { m, _ := h.missing(f); return m == 0 })
	tot := f.Totals()
	if tot.Connects <= 50 || tot.Sends <= tot.Filed {
		t.Fatalf("connections %d, publishes %d for %d entries: the cuts did not make the stores send again", tot.Connects, tot.Sends, tot.Filed)
	}
	t.Logf("filed %d, publishes %d, connections %d", tot.Filed, tot.Sends, tot.Connects)
}

// hqPublish publishes one downlink message as HQ does (user property id).
func hqPublish(t *testing.T, addr, topic, id string, payload any) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: conn})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: "hq-test-sender", CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(&paho.Disconnect{})
	b, _ := json.Marshal(payload)
	if _, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: b,
		Properties: &paho.PublishProperties{User: paho.UserProperties{{Key: "id", Value: id}}}}); err != nil {
		t.Fatal(err)
	}
}

// answers are the resync answers HQ received from store, by request id.
func (h *hqSide) answers(store string) map[string]proto.ResyncAnswer {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]proto.ResyncAnswer{}
	for _, m := range h.first {
		if m.Store == store && m.LocalTopic == proto.TopicSyncAnswer {
			var a proto.ResyncAnswer
			if json.Unmarshal(m.Payload, &a) == nil {
				out[a.ID] = a
			}
		}
	}
	return out
}

func TestResyncResendsTheRangeAndSnapshots(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.Options{})
	h := newHQ()
	consume(t, b.Addr, h)
	f, err := fleet.Start(context.Background(), fleet.Options{Broker: b.Addr, Stores: 2, Manual: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	s := f.Stores()[0]
	for range 12 {
		for _, k := range []string{fleet.KindChat, fleet.KindBooking} {
			if _, err := s.File(k); err != nil {
				t.Fatal(err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := f.WaitDrained(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "every entry at HQ", func() bool { m, _ := h.missing(f); return m == 0 })

	req := proto.ResyncRequest{V: 1, ID: "rs-1", Stream: proto.StreamChat, From: 3, To: 5}
	hqPublish(t, b.Addr, proto.CloudDownTopic(s.ID, "sync/resync"), req.ID, req)
	waitFor(t, 10*time.Second, "the answer to rs-1", func() bool { _, ok := h.answers(s.ID)["rs-1"]; return ok })
	// The same request again (HQ's at-least-once) is answered once.
	hqPublish(t, b.Addr, proto.CloudDownTopic(s.ID, "sync/resync"), req.ID, req)
	snap := proto.ResyncRequest{V: 1, ID: "rs-2", Snapshot: true}
	hqPublish(t, b.Addr, proto.CloudDownTopic(s.ID, "sync/resync"), snap.ID, snap)
	waitFor(t, 10*time.Second, "the answer to rs-2", func() bool { _, ok := h.answers(s.ID)["rs-2"]; return ok })
	if err := f.WaitDrained(ctx); err != nil {
		t.Fatal(err)
	}

	a := h.answers(s.ID)["rs-1"]
	if a.Status != proto.ResyncResent || a.Count != 3 || a.Stream != proto.StreamChat || a.From != 3 || a.To != 5 {
		t.Fatalf("answer %+v, want resent 3 of chat 3..5", a)
	}
	h.mu.Lock()
	var answers, snapshots int
	bookings := map[string]bool{}
	var lastBookingSSeq uint64
	for _, e := range s.Entries() {
		n := h.copies[s.ID+" "+e.Origin]
		want := 1
		if e.Stream == proto.StreamChat && e.SSeq >= 3 && e.SSeq <= 5 {
			want = 2 // sent, then resent with the same origin and sseq
		}
		if n != want {
			h.mu.Unlock()
			t.Fatalf("%s sseq %d: %d copies at HQ, want %d", e.Stream, e.SSeq, n, want)
		}
		if e.Stream == proto.StreamBooking {
			if e.SSeq != lastBookingSSeq+1 {
				h.mu.Unlock()
				t.Fatalf("booking sseq %d after %d", e.SSeq, lastBookingSSeq)
			}
			lastBookingSSeq = e.SSeq
		}
		switch {
		case e.Topic == proto.TopicSyncAnswer:
			answers++
		case e.Topic == "booking/changes":
			var c proto.Change
			_ = json.Unmarshal(h.first[s.ID+" "+e.Origin].Payload, &c)
			if c.Type == proto.ChangeSnapshot {
				snapshots++
				if c.Seq != 0 || c.Booking == "" {
					h.mu.Unlock()
					t.Fatalf("snapshot change %+v", c)
				}
			}
			bookings[c.Booking] = true
		}
	}
	h.mu.Unlock()
	if answers != 2 || snapshots != len(bookings) || snapshots != 4 {
		t.Fatalf("%d answers (want 2), %d snapshot changes for %d bookings (want 4)", answers, snapshots, len(bookings))
	}
	if got := h.answers(s.ID)["rs-2"]; got.Status != proto.ResyncSnapshot || got.Count != 4 {
		t.Fatalf("snapshot answer %+v", got)
	}
	if s.Resyncs() != 2 {
		t.Fatalf("%d requests answered, want 2 (a repeat is not answered again)", s.Resyncs())
	}
}
