package chat

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/proto"
)

func decodeAs[T any](t testing.TB, a answer) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(a.raw), &v); err != nil {
		t.Fatalf("%v: %s", err, a.raw)
	}
	return v
}

func report(t testing.TB, c *client, from, to, by string) proto.ChatReport {
	t.Helper()
	return decodeAs[proto.ChatReport](t, ok(t, c.call(t, "report", "", fmt.Sprintf(`{"from":%q,"to":%q,"by":%q}`, from, to, by))))
}

// Staff close a customer's conversation; she rates that closing once; her
// next message reopens it; the report has the known first response and
// resolution times (the assistant's answers do not count), by day and by
// staff, and the closings and ratings are filed for HQ.
func TestCloseRateReport(t *testing.T) {
	e := newEnv(t, Options{Assistant: testAssistant(t), Outbox: outbox{}})
	t0 := time.Date(2025, 3, 5, 2, 0, 0, 0, time.UTC) // 10:00 in Shanghai, the FAQ's zone
	e.setClock(t, t0)
	anna := e.connect(t, anna, "")
	bo := e.connect(t, bo, "")
	boss := e.connect(t, owner, "")
	cust := e.customerLogin(t, "", "phone")
	id := devOf(cust)
	ok(t, cust.call(t, "open", "", `{}`))
	cust.subscribe(t, EventTopic(id))

	// Period 1: she asks (the assistant answers at once: not a response),
	// Anna answers 90 s later and closes 10 min after the question.
	sendText(t, cust, id, "", "what are your opening hours")
	ok(t, anna.call(t, "open", "", fmt.Sprintf(`{"conversation":%q}`, id)))
	e.clock.Advance(90 * time.Second)
	sendText(t, anna, id, "", "Hello, how can I help?")
	e.clock.Advance(510 * time.Second)

	// Only staff close; a customer cannot.
	before := e.counts(t)
	fails(t, cust.call(t, "close", "", fmt.Sprintf(`{"conversation":%q}`, id)), "forbidden")
	fails(t, anna.call(t, "close", "", `{"conversation":"no such"}`), "bad_request")
	fails(t, anna.call(t, "close", "", `{"conversation":"nobody-here"}`), "not_found")
	if after := e.counts(t); !maps.Equal(before, after) {
		t.Fatalf("a refused close stored something: %v → %v", before, after)
	}
	cl := decodeAs[proto.ChatClosing](t, ok(t, anna.call(t, "close", "close-1", fmt.Sprintf(`{"conversation":%q}`, id))))
	if cl.Closing != 1 || cl.Staff != "staff-anna" || cl.By != "staff-anna" || cl.Opened == nil || !cl.Opened.Equal(t0) ||
		cl.FirstResponse == nil || cl.FirstResponse.Sub(t0) != 90*time.Second || cl.Closed.Sub(t0) != 10*time.Minute {
		t.Fatalf("close: %+v", cl)
	}
	ev := cust.event(t, func(ev Event) bool { return ev.Type == EventClosed })
	if ev.Closing != 1 || ev.By != "staff-anna" || ev.Seq != cl.Seq {
		t.Fatalf("closed event: %+v", ev)
	}
	// Repeating the request answers the same; another close is a conflict.
	if again := decodeAs[proto.ChatClosing](t, ok(t, anna.call(t, "close", "close-1", fmt.Sprintf(`{"conversation":%q}`, id)))); again.Closing != 1 || again.Seq != cl.Seq {
		t.Fatalf("repeated close: %+v", again)
	}
	fails(t, bo.call(t, "close", "", fmt.Sprintf(`{"conversation":%q}`, id)), "conflict")
	// Her page sees the closed card in history, and the view says closed.
	h := cust.history(t, id)
	last := h.Messages[len(h.Messages)-1]
	var card proto.ClosedCard
	if err := last.DecodeCard(&card); err != nil || last.Kind != KindSystem || card.Type != proto.CardClosed || card.Closing != 1 {
		t.Fatalf("closed message: %+v %v", last, err)
	}
	if o := ok(t, cust.call(t, "open", "", `{}`)); !strings.Contains(o.raw, `"closings":1`) || !strings.Contains(o.raw, `"closed":`) {
		t.Fatalf("open after close: %s", o.raw)
	}

	// Rating: bad input changes nothing; staff do not rate; once per closing.
	before = e.counts(t)
	for _, body := range []string{
		fmt.Sprintf(`{"conversation":%q,"closing":1,"stars":0}`, id),
		fmt.Sprintf(`{"conversation":%q,"closing":1,"stars":6}`, id),
		fmt.Sprintf(`{"conversation":%q,"closing":0,"stars":5}`, id),
		fmt.Sprintf(`{"conversation":%q,"closing":1,"stars":5,"comment":"a\u202eb"}`, id),
		fmt.Sprintf(`{"conversation":%q,"closing":1,"stars":5,"extra":1}`, id),
	} {
		fails(t, cust.call(t, "rate", "", body), "bad_request")
	}
	fails(t, cust.call(t, "rate", "", fmt.Sprintf(`{"conversation":%q,"closing":1,"stars":5,"comment":%q}`, id, strings.Repeat("好", 501))), "too_large")
	fails(t, cust.call(t, "rate", "", fmt.Sprintf(`{"conversation":%q,"closing":2,"stars":5}`, id)), "not_found")
	fails(t, anna.call(t, "rate", "", fmt.Sprintf(`{"conversation":%q,"closing":1,"stars":5}`, id)), "forbidden")
	if after := e.counts(t); !maps.Equal(before, after) {
		t.Fatalf("a refused rate stored something: %v → %v", before, after)
	}
	comment := strings.Repeat("好", 500)
	rt := decodeAs[proto.ChatRating](t, ok(t, cust.call(t, "rate", "rate-1", fmt.Sprintf(`{"conversation":%q,"closing":1,"stars":4,"comment":%q}`, id, comment))))
	if rt.Stars != 4 || rt.Staff != "staff-anna" || rt.Closing != 1 {
		t.Fatalf("rate: %+v", rt)
	}
	cust.event(t, func(ev Event) bool { return ev.Type == EventRated && ev.Closing == 1 })
	if again := decodeAs[proto.ChatRating](t, ok(t, cust.call(t, "rate", "rate-1", fmt.Sprintf(`{"conversation":%q,"closing":1,"stars":4,"comment":%q}`, id, comment)))); again.Seq != rt.Seq {
		t.Fatalf("repeated rate: %+v", again)
	}
	fails(t, cust.call(t, "rate", "rate-2", fmt.Sprintf(`{"conversation":%q,"closing":1,"stars":1}`, id)), "conflict")
	// The rating stands: its message is not recalled, nor the closing's.
	fails(t, cust.call(t, "recall", "", fmt.Sprintf(`{"conversation":%q,"seq":%d}`, id, rt.Seq)), "forbidden")
	fails(t, anna.call(t, "recall", "", fmt.Sprintf(`{"conversation":%q,"seq":%d}`, id, cl.Seq)), "forbidden")
	h = anna.history(t, id)
	last = h.Messages[len(h.Messages)-1]
	var rc proto.RatedCard
	if err := last.DecodeCard(&rc); err != nil || rc.Stars != 4 || rc.Comment != comment || last.From != id {
		t.Fatalf("rated message: %+v %v", last, err)
	}

	// Period 2, the next day: her message reopens; Bo answers after 30 s
	// and the boss closes 2 min after her message: Bo handled it.
	t1 := t0.Add(24 * time.Hour)
	e.setClock(t, t1)
	sendText(t, cust, id, "", "one more question please")
	if o := ok(t, cust.call(t, "open", "", `{}`)); strings.Contains(o.raw, `"closed":`) {
		t.Fatalf("still closed after her message: %s", o.raw)
	}
	ok(t, bo.call(t, "open", "", fmt.Sprintf(`{"conversation":%q}`, id)))
	e.clock.Advance(30 * time.Second)
	sendText(t, bo, id, "", "Sure")
	e.clock.Advance(90 * time.Second)
	cl2 := decodeAs[proto.ChatClosing](t, ok(t, boss.call(t, "close", "", fmt.Sprintf(`{"conversation":%q}`, id))))
	if cl2.Closing != 2 || cl2.Staff != "staff-bo" || cl2.By != "owner" {
		t.Fatalf("second close: %+v", cl2)
	}
	ok(t, cust.call(t, "rate", "", fmt.Sprintf(`{"conversation":%q,"closing":2,"stars":2}`, id)))

	// By day (Shanghai days) and by staff.
	d0, d1 := "2025-03-05", "2025-03-06"
	byDay := report(t, boss, d0, d1, "day")
	if byDay.TimeZone != "Asia/Shanghai" || len(byDay.Rows) != 2 {
		t.Fatalf("by day: %+v", byDay)
	}
	r0, r1 := byDay.Rows[0], byDay.Rows[1]
	if r0.Key != d0 || r0.Handled != 1 || r0.FirstResponseAvgMs != 90_000 || r0.ResolutionAvgMs != 600_000 || r0.Ratings != 1 || r0.StarsAvg != 4 ||
		r1.Key != d1 || r1.Handled != 1 || r1.FirstResponseAvgMs != 30_000 || r1.ResolutionAvgMs != 120_000 || r1.Stars != [5]int{0, 1, 0, 0, 0} {
		t.Fatalf("by day rows: %+v", byDay.Rows)
	}
	if tot := byDay.Total; tot.Handled != 2 || tot.FirstResponseAvgMs != 60_000 || tot.FirstResponseMedianMs != 30_000 || tot.StarsAvg != 3 {
		t.Fatalf("total: %+v", tot)
	}
	byStaff := report(t, boss, d0, d1, "staff")
	if len(byStaff.Rows) != 2 || byStaff.Rows[0].Key != "staff-anna" || byStaff.Rows[0].StarsAvg != 4 || byStaff.Rows[1].Key != "staff-bo" || byStaff.Rows[1].Handled != 1 {
		t.Fatalf("by staff: %+v", byStaff.Rows)
	}
	if only := report(t, boss, d1, d1, "day"); len(only.Rows) != 1 || only.Total.Handled != 1 {
		t.Fatalf("one day: %+v", only)
	}
	// Bad report requests; customers get none.
	for _, body := range []string{`{"from":"2025-3-5","to":"2025-03-06","by":"day"}`, `{"from":"2025-03-06","to":"2025-03-05","by":"day"}`,
		`{"from":"2025-03-05","to":"2025-03-06","by":"week"}`} {
		fails(t, boss.call(t, "report", "", body), "bad_request")
	}
	fails(t, boss.call(t, "report", "", `{"from":"2020-01-01","to":"2025-03-06","by":"day"}`), "too_large")
	fails(t, cust.call(t, "report", "", `{"from":"2025-03-05","to":"2025-03-06","by":"day"}`), "forbidden")

	// HQ gets both closings and both ratings, without the comment.
	closings, ratings := e.outboxRaw(t, proto.TopicChatClosing), e.outboxRaw(t, proto.TopicChatRating)
	if len(closings) != 2 || len(ratings) != 2 {
		t.Fatalf("outbox: %d closings, %d ratings", len(closings), len(ratings))
	}
	var hc proto.ChatClosing
	if err := json.Unmarshal(closings[0], &hc); err != nil || hc.V != 1 || hc.Staff != "staff-anna" || hc.FirstResponse.Sub(*hc.Opened) != 90*time.Second {
		t.Fatalf("closing for HQ: %s %v", closings[0], err)
	}
	if strings.Contains(string(ratings[0]), "好") || !strings.Contains(string(ratings[0]), `"stars":4`) {
		t.Fatalf("rating for HQ: %s", ratings[0])
	}
}

