package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// A customer at home writes through HQ: HandleHQ stores the message once
// however often HQ delivers it, in the customer's conversation (named after
// them, FAQ assistant on); everything HQ must see — the customer's message
// with its seq, automatic answers, staff replies, recalls, staff read
// receipts — is filed in the Outbox with the commit that made it, with the
// conversation's customer on every entry. So are every other
// conversation's, a local one's and an in-store customer's.
func TestHQConversation(t *testing.T) {
	e := newEnv(t, Options{Assistant: testAssistant(t), Outbox: outbox{}})
	e.setClock(t, openTime)
	const cust = "hq-c8f2"
	msg := []byte(`{"v":1,"id":"hq-m-1","customer":"hq-c8f2","kind":"text","text":"What time do you open?","lang":"en"}`)
	for range 2 {
		if err := e.chat.HandleHQ(t.Context(), HQMessageTopic, msg); err != nil {
			t.Fatal(err)
		}
	}
	staff := e.connect(t, anna, "")
	h := staff.history(t, cust)
	if len(h.Messages) != 2 || h.Messages[0].From != cust || h.Messages[0].ID != "hq-m-1" || h.Messages[0].Text != "What time do you open?" ||
		h.Messages[1].From != AssistantID || !h.Messages[1].Auto || h.Messages[1].Intent != "opening_hours" {
		t.Fatalf("history after HQ's message twice: %s", h.raw)
	}
	o := ok(t, staff.call(t, "open", "", fmt.Sprintf(`{"conversation":%q}`, cust)))
	if !o.Assistant || o.Kind != ConvDirect || !slices.Equal(o.Members, []string{cust, "staff-anna"}) {
		t.Fatalf("HQ conversation: %s", o.raw)
	}

	ob := e.outbox(t)
	if len(ob) != 2 {
		t.Fatalf("outbox after the first message: %+v", ob)
	}
	for i, en := range ob {
		seq := uint64(i + 1)
		if en.Topic != HQTopic(cust) || en.V != 1 || en.Type != "message" || en.Conversation != cust || en.Seq != seq ||
			en.Origin != fmt.Sprintf("%s/%d", cust, seq) || en.Text != h.Messages[i].Text || en.From != h.Messages[i].From || en.Auto != h.Messages[i].Auto {
			t.Fatalf("outbox entry %d: %+v", i, en)
		}
	}

	// A staff reply goes to HQ with its text.
	r := sendText(t, staff, cust, "", "We open at 9:30 tomorrow, see you!")
	ob = e.outbox(t)
	if len(ob) != 3 {
		t.Fatalf("outbox after the staff reply: %+v", ob)
	}
	if en := ob[2]; en.Type != "message" || en.Seq != r.Seq || en.From != "staff-anna" || en.Text != "We open at 9:30 tomorrow, see you!" || en.Kind != KindText || en.Auto {
		t.Fatalf("staff reply entry: %+v", en)
	}
	// And its recall.
	e.clock.Advance(10 * time.Second)
	ok(t, staff.call(t, "recall", "", fmt.Sprintf(`{"conversation":%q,"seq":%d}`, cust, r.Seq)))
	ob = e.outbox(t)
	if en := ob[len(ob)-1]; len(ob) != 4 || en.Type != "recall" || en.Seq != r.Seq || en.From != "staff-anna" || en.Origin != fmt.Sprintf("%s/%d/recall", cust, r.Seq) || en.Text != "" {
		t.Fatalf("recall entry: %+v", ob)
	}

	// The customer reads (through HQ): a receipt here, nothing for HQ.
	if err := e.chat.HandleHQ(t.Context(), HQReadTopic, []byte(`{"v":1,"id":"hq-r-1","customer":"hq-c8f2","up_to":3}`)); err != nil {
		t.Fatal(err)
	}
	if h := staff.history(t, cust); receipt(t, h.Receipts, cust).Read != 3 {
		t.Fatalf("customer's read receipt: %s", h.raw)
	}
	if n := len(e.outbox(t)); n != 4 {
		t.Fatalf("the customer's own receipt went to HQ: %+v", e.outbox(t))
	}
	// A new customer message, then staff read it: a read entry.
	if err := e.chat.HandleHQ(t.Context(), HQMessageTopic, []byte(`{"v":1,"id":"hq-m-2","customer":"hq-c8f2","kind":"text","text":"`+unmatched+`"}`)); err != nil {
		t.Fatal(err)
	}
	last := staff.history(t, cust).LastSeq
	ok(t, staff.call(t, "read", "", fmt.Sprintf(`{"conversation":%q,"up_to":%d}`, cust, last)))
	ob = e.outbox(t)
	en := ob[len(ob)-1]
	if en.Type != "read" || en.Member != "staff-anna" || en.UpTo != last || en.Origin != fmt.Sprintf("%s/read/staff-anna/%d", cust, last) {
		t.Fatalf("read entry: %+v", en)
	}
	for _, en := range ob[4 : len(ob)-1] {
		if en.Type != "message" || en.Seq > last {
			t.Fatalf("entries for the second message: %+v", ob[4:])
		}
	}
	for _, en := range ob {
		if en.Customer != cust {
			t.Fatalf("entry of the remote customer's conversation without its customer: %+v", en)
		}
	}

	// Every other conversation goes to HQ as well: a staff-and-tablet
	// conversation (no customer) with its message and staff's read, and an
	// in-store customer's own conversation (her id as its customer).
	n := len(ob)
	cl := e.connect(t, tablet, "")
	ok(t, cl.call(t, "open", "", `{"conversation":"local","members":["staff-anna"]}`))
	sendText(t, cl, "local", "", "Is the grooming table free?")
	ok(t, staff.call(t, "read", "", `{"conversation":"local","up_to":1}`))
	ob = e.outbox(t)
	got := ob[n:]
	if len(got) < 2 || got[0].Type != "message" || got[0].Origin != "local/1" || got[0].Seq != 1 ||
		got[0].From != "tablet-01" || got[0].Text != "Is the grooming table free?" ||
		got[len(got)-1].Type != "read" || got[len(got)-1].Member != "staff-anna" || got[len(got)-1].UpTo != 1 {
		t.Fatalf("a local conversation's entries: %+v", got)
	}
	for _, en := range got {
		if en.Topic != HQTopic("local") || en.Conversation != "local" || en.Customer != "" {
			t.Fatalf("a local conversation's entry: %+v", en)
		}
	}
	n = len(ob)
	in := e.customerLogin(t, "", "phone")
	inID := devOf(in)
	ok(t, in.call(t, "open", "", `{}`))
	r = sendText(t, in, inID, "", "Do you sell baby formula?")
	ok(t, staff.call(t, "open", "", fmt.Sprintf(`{"conversation":%q}`, inID)))
	ok(t, staff.call(t, "read", "", fmt.Sprintf(`{"conversation":%q,"up_to":%d}`, inID, r.Seq)))
	ob = e.outbox(t)
	var msgs, reads int
	for _, en := range ob[n:] {
		if en.Topic != HQTopic(inID) || en.Conversation != inID || en.Customer != inID {
			t.Fatalf("an in-store customer's entry: %+v", en)
		}
		switch {
		case en.Type == "message" && en.Seq == r.Seq && en.From == inID && en.Text == "Do you sell baby formula?":
			msgs++
		case en.Type == "read" && en.Member == "staff-anna" && en.UpTo == r.Seq:
			reads++
		}
	}
	if msgs != 1 || reads != 1 {
		t.Fatalf("an in-store customer's message and staff's read, once each: %+v", ob[n:])
	}
}

