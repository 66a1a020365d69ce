package chat

import (
	"fmt"
	"maps"
	"reflect"
	"testing"
	"time"
)

// Delivered receipts: the pointer only moves forward, stops at the last seq,
// is told to the members (the sender sees its messages arrive), and is
// listed per member in open, list and history answers; read implies
// delivered.
func TestDeliveredReceipts(t *testing.T) {
	e := newEnv(t, Options{})
	staff := e.connect(t, anna, "")
	staff.subscribe(t, EventTopic("dr"))
	cust := e.connect(t, tablet, "")
	ok(t, staff.call(t, "open", "", `{"conversation":"dr","members":["tablet-01"]}`))
	for i := 1; i <= 3; i++ {
		ok(t, staff.call(t, "send", "", fmt.Sprintf(`{"conversation":"dr","kind":"text","text":"message %d"}`, i)))
	}
	// Nothing delivered yet; the sender has (writing is reading).
	o := ok(t, cust.call(t, "open", "", `{"conversation":"dr"}`))
	if r := receipt(t, o.Receipts, "tablet-01"); r.Delivered != 0 || r.Read != 0 {
		t.Fatalf("receipt before delivery: %s", o.raw)
	}
	if r := receipt(t, o.Receipts, "staff-anna"); r.Delivered != 3 || r.Read != 3 {
		t.Fatalf("sender's receipt: %s", o.raw)
	}

	if d := ok(t, cust.call(t, "delivered", "", `{"conversation":"dr","up_to":2}`)); d.UpTo != 2 || d.Conversation != "dr" {
		t.Fatalf("delivered 2: %s", d.raw)
	}
	ev := staff.event(t, func(ev Event) bool { return ev.Type == EventDelivered })
	if ev.V != 1 || ev.Member != "tablet-01" || ev.UpTo != 2 || ev.Conversation != "dr" {
		t.Fatalf("delivered event: %+v", ev)
	}
	if d := ok(t, cust.call(t, "delivered", "", `{"conversation":"dr","up_to":1}`)); d.UpTo != 2 {
		t.Fatalf("delivered backwards: %s", d.raw)
	}
	if d := ok(t, cust.call(t, "delivered", "", `{"conversation":"dr","up_to":999}`)); d.UpTo != 3 {
		t.Fatalf("delivered past the end: %s", d.raw)
	}
	// Only forward moves are events: 2 (seen above), then 3.
	if ev := staff.event(t, func(ev Event) bool { return ev.Type == EventDelivered }); ev.UpTo != 3 {
		t.Fatalf("delivered event after a backward move: %+v", ev)
	}
	for name, a := range map[string]answer{
		"open":    ok(t, staff.call(t, "open", "", `{"conversation":"dr"}`)),
		"history": ok(t, staff.call(t, "history", "", `{"conversation":"dr"}`)),
	} {
		if r := receipt(t, a.Receipts, "tablet-01"); r.Delivered != 3 || r.Read != 0 {
			t.Fatalf("%s receipts after delivery: %s", name, a.raw)
		}
	}
	if l := ok(t, staff.call(t, "list", "", `{}`)); receipt(t, l.Conversations[0].Receipts, "tablet-01").Delivered != 3 {
		t.Fatalf("list receipts: %s", l.raw)
	}

	// Read implies delivered: reading 5 of 5 shows delivered 5 although the
	// delivered pointer is at 3, and a later delivered 4 is no news.
	ok(t, staff.call(t, "send", "", `{"conversation":"dr","kind":"text","text":"message 4"}`))
	ok(t, staff.call(t, "send", "", `{"conversation":"dr","kind":"text","text":"message 5"}`))
	ok(t, cust.call(t, "read", "", `{"conversation":"dr","up_to":5}`))
	staff.event(t, func(ev Event) bool { return ev.Type == EventRead && ev.UpTo == 5 })
	h := ok(t, staff.call(t, "history", "", `{"conversation":"dr","after":5}`))
	if r := receipt(t, h.Receipts, "tablet-01"); r.Delivered != 5 || r.Read != 5 {
		t.Fatalf("receipt after read: %s", h.raw)
	}
	before := e.counts(t)
	if d := ok(t, cust.call(t, "delivered", "", `{"conversation":"dr","up_to":4}`)); d.UpTo != 5 {
		t.Fatalf("delivered behind the read pointer: %s", d.raw)
	}
	if after := e.counts(t); !maps.Equal(before, after) {
		t.Fatalf("delivered behind the read pointer stored something: %v → %v", before, after)
	}
	// The next delivered event is for seq 6, not a repeat of 4 or 5.
	ok(t, staff.call(t, "send", "", `{"conversation":"dr","kind":"text","text":"message 6"}`))
	ok(t, cust.call(t, "delivered", "", `{"conversation":"dr","up_to":6}`))
	if ev := staff.event(t, func(ev Event) bool { return ev.Type == EventDelivered }); ev.UpTo != 6 {
		t.Fatalf("delivered event: %+v", ev)
	}

	outsider := e.connect(t, tablet2, "")
	fails(t, outsider.call(t, "delivered", "", `{"conversation":"dr","up_to":1}`), "forbidden")
	fails(t, cust.call(t, "delivered", "", `{"conversation":"nope","up_to":1}`), "not_found")
}

