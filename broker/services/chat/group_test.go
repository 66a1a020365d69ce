package chat

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// openTime is a Wednesday 10:00 in Asia/Shanghai: the store of
// configs/faq.yaml is open (Mon–Thu 09:30–21:00).
var openTime = time.Date(2025, 3, 5, 2, 0, 0, 0, time.UTC)

// devOf is the device (or customer) id of a client: its client id without
// the suffix.
func devOf(c *client) string { id, _, _ := strings.Cut(c.id, ":"); return id }

// systemCard decodes the membership card of a system message.
func systemCard(t testing.TB, m Message) membersCard {
	t.Helper()
	if m.Kind != KindSystem {
		t.Fatalf("message %d is %q, want a system message", m.Seq, m.Kind)
	}
	var c membersCard
	if err := json.Unmarshal(m.Card, &c); err != nil || c.Type != "members" {
		t.Fatalf("system message %d card %s: %v", m.Seq, m.Card, err)
	}
	return c
}

// A staff member runs a group: creating it, adding and removing members and
// each member leaving are system messages in the group's sequence and
// members events; a removed member loses history, sends and the group's
// events at once; only staff create groups and post announcements.
func TestGroupLifecycle(t *testing.T) {
	e := newEnv(t, Options{Assistant: testAssistant(t)})
	e.setClock(t, openTime)
	staff := e.connect(t, anna, "")
	staff.subscribe(t, "chat/+/events")
	staff2 := e.connect(t, bo, "")
	tab := e.connect(t, tablet, "")
	tab2 := e.connect(t, tablet2, "")
	cust := e.customerLogin(t, "", "phone")
	custID := devOf(cust)

	// The customer's own conversation, whose events mark "everything
	// published before this has been delivered" further down.
	if o := ok(t, cust.call(t, "open", "", `{}`)); o.Conversation != custID || !o.New {
		t.Fatalf("customer open: %s", o.raw)
	}
	cust.subscribe(t, EventTopic(custID))
	ok(t, staff.call(t, "open", "", fmt.Sprintf(`{"conversation":%q}`, custID)))

	// Only staff create groups.
	before := e.counts(t)
	fails(t, tab.call(t, "group_create", "", `{"title":"Tablet group","members":["tablet-02"]}`), "forbidden")
	fails(t, cust.call(t, "group_create", "", `{"title":"Customer group","members":["tablet-02"]}`), "forbidden")
	if after := e.counts(t); !maps.Equal(before, after) {
		t.Fatalf("refused group_create stored something: %v → %v", before, after)
	}

	const title = "三月宝宝 March babies"
	g := ok(t, staff.call(t, "group_create", "gc-1", fmt.Sprintf(`{"title":%q,"members":["tablet-01","staff-bo",%q,"tablet-01"]}`, title, custID)))
	gid := g.Conversation
	wantMembers := []string{custID, "staff-anna", "staff-bo", "tablet-01"}
	slices.Sort(wantMembers)
	if !strings.HasPrefix(gid, "g-") || g.Kind != ConvGroup || g.Title != title || g.LastSeq != 1 ||
		!slices.Equal(g.Members, wantMembers) || !slices.Equal(g.Added, wantMembers) || len(g.Removed) != 0 {
		t.Fatalf("group_create: %s", g.raw)
	}
	// The same request again (svc's answer) names the same group.
	if again := ok(t, staff.call(t, "group_create", "gc-1", fmt.Sprintf(`{"title":%q,"members":["tablet-01"]}`, title))); again.Conversation != gid {
		t.Fatalf("repeated group_create: %s", again.raw)
	}
	// And the handler alone (no stored answer) finds the group it made.
	if got, err := e.chat.groupCreate(t.Context(), e.request(t, anna, "group_create", "gc-1", fmt.Sprintf(`{"title":%q,"members":[]}`, title))); err != nil {
		t.Fatal(err)
	} else if ga := got.(*groupAns); ga.Conversation != gid || ga.LastSeq != 1 || len(ga.Added) != 0 {
		t.Fatalf("handler repeat of group_create: %+v", ga)
	}

	ev := staff.event(t, func(ev Event) bool { return ev.Conversation == gid && ev.Type == EventMessage })
	if ev.Seq != 1 || ev.Kind != KindSystem || ev.From != "staff-anna" {
		t.Fatalf("system message event: %+v", ev)
	}
	ev = staff.event(t, func(ev Event) bool { return ev.Conversation == gid && ev.Type == EventMembers })
	if ev.Seq != 1 || ev.By != "staff-anna" || !slices.Equal(ev.Added, wantMembers) {
		t.Fatalf("members event: %+v", ev)
	}

	// Seq 1 is the system message listing the members, for every member.
	for _, c := range []*client{staff, staff2, tab, cust} {
		h := c.history(t, gid)
		if len(h.Messages) != 1 || h.LastSeq != 1 {
			t.Fatalf("%s: group history %s", c.id, h.raw)
		}
		card := systemCard(t, h.Messages[0])
		if !slices.Equal(card.Added, wantMembers) || card.By != "staff-anna" || card.Title != title || h.Messages[0].From != "staff-anna" {
			t.Fatalf("%s: creation card %+v", c.id, card)
		}
	}
	if l := ok(t, cust.call(t, "list", "", `{}`)); len(l.Conversations) != 2 {
		t.Fatalf("customer list: %s", l.raw)
	}
	// The ACL's %m: a member may subscribe to the group's events, nobody
	// may subscribe to a conversation they are not in.
	cust.subscribe(t, EventTopic(gid))
	if code := cust.trySubscribe(t, EventTopic("someone-else")); code < 0x80 {
		t.Fatalf("a customer subscribed to a conversation it is not in: 0x%02x", code)
	}

	// Members chat; the FAQ assistant stays out of groups.
	s := ok(t, cust.call(t, "send", "", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"What time do you open?"}`, gid)))
	if s.Seq != 2 {
		t.Fatalf("customer send: %s", s.raw)
	}
	cust.event(t, func(ev Event) bool { return ev.Conversation == gid && ev.Type == EventMessage && ev.Seq == 2 })
	if h := staff.history(t, gid); h.LastSeq != 2 || h.Messages[1].Auto {
		t.Fatalf("the assistant answered in a group: %s", h.raw)
	}

	// Announcements: staff only, groups only.
	fails(t, tab.call(t, "send", "", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"buy now","announcement":true}`, gid)), "forbidden")
	fails(t, staff.call(t, "send", "", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"sale","announcement":true}`, custID)), "bad_request")
	an := ok(t, staff.call(t, "send", "", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"Baby swim class on Saturday 10:00","announcement":true}`, gid)))
	if h := cust.history(t, gid); len(h.Messages) != 3 || h.Messages[2].Seq != an.Seq || !h.Messages[2].Announcement || h.Messages[1].Announcement {
		t.Fatalf("announcement in history: %s", h.raw)
	}

	// Adding: staff who are members may, other members may not.
	fails(t, tab.call(t, "group_add", "", fmt.Sprintf(`{"conversation":%q,"members":["tablet-02"]}`, gid)), "forbidden")
	fails(t, tab2.call(t, "history", "", fmt.Sprintf(`{"conversation":%q}`, gid)), "forbidden")
	add := ok(t, staff2.call(t, "group_add", "", fmt.Sprintf(`{"conversation":%q,"members":["tablet-02","tablet-01"]}`, gid)))
	if add.LastSeq != 4 || !slices.Equal(add.Added, []string{"tablet-02"}) || len(add.Removed) != 0 || !slices.Contains(add.Members, "tablet-02") {
		t.Fatalf("group_add: %s", add.raw)
	}
	ev = staff.event(t, func(ev Event) bool { return ev.Conversation == gid && ev.Type == EventMembers && ev.Seq == 4 })
	if ev.By != "staff-bo" || !slices.Equal(ev.Added, []string{"tablet-02"}) {
		t.Fatalf("members event for the add: %+v", ev)
	}
	h := tab2.history(t, gid)
	if h.LastSeq != 4 || h.Unread != 4 || h.ReadUpTo != 0 {
		t.Fatalf("new member's history: %s", h.raw)
	}
	if c := systemCard(t, h.Messages[3]); !slices.Equal(c.Added, []string{"tablet-02"}) || c.By != "staff-bo" {
		t.Fatalf("add card: %+v", c)
	}
	// Adding members already in changes nothing.
	if again := ok(t, staff.call(t, "group_add", "", fmt.Sprintf(`{"conversation":%q,"members":["tablet-02"]}`, gid))); again.LastSeq != 4 || len(again.Added) != 0 {
		t.Fatalf("adding a member again: %s", again.raw)
	}
	fails(t, staff.call(t, "group_add", "", fmt.Sprintf(`{"conversation":%q,"members":["tablet-02"]}`, custID)), "bad_request")
	fails(t, staff.call(t, "group_add", "", `{"conversation":"no-such-group","members":["tablet-02"]}`), "not_found")

	// Removing the customer and tablet-01.
	rm := ok(t, staff.call(t, "group_remove", "", fmt.Sprintf(`{"conversation":%q,"members":[%q,"tablet-01"]}`, gid, custID)))
	rmSeq := rm.LastSeq
	wantRemoved := []string{custID, "tablet-01"}
	slices.Sort(wantRemoved)
	if rmSeq != 5 || !slices.Equal(rm.Removed, wantRemoved) || slices.Contains(rm.Members, custID) || slices.Contains(rm.Members, "tablet-01") {
		t.Fatalf("group_remove: %s", rm.raw)
	}
	ev = staff.event(t, func(ev Event) bool { return ev.Conversation == gid && ev.Type == EventMembers && ev.Seq == rmSeq })
	if !slices.Equal(ev.Removed, wantRemoved) || ev.By != "staff-anna" {
		t.Fatalf("members event for the removal: %+v", ev)
	}
	if c := systemCard(t, staff.history(t, gid).Messages[rmSeq-1]); !slices.Equal(c.Removed, wantRemoved) {
		t.Fatalf("removal card: %+v", c)
	}
	for _, c := range []*client{tab, cust} {
		fails(t, c.call(t, "history", "", fmt.Sprintf(`{"conversation":%q}`, gid)), "forbidden")
		fails(t, c.call(t, "send", "", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"still here?"}`, gid)), "forbidden")
		fails(t, c.call(t, "read", "", fmt.Sprintf(`{"conversation":%q,"up_to":1}`, gid)), "forbidden")
		fails(t, c.call(t, "delivered", "", fmt.Sprintf(`{"conversation":%q,"up_to":1}`, gid)), "forbidden")
		for _, cv := range ok(t, c.call(t, "list", "", `{}`)).Conversations {
			if cv.Conversation == gid {
				t.Fatalf("%s still lists the group", c.id)
			}
		}
	}
	if code := cust.trySubscribe(t, EventTopic(gid)); code < 0x80 {
		t.Fatalf("a removed member subscribed to the group's events again: 0x%02x", code)
	}
	// The group goes on without them: the customer's earlier subscription
	// delivers nothing more. The marker is a message in the customer's own
	// conversation, published after the group's.
	after := ok(t, staff.call(t, "send", "", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"after the removal"}`, gid)))
	marker := ok(t, staff.call(t, "send", "", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"hello from the shop"}`, custID)))
	cust.noEvent(t, func(ev Event) bool { return ev.Conversation == gid && ev.Seq >= rmSeq },
		func(ev Event) bool {
			return ev.Conversation == custID && ev.Type == EventMessage && ev.Seq == marker.Seq
		})
	staff.event(t, func(ev Event) bool { return ev.Conversation == gid && ev.Seq == after.Seq })

	// A member may leave (remove only themselves).
	fails(t, tab2.call(t, "group_remove", "", fmt.Sprintf(`{"conversation":%q,"members":["staff-bo"]}`, gid)), "forbidden")
	fails(t, tab2.call(t, "group_remove", "", fmt.Sprintf(`{"conversation":%q,"members":["tablet-02","staff-bo"]}`, gid)), "forbidden")
	leave := ok(t, tab2.call(t, "group_remove", "", fmt.Sprintf(`{"conversation":%q,"members":["tablet-02"]}`, gid)))
	if !slices.Equal(leave.Removed, []string{"tablet-02"}) || slices.Contains(leave.Members, "tablet-02") {
		t.Fatalf("leave: %s", leave.raw)
	}
	ev = staff.event(t, func(ev Event) bool {
		return ev.Conversation == gid && ev.Type == EventMembers && ev.Seq == leave.LastSeq
	})
	if ev.By != "tablet-02" || !slices.Equal(ev.Removed, []string{"tablet-02"}) {
		t.Fatalf("leave event: %+v", ev)
	}
	fails(t, tab2.call(t, "history", "", fmt.Sprintf(`{"conversation":%q}`, gid)), "forbidden")
	final := staff.history(t, gid)
	if c := systemCard(t, final.Messages[len(final.Messages)-1]); !slices.Equal(c.Removed, []string{"tablet-02"}) || c.By != "tablet-02" {
		t.Fatalf("leave card: %+v", c)
	}
	if want := []string{"staff-anna", "staff-bo"}; !slices.Equal(ok(t, staff.call(t, "open", "", fmt.Sprintf(`{"conversation":%q}`, gid))).Members, want) {
		t.Fatalf("members at the end, want %v", want)
	}
}

// A group is limited to MaxMembers, at creation and when adding; a refused
// change stores nothing.
func TestGroupMaxMembers(t *testing.T) {
	e := newEnv(t, Options{MaxMembers: 3})
	staff := e.connect(t, anna, "")
	// Two named plus the creator is three: fine; three named plus the creator is not.
	fails(t, staff.call(t, "group_create", "", `{"title":"big","members":["tablet-01","tablet-02","staff-bo"]}`), "too_large")
	g := ok(t, staff.call(t, "group_create", "", `{"title":"small","members":["tablet-01","tablet-02"]}`))
	before := e.counts(t)
	fails(t, staff.call(t, "group_add", "", fmt.Sprintf(`{"conversation":%q,"members":["staff-bo"]}`, g.Conversation)), "too_large")
	if after := e.counts(t); !maps.Equal(before, after) {
		t.Fatalf("a refused add stored something: %v → %v", before, after)
	}
	if o := ok(t, staff.call(t, "open", "", fmt.Sprintf(`{"conversation":%q}`, g.Conversation))); len(o.Members) != 3 || o.LastSeq != 1 {
		t.Fatalf("group after a refused add: %s", o.raw)
	}
}

// Who manages a group's members: its staff members and staff who see all,
// not assigned-only staff outside it.
func TestGroupManagers(t *testing.T) {
	e := newEnv(t, Options{AssignedOnlyRoles: []string{"staff"}})
	annaC := e.connect(t, anna, "")
	g := ok(t, annaC.call(t, "group_create", "", `{"title":"Golden retriever owners","members":["tablet-01"]}`)).Conversation
	boC := e.connect(t, bo, "")
	fails(t, boC.call(t, "group_add", "", fmt.Sprintf(`{"conversation":%q,"members":["staff-bo"]}`, g)), "forbidden")
	fails(t, boC.call(t, "group_remove", "", fmt.Sprintf(`{"conversation":%q,"members":["tablet-01"]}`, g)), "forbidden")
	admin := e.connect(t, owner, "")
	if a := ok(t, admin.call(t, "group_add", "", fmt.Sprintf(`{"conversation":%q,"members":["staff-bo"]}`, g))); !slices.Equal(a.Added, []string{"staff-bo"}) || slices.Contains(a.Members, "owner") {
		t.Fatalf("admin adds: %s", a.raw)
	}
	// Now a member, bo manages it.
	if r := ok(t, boC.call(t, "group_remove", "", fmt.Sprintf(`{"conversation":%q,"members":["tablet-01"]}`, g))); !slices.Equal(r.Removed, []string{"tablet-01"}) {
		t.Fatalf("bo removes: %s", r.raw)
	}
	if c := systemCard(t, annaC.history(t, g).Messages[2]); c.By != "staff-bo" || !slices.Equal(c.Removed, []string{"tablet-01"}) {
		t.Fatalf("removal card: %+v", c)
	}
}
