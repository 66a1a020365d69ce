package chat

import (
	"testing"
	"time"
)

// The sender recalls within the window: members get a recall event, history
// keeps a marker without the body. Others may not, and nobody may after it.
func TestRecall(t *testing.T) {
	e := newEnv(t, Options{RecallWindow: 2 * time.Minute})
	cust := e.connect(t, tablet, "")
	staff := e.connect(t, anna, "")
	staff.subscribe(t, EventTopic("rc"))
	ok(t, cust.call(t, "open", "", `{"conversation":"rc","members":["staff-anna"]}`))
	ok(t, cust.call(t, "send", "", `{"conversation":"rc","kind":"text","text":"wrong photo, sorry"}`))
	ok(t, cust.call(t, "send", "", `{"conversation":"rc","kind":"text","text":"keep me"}`))

	fails(t, staff.call(t, "recall", "", `{"conversation":"rc","seq":1}`), "forbidden")
	fails(t, cust.call(t, "recall", "", `{"conversation":"rc","seq":9}`), "not_found")
	fails(t, cust.call(t, "recall", "", `{"conversation":"nope","seq":1}`), "not_found")

	e.clock.Advance(119 * time.Second)
	a := ok(t, cust.call(t, "recall", "rc-1", `{"conversation":"rc","seq":1}`))
	if a.Seq != 1 || !a.Recalled.Equal(e.clock.Now().UTC()) {
		t.Fatalf("recall: %s", a.raw)
	}
	ev := staff.event(t, func(ev Event) bool { return ev.Type == EventRecall })
	if ev.Seq != 1 || ev.By != "tablet-01" || ev.V != 1 {
		t.Fatalf("recall event: %+v", ev)
	}
	// Again, with a new id: same answer, still recalled.
	if b := ok(t, cust.call(t, "recall", "", `{"conversation":"rc","seq":1}`)); !b.Recalled.Equal(a.Recalled) {
		t.Fatalf("second recall: %s", b.raw)
	}
	h := ok(t, staff.call(t, "history", "", `{"conversation":"rc"}`))
	if len(h.Messages) != 2 || h.Messages[0].Recalled == nil || h.Messages[0].Text != "" || h.Messages[1].Text != "keep me" {
		t.Fatalf("history after recall: %s", h.raw)
	}
	// The stored record has no body any more.
	if m := e.storedMsg(t, "rc", 1); m.Body != nil || m.Recalled == nil {
		t.Fatalf("stored tombstone: %+v", m)
	}

	e.clock.Advance(2 * time.Second) // message 2 is now 121 s old
	fails(t, cust.call(t, "recall", "", `{"conversation":"rc","seq":2}`), "conflict")
	if m := e.storedMsg(t, "rc", 2); m.Body == nil {
		t.Fatal("an out-of-window recall erased the body")
	}
}
