package cloudsync_test

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/broker/services/booking"
	"github.com/storeedge/storeedge/broker/services/chat"
	"github.com/storeedge/storeedge/cloudsync/hq"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	st "github.com/storeedge/storeedge/internal/testkit/storetest"
)

var (
	staffDev = st.Device{ID: "staff-anna", Role: "staff"}
	kioskDev = st.Device{ID: "kiosk-1", Role: "kiosk"}
)

// remoteCustomers are customers chatting from home through HQ.
var remoteCustomers = []string{"hq-c1", "hq-c2", "hq-c3"}

// TestLinkCutsLoseNothing runs steady chat and booking traffic while the
// store's line to HQ is cut at random moments, more than 50 times. In the
// end HQ's consumer has, after dedup by (store, origin), every chat
// message and every booking change exactly once, in order per topic.
func TestLinkCutsLoseNothing(t *testing.T) {
	for _, hqKind := range []string{"mosquitto", "mochi"} {
		t.Run(hqKind, func(t *testing.T) {
			var addr string
			if hqKind == "mosquitto" {
				addr = startMosquitto(t, mosquittotest.Options{}).Addr
			} else {
				addr = startMochi(t)
			}
			// mosquitto (one thread) passes messages on in the order they
			// arrived. mochi acknowledges a publish before it passes it on,
			// so after a reconnect the old connection's last message may
			// reach subscribers after the new connection's first: MQTT
			// orders messages per connection only. HQ's consumers order by
			// the seq property, which is what the check then does.
			linkCuts(t, addr, hqKind == "mosquitto")
		})
	}
}

func linkCuts(t *testing.T, hqAddr string, arrivalOrder bool) {
	k := newConsumer(t, hqAddr, "hq-consumer", "stores/+/up/#")
	px := link(t, hqAddr)
	var store string
	s := st.Start(t, st.Options{Devices: []st.Device{staffDev, kioskDev},
		Config: cloudConfig(px.Addr(), func(c *broker.Config) { store = c.StoreID })})
	staff := s.Connect(t, staffDev, "")
	kiosk := s.Connect(t, kioskDev, "")
	pub := hqPublisherTB(t, hqAddr)
	for i, c := range remoteCustomers {
		hqDeliver(t, pub, "stores/"+store+"/down/chat/message", fmt.Sprintf("hq-m-%d", i),
			fmt.Appendf(nil, `{"v":1,"id":"hq-m-%d","customer":%q,"kind":"text","text":"hello from home"}`, i, c),
			func() bool { return hasConversation(staff, c) })
		st.OK(t, staff.Call(t, "chat", "assign", fmt.Sprintf(`{"conversation":%q,"staff":%q}`, c, staffDev.ID)))
	}

	// Traffic runs until the line was cut 55 times (and at least rounds
	// operations of each kind), paced so that cuts land all through it.
	const rounds, wantCuts = 120, 55
	var cuts atomic.Int64
	busy := func(i int) bool { return i < rounds || cuts.Load() < wantCuts }
	pace := func() { time.Sleep(time.Duration(rand.IntN(6)) * time.Millisecond) }
	start := s.Now().Add(24 * time.Hour).Truncate(24 * time.Hour).Add(7 * time.Hour) // 15:00 CST tomorrow
	var sentTexts sync.Map
	var traffic sync.WaitGroup
	stop := make(chan struct{})
	traffic.Go(func() {
		for i := 0; busy(i); i++ {
			pace()
			conv := remoteCustomers[i%len(remoteCustomers)]
			text := fmt.Sprintf("reply %d", i)
			a, err := staff.TryCall("chat", "send", fmt.Sprintf("send-%d", i), fmt.Sprintf(`{"conversation":%q,"kind":"text","text":%q}`, conv, text))
			if err != nil || !a.OK {
				t.Errorf("send %d: %v %s", i, err, a.Raw)
				return
			}
			sentTexts.Store(text, conv)
		}
	})
	traffic.Go(func() {
		for i := 0; busy(2 * i); i++ {
			pace()
			var b struct {
				Booking struct{ ID string } `json:"booking"`
			}
			a, err := kiosk.TryCall("booking", "book", fmt.Sprintf("book-%d", i),
				fmt.Sprintf(`{"service":"dog-bath","start":%q,"customer":"cust-%d"}`, start.Format(time.RFC3339), i))
			if err != nil || !a.OK {
				t.Errorf("book %d: %v %s", i, err, a.Raw)
				return
			}
			if err := json.Unmarshal(a.Raw, &b); err != nil || b.Booking.ID == "" {
				t.Errorf("book answer %s", a.Raw)
				return
			}
			if a, err := staff.TryCall("booking", "cancel", fmt.Sprintf("cancel-%d", i), fmt.Sprintf(`{"booking":%q}`, b.Booking.ID)); err != nil || !a.OK {
				t.Errorf("cancel %d: %v %s", i, err, a.Raw)
				return
			}
		}
	})
	cutter := make(chan struct{})
	go func() {
		defer close(cutter)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(5+rand.IntN(40)) * time.Millisecond):
			}
			px.Cut()
			cuts.Add(1)
		}
	}()
	traffic.Wait()
	close(stop)
	<-cutter
	if t.Failed() {
		return
	}

	var last struct {
		Last uint64 `json:"last"`
	}
	st.OK(t, staff.Call(t, "booking", "changes", `{"limit":1}`)).Decode(t, &last)
	wantChanges := int(last.Last)
	if wantChanges < rounds || sentCount(&sentTexts) < rounds {
		t.Fatalf("change feed at %d and %d replies sent, want at least %d of each", wantChanges, sentCount(&sentTexts), rounds)
	}

	// Wait until HQ has every chat reply and every change.
	deadline := time.Now().Add(60 * time.Second)
	for {
		chats, changes := tally(t, k.messages())
		missing := 0
		sentTexts.Range(func(text, _ any) bool {
			if !chats[text.(string)] {
				missing++
			}
			return true
		})
		if missing == 0 && len(changes) == wantChanges {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("HQ lacks %d chat replies and has %d of %d booking changes", missing, len(changes), wantChanges)
		}
		time.Sleep(20 * time.Millisecond)
	}

	msgs := k.messages()
	all, first := k.counts()
	if !arrivalOrder {
		slices.SortStableFunc(msgs, func(a, b hq.Message) int { return cmp.Compare(a.Seq, b.Seq) })
	}
	checkOrder(t, msgs)
	_, changes := tally(t, msgs)
	for seq := 1; seq <= wantChanges; seq++ {
		if changes[uint64(seq)] != 1 {
			t.Fatalf("booking change %d arrived %d times after dedup", seq, changes[uint64(seq)])
		}
	}
	t.Logf("%d link cuts: HQ got %d messages, %d distinct after dedup (%d repeats dropped); %d booking changes, %d chat entries",
		cuts.Load(), all, first, all-first, wantChanges, first-wantChanges)
}

