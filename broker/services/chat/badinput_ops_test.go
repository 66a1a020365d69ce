package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/storeedge/storeedge/broker/svc"
)

// The ops added with groups, receipts, the assistant, assignment, media and
// sessions answer malformed bodies, unknown fields, wrong types and bad ids
// with bad_request (a size limit with too_large), and store nothing.
func TestBadInputNewOps(t *testing.T) {
	e := newEnv(t, Options{Assistant: testAssistant(t), MaxMembers: 3}, withMedia, withTokens)
	e.setClock(t, openTime)
	staff := e.connect(t, anna, "")
	cust := e.connect(t, tablet, "")
	ok(t, cust.call(t, "open", "", `{"conversation":"bad","members":["staff-anna"]}`))
	sendText(t, cust, "bad", "", "hello")
	g := ok(t, staff.call(t, "group_create", "", `{"title":"g","members":["tablet-01"]}`)).Conversation
	before := e.counts(t)

	hash := strings.Repeat("ab", 32)
	cases := []struct {
		c        *client
		op, body string
		code     string
	}{
		{cust, "delivered", `{"conversation":"bad","up_to":"3"}`, "bad_request"},
		{cust, "delivered", `{"conversation":"bad","up_to":-1}`, "bad_request"},
		{cust, "delivered", `{"conversation":"bad"}`, "bad_request"},
		{cust, "delivered", `{"conversation":"bad","up_to":1,"read":1}`, "bad_request"},
		{cust, "delivered", `{"conversation":"a b","up_to":1}`, "bad_request"},
		{cust, "delivered", `{"conversation":"bad","up_to":1} {}`, "bad_request"},

		{staff, "group_create", `{"title":5,"members":[]}`, "bad_request"},
		{staff, "group_create", `{"title":"","members":["tablet-01"]}`, "bad_request"},
		{staff, "group_create", `{"members":["tablet-01"]}`, "bad_request"},
		{staff, "group_create", `{"title":"` + strings.Repeat("x", 201) + `"}`, "bad_request"},
		{staff, "group_create", `{"title":"g","members":"tablet-01"}`, "bad_request"},
		{staff, "group_create", `{"title":"g","members":["a/b"]}`, "bad_request"},
		{staff, "group_create", `{"title":"g","members":[1]}`, "bad_request"},
		{staff, "group_create", `{"title":"g","conversation":"mine"}`, "bad_request"},
		{staff, "group_create", `{"title":"g","members":["a","b","c","d"]}`, "too_large"},

		{staff, "group_add", `{"conversation":"` + g + `","members":[]}`, "bad_request"},
		{staff, "group_add", `{"conversation":"` + g + `"}`, "bad_request"},
		{staff, "group_add", `{"conversation":"` + g + `","members":"tablet-02"}`, "bad_request"},
		{staff, "group_add", `{"conversation":"` + g + `","members":["tablet 02"]}`, "bad_request"},
		{staff, "group_add", `{"conversation":"` + g + `","members":["tablet-02"],"title":"x"}`, "bad_request"},
		{staff, "group_add", `{"members":["tablet-02"]}`, "bad_request"},
		{staff, "group_remove", `{"conversation":"` + g + `","members":[]}`, "bad_request"},
		{staff, "group_remove", `{"conversation":"` + g + `","members":[true]}`, "bad_request"},
		{staff, "group_remove", `{"conversation":"` + g + `","members":["tablet-01"],"x":1}`, "bad_request"},
		{staff, "group_remove", `{"conversation":7,"members":["tablet-01"]}`, "bad_request"},

		{cust, "handoff", `{}`, "bad_request"},
		{cust, "handoff", `{"conversation":7}`, "bad_request"},
		{cust, "handoff", `{"conversation":"bad","now":true}`, "bad_request"},
		{cust, "handoff", `{"conversation":"../bad"}`, "bad_request"},

		{staff, "waiting", `{"after":"x"}`, "bad_request"},
		{staff, "waiting", `{"limit":5}`, "bad_request"},
		{staff, "quick_replies", `{"lang":"zh"}`, "bad_request"},

		{staff, "assign", `{"conversation":"bad"}`, "bad_request"},
		{staff, "assign", `{"conversation":"bad","staff":["staff-anna"]}`, "bad_request"},
		{staff, "assign", `{"conversation":"bad","staff":"staff anna"}`, "bad_request"},
		{staff, "assign", `{"conversation":"bad","staff":"staff-anna","x":1}`, "bad_request"},
		{staff, "assign", `{"staff":"staff-anna"}`, "bad_request"},

		{cust, "session", `{"customer":1}`, "bad_request"},
		{cust, "session", `{"customer":"cust/1"}`, "bad_request"},
		{cust, "session", `{"customer":"cust-abcd","ttl":60}`, "bad_request"},

		{cust, "send", `{"conversation":"bad","kind":"image","media":{"hash":"XYZ"}}`, "bad_request"},
		{cust, "send", `{"conversation":"bad","kind":"image","media":{"hash":"` + strings.ToUpper(hash) + `"}}`, "bad_request"},
		{cust, "send", `{"conversation":"bad","kind":"image","media":"` + hash + `"}`, "bad_request"},
		{cust, "send", `{"conversation":"bad","kind":"image"}`, "bad_request"},
		{cust, "send", `{"conversation":"bad","kind":"image","media":{"hash":"` + hash + `","size":3}}`, "bad_request"},
		{cust, "send", `{"conversation":"bad","kind":"image","media":{"hash":"` + hash + `"},"card":{"type":"product"}}`, "bad_request"},
		{cust, "send", `{"conversation":"bad","kind":"text","text":"x","media":{"hash":"` + hash + `"}}`, "bad_request"},
		{cust, "send", `{"conversation":"bad","kind":"system","card":{"type":"members"}}`, "bad_request"},
		{cust, "send", `{"conversation":"bad","kind":"text","text":"x","announcement":"yes"}`, "bad_request"},
		{cust, "send", `{"conversation":"bad","kind":"text","text":"x","lang":"` + strings.Repeat("z", 17) + `"}`, "bad_request"},
		{cust, "send", `{"conversation":"bad","kind":"text","text":"x","lang":7}`, "bad_request"},
		{staff, "send", `{"conversation":"` + g + `","kind":"text","text":"x","announcement":1}`, "bad_request"},
	}
	for _, tc := range cases {
		t.Run(tc.op+" "+tc.body, func(t *testing.T) {
			fails(t, tc.c.call(t, tc.op, "", tc.body), tc.code)
		})
	}
	// The handlers themselves, without svc's envelope checks in front: a
	// body that is a JSON array, not an object.
	handlers := map[string]svc.Handler{
		"delivered": e.chat.delivered, "group_create": e.chat.groupCreate, "group_add": e.chat.groupAdd,
		"group_remove": e.chat.groupRemove, "handoff": e.chat.handoff, "waiting": e.chat.waiting,
		"assign": e.chat.assign, "quick_replies": e.chat.quickReplies, "session": e.chat.session,
	}
	for op, h := range handlers {
		req := e.request(t, anna, op, "raw-"+op, `{}`)
		req.Body = json.RawMessage(`[1,2,3]`)
		_, err := h(t.Context(), req)
		var se *svc.Error
		if !errors.As(err, &se) || se.Code != svc.CodeBadRequest {
			t.Errorf("%s handler with a JSON array: %v, want bad_request", op, err)
		}
	}
	if after := e.counts(t); !maps.Equal(before, after) {
		t.Fatalf("bad requests stored something: %v → %v", before, after)
	}
	if h := staff.history(t, "bad"); h.LastSeq != 2 {
		t.Fatalf("bad requests added messages: %s", h.raw)
	}
	if h := staff.history(t, g); h.LastSeq != 1 || len(ok(t, staff.call(t, "open", "", fmt.Sprintf(`{"conversation":%q}`, g))).Members) != 2 {
		t.Fatalf("bad requests changed the group: %s", h.raw)
	}
}

