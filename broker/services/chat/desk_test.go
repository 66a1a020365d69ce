package chat

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/proto"
)

// deskEnv is a store with staff accounts Anna and Bo (display names), a
// customer who asked for a person, and Anna answering her.
type deskEnv struct {
	*env
	anna, bo, owner, cust *client
	conv                  string
}

func newDeskEnv(t *testing.T, o Options) *deskEnv {
	t.Helper()
	e := newEnv(t, o, withColleagues)
	ctx := context.Background()
	for _, a := range []struct{ id, name, role string }{{"staff-anna", "Anna", "staff"}, {"staff-bo", "Bo Lin", "staff"}, {"owner", "Mrs Wu", "admin"}} {
		if _, err := e.staff.AddStaff(ctx, "owner", a.id, a.name, a.role, "pw-"+a.id+"-long-enough"); err != nil {
			t.Fatal(err)
		}
	}
	d := &deskEnv{env: e, anna: e.connect(t, anna, ""), bo: e.connect(t, bo, ""), owner: e.connect(t, owner, "")}
	d.bo.subscribe(t, "chat/+/events")
	d.anna.subscribe(t, "chat/+/events")
	d.cust = e.customerLogin(t, "", "phone")
	d.conv = ok(t, d.cust.call(t, "open", "", `{}`)).Conversation
	d.cust.subscribe(t, EventTopic(d.conv))
	sendText(t, d.cust, d.conv, "", "Is the oat shampoo OK for a puppy with a rash?")
	a := ok(t, d.anna.call(t, "assign", "", fmt.Sprintf(`{"conversation":%q,"staff":"staff-anna"}`, d.conv)))
	if a.Agent != "staff-anna" || a.AgentName != "Anna" {
		t.Fatalf("assign: %s", a.raw)
	}
	// The customer is told who answers her.
	ev := d.cust.event(t, func(ev Event) bool { return ev.Type == EventAgent })
	if ev.Member != "staff-anna" || ev.Name != "Anna" {
		t.Fatalf("agent event: %+v", ev)
	}
	return d
}

func (d *deskEnv) transfer(t *testing.T, c *client, reqID, to, note string) answer {
	t.Helper()
	return c.call(t, "transfer", reqID, fmt.Sprintf(`{"conversation":%q,"to":%q,"note":%q}`, d.conv, to, note))
}

func (d *deskEnv) answer(t *testing.T, c *client, reqID string, accept bool) answer {
	t.Helper()
	return c.call(t, "transfer_answer", reqID, fmt.Sprintf(`{"conversation":%q,"accept":%v}`, d.conv, accept))
}

const staffNote = "Puppy has a rash: she asked about oat shampoo"