// What HQ sends that is not valid is ErrHQInput and stores nothing — not
// even the conversation of a customer who has none yet.
func TestHQBadInput(t *testing.T) {
	e := newEnv(t, Options{Assistant: testAssistant(t), Outbox: outbox{}})
	e.setClock(t, openTime)
	if err := e.chat.HandleHQ(t.Context(), HQMessageTopic, []byte(`{"v":1,"id":"m-0","customer":"hq-known","kind":"text","text":"hello"}`)); err != nil {
		t.Fatal(err)
	}
	before, obBefore := e.counts(t), len(e.outbox(t))
	long := strings.Repeat("x", DefaultMaxBodyBytes+1)
	for _, tc := range []struct{ name, topic, payload string }{
		{"not JSON", HQMessageTopic, `{"v":1,`},
		{"unknown field", HQMessageTopic, `{"v":1,"id":"m-1","customer":"hq-new","kind":"text","text":"hi","x":1}`},
		{"wrong type", HQMessageTopic, `{"v":1,"id":"m-1","customer":"hq-new","kind":"text","text":7}`},
		{"version 2", HQMessageTopic, `{"v":2,"id":"m-1","customer":"hq-new","kind":"text","text":"hi"}`},
		{"not a remote customer", HQMessageTopic, `{"v":1,"id":"m-1","customer":"tablet-01","kind":"text","text":"hi"}`},
		{"bad id", HQMessageTopic, `{"v":1,"id":"a/b","customer":"hq-new","kind":"text","text":"hi"}`},
		{"no text, new customer", HQMessageTopic, `{"v":1,"id":"m-1","customer":"hq-new","kind":"text"}`},
		{"empty text, new customer", HQMessageTopic, `{"v":1,"id":"m-1","customer":"hq-new","kind":"text","text":""}`},
		{"media kind, new customer", HQMessageTopic, `{"v":1,"id":"m-1","customer":"hq-new","kind":"image","text":"hi"}`},
		{"card not an object, new customer", HQMessageTopic, `{"v":1,"id":"m-1","customer":"hq-new","kind":"card","card":[1]}`},
		{"text too long, new customer", HQMessageTopic, `{"v":1,"id":"m-1","customer":"hq-new","kind":"text","text":"` + long + `"}`},
		{"no text, known customer", HQMessageTopic, `{"v":1,"id":"m-1","customer":"hq-known","kind":"text"}`},
		{"bidi override in text, new customer", HQMessageTopic, `{"v":1,"id":"m-1","customer":"hq-new","kind":"text","text":"invoice\u202efdp.exe"}`},
		{"control character in a card, new customer", HQMessageTopic, `{"v":1,"id":"m-1","customer":"hq-new","kind":"card","card":{"type":"product","name":"a\u001bb"}}`},
		{"card without a known type, new customer", HQMessageTopic, `{"v":1,"id":"m-1","customer":"hq-new","kind":"card","card":{"type":"coupon"}}`},
		{"lang not a tag, new customer", HQMessageTopic, `{"v":1,"id":"m-1","customer":"hq-new","kind":"text","text":"hi","lang":"` + strings.Repeat("z", 17) + `"}`},
		{"duplicate field", HQMessageTopic, `{"v":1,"id":"m-1","customer":"hq-new","kind":"text","text":"hi","text":"ho"}`},
		{"store's card from a customer", HQMessageTopic, `{"v":1,"id":"m-1","customer":"hq-known","kind":"card","card":{"type":"booking"}}`},
		{"read, up_to too large for a seq", HQReadTopic, `{"v":1,"id":"r-1","customer":"hq-known","up_to":1e30}`},
		{"read, wrong type", HQReadTopic, `{"v":1,"id":"r-1","customer":"hq-known","up_to":"3"}`},
		{"read, unknown conversation", HQReadTopic, `{"v":1,"id":"r-1","customer":"hq-new","up_to":3}`},
		{"unknown topic", "hq/chat/typing", `{"v":1}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := e.chat.HandleHQ(t.Context(), tc.topic, []byte(tc.payload)); !errors.Is(err, ErrHQInput) {
				t.Fatalf("HandleHQ: %v, want ErrHQInput", err)
			}
		})
	}
	if after := e.counts(t); !maps.Equal(before, after) {
		t.Fatalf("invalid HQ input stored something: %v → %v", before, after)
	}
	if n := len(e.outbox(t)); n != obBefore {
		t.Fatalf("invalid HQ input went to the outbox: %d → %d entries", obBefore, n)
	}
}

// A customer at home shares a product card through HQ: it is stored as
// her card message, the same as a device's card send (compacted), and goes
// back to HQ in the outbox with its card.
func TestHQCard(t *testing.T) {
	e := newEnv(t, Options{Outbox: outbox{}})
	const cust = "hq-c9"
	msg := []byte(`{"v":1,"id":"hq-m-1","customer":"hq-c9","kind":"card","card":{ "type": "product", "sku": "toy-7", "name": "Squeaky duck" },"lang":"en"}`)
	if err := e.chat.HandleHQ(t.Context(), HQMessageTopic, msg); err != nil {
		t.Fatal(err)
	}
	const want = `{"type":"product","sku":"toy-7","name":"Squeaky duck"}`
	h := e.connect(t, anna, "").history(t, cust)
	if len(h.Messages) != 1 || h.Messages[0].From != cust || h.Messages[0].Kind != KindCard || string(h.Messages[0].Card) != want {
		t.Fatalf("history after HQ's card: %s", h.raw)
	}
	ob := e.outbox(t)
	if len(ob) != 1 || ob[0].Kind != KindCard || string(ob[0].Card) != want || ob[0].Text != "" {
		t.Fatalf("outbox after HQ's card: %+v", ob)
	}
}

// BenchmarkHQReplay: HQ sends a message the store has (a replay after an
// outage): decoding and checking it, the open (a resume) and the send's
// lookup by id; nothing is written.
func BenchmarkHQReplay(b *testing.B) {
	e := newEnv(b, Options{Outbox: outbox{}})
	msg := []byte(`{"v":1,"id":"hq-m-1","customer":"hq-c1","kind":"text","text":"What time do you open tomorrow?","lang":"en"}`)
	if err := e.chat.HandleHQ(b.Context(), HQMessageTopic, msg); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := e.chat.HandleHQ(b.Context(), HQMessageTopic, msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHQNew: each message from HQ is new, stored (one commit) and
// filed in the outbox.
func BenchmarkHQNew(b *testing.B) {
	e := newEnv(b, Options{Outbox: outbox{}})
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		msg := fmt.Appendf(nil, `{"v":1,"id":"hq-m-%d","customer":"hq-c1","kind":"text","text":"What time do you open tomorrow?","lang":"en"}`, i)
		if err := e.chat.HandleHQ(b.Context(), HQMessageTopic, msg); err != nil {
			b.Fatal(err)
		}
	}
}

// Staff list the conversations of customers at home with list remote,
// though no one at the store joined them and the assistant answered; a
// chat tablet may not; with AssignedOnlyRoles a conversation assigned to
// someone else is not listed. Paging goes through them in id order.
func TestListRemote(t *testing.T) {
	e := newEnv(t, Options{Assistant: testAssistant(t), Outbox: outbox{}, AssignedOnlyRoles: []string{"staff"}})
	e.setClock(t, openTime)
	for _, c := range []string{"hq-b2", "hq-a1", "hq-c3"} {
		if err := e.chat.HandleHQ(t.Context(), HQMessageTopic, []byte(fmt.Sprintf(`{"v":1,"id":"m-%s","customer":%q,"kind":"text","text":"What time do you open?"}`, c, c))); err != nil {
			t.Fatal(err)
		}
	}
	cl := e.connect(t, tablet, "")
	ok(t, cl.call(t, "open", "", `{"conversation":"local","members":["staff-anna"]}`))

	boss, staff := e.connect(t, owner, ""), e.connect(t, anna, "")
	ids := func(a answer) []string {
		var out []string
		for _, c := range a.Conversations {
			out = append(out, c.Conversation)
		}
		return out
	}
	a := ok(t, boss.call(t, "list", "", `{"remote":true}`))
	if got := ids(a); !slices.Equal(got, []string{"hq-a1", "hq-b2", "hq-c3"}) || a.More {
		t.Fatalf("remote list: %s", a.raw)
	}
	if c := a.Conversations[0]; c.LastSeq < 1 || c.ReadUpTo != 0 {
		t.Fatalf("an unjoined conversation: %s", a.raw)
	}
	if got := ids(ok(t, boss.call(t, "list", "", `{}`))); len(got) != 0 {
		t.Fatalf("the owner's own list has conversations they never joined: %v", got)
	}
	p1 := ok(t, boss.call(t, "list", "", `{"remote":true,"limit":2}`))
	p2 := ok(t, boss.call(t, "list", "", fmt.Sprintf(`{"remote":true,"limit":2,"after":%q}`, p1.Next)))
	if !slices.Equal(ids(p1), []string{"hq-a1", "hq-b2"}) || !p1.More || !slices.Equal(ids(p2), []string{"hq-c3"}) || p2.More {
		t.Fatalf("pages: %s then %s", p1.raw, p2.raw)
	}
	fails(t, cl.call(t, "list", "", `{"remote":true}`), "forbidden")

	ok(t, boss.call(t, "assign", "", `{"conversation":"hq-b2","staff":"staff-bo"}`))
	if got := ids(ok(t, staff.call(t, "list", "", `{"remote":true}`))); !slices.Equal(got, []string{"hq-a1", "hq-c3"}) {
		t.Fatalf("an assigned-only role lists: %v", got)
	}
}

// What a message costs in the outbox (PROTOCOL.md, "Chat with HQ"): the
// entry's envelope beside the text stays under 256 bytes. Run with -v to
// see the figures.
func TestHQEntryCost(t *testing.T) {
	e := newEnv(t, Options{Outbox: outbox{}})
	e.setClock(t, openTime)
	cl := e.connect(t, tablet, "")
	ok(t, cl.call(t, "open", "", `{"conversation":"01JQ8ZK3ABCDEFGH","members":["staff-anna"]}`))
	for _, text := range []string{"Is the grooming table free at 3?", strings.Repeat("请问", 25)} {
		sendText(t, cl, "01JQ8ZK3ABCDEFGH", "", text)
	}
	for _, en := range e.outbox(t) {
		p, err := json.Marshal(en.HQEntry)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("text %d bytes: payload %d bytes, topic %d bytes, envelope %d bytes", len(en.Text), len(p), len(en.Topic), len(p)-len(en.Text))
		if len(p)-len(en.Text) > 256 {
			t.Errorf("an entry's envelope is %d bytes: %s", len(p)-len(en.Text), p)
		}
	}
}

// A customer who asks to be forgotten is forgotten at HQ too: every
// message of her conversation still holding a body is recalled for HQ in
// the transaction that erases it; one recalled before is not sent again.
func TestForgetReachesHQ(t *testing.T) {
	e := newEnv(t, Options{Outbox: outbox{}})
	e.setClock(t, openTime)
	cust := e.customerLogin(t, "", "phone")
	id := devOf(cust)
	ok(t, cust.call(t, "open", "", `{}`))
	first := sendText(t, cust, id, "", "My name is Wang, 13800000000")
	sendText(t, cust, id, "", "Please call me")
	ok(t, cust.call(t, "recall", "", fmt.Sprintf(`{"conversation":%q,"seq":%d}`, id, first.Seq)))
	n := len(e.outbox(t))
	count, err := e.chat.ForgetCustomer(t.Context(), id)
	if err != nil || count != 2 {
		t.Fatalf("forget: %d, %v", count, err)
	}
	got := e.outbox(t)[n:]
	if len(got) != 1 || got[0].Type != "recall" || got[0].Seq != 2 || got[0].Origin != fmt.Sprintf("%s/2/recall", id) || got[0].Customer != id || got[0].From != id {
		t.Fatalf("HQ's entries for the forgetting: %+v", got)
	}
}