// FuzzNewOpDecoders feeds the decoders of the newer ops the same bytes: none
// may panic, and what they accept holds only valid ids within the limits.
func FuzzNewOpDecoders(f *testing.F) {
	for _, s := range []string{
		`{"id":"a","v":1,"title":"三月宝宝","members":["staff-bo","tablet-01","tablet-01"]}`,
		`{"id":"a","v":1,"conversation":"g-1","members":["cust-abcd"]}`,
		`{"id":"a","v":1,"conversation":"c1","staff":"staff-anna"}`,
		`{"id":"a","v":1,"customer":"cust-abcd1234"}`,
		`{"id":"a","v":1,"conversation":"c1"}`,
		`{"conversation":"c1","kind":"image","media":{"hash":"` + strings.Repeat("0", 64) + `"},"text":"x"}`,
		`{"title":"","members":null}`, `{"members":[""]}`, `{}`, `[]`, `null`,
	} {
		f.Add([]byte(s))
	}
	const maxMembers = 4
	validMembers := func(t *testing.T, ms []string) {
		t.Helper()
		if len(ms) > maxMembers || !slices.IsSorted(ms) || len(slices.Compact(slices.Clone(ms))) != len(ms) {
			t.Fatalf("accepted members %q", ms)
		}
		for _, m := range ms {
			if !idPattern.MatchString(m) {
				t.Fatalf("accepted member %q", m)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := decodeGroupCreate(b, maxMembers); err == nil {
			if r.Title == "" || len(r.Title) > 200 || !utf8.ValidString(r.Title) {
				t.Fatalf("group_create accepted title %q", r.Title)
			}
			validMembers(t, r.Members)
		}
		if r, err := decodeGroupMembers(b, maxMembers); err == nil {
			if !idPattern.MatchString(r.Conversation) || len(r.Members) == 0 {
				t.Fatalf("group members accepted %+v", r)
			}
			validMembers(t, r.Members)
		}
		if r, err := decodeAssign(b); err == nil && (!idPattern.MatchString(r.Conversation) || !idPattern.MatchString(r.Staff)) {
			t.Fatalf("assign accepted %+v", r)
		}
		if r, err := decodeSession(b); err == nil && r.Customer != "" && !idPattern.MatchString(r.Customer) {
			t.Fatalf("session accepted %+v", r)
		}
		if r, err := decodeConv(b); err == nil && !idPattern.MatchString(r.Conversation) {
			t.Fatalf("handoff accepted %+v", r)
		}
	})
}