// A transfer accepted: Bo gets the offer (and the note, which the customer
// never sees), accepts, is assigned and joins; Anna is no longer assigned;
// the customer sees that Bo Lin answers now, on her events and in open.
func TestTransferAccepted(t *testing.T) {
	d := newDeskEnv(t, Options{Assistant: testAssistant(t), Outbox: outbox{}})
	tr := ok(t, d.transfer(t, d.anna, "tr-1", "staff-bo", staffNote))
	if tr.Transfer == nil || tr.Transfer.State != proto.TransferOffered || tr.Transfer.To != "staff-bo" ||
		tr.Transfer.ToName != "Bo Lin" || tr.Transfer.Note != staffNote || !tr.Transfer.Expires.Equal(tr.Transfer.Offered.Add(DefaultTransferTimeout)) {
		t.Fatalf("transfer: %s", tr.raw)
	}
	ev := d.bo.event(t, func(ev Event) bool { return ev.Type == EventTransfer })
	if ev.State != proto.TransferOffered || ev.Member != "staff-bo" || ev.By != "staff-anna" || ev.Conversation != d.conv {
		t.Fatalf("offer event: %+v", ev)
	}
	// Bo reads the offer, with the note, without joining.
	offers := func(c *client) proto.TransfersAnswer {
		t.Helper()
		var ta proto.TransfersAnswer
		if err := json.Unmarshal([]byte(ok(t, c.call(t, "transfers", "", `{}`)).raw), &ta); err != nil {
			t.Fatal(err)
		}
		return ta
	}
	ta := offers(d.bo)
	if len(ta.Offers) != 1 || ta.Offers[0].Conversation != d.conv || ta.Offers[0].Note != staffNote || ta.Offers[0].FromName != "Anna" || len(ta.Colleagues) != 3 {
		t.Fatalf("bo's transfers: %+v", ta)
	}
	if ta := offers(d.anna); len(ta.Offers) != 1 || ta.Offers[0].To != "staff-bo" {
		t.Fatalf("anna's transfers: %+v", ta)
	}
	if ta := offers(d.owner); len(ta.Offers) != 0 {
		t.Fatalf("the owner sees others' offers: %+v", ta)
	}
	fails(t, d.cust.call(t, "transfers", "", `{}`), "forbidden")
	if o := ok(t, d.bo.call(t, "open", "", fmt.Sprintf(`{"conversation":%q}`, d.conv))); o.Transfer == nil || o.Transfer.Note != staffNote || o.Transfer.FromName != "Anna" {
		t.Fatalf("bo's open: %s", o.raw)
	}
	// The same offer again (a new request id) offers nothing new.
	if again := ok(t, d.transfer(t, d.anna, "tr-2", "staff-bo", staffNote)); !again.Transfer.Offered.Equal(tr.Transfer.Offered) {
		t.Fatalf("offer again: %s", again.raw)
	}

	// Anna cannot answer for Bo; Bo accepts.
	fails(t, d.answer(t, d.anna, "", true), "not_found")
	acc := ok(t, d.answer(t, d.bo, "ans-1", true))
	if acc.Transfer.State != proto.TransferAccepted || !slices.Equal(acc.Assigned, []string{"staff-bo"}) ||
		!slices.Contains(acc.Members, "staff-bo") || !slices.Contains(acc.Members, "staff-anna") || acc.Agent != "staff-bo" || acc.AgentName != "Bo Lin" {
		t.Fatalf("accept: %s", acc.raw)
	}
	ev = d.anna.event(t, func(ev Event) bool { return ev.Type == EventTransfer && ev.State != proto.TransferOffered })
	if ev.State != proto.TransferAccepted || ev.Member != "staff-bo" || ev.By != "staff-anna" {
		t.Fatalf("accepted event: %+v", ev)
	}
	if ta := offers(d.bo); len(ta.Offers) != 0 {
		t.Fatalf("an accepted offer is still open: %+v", ta)
	}
	ag := d.cust.event(t, func(ev Event) bool { return ev.Type == EventAgent })
	if ag.Member != "staff-bo" || ag.Name != "Bo Lin" {
		t.Fatalf("the customer's agent event: %+v", ag)
	}
	co := ok(t, d.cust.call(t, "open", "", `{}`))
	if co.AgentName != "Bo Lin" || co.Transfer != nil || strings.Contains(co.raw, "rash: she asked") {
		t.Fatalf("the customer's open: %s", co.raw)
	}
	if h := d.cust.history(t, d.conv); strings.Contains(h.raw, "rash: she asked") || strings.Contains(h.raw, "transfer") {
		t.Fatalf("the customer's history shows the transfer: %s", h.raw)
	}
	// Bo now sends; Anna, still a member, may read along.
	sendText(t, d.bo, d.conv, "", "Hi, this is Bo. Yes, it is mild enough.")
	// What goes to HQ (the customer's messages, the staff's reply) holds
	// nothing of the transfer.
	up := d.outbox(t)
	raw, _ := json.Marshal(up)
	if len(up) == 0 || strings.Contains(string(raw), "rash: she asked") || strings.Contains(string(raw), "transfer") {
		t.Fatalf("the uplink: %s", raw)
	}

	// Idempotent: the same answer again (same or new request id) answers
	// the same and emits nothing; the other answer is a conflict.
	before := d.counts(t)
	if again := ok(t, d.answer(t, d.bo, "ans-1", true)); again.Transfer.State != proto.TransferAccepted {
		t.Fatalf("accept again: %s", again.raw)
	}
	if again := ok(t, d.answer(t, d.bo, "ans-2", true)); again.Transfer.State != proto.TransferAccepted || again.Agent != "staff-bo" {
		t.Fatalf("accept again, new id: %s", again.raw)
	}
	fails(t, d.answer(t, d.bo, "", false), "conflict")
	if after := d.counts(t); !maps.Equal(before, after) {
		t.Fatalf("a repeated answer stored something: %v → %v", before, after)
	}

	// Survives a restart: the agent and the answered offer are stored.
	d.stop()
	d.start(t)
	bo2 := d.connect(t, bo, "again")
	if o := ok(t, bo2.call(t, "open", "", fmt.Sprintf(`{"conversation":%q}`, d.conv))); o.AgentName != "Bo Lin" || o.Transfer.State != proto.TransferAccepted {
		t.Fatalf("after a restart: %s", o.raw)
	}
}