// Two devices of one member (client ids tablet-01:phone and
// tablet-01:tablet) share its read and delivered pointers and see the same
// history, receipts and recalls, whichever of them did what.
func TestTwoDevicesConverge(t *testing.T) {
	e := newEnv(t, Options{})
	staff := e.connect(t, anna, "")
	phone := e.connect(t, tablet, "phone")
	tab := e.connect(t, tablet, "tablet")
	ok(t, staff.call(t, "open", "", `{"conversation":"two","members":["tablet-01"]}`))

	ok(t, phone.call(t, "send", "p-1", `{"conversation":"two","kind":"text","text":"from the phone, wrong photo"}`))
	ok(t, tab.call(t, "send", "t-1", `{"conversation":"two","kind":"text","text":"from the tablet"}`))
	ok(t, staff.call(t, "send", "", `{"conversation":"two","kind":"text","text":"from the shop"}`))
	ok(t, staff.call(t, "send", "", `{"conversation":"two","kind":"text","text":"and again"}`))
	// The tablet repeats the phone's request: the member's device sent it
	// already, the same message stands.
	if a := ok(t, tab.call(t, "send", "p-1", `{"conversation":"two","kind":"text","text":"from the phone, wrong photo"}`)); a.Seq != 1 {
		t.Fatalf("the other device's repeat: %s", a.raw)
	}
	e.clock.Advance(time.Minute)
	ok(t, tab.call(t, "recall", "", `{"conversation":"two","seq":1}`)) // the member sent it, from either device
	ok(t, phone.call(t, "delivered", "", `{"conversation":"two","up_to":4}`))
	ok(t, tab.call(t, "read", "", `{"conversation":"two","up_to":3}`))

	hp, ht := phone.history(t, "two"), tab.history(t, "two")
	if len(hp.Messages) != 4 || hp.Messages[0].Recalled == nil || hp.Messages[0].Text != "" || hp.Messages[1].Text != "from the tablet" {
		t.Fatalf("phone history: %s", hp.raw)
	}
	if r := receipt(t, hp.Receipts, "tablet-01"); r.Read != 3 || r.Delivered != 4 || hp.ReadUpTo != 3 || hp.Unread != 1 {
		t.Fatalf("phone receipts: %s", hp.raw)
	}
	same := func(what string, a, b any) {
		t.Helper()
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("devices disagree on %s:\n%+v\n%+v", what, a, b)
		}
	}
	same("messages", hp.Messages, ht.Messages)
	same("receipts", hp.Receipts, ht.Receipts)
	same("pointers", []uint64{hp.LastSeq, hp.ReadUpTo, hp.Unread}, []uint64{ht.LastSeq, ht.ReadUpTo, ht.Unread})
	op, ot := ok(t, phone.call(t, "open", "", `{"conversation":"two"}`)), ok(t, tab.call(t, "open", "", `{"conversation":"two"}`))
	same("open receipts", op.Receipts, ot.Receipts)
	same("open pointers", []uint64{op.LastSeq, op.ReadUpTo, op.Unread}, []uint64{ot.LastSeq, ot.ReadUpTo, ot.Unread})
	same("list", ok(t, phone.call(t, "list", "", `{}`)).Conversations, ok(t, tab.call(t, "list", "", `{}`)).Conversations)
	// Staff see the member's receipts the same way.
	same("staff's receipts", ok(t, staff.call(t, "history", "", `{"conversation":"two","after":4}`)).Receipts, hp.Receipts)
}
