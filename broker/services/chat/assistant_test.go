package chat

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker/services/chat/faq"
	"github.com/storeedge/storeedge/proto"
)

// Texts of configs/faq.yaml the tests look for.
const (
	hoursAnswerEN = "Mon–Thu 9:30–21:00, Fri 9:30–21:30, Sat 9:00–21:30, Sun 9:00–20:00"
	hoursAnswerZH = "周一至周四 9:30–21:00，周五 9:30–21:30"
	handoffZH     = "好的，已为您转接店员，请稍候。"
	handoffEN     = "Sure, a member of staff will take over."
	holdingEN     = "Thanks for your message, a member of staff will reply soon."
	afterHoursEN  = "Hello, the store is closed right now. Our staff will reply when we open "
)

// unmatched is a customer message no FAQ intent answers.
const unmatched = "I left my umbrella in the shop yesterday"

// sendText posts a text message and returns the answer.
func sendText(t testing.TB, c *client, conv, reqID, text string) answer {
	t.Helper()
	return ok(t, c.call(t, "send", reqID, fmt.Sprintf(`{"conversation":%q,"kind":"text","text":%q}`, conv, text)))
}

// waitingIDs is the waiting queue as a staff client sees it.
func waitingIDs(t testing.TB, c *client) []string {
	t.Helper()
	var ids []string
	for _, cv := range ok(t, c.call(t, "waiting", "", `{}`)).Conversations {
		if cv.Waiting == nil {
			t.Fatalf("queued conversation %s without a waiting time", cv.Conversation)
		}
		ids = append(ids, cv.Conversation)
	}
	return ids
}

// A customer's FAQ question is answered by the assistant in the same commit:
// the next seq, from "assistant", auto, with the intent, in the customer's
// language. A repeated send stores nothing; staff messages are never
// answered.
func TestAssistantAnswersFAQ(t *testing.T) {
	e := newEnv(t, Options{Assistant: testAssistant(t)})
	e.setClock(t, openTime)
	staff := e.connect(t, anna, "")
	staff.subscribe(t, EventTopic("faq-1"))
	cust := e.connect(t, tablet, "")
	if o := ok(t, cust.call(t, "open", "", `{"conversation":"faq-1"}`)); !o.Assistant || o.Waiting != nil {
		t.Fatalf("open: %s", o.raw)
	}

	s := sendText(t, cust, "faq-1", "q-1", "What time do you open?")
	if s.Seq != 1 {
		t.Fatalf("send: %s", s.raw)
	}
	h := cust.history(t, "faq-1")
	if len(h.Messages) != 2 || h.LastSeq != 2 {
		t.Fatalf("history: %s", h.raw)
	}
	q, a := h.Messages[0], h.Messages[1]
	if q.From != "tablet-01" || q.Auto || q.Text != "What time do you open?" {
		t.Fatalf("question: %+v", q)
	}
	if a.Seq != 2 || a.From != AssistantID || !a.Auto || a.Intent != "opening_hours" || a.Kind != KindText ||
		!strings.Contains(a.Text, hoursAnswerEN) || !a.TS.Equal(q.TS) || !a.TS.Equal(s.TS) {
		t.Fatalf("automatic answer: %+v (question at %v)", a, q.TS)
	}
	// The sender has read its own message, not the answer.
	if h.ReadUpTo != 1 || h.Unread != 1 {
		t.Fatalf("customer pointers: %s", h.raw)
	}
	ev := staff.event(t, func(ev Event) bool { return ev.Type == EventMessage && ev.Seq == 2 })
	if ev.From != AssistantID || !ev.Auto || ev.Kind != KindText {
		t.Fatalf("answer event: %+v", ev)
	}
	if ids := waitingIDs(t, staff); len(ids) != 0 {
		t.Fatalf("an answered question waits for staff: %v", ids)
	}

	// The same request again, to the handler (as after a crash before the
	// answer): the first seq, nothing stored, no second answer.
	before := e.counts(t)
	got, err := e.chat.send(t.Context(), e.request(t, tablet, "send", "q-1", `{"conversation":"faq-1","kind":"text","text":"What time do you open?"}`))
	if err != nil {
		t.Fatal(err)
	}
	if sa := got.(*sendAns); sa.Seq != 1 {
		t.Fatalf("repeat: %+v", sa)
	}
	if after := e.counts(t); !maps.Equal(before, after) {
		t.Fatalf("a repeated send stored something: %v → %v", before, after)
	}

	// Chinese in, Chinese out; "lang" chooses when given.
	sendText(t, cust, "faq-1", "", "你们店几点开门?")
	if m := cust.history(t, "faq-1").Messages[3]; !m.Auto || m.Intent != "opening_hours" || !strings.Contains(m.Text, hoursAnswerZH) {
		t.Fatalf("Chinese answer: %+v", m)
	}
	ok(t, cust.call(t, "send", "", `{"conversation":"faq-1","kind":"text","text":"What are your opening hours?","lang":"zh-CN"}`))
	if m := cust.history(t, "faq-1").Messages[5]; !m.Auto || !strings.Contains(m.Text, hoursAnswerZH) {
		t.Fatalf("answer with lang zh-CN: %+v", m)
	}

	// Staff asking the same is not answered.
	ok(t, staff.call(t, "open", "", `{"conversation":"faq-1"}`))
	st := sendText(t, staff, "faq-1", "", "What time do you open?")
	if h := staff.history(t, "faq-1"); h.LastSeq != st.Seq {
		t.Fatalf("the assistant answered staff: %s", h.raw)
	}
}