// A transfer declined: Anna keeps the conversation and is told; the
// customer's agent does not change.
func TestTransferDeclined(t *testing.T) {
	d := newDeskEnv(t, Options{Assistant: testAssistant(t)})
	ok(t, d.transfer(t, d.anna, "", "staff-bo", ""))
	dec := ok(t, d.answer(t, d.bo, "", false))
	if dec.Transfer.State != proto.TransferDeclined || !slices.Equal(dec.Assigned, []string{"staff-anna"}) || dec.Agent != "staff-anna" || slices.Contains(dec.Members, "staff-bo") {
		t.Fatalf("decline: %s", dec.raw)
	}
	ev := d.anna.event(t, func(ev Event) bool { return ev.Type == EventTransfer && ev.State != proto.TransferOffered })
	if ev.State != proto.TransferDeclined || ev.Member != "staff-bo" || ev.By != "staff-anna" {
		t.Fatalf("declined event: %+v", ev)
	}
	fails(t, d.answer(t, d.bo, "", true), "conflict")
	// Bo never joined: he may not send.
	fails(t, d.bo.call(t, "send", "", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"hi"}`, d.conv)), "forbidden")
	if co := ok(t, d.cust.call(t, "open", "", `{}`)); co.AgentName != "Anna" {
		t.Fatalf("the customer's open: %s", co.raw)
	}
	// After a decline Anna may offer it again.
	if again := ok(t, d.transfer(t, d.anna, "", "staff-bo", "")); again.Transfer.State != proto.TransferOffered {
		t.Fatalf("offer after a decline: %s", again.raw)
	}
}

// An offer not answered within the transfer timeout expires: Anna keeps
// it and is told; Bo's late answer is a conflict and changes nothing.
func TestTransferTimeout(t *testing.T) {
	d := newDeskEnv(t, Options{Assistant: testAssistant(t), TransferTimeout: 30 * time.Second})
	ok(t, d.transfer(t, d.anna, "", "staff-bo", ""))
	// A second offer to someone else while it is open is a conflict.
	fails(t, d.transfer(t, d.anna, "", "owner", ""), "conflict")
	d.clock.Advance(29 * time.Second)
	if n, err := d.chat.ExpireTransfers(t.Context()); err != nil || n != 0 {
		t.Fatalf("before the timeout: %d expired, %v", n, err)
	}
	d.clock.Advance(time.Second)
	if n, err := d.chat.ExpireTransfers(t.Context()); err != nil || n != 1 {
		t.Fatalf("at the timeout: %d expired, %v", n, err)
	}
	ev := d.anna.event(t, func(ev Event) bool { return ev.Type == EventTransfer && ev.State != proto.TransferOffered })
	if ev.State != proto.TransferExpired || ev.Member != "staff-bo" || ev.By != "staff-anna" {
		t.Fatalf("expired event: %+v", ev)
	}
	before := d.counts(t)
	fails(t, d.answer(t, d.bo, "", true), "conflict")
	if after := d.counts(t); !maps.Equal(before, after) {
		t.Fatalf("a late answer stored something: %v → %v", before, after)
	}
	if o := ok(t, d.anna.call(t, "open", "", fmt.Sprintf(`{"conversation":%q}`, d.conv))); !slices.Equal(o.Assigned, []string{"staff-anna"}) || o.Transfer.State != proto.TransferExpired {
		t.Fatalf("after the timeout: %s", o.raw)
	}
	// An answer after the time, before any sweep, finds it expired too.
	ok(t, d.transfer(t, d.anna, "", "staff-bo", ""))
	d.clock.Advance(31 * time.Second)
	fails(t, d.answer(t, d.bo, "", true), "conflict")
}

// Only to a colleague (a staff account), never to oneself, by staff only,
// by the staff member who has it; bad input changes nothing.
func TestTransferRefused(t *testing.T) {
	d := newDeskEnv(t, Options{Assistant: testAssistant(t)})
	before := d.counts(t)
	for _, c := range []struct {
		who        *client
		body, code string
	}{
		{d.anna, `{"conversation":"%s","to":"tablet-01"}`, "bad_request"},   // a device, not a colleague
		{d.anna, `{"conversation":"%s","to":"cust-nobody"}`, "bad_request"}, // a customer
		{d.anna, `{"conversation":"%s","to":"staff-anna"}`, "bad_request"},  // herself
		{d.anna, `{"conversation":"%s","to":"staff bo"}`, "bad_request"},
		{d.anna, `{"conversation":"%s"}`, "bad_request"},
		{d.anna, `{"conversation":"%s","to":"staff-bo","note":"` + strings.Repeat("x", DefaultMaxBodyBytes+1) + `"}`, "too_large"},
		{d.anna, `{"conversation":"nope","to":"staff-bo"}`, "not_found"},
		{d.cust, `{"conversation":"%s","to":"staff-bo"}`, "forbidden"},  // customers do not transfer
		{d.owner, `{"conversation":"%s","to":"staff-bo"}`, "forbidden"}, // not a member
	} {
		body := c.body
		if strings.Contains(body, "%s") {
			body = fmt.Sprintf(body, d.conv)
		}
		fails(t, c.who.call(t, "transfer", "", body), c.code)
	}
	fails(t, d.bo.call(t, "transfer_answer", "", fmt.Sprintf(`{"conversation":%q}`, d.conv)), "bad_request")
	fails(t, d.bo.call(t, "transfer_answer", "", fmt.Sprintf(`{"conversation":%q,"accept":true}`, d.conv)), "not_found")
	fails(t, d.cust.call(t, "transfer_answer", "", fmt.Sprintf(`{"conversation":%q,"accept":true}`, d.conv)), "forbidden")
	if after := d.counts(t); !maps.Equal(before, after) {
		t.Fatalf("refused transfers stored something: %v → %v", before, after)
	}
	// Bo, a member but not the one assigned, may not give Anna's away.
	ok(t, d.bo.call(t, "open", "", fmt.Sprintf(`{"conversation":%q}`, d.conv)))
	fails(t, d.transfer(t, d.bo, "", "staff-anna", ""), "forbidden")
}

// readers: who of a group has read a message, from the members' read
// pointers; the sender is not counted; members only.
func TestReaders(t *testing.T) {
	d := newDeskEnv(t, Options{})
	tab := d.connect(t, tablet, "")
	g := ok(t, d.anna.call(t, "group_create", "", fmt.Sprintf(`{"title":"Puppy class","members":["staff-bo","tablet-01",%q]}`, d.conv)))
	sent := sendText(t, d.anna, g.Conversation, "", "Class moves to 3 pm on Saturday")
	readers := func(c *client, seq uint64) proto.ReadersAnswer {
		t.Helper()
		a := ok(t, c.call(t, "readers", "", fmt.Sprintf(`{"conversation":%q,"seq":%d}`, g.Conversation, seq)))
		var r proto.ReadersAnswer
		if err := json.Unmarshal([]byte(a.raw), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	names := func(rs []proto.Reader) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Member+"="+r.Name)
		}
		return out
	}
	r := readers(d.anna, sent.Seq)
	if r.From != "staff-anna" || len(r.ReadBy) != 0 || !slices.Equal(names(r.NotReadBy), []string{d.conv + "=", "staff-bo=Bo Lin", "tablet-01="}) {
		t.Fatalf("nobody read yet: %+v", r)
	}
	ok(t, d.bo.call(t, "read", "", fmt.Sprintf(`{"conversation":%q,"up_to":%d}`, g.Conversation, sent.Seq)))
	ok(t, d.cust.call(t, "read", "", fmt.Sprintf(`{"conversation":%q,"up_to":%d}`, g.Conversation, sent.Seq)))
	r = readers(tab, sent.Seq)
	if !slices.Equal(names(r.ReadBy), []string{d.conv + "=", "staff-bo=Bo Lin"}) || !slices.Equal(names(r.NotReadBy), []string{"tablet-01="}) {
		t.Fatalf("read by 2 of 3: %+v", r)
	}
	// The group's first message (the system one, from Anna) was read by
	// the same two.
	if r := readers(d.anna, 1); len(r.ReadBy) != 2 {
		t.Fatalf("seq 1: %+v", r)
	}
	fails(t, d.owner.call(t, "readers", "", fmt.Sprintf(`{"conversation":%q,"seq":1}`, g.Conversation)), "forbidden")
	fails(t, d.anna.call(t, "readers", "", fmt.Sprintf(`{"conversation":%q,"seq":99}`, g.Conversation)), "not_found")
	fails(t, d.anna.call(t, "readers", "", fmt.Sprintf(`{"conversation":%q,"seq":0}`, g.Conversation)), "bad_request")
}
