package chat

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// A customer's chat tablet and a staff device hold a consultation through the
// router: answers on their reply topics, events on chat/{conv}/events.
func TestConsultation(t *testing.T) {
	e := newEnv(t, Options{})
	cust := e.connect(t, tablet, "")
	staff := e.connect(t, anna, "")
	staff.subscribe(t, EventTopic("consult-1"))

	o := ok(t, cust.call(t, "open", "", `{"conversation":"consult-1","members":["staff-anna"]}`))
	if !o.New || strings.Join(o.Members, ",") != "staff-anna,tablet-01" || o.LastSeq != 0 {
		t.Fatalf("open: %s", o.raw)
	}
	// Opening again resumes it.
	if again := ok(t, cust.call(t, "open", "", `{"conversation":"consult-1"}`)); again.New {
		t.Fatalf("reopen: %s", again.raw)
	}

	s1 := ok(t, cust.call(t, "send", "m-1", `{"conversation":"consult-1","kind":"text","text":"宝宝一直哭怎么办? My baby won't stop crying"}`))
	if s1.Seq != 1 || !s1.TS.Equal(e.clock.Now().UTC().Truncate(time.Millisecond)) {
		t.Fatalf("send: %s", s1.raw)
	}
	ev := staff.event(t, func(ev Event) bool { return ev.Type == EventMessage })
	if ev.V != 1 || ev.Seq != 1 || ev.ID != "m-1" || ev.From != "tablet-01" || ev.Kind != KindText || ev.Conversation != "consult-1" {
		t.Fatalf("message event: %+v", ev)
	}

	h := ok(t, staff.call(t, "history", "", `{"conversation":"consult-1","after":0}`))
	if len(h.Messages) != 1 || h.Messages[0].Text != "宝宝一直哭怎么办? My baby won't stop crying" || h.Unread != 1 || h.More {
		t.Fatalf("staff history: %s", h.raw)
	}

	s2 := ok(t, staff.call(t, "send", "m-2", `{"conversation":"consult-1","kind":"card","card":{"type":"product","sku":"F-2","name":"Stage 2 formula"}}`))
	if s2.Seq != 2 {
		t.Fatalf("card send: %s", s2.raw)
	}
	h = ok(t, cust.call(t, "history", "", `{"conversation":"consult-1","after":1}`))
	if len(h.Messages) != 1 || h.Messages[0].Kind != KindCard || h.Messages[0].From != "staff-anna" || h.Unread != 1 {
		t.Fatalf("customer history: %s", h.raw)
	}
	var card map[string]string
	if err := json.Unmarshal(h.Messages[0].Card, &card); err != nil || card["sku"] != "F-2" {
		t.Fatalf("card %s: %v", h.Messages[0].Card, err)
	}

	// Read receipt: the customer has read both; staff sees the event.
	r := ok(t, cust.call(t, "read", "", `{"conversation":"consult-1","up_to":2}`))
	if r.UpTo != 2 || r.Unread != 0 {
		t.Fatalf("read: %s", r.raw)
	}
	rev := staff.event(t, func(ev Event) bool { return ev.Type == EventRead })
	if rev.Member != "tablet-01" || rev.UpTo != 2 {
		t.Fatalf("read event: %+v", rev)
	}

	l := ok(t, staff.call(t, "list", "", `{}`))
	if len(l.Conversations) != 1 || l.Conversations[0].Conversation != "consult-1" || l.Conversations[0].Unread != 0 || l.Conversations[0].LastSeq != 2 {
		t.Fatalf("staff list: %s", l.raw)
	}
	// The second tablet is no member: it sees nothing and may not send.
	other := e.connect(t, tablet2, "")
	if l := ok(t, other.call(t, "list", "", `{}`)); len(l.Conversations) != 0 {
		t.Fatalf("outsider list: %s", l.raw)
	}
	fails(t, other.call(t, "history", "", `{"conversation":"consult-1"}`), "forbidden")
	fails(t, other.call(t, "send", "", `{"conversation":"consult-1","kind":"text","text":"hi"}`), "forbidden")
	fails(t, other.call(t, "open", "", `{"conversation":"consult-1"}`), "forbidden")

	// The next shift opens the conversation: joins, and sees everything unread.
	next := e.connect(t, bo, "")
	j := ok(t, next.call(t, "open", "", `{"conversation":"consult-1"}`))
	if j.New || len(j.Members) != 3 || j.Unread != 2 {
		t.Fatalf("staff join: %s", j.raw)
	}
}