// "转人工" or "human please" (or the handoff op) hands the conversation to
// staff: the handoff reply, the conversation waits, and the assistant stays
// quiet afterwards. A staff reply ends the wait.
func TestAssistantHandoff(t *testing.T) {
	e := newEnv(t, Options{Assistant: testAssistant(t)})
	e.setClock(t, openTime)
	staff := e.connect(t, anna, "")
	staff.subscribe(t, "chat/+/events")
	cust := e.connect(t, tablet, "")

	for _, tc := range []struct{ conv, text, reply string }{
		{"ho-zh", "转人工", handoffZH},
		{"ho-en", "human please", handoffEN},
	} {
		ok(t, cust.call(t, "open", "", fmt.Sprintf(`{"conversation":%q}`, tc.conv)))
		sendText(t, cust, tc.conv, "", tc.text)
		h := cust.history(t, tc.conv)
		if len(h.Messages) != 2 || !h.Messages[1].Auto || h.Messages[1].Intent != faq.IntentHandoff || !strings.HasPrefix(h.Messages[1].Text, tc.reply) {
			t.Fatalf("%s: handoff reply: %s", tc.text, h.raw)
		}
		o := ok(t, cust.call(t, "open", "", fmt.Sprintf(`{"conversation":%q}`, tc.conv)))
		if o.Assistant || o.Waiting == nil || !o.Waiting.Equal(openTime) {
			t.Fatalf("%s: after the handoff: %s", tc.text, o.raw)
		}
		staff.event(t, func(ev Event) bool { return ev.Type == EventWaiting && ev.Conversation == tc.conv })
		// A FAQ question now waits for staff like anything else.
		sendText(t, cust, tc.conv, "", "What time do you open?")
		if h := cust.history(t, tc.conv); h.LastSeq != 3 || h.Messages[2].Auto {
			t.Fatalf("%s: the assistant answered after the handoff: %s", tc.text, h.raw)
		}
	}

	// The "talk to a person" button does the same without a message.
	ok(t, cust.call(t, "open", "", `{"conversation":"ho-button"}`))
	hb := ok(t, cust.call(t, "handoff", "", `{"conversation":"ho-button"}`))
	if hb.Assistant || hb.Waiting == nil || hb.LastSeq != 0 {
		t.Fatalf("handoff op: %s", hb.raw)
	}
	staff.event(t, func(ev Event) bool { return ev.Type == EventWaiting && ev.Conversation == "ho-button" })
	sendText(t, cust, "ho-button", "", "What time do you open?")
	if h := cust.history(t, "ho-button"); h.LastSeq != 1 {
		t.Fatalf("the assistant answered after the handoff op: %s", h.raw)
	}
	fails(t, e.connect(t, tablet2, "").call(t, "handoff", "", `{"conversation":"ho-button"}`), "forbidden")
	fails(t, cust.call(t, "handoff", "", `{"conversation":"nope"}`), "not_found")

	if ids := waitingIDs(t, staff); !slices.Equal(ids, []string{"ho-button", "ho-en", "ho-zh"}) {
		t.Fatalf("waiting: %v", ids) // same waiting time: in id order
	}
	// A staff reply: no longer waiting; the assistant stays off.
	ok(t, staff.call(t, "open", "", `{"conversation":"ho-zh"}`))
	sendText(t, staff, "ho-zh", "", "您好，我是店员 Anna")
	if o := ok(t, staff.call(t, "open", "", `{"conversation":"ho-zh"}`)); o.Waiting != nil || o.Assistant {
		t.Fatalf("after the staff reply: %s", o.raw)
	}
	if ids := waitingIDs(t, staff); !slices.Equal(ids, []string{"ho-button", "ho-en"}) {
		t.Fatalf("waiting after the reply: %v", ids)
	}
	sendText(t, cust, "ho-zh", "", "你们店几点开门?")
	if h := cust.history(t, "ho-zh"); h.Messages[len(h.Messages)-1].Auto {
		t.Fatalf("the assistant came back after the staff reply: %s", h.raw)
	}
}