// Assigned-only staff see only their own closings in a report; a close of a
// conversation that is not a customer's is refused.
func TestReportScope(t *testing.T) {
	e := newEnv(t, Options{AssignedOnlyRoles: []string{"staff"}})
	t0 := time.Date(2025, 3, 5, 2, 0, 0, 0, time.UTC)
	e.setClock(t, t0)
	boss := e.connect(t, owner, "")
	annaC := e.connect(t, anna, "")
	for i, who := range []string{"staff-anna", "staff-bo"} {
		cust := e.customerLogin(t, "", fmt.Sprintf("p%d", i))
		id := devOf(cust)
		ok(t, cust.call(t, "open", "", `{}`))
		sendText(t, cust, id, "", "hello")
		ok(t, boss.call(t, "assign", "", fmt.Sprintf(`{"conversation":%q,"staff":%q}`, id, who)))
		if who == "staff-anna" {
			sendText(t, annaC, id, "", "hi")
		} else {
			bo := e.connect(t, bo, "")
			sendText(t, bo, id, "", "hi")
		}
		ok(t, boss.call(t, "close", "", fmt.Sprintf(`{"conversation":%q}`, id)))
	}
	if r := report(t, boss, "2025-03-05", "2025-03-05", "staff"); len(r.Rows) != 2 {
		t.Fatalf("the boss's report: %+v", r.Rows)
	}
	if r := report(t, annaC, "2025-03-05", "2025-03-05", "staff"); len(r.Rows) != 1 || r.Rows[0].Key != "staff-anna" {
		t.Fatalf("anna's report: %+v", r.Rows)
	}
	g := ok(t, boss.call(t, "group_create", "", `{"title":"Team","members":["staff-anna"]}`))
	fails(t, boss.call(t, "close", "", fmt.Sprintf(`{"conversation":%q}`, g.Conversation)), "bad_request")
}