// Read pointers only move forward and stop at the last seq; unread counts
// are per member.
func TestReadReceipts(t *testing.T) {
	e := newEnv(t, Options{})
	cust := e.connect(t, tablet, "")
	staff := e.connect(t, anna, "")
	staff.subscribe(t, EventTopic("rr"))
	ok(t, cust.call(t, "open", "", `{"conversation":"rr","members":["staff-anna"]}`))
	for i := range 5 {
		ok(t, cust.call(t, "send", "", fmt.Sprintf(`{"conversation":"rr","kind":"text","text":"m%d"}`, i)))
	}
	if l := ok(t, staff.call(t, "list", "", `{}`)); l.Conversations[0].Unread != 5 {
		t.Fatalf("staff unread: %s", l.raw)
	}
	if l := ok(t, cust.call(t, "list", "", `{}`)); l.Conversations[0].Unread != 0 || l.Conversations[0].ReadUpTo != 5 {
		t.Fatalf("sender unread: %s", l.raw)
	}
	if r := ok(t, staff.call(t, "read", "", `{"conversation":"rr","up_to":3}`)); r.UpTo != 3 || r.Unread != 2 {
		t.Fatalf("read 3: %s", r.raw)
	}
	staff.event(t, func(ev Event) bool { return ev.Type == EventRead && ev.UpTo == 3 })
	if r := ok(t, staff.call(t, "read", "", `{"conversation":"rr","up_to":1}`)); r.UpTo != 3 || r.Unread != 2 {
		t.Fatalf("read backwards: %s", r.raw)
	}
	if r := ok(t, staff.call(t, "read", "", `{"conversation":"rr","up_to":999}`)); r.UpTo != 5 || r.Unread != 0 {
		t.Fatalf("read past the end: %s", r.raw)
	}
	// Only the forward moves were events: 3 (drained), then 5.
	if ev := staff.event(t, func(ev Event) bool { return ev.Type == EventRead }); ev.UpTo != 5 {
		t.Fatalf("read event: %+v", ev)
	}
	if h := ok(t, staff.call(t, "history", "", `{"conversation":"rr","after":5}`)); h.Unread != 0 || len(h.Messages) != 0 || h.Next != float64(5) {
		t.Fatalf("history at end: %s", h.raw)
	}
	fails(t, staff.call(t, "read", "", `{"conversation":"nope","up_to":1}`), "not_found")
	fails(t, staff.call(t, "read", "", `{"conversation":"rr"}`), "bad_request")
}

// Twenty senders at once on one conversation get seqs 1..N without gaps or
// repeats, and history returns every message once.
func TestSeqGapFreeConcurrent(t *testing.T) {
	const senders, each = 20, 10
	e := newEnv(t, Options{})
	staff := e.connect(t, anna, "")
	ok(t, staff.call(t, "open", "", `{"conversation":"busy","members":["tablet-01"]}`))
	seqs := make(chan uint64, senders*each)
	var wg sync.WaitGroup
	for i := range senders {
		var c *client
		if i%2 == 0 {
			c = e.connect(t, tablet, fmt.Sprintf("s%d", i))
		} else {
			c = e.connect(t, anna, fmt.Sprintf("s%d", i))
		}
		wg.Go(func() {
			for k := range each {
				a, err := c.try("send", fmt.Sprintf("c%d-%d", i, k), fmt.Sprintf(`{"conversation":"busy","kind":"text","text":"sender %d message %d"}`, i, k))
				if err != nil || !a.OK {
					t.Errorf("send: %v %s", err, a.raw)
					return
				}
				seqs <- a.Seq
			}
		})
	}
	wg.Wait()
	close(seqs)
	seen := map[uint64]bool{}
	for s := range seqs {
		if seen[s] {
			t.Fatalf("seq %d twice", s)
		}
		seen[s] = true
	}
	for s := uint64(1); s <= senders*each; s++ {
		if !seen[s] {
			t.Fatalf("seq %d missing", s)
		}
	}
	var all []Message
	for after := uint64(0); ; {
		h := ok(t, staff.call(t, "history", "", fmt.Sprintf(`{"conversation":"busy","after":%d}`, after)))
		all = append(all, h.Messages...)
		after = uint64(h.Next.(float64))
		if !h.More {
			break
		}
	}
	if len(all) != senders*each {
		t.Fatalf("history has %d messages, want %d", len(all), senders*each)
	}
	for i, m := range all {
		if m.Seq != uint64(i+1) {
			t.Fatalf("history[%d] has seq %d", i, m.Seq)
		}
	}
}