// A message the assistant cannot answer flags the conversation for staff;
// the holding reply goes out once, not to every message while it waits.
func TestAssistantNoMatch(t *testing.T) {
	e := newEnv(t, Options{Assistant: testAssistant(t)})
	e.setClock(t, openTime)
	staff := e.connect(t, anna, "")
	staff.subscribe(t, EventTopic("nm"))
	cust := e.connect(t, tablet, "")
	ok(t, cust.call(t, "open", "", `{"conversation":"nm"}`))

	sendText(t, cust, "nm", "", unmatched)
	h := cust.history(t, "nm")
	if len(h.Messages) != 2 || !h.Messages[1].Auto || h.Messages[1].From != AssistantID || h.Messages[1].Text != testAssistant(t).Answer(unmatched, "").Text ||
		!strings.HasPrefix(h.Messages[1].Text, holdingEN) {
		t.Fatalf("holding reply: %s", h.raw)
	}
	if ev := staff.event(t, func(ev Event) bool { return ev.Type == EventWaiting }); ev.Conversation != "nm" {
		t.Fatalf("waiting event: %+v", ev)
	}
	e.clock.Advance(time.Minute)
	sendText(t, cust, "nm", "", "hello?")
	sendText(t, cust, "nm", "", "still waiting")
	if h := cust.history(t, "nm"); h.LastSeq != 4 {
		t.Fatalf("holding reply repeated: %s", h.raw)
	}
	o := ok(t, cust.call(t, "open", "", `{"conversation":"nm"}`))
	if o.Waiting == nil || !o.Waiting.Equal(openTime) || !o.Assistant {
		t.Fatalf("waiting since the first message: %s", o.raw)
	}
	if ids := waitingIDs(t, staff); !slices.Equal(ids, []string{"nm"}) {
		t.Fatalf("waiting: %v", ids)
	}
	// The assistant still answers what it knows meanwhile.
	sendText(t, cust, "nm", "", "What time do you open?")
	if h := cust.history(t, "nm"); h.LastSeq != 6 || h.Messages[5].Intent != "opening_hours" {
		t.Fatalf("FAQ while waiting: %s", h.raw)
	}
	ok(t, staff.call(t, "open", "", `{"conversation":"nm"}`))
	sendText(t, staff, "nm", "", "We found your umbrella!")
	if ids := waitingIDs(t, staff); len(ids) != 0 {
		t.Fatalf("waiting after the staff reply: %v", ids)
	}
}

