package chat

import (
	"slices"
	"testing"
	"time"
)

// With AssignedOnlyRoles ["staff"], staff see only the conversations
// assigned to them: they claim a waiting one with assign (themselves only,
// not one someone else has), and the admin sees all and assigns anyone.
func TestAssignedOnlyStaff(t *testing.T) {
	e := newEnv(t, Options{Assistant: testAssistant(t), AssignedOnlyRoles: []string{"staff"}})
	e.setClock(t, openTime)
	annaC := e.connect(t, anna, "")
	boC := e.connect(t, bo, "")
	admin := e.connect(t, owner, "")
	admin.subscribe(t, "chat/+/events")
	c1 := e.connect(t, tablet, "")
	c2 := e.connect(t, tablet2, "")
	ok(t, c1.call(t, "open", "", `{"conversation":"sc-1"}`))
	ok(t, c2.call(t, "open", "", `{"conversation":"sc-2"}`))
	sendText(t, c1, "sc-1", "", unmatched)
	e.clock.Advance(time.Second)
	sendText(t, c2, "sc-2", "", unmatched)

	// Not assigned: no open, no history, no send; both are in the queue to claim.
	fails(t, annaC.call(t, "open", "", `{"conversation":"sc-1"}`), "forbidden")
	fails(t, annaC.call(t, "history", "", `{"conversation":"sc-1"}`), "forbidden")
	fails(t, annaC.call(t, "send", "", `{"conversation":"sc-1","kind":"text","text":"hi"}`), "forbidden")
	if ids := waitingIDs(t, annaC); !slices.Equal(ids, []string{"sc-1", "sc-2"}) {
		t.Fatalf("anna's queue: %v", ids)
	}

	// Anna claims sc-1.
	fails(t, annaC.call(t, "assign", "", `{"conversation":"sc-1","staff":"staff-bo"}`), "forbidden")
	a := ok(t, annaC.call(t, "assign", "", `{"conversation":"sc-1","staff":"staff-anna"}`))
	if !slices.Equal(a.Assigned, []string{"staff-anna"}) || !slices.Contains(a.Members, "staff-anna") || a.Waiting == nil {
		t.Fatalf("claim: %s", a.raw)
	}
	ev := admin.event(t, func(ev Event) bool { return ev.Type == EventAssigned })
	if ev.Conversation != "sc-1" || ev.Member != "staff-anna" || ev.By != "staff-anna" {
		t.Fatalf("assigned event: %+v", ev)
	}
	// Claiming again changes nothing.
	if again := ok(t, annaC.call(t, "assign", "", `{"conversation":"sc-1","staff":"staff-anna"}`)); !slices.Equal(again.Assigned, []string{"staff-anna"}) {
		t.Fatalf("claim again: %s", again.raw)
	}
	if h := annaC.history(t, "sc-1"); h.LastSeq != 2 || h.Unread != 2 {
		t.Fatalf("history after the claim: %s", h.raw)
	}
	// Bo cannot take it over, nor read it; his queue has only sc-2.
	fails(t, boC.call(t, "assign", "", `{"conversation":"sc-1","staff":"staff-bo"}`), "conflict")
	fails(t, boC.call(t, "history", "", `{"conversation":"sc-1"}`), "forbidden")
	if ids := waitingIDs(t, boC); !slices.Equal(ids, []string{"sc-2"}) {
		t.Fatalf("bo's queue: %v", ids)
	}
	if ids := waitingIDs(t, annaC); !slices.Equal(ids, []string{"sc-1", "sc-2"}) {
		t.Fatalf("anna's queue after the claim: %v", ids)
	}
	sendText(t, annaC, "sc-1", "", "Hi, this is Anna. Which shop?")
	if ids := waitingIDs(t, admin); !slices.Equal(ids, []string{"sc-2"}) {
		t.Fatalf("queue after anna's reply: %v", ids)
	}

	// The admin sees everything and assigns anyone.
	if h := admin.history(t, "sc-2"); h.LastSeq != 2 {
		t.Fatalf("admin history: %s", h.raw)
	}
	fails(t, boC.call(t, "history", "", `{"conversation":"sc-2"}`), "forbidden")
	as := ok(t, admin.call(t, "assign", "", `{"conversation":"sc-2","staff":"staff-bo"}`))
	if !slices.Equal(as.Assigned, []string{"staff-bo"}) || slices.Contains(as.Members, "owner") {
		t.Fatalf("admin assigns bo: %s", as.raw)
	}
	ev = admin.event(t, func(ev Event) bool { return ev.Type == EventAssigned && ev.Conversation == "sc-2" })
	if ev.Member != "staff-bo" || ev.By != "owner" {
		t.Fatalf("assigned event: %+v", ev)
	}
	if h := boC.history(t, "sc-2"); h.LastSeq != 2 {
		t.Fatalf("bo's history after the assignment: %s", h.raw)
	}
	fails(t, annaC.call(t, "assign", "", `{"conversation":"sc-2","staff":"staff-anna"}`), "conflict")
	if o := ok(t, admin.call(t, "open", "", `{"conversation":"sc-1"}`)); !slices.Contains(o.Members, "owner") {
		t.Fatalf("admin joins: %s", o.raw)
	}

	fails(t, c1.call(t, "assign", "", `{"conversation":"sc-1","staff":"tablet-01"}`), "forbidden")
	fails(t, admin.call(t, "assign", "", `{"conversation":"nope","staff":"staff-bo"}`), "not_found")
}

// quick_replies answers configs/faq.yaml's snippets and whether the store
// is open; staff only.
func TestQuickReplies(t *testing.T) {
	a := testAssistant(t)
	e := newEnv(t, Options{Assistant: a})
	staff := e.connect(t, anna, "")
	// The rig's clock starts on Wednesday 07:00 in Shanghai: closed until 09:30.
	q := ok(t, staff.call(t, "quick_replies", "", `{}`))
	want := a.QuickReplies()
	if len(q.QuickReplies) != len(want) || len(want) != 8 {
		t.Fatalf("quick replies: %s", q.raw)
	}
	for i, w := range want {
		g := q.QuickReplies[i]
		if g.ID != w.ID || g.Title != w.Title || g.ZH != w.Text.ZH || g.EN != w.Text.EN {
			t.Fatalf("quick reply %d: %+v, want %+v", i, g, w)
		}
	}
	if g := q.QuickReplies[0]; g.ID != "greeting" || g.ZH != "您好，我是店员，很高兴为您服务，请问有什么可以帮您？" || g.EN != "Hello, this is a member of staff. How can I help?" {
		t.Fatalf("first quick reply: %+v", g)
	}
	if q.Open || q.NextOpen == nil || !q.NextOpen.Equal(time.Date(2025, 3, 5, 1, 30, 0, 0, time.UTC)) {
		t.Fatalf("closed store: %s", q.raw)
	}
	e.setClock(t, openTime)
	if q := ok(t, staff.call(t, "quick_replies", "", `{}`)); !q.Open || q.NextOpen != nil {
		t.Fatalf("open store: %s", q.raw)
	}
	fails(t, e.connect(t, tablet, "").call(t, "quick_replies", "", `{}`), "forbidden")

	// Without an assistant: no snippets, and no hours to be closed by.
	e2 := newEnv(t, Options{})
	if q := ok(t, e2.connect(t, anna, "").call(t, "quick_replies", "", `{}`)); len(q.QuickReplies) != 0 || !q.Open {
		t.Fatalf("without an assistant: %s", q.raw)
	}
}
