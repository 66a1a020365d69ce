package chat

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// The state the new features keep — group members, delivered pointers, the
// waiting queue, assignments, the assistant switched off by a handoff, the
// after-hours note of this night — survives a restart on the same file.
func TestNewStateSurvivesRestart(t *testing.T) {
	e := newEnv(t, Options{Assistant: testAssistant(t), AssignedOnlyRoles: []string{"staff"}})
	cst := time.FixedZone("CST", 8*3600)
	e.setClock(t, time.Date(2025, 3, 5, 22, 0, 0, 0, cst)) // Wednesday night: closed
	staff := e.connect(t, anna, "")
	admin := e.connect(t, owner, "")
	c1 := e.connect(t, tablet, "")
	c2 := e.connect(t, tablet2, "")

	g := ok(t, admin.call(t, "group_create", "", `{"title":"Puppy class","members":["tablet-01","tablet-02"]}`)).Conversation
	ok(t, admin.call(t, "group_remove", "", fmt.Sprintf(`{"conversation":%q,"members":["tablet-02"]}`, g)))
	ok(t, c1.call(t, "delivered", "", fmt.Sprintf(`{"conversation":%q,"up_to":2}`, g)))

	ok(t, c1.call(t, "open", "", `{"conversation":"night"}`))
	sendText(t, c1, "night", "", unmatched) // + the after-hours reply
	e.clock.Advance(time.Minute)
	ok(t, c2.call(t, "open", "", `{"conversation":"handed"}`))
	sendText(t, c2, "handed", "", "转人工") // + the handoff reply, + the after-hours reply
	ok(t, staff.call(t, "assign", "", `{"conversation":"handed","staff":"staff-anna"}`))

	e.stop()
	e.start(t)
	staff = e.connect(t, anna, "")
	admin = e.connect(t, owner, "")
	c1 = e.connect(t, tablet, "")
	c2 = e.connect(t, tablet2, "")

	o := ok(t, admin.call(t, "open", "", fmt.Sprintf(`{"conversation":%q}`, g)))
	if !slices.Equal(o.Members, []string{"owner", "tablet-01"}) || receipt(t, o.Receipts, "tablet-01").Delivered != 2 {
		t.Fatalf("group after restart: %s", o.raw)
	}
	fails(t, c2.call(t, "history", "", fmt.Sprintf(`{"conversation":%q}`, g)), "forbidden")
	if ids := waitingIDs(t, admin); !slices.Equal(ids, []string{"night", "handed"}) {
		t.Fatalf("waiting after restart: %v", ids)
	}
	if ids := waitingIDs(t, staff); !slices.Equal(ids, []string{"night", "handed"}) {
		t.Fatalf("anna's queue after restart: %v", ids)
	}
	h := ok(t, staff.call(t, "open", "", `{"conversation":"handed"}`))
	if h.Assistant || !slices.Equal(h.Assigned, []string{"staff-anna"}) || h.LastSeq != 3 {
		t.Fatalf("handed-off conversation after restart: %s", h.raw)
	}
	// Same night: no second after-hours reply; the handed-off one stays quiet.
	// (Request ids of their own: the reconnected clients count from 1 again,
	// and svc remembers the answers to the ids of before the restart.)
	sendText(t, c1, "night", "after-restart-1", "hello?")
	if h := c1.history(t, "night"); h.LastSeq != 3 {
		t.Fatalf("after-hours reply repeated after restart: %s", h.raw)
	}
	sendText(t, c2, "handed", "after-restart-2", "What time do you open?")
	if h := c2.history(t, "handed"); h.LastSeq != 4 {
		t.Fatalf("the assistant answered after restart: %s", h.raw)
	}
	fails(t, e.connect(t, bo, "").call(t, "assign", "", `{"conversation":"handed","staff":"staff-bo"}`), "conflict")
}