// tally reads HQ's distinct messages: chat texts seen, and how often each
// booking change seq came (after dedup by origin, a change twice would be
// an entry filed twice).
func tally(t *testing.T, msgs []hq.Message) (chats map[string]bool, changes map[uint64]int) {
	chats, changes = map[string]bool{}, map[uint64]int{}
	for _, m := range msgs {
		switch {
		case strings.HasPrefix(m.LocalTopic, "chat/"):
			var e chat.HQEntry
			if err := json.Unmarshal(m.Payload, &e); err != nil {
				t.Fatalf("chat entry %s: %v", m.Payload, err)
			}
			chats[e.Text] = true
		case m.LocalTopic == booking.HQChangesTopic:
			var c booking.Change
			if err := json.Unmarshal(m.Payload, &c); err != nil {
				t.Fatalf("change %s: %v", m.Payload, err)
			}
			changes[c.Seq]++
		}
	}
	return chats, changes
}

// checkOrder: per local topic, HQ's first copies come in outbox order, and
// chat messages of a conversation and booking changes in their own order,
// without gaps.
func checkOrder(t *testing.T, msgs []hq.Message) {
	t.Helper()
	lastSeq := map[string]uint64{}
	lastPayload := map[string]uint64{}
	for _, m := range msgs {
		if m.Seq <= lastSeq[m.LocalTopic] {
			t.Fatalf("%s: outbox seq %d after %d", m.LocalTopic, m.Seq, lastSeq[m.LocalTopic])
		}
		lastSeq[m.LocalTopic] = m.Seq
		var p struct {
			Type string `json:"type"`
			Seq  uint64 `json:"seq"`
		}
		if err := json.Unmarshal(m.Payload, &p); err != nil {
			t.Fatalf("%s: %s: %v", m.LocalTopic, m.Payload, err)
		}
		if strings.HasPrefix(m.LocalTopic, "chat/") && p.Type != "message" {
			continue
		}
		if p.Seq != lastPayload[m.LocalTopic]+1 {
			where := "never"
			for j, o := range msgs {
				var q struct {
					Seq uint64 `json:"seq"`
				}
				_ = json.Unmarshal(o.Payload, &q)
				if o.LocalTopic == m.LocalTopic && q.Seq == p.Seq-1 {
					where = fmt.Sprintf("later, at %d (outbox seq %d, origin %s; this one outbox seq %d origin %s)", j, o.Seq, o.Origin, m.Seq, m.Origin)
				}
			}
			t.Fatalf("%s: seq %d after %d; the one between arrived %s", m.LocalTopic, p.Seq, lastPayload[m.LocalTopic], where)
		}
		lastPayload[m.LocalTopic] = p.Seq
	}
	topics := slices.Sorted(func(yield func(string) bool) {
		for k := range lastSeq {
			if !yield(k) {
				return
			}
		}
	})
	t.Logf("topics at HQ: %v", topics)
}

func sentCount(m *sync.Map) int {
	n := 0
	m.Range(func(any, any) bool { n++; return true })
	return n
}
