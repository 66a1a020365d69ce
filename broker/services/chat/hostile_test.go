package chat

import (
	"fmt"
	"maps"
	"strings"
	"testing"
)

// Field names are case-sensitive and appear once each (PROTOCOL.md,
// "Requests"): a send with "Text" for "text", or "text" twice, is refused
// with bad_request naming the field, and stores nothing. encoding/json alone
// took "Text" for "text" and kept the last of two "text"s.
func TestStrictFieldNames(t *testing.T) {
	e := newEnv(t, Options{})
	cust := e.customerLogin(t, "", "phone")
	id := devOf(cust)
	ok(t, cust.call(t, "open", "", `{}`))
	sendText(t, cust, id, "", "hello")
	before := e.counts(t)
	for _, tc := range []struct{ body, field string }{
		{fmt.Sprintf(`{"conversation":%q,"kind":"text","Text":"hi"}`, id), `"Text"`},
		{fmt.Sprintf(`{"conversation":%q,"KIND":"text","text":"hi"}`, id), `"KIND"`},
		{fmt.Sprintf(`{"Conversation":%q,"kind":"text","text":"hi"}`, id), `"Conversation"`},
		{fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"shown to staff","text":"stored"}`, id), `duplicate field "text"`},
		{fmt.Sprintf(`{"conversation":%q,"kind":"card","card":{"type":"product","type":"booking"}}`, id), `duplicate field "card.type"`},
		{fmt.Sprintf(`{"conversation":%q,"conversation":"other","kind":"text","text":"hi"}`, id), `duplicate field "conversation"`},
		{fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"hi","extra":1}`, id), `unknown field "extra"`},
	} {
		a := cust.call(t, "send", "", tc.body)
		fails(t, a, "bad_request")
		if !strings.Contains(a.Error.Message, tc.field) {
			t.Errorf("%s: message %q does not name %s", tc.body, a.Error.Message, tc.field)
		}
	}
	fails(t, cust.call(t, "history", "", fmt.Sprintf(`{"conversation":%q,"Limit":1}`, id)), "bad_request")
	if after := e.counts(t); !maps.Equal(before, after) {
		t.Fatalf("refused sends stored something: %v → %v", before, after)
	}
}

// NUL, other control characters and bidi overrides are refused in texts,
// captions, card strings and group titles; a line feed and a tab are text.
func TestControlCharactersRefused(t *testing.T) {
	e := newEnv(t, Options{})
	cust := e.customerLogin(t, "", "phone")
	id := devOf(cust)
	staff := e.connect(t, anna, "")
	ok(t, cust.call(t, "open", "", `{}`))
	sendText(t, cust, id, "", "two\nlines\tand a tab")
	before := e.counts(t)
	for _, text := range []string{"nul\u0000", "invoice\u202efdp.exe", "escape\u001b[2J", "cr\r", "isolate\u2067x\u2069", "c1\u0085"} {
		q := fmt.Sprintf("%q", text) // Go quoting is valid JSON for these
		q = strings.ReplaceAll(q, `\x00`, `\u0000`)
		q = strings.ReplaceAll(q, `\x1b`, `\u001b`)
		fails(t, cust.call(t, "send", "", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":%s}`, id, q)), "bad_request")
		fails(t, cust.call(t, "send", "", fmt.Sprintf(`{"conversation":%q,"kind":"card","card":{"type":"product","title":%s}}`, id, q)), "bad_request")
		fails(t, staff.call(t, "group_create", "", fmt.Sprintf(`{"title":%s,"members":[%q]}`, q, id)), "bad_request")
	}
	if after := e.counts(t); !maps.Equal(before, after) {
		t.Fatalf("refused requests stored something: %v → %v", before, after)
	}
}

// A customer (or a chat tablet) may share a product card, but not send a
// booking, promotion, progress, reminder or survey card: those come from the
// store, and the console and the customer page show them as the store's
// ("Booking made"). Staff still send promotions.
func TestCustomerCardTypes(t *testing.T) {
	e := newEnv(t, Options{})
	cust := e.customerLogin(t, "", "phone")
	id := devOf(cust)
	ok(t, cust.call(t, "open", "", `{}`))
	staff := e.connect(t, anna, "")
	ok(t, staff.call(t, "open", "", fmt.Sprintf(`{"conversation":%q}`, id)))
	tab := e.connect(t, tablet, "")
	ok(t, tab.call(t, "open", "", `{"conversation":"kiosk-chat","members":["staff-anna"]}`))
	before := e.counts(t)
	for _, typ := range []string{"booking", "promotion", "progress", "reminder", "survey"} {
		card := fmt.Sprintf(`{"type":%q,"event":"created","status":"confirmed","service":"bath","start":"2025-03-08T15:00:00+08:00"}`, typ)
		fails(t, cust.call(t, "send", "", fmt.Sprintf(`{"conversation":%q,"kind":"card","card":%s}`, id, card)), "forbidden")
		fails(t, tab.call(t, "send", "", `{"conversation":"kiosk-chat","kind":"card","card":`+card+`}`), "forbidden")
	}
	if after := e.counts(t); !maps.Equal(before, after) {
		t.Fatalf("refused cards stored something: %v → %v", before, after)
	}
	ok(t, cust.call(t, "send", "", fmt.Sprintf(`{"conversation":%q,"kind":"card","card":{"type":"product","title":"Oatmeal shampoo"}}`, id)))
	ok(t, staff.call(t, "send", "", fmt.Sprintf(`{"conversation":%q,"kind":"card","card":{"type":"promotion","title":"20%% off baths"}}`, id)))
	h := staff.history(t, id)
	for _, m := range h.Messages {
		if m.Kind == KindCard && m.From == id && !strings.Contains(string(m.Card), `"product"`) {
			t.Fatalf("a customer's %s card is in the history", m.Card)
		}
	}
}