// After hours, a message the assistant does not answer gets the after-hours
// reply (when staff are back, from configs/faq.yaml's hours in
// Asia/Shanghai) once per closed period; FAQ answers go on as by day.
func TestAssistantAfterHours(t *testing.T) {
	e := newEnv(t, Options{Assistant: testAssistant(t)})
	cst := time.FixedZone("CST", 8*3600)
	// Wednesday 5 March 2025, 22:00 in Shanghai: closed since 21:00.
	e.setClock(t, time.Date(2025, 3, 5, 22, 0, 0, 0, cst))
	staff := e.connect(t, anna, "")
	staff.subscribe(t, EventTopic("ah"))
	cust := e.connect(t, tablet, "")
	ok(t, cust.call(t, "open", "", `{"conversation":"ah"}`))

	sendText(t, cust, "ah", "", unmatched)
	h := cust.history(t, "ah")
	if len(h.Messages) != 2 {
		t.Fatalf("after hours: %s", h.raw)
	}
	if m := h.Messages[1]; !m.Auto || m.From != AssistantID || m.Intent != "after_hours" || !strings.HasPrefix(m.Text, afterHoursEN+"tomorrow at 09:30.") {
		t.Fatalf("after-hours reply: %+v", m)
	}
	staff.event(t, func(ev Event) bool { return ev.Type == EventWaiting })
	if ids := waitingIDs(t, staff); !slices.Equal(ids, []string{"ah"}) {
		t.Fatalf("waiting: %v", ids)
	}

	// Later the same night: no second after-hours reply.
	e.setClock(t, time.Date(2025, 3, 6, 1, 30, 0, 0, cst))
	sendText(t, cust, "ah", "", "are you there?")
	if h := cust.history(t, "ah"); h.LastSeq != 3 {
		t.Fatalf("second after-hours reply in one night: %s", h.raw)
	}
	// FAQ questions are answered at night too, with no after-hours note.
	sendText(t, cust, "ah", "", "What time do you open?")
	if h := cust.history(t, "ah"); h.LastSeq != 5 || h.Messages[4].Intent != "opening_hours" {
		t.Fatalf("FAQ at night: %s", h.raw)
	}
	// Thursday by day: the conversation still waits, nothing automatic.
	e.setClock(t, time.Date(2025, 3, 6, 10, 0, 0, 0, cst))
	sendText(t, cust, "ah", "", "hello again")
	if h := cust.history(t, "ah"); h.LastSeq != 6 {
		t.Fatalf("by day while waiting: %s", h.raw)
	}
	// Thursday night is another closed period: one more after-hours reply.
	e.setClock(t, time.Date(2025, 3, 6, 21, 30, 0, 0, cst))
	sendText(t, cust, "ah", "", "hello?")
	sendText(t, cust, "ah", "", "hello??")
	h = cust.history(t, "ah")
	if h.LastSeq != 9 {
		t.Fatalf("the second night: %s", h.raw)
	}
	if m := h.Messages[7]; m.Intent != "after_hours" || !strings.HasPrefix(m.Text, afterHoursEN+"tomorrow at 09:30.") {
		t.Fatalf("the second night's reply: %+v", m)
	}
	// Saturday after closing, in Chinese: Sunday opens at 09:00.
	e.setClock(t, time.Date(2025, 3, 8, 23, 0, 0, 0, cst))
	sendText(t, cust, "ah", "", "请问明天能带狗狗来吗")
	if m := cust.history(t, "ah").Messages; m[len(m)-1].Intent != "after_hours" || !strings.Contains(m[len(m)-1].Text, "明天 09:00") {
		t.Fatalf("Saturday night's reply: %+v", m[len(m)-1])
	}
}

// The waiting queue lists the longest-waiting conversation first, whatever
// the ids; staff only.
func TestWaitingQueueOrder(t *testing.T) {
	e := newEnv(t, Options{Assistant: testAssistant(t)})
	e.setClock(t, openTime)
	staff := e.connect(t, anna, "")
	c1 := e.connect(t, tablet, "")
	c2 := e.connect(t, tablet2, "")
	ok(t, c1.call(t, "open", "", `{"conversation":"zz-first"}`))
	ok(t, c2.call(t, "open", "", `{"conversation":"aa-second"}`))
	ok(t, c2.call(t, "open", "", `{"conversation":"mm-answered"}`))
	sendText(t, c1, "zz-first", "", unmatched)
	e.clock.Advance(90 * time.Second)
	sendText(t, c2, "aa-second", "", unmatched)
	sendText(t, c2, "mm-answered", "", "What time do you open?")

	w := ok(t, staff.call(t, "waiting", "", `{}`))
	if len(w.Conversations) != 2 || w.Conversations[0].Conversation != "zz-first" || w.Conversations[1].Conversation != "aa-second" ||
		!w.Conversations[0].Waiting.Equal(openTime) || !w.Conversations[1].Waiting.Equal(openTime.Add(90*time.Second)) {
		t.Fatalf("waiting: %s", w.raw)
	}
	fails(t, c1.call(t, "waiting", "", `{}`), "forbidden")
	ok(t, staff.call(t, "open", "", `{"conversation":"zz-first"}`))
	sendText(t, staff, "zz-first", "", "Let me check.")
	if ids := waitingIDs(t, staff); !slices.Equal(ids, []string{"aa-second"}) {
		t.Fatalf("waiting after a reply: %v", ids)
	}
}

