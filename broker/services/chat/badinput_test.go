package chat

import (
	"maps"
	"strings"
	"testing"
)

// Every kind of bad request gets its documented code and stores nothing.
func TestBadInput(t *testing.T) {
	e := newEnv(t, Options{MaxBodyBytes: 64, MaxMembers: 3})
	cust := e.connect(t, tablet, "")
	outsider := e.connect(t, tablet2, "")
	ok(t, cust.call(t, "open", "", `{"conversation":"bad","members":["staff-anna"]}`))
	ok(t, cust.call(t, "send", "", `{"conversation":"bad","kind":"text","text":"hello"}`))
	before := e.counts(t)

	long := strings.Repeat("x", 65)
	cases := []struct {
		c          *client
		op, body   string
		code, name string
	}{
		{cust, "send", `{"conversation":"bad","kind":"text","text":42}`, "bad_request", "wrong type"},
		{cust, "send", `{"conversation":"bad","kind":"text"}`, "bad_request", "no text"},
		{cust, "send", `{"conversation":"bad","kind":"text","text":""}`, "bad_request", "empty text"},
		{cust, "send", `{"conversation":"bad","kind":"voice","text":"x"}`, "bad_request", "unknown kind"},
		{cust, "send", `{"conversation":"bad","kind":"card","card":[1,2]}`, "bad_request", "card not an object"},
		{cust, "send", `{"conversation":"bad","kind":"card","card":{"a":1},"text":"x"}`, "bad_request", "card and text"},
		{cust, "send", `{"conversation":"bad","kind":"text","text":"x","extra":1}`, "bad_request", "unknown field"},
		{cust, "send", `{"conversation":"a/b","kind":"text","text":"x"}`, "bad_request", "bad conversation id"},
		{cust, "send", `{"conversation":"bad","kind":"text","text":"` + long + `"}`, "too_large", "text too large"},
		{cust, "send", `{"conversation":"bad","kind":"card","card":{"t":"` + long + `"}}`, "too_large", "card too large"},
		{cust, "send", `{"conversation":"nope","kind":"text","text":"x"}`, "not_found", "unknown conversation"},
		{outsider, "send", `{"conversation":"bad","kind":"text","text":"x"}`, "forbidden", "not a member"},
		{outsider, "read", `{"conversation":"bad","up_to":1}`, "forbidden", "read, not a member"},
		{outsider, "open", `{"conversation":"bad"}`, "forbidden", "open, not a member"},
		{cust, "open", `{"conversation":"bad","members":["staff-bo"]}`, "conflict", "resume with a new member"},
		{cust, "open", `{"conversation":"big","members":["a","b","c"]}`, "too_large", "too many members"},
		{cust, "open", `{"members":["no/slash"]}`, "bad_request", "bad member"},
		{cust, "history", `{"conversation":"nope"}`, "not_found", "history, unknown"},
		{cust, "history", `{"conversation":"bad","after":-1}`, "bad_request", "negative after"},
		{cust, "recall", `{"conversation":"bad","seq":0}`, "bad_request", "seq 0"},
		{cust, "list", `{"limit":"ten"}`, "bad_request", "list, wrong type"},
		{cust, "nosuchop", `{}`, "not_found", "unknown op"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fails(t, tc.c.call(t, tc.op, "", tc.body), tc.code)
		})
	}
	if after := e.counts(t); !maps.Equal(before, after) {
		t.Fatalf("bad requests stored something: %v → %v", before, after)
	}
}