// A repeated send id returns the first answer and stores nothing, through
// svc's answer cache and through the handler's own message id index.
func TestDuplicateSend(t *testing.T) {
	e := newEnv(t, Options{})
	cust := e.connect(t, tablet, "")
	ok(t, cust.call(t, "open", "", `{"conversation":"dup","members":["staff-anna"]}`))
	a1 := ok(t, cust.call(t, "send", "same-id", `{"conversation":"dup","kind":"text","text":"first"}`))
	e.clock.Advance(time.Second)
	a2 := ok(t, cust.call(t, "send", "same-id", `{"conversation":"dup","kind":"text","text":"second"}`))
	if a1.raw != a2.raw {
		t.Fatalf("repeat answered differently:\n%s\n%s", a1.raw, a2.raw)
	}
	// The handler alone (as after a crash between commit and answer, when
	// svc has no stored answer): same seq and ts, nothing stored.
	req := e.request(t, tablet, "send", "same-id", `{"conversation":"dup","kind":"text","text":"third"}`)
	got, err := e.chat.send(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if sa := got.(*sendAns); sa.Seq != a1.Seq || !sa.TS.Equal(a1.TS) {
		t.Fatalf("handler repeat: %+v, first %s", sa, a1.raw)
	}
	h := ok(t, cust.call(t, "history", "", `{"conversation":"dup"}`))
	if h.LastSeq != 1 || len(h.Messages) != 1 || h.Messages[0].Text != "first" {
		t.Fatalf("history: %s", h.raw)
	}
	// The same id from another sender is another message.
	staff := e.connect(t, anna, "")
	if a := ok(t, staff.call(t, "send", "same-id", `{"conversation":"dup","kind":"text","text":"staff"}`)); a.Seq != 2 {
		t.Fatalf("other sender: %s", a.raw)
	}
}

// History pages after seq N.
func TestHistoryPaging(t *testing.T) {
	e := newEnv(t, Options{PageSize: 10})
	cust := e.connect(t, tablet, "")
	ok(t, cust.call(t, "open", "", `{"conversation":"pages","members":["staff-anna"]}`))
	for i := 1; i <= 25; i++ {
		ok(t, cust.call(t, "send", "", fmt.Sprintf(`{"conversation":"pages","kind":"text","text":"n%d"}`, i)))
	}
	check := func(body string, first, n uint64, more bool) {
		t.Helper()
		h := ok(t, cust.call(t, "history", "", body))
		if uint64(len(h.Messages)) != n || h.More != more || h.LastSeq != 25 {
			t.Fatalf("%s: %d messages, more %v: %s", body, len(h.Messages), h.More, h.raw)
		}
		for i, m := range h.Messages {
			if m.Seq != first+uint64(i) || m.Text != fmt.Sprintf("n%d", m.Seq) {
				t.Fatalf("%s: message %d is %+v", body, i, m)
			}
		}
		if n > 0 && h.Next != float64(first+n-1) {
			t.Fatalf("%s: next %v", body, h.Next)
		}
	}
	check(`{"conversation":"pages"}`, 1, 10, true)
	check(`{"conversation":"pages","after":10}`, 11, 10, true)
	check(`{"conversation":"pages","after":20}`, 21, 5, false)
	check(`{"conversation":"pages","after":7,"limit":3}`, 8, 3, true)
	check(`{"conversation":"pages","after":22,"limit":500}`, 23, 3, false)
	check(`{"conversation":"pages","after":25}`, 0, 0, false)
	check(`{"conversation":"pages","after":99}`, 0, 0, false)
}