// askBack is a customer message the assistant asks back about: two
// questions in one, neither about health.
const askBack = "你们几点关门？积分怎么用"

// A message close to two questions gets an ask-back card, not a guess:
// from the assistant, auto, intent "ask", a button per question. Tapping one
// sends its question, which is answered. The conversation is not flagged
// and, at night, the ask-back brings no after-hours reply; a later message
// the assistant cannot help with does.
func TestAssistantAsksBack(t *testing.T) {
	want := testAssistant(t).Answer(askBack, "")
	if want.Kind != faq.Ask || len(want.Choices) != 2 {
		t.Fatalf("configs/faq.yaml no longer asks back on %q: %+v", askBack, want)
	}
	e := newEnv(t, Options{Assistant: testAssistant(t)})
	cst := time.FixedZone("CST", 8*3600)
	e.setClock(t, time.Date(2025, 3, 5, 22, 0, 0, 0, cst)) // closed since 21:00
	staff := e.connect(t, anna, "")
	cust := e.connect(t, tablet, "")
	ok(t, cust.call(t, "open", "", `{"conversation":"ask"}`))

	sendText(t, cust, "ask", "q-1", askBack)
	h := cust.history(t, "ask")
	if len(h.Messages) != 2 {
		t.Fatalf("ask-back: %s", h.raw)
	}
	m := h.Messages[1]
	if m.From != AssistantID || !m.Auto || m.Kind != KindCard || m.Intent != IntentAsk {
		t.Fatalf("ask-back message: %+v", m)
	}
	var card proto.AskCard
	if err := m.DecodeCard(&card); err != nil {
		t.Fatal(err)
	}
	if card.Type != CardAsk || card.Text != want.Text || len(card.Buttons) != 2 {
		t.Fatalf("ask-back card: %+v", card)
	}
	got := map[string]string{}
	for _, b := range card.Buttons {
		got[b.Intent] = b.Text
	}
	if got["opening_hours"] == "" || got["membership_points"] == "" {
		t.Fatalf("ask-back buttons: %+v", card.Buttons)
	}
	if ids := waitingIDs(t, staff); len(ids) != 0 {
		t.Fatalf("an ask-back flagged the conversation: %v", ids)
	}

	// The tap sends the button's question: answered with its intent.
	sendText(t, cust, "ask", "q-2", got["membership_points"])
	h = cust.history(t, "ask")
	if len(h.Messages) != 4 || h.Messages[3].Intent != "membership_points" || !h.Messages[3].Auto || h.Messages[3].Kind != KindText {
		t.Fatalf("after the tap: %s", h.raw)
	}
	// A repeated send repeats nothing.
	sendText(t, cust, "ask", "q-1", askBack)
	if h := cust.history(t, "ask"); h.LastSeq != 4 {
		t.Fatalf("repeated ask-back: %s", h.raw)
	}
	// Something the assistant cannot help with: the after-hours reply, once.
	sendText(t, cust, "ask", "q-3", unmatched)
	h = cust.history(t, "ask")
	if h.LastSeq != 6 || h.Messages[5].Intent != "after_hours" {
		t.Fatalf("after-hours reply after an ask-back: %s", h.raw)
	}
	if ids := waitingIDs(t, staff); !slices.Equal(ids, []string{"ask"}) {
		t.Fatalf("waiting: %v", ids)
	}
}
