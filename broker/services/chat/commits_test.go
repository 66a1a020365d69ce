package chat

import (
	"fmt"
	"testing"
)

// TestEachWriteCommitsOnce: every chat op that changes state costs one
// commit of the store, its answer for repeated request ids included (no
// other traffic runs meanwhile); a repeat costs none and gets the first
// answer byte for byte.
func TestEachWriteCommitsOnce(t *testing.T) {
	e := newEnv(t, Options{})
	cust := e.connect(t, tablet, "")
	staff := e.connect(t, anna, "")
	once := func(c *client, op, reqID, body string) answer {
		t.Helper()
		before := e.db.Stats().Commits
		a := ok(t, c.call(t, op, reqID, body))
		if n := e.db.Stats().Commits - before; n != 1 {
			t.Fatalf("%s cost %d commits, want 1: %s", op, n, a.raw)
		}
		before = e.db.Stats().Commits
		again := c.call(t, op, reqID, body)
		if n := e.db.Stats().Commits - before; n != 0 || again.raw != a.raw {
			t.Fatalf("repeated %s: %d commits, answer %s; want 0 and %s", op, n, again.raw, a.raw)
		}
		return a
	}
	once(cust, "open", "o-1", `{"conversation":"c-1","members":["staff-anna"]}`)
	if s := once(cust, "send", "m-1", `{"conversation":"c-1","kind":"text","text":"does the stage 2 formula have lactose?"}`); s.Seq != 1 {
		t.Fatalf("send: %s", s.raw)
	}
	once(staff, "send", "m-2", `{"conversation":"c-1","kind":"text","text":"it does; stage 2 LF has none"}`)
	once(cust, "delivered", "d-1", `{"conversation":"c-1","up_to":2}`)
	once(cust, "read", "r-1", `{"conversation":"c-1","up_to":2}`)
	once(cust, "recall", "x-1", `{"conversation":"c-1","seq":1}`)
	once(cust, "handoff", "h-1", `{"conversation":"c-1"}`)
	once(staff, "assign", "a-1", `{"conversation":"c-1","staff":"staff-bo"}`)
	g := once(staff, "group_create", "g-1", `{"title":"Saturday shift","members":["staff-bo"]}`).Conversation
	once(staff, "group_add", "ga-1", fmt.Sprintf(`{"conversation":%q,"members":["tablet-02"]}`, g))
	once(staff, "group_remove", "gr-1", fmt.Sprintf(`{"conversation":%q,"members":["tablet-02"]}`, g))
}
