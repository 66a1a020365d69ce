package chat

import (
	"bytes"
	"fmt"
	"image/png"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker/mqtt/auth/customer"
)

// A chat tablet asks for a scan-to-chat session: a one-time URL (and its QR
// code) for a new customer, whose phone redeems it, logs in and lands in the
// conversation named after the customer; asking for a known customer
// resumes that customer.
func TestSession(t *testing.T) {
	e := newEnv(t, Options{}, withTokens)
	tab := e.connect(t, tablet, "")
	s := ok(t, tab.call(t, "session", "", `{}`))
	if !customer.ValidCustomerID(s.Customer) || s.Conversation != s.Customer || !s.Expires.Equal(e.clock.Now().Add(customer.DefaultTokenTTL)) {
		t.Fatalf("session: %s", s.raw)
	}
	u, err := url.Parse(s.URL)
	if err != nil || !strings.HasPrefix(s.URL, testPublicURL+"?t=") || u.Query().Get("t") == "" {
		t.Fatalf("session URL %q: %v", s.URL, err)
	}
	img, err := png.Decode(bytes.NewReader(s.QRPNG))
	if err != nil {
		t.Fatalf("qr_png: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 320 || b.Dy() != 320 {
		t.Fatalf("QR code of %v, want 320×320", b)
	}

	// The phone redeems the URL's token and chats as the customer.
	login, err := e.cust.Redeem(t.Context(), u.Query().Get("t"))
	if err != nil || login.Customer != s.Customer {
		t.Fatalf("redeem: %+v %v", login, err)
	}
	phone := e.connectAs(t, login.Username, login.Password, "phone")
	o := ok(t, phone.call(t, "open", "", `{}`))
	if o.Conversation != s.Conversation || !o.New || len(o.Members) != 1 || o.Members[0] != s.Customer {
		t.Fatalf("customer's open: %s", o.raw)
	}
	phone.subscribe(t, EventTopic(s.Conversation))
	sendText(t, phone, s.Conversation, "", "hello from my phone")
	phone.event(t, func(ev Event) bool { return ev.Type == EventMessage && ev.From == s.Customer })
	// A customer has that one conversation: no other, and no choosing members.
	fails(t, phone.call(t, "open", "", `{"conversation":"elsewhere"}`), "forbidden")
	fails(t, phone.call(t, "open", "", `{"members":["staff-anna"]}`), "forbidden")
	if l := ok(t, phone.call(t, "list", "", `{}`)); len(l.Conversations) != 1 || l.Conversations[0].Conversation != s.Customer {
		t.Fatalf("customer's list: %s", l.raw)
	}
	// Customers do not start sessions.
	fails(t, phone.call(t, "session", "", `{}`), "forbidden")

	// A session for the same customer again, asked by staff who see her:
	// another token, same conversation.
	again := ok(t, e.connect(t, anna, "").call(t, "session", "", fmt.Sprintf(`{"customer":%q}`, s.Customer)))
	if again.Customer != s.Customer || again.Conversation != s.Conversation || again.URL == s.URL {
		t.Fatalf("resumed session: %s", again.raw)
	}
	// The op is not remembered: the same request id gets a fresh token.
	a1, a2 := ok(t, tab.call(t, "session", "same", `{}`)), ok(t, tab.call(t, "session", "same", `{}`))
	if a1.URL == a2.URL || a1.Customer == a2.Customer {
		t.Fatalf("a repeated session request got the first answer: %s", a2.raw)
	}
	fails(t, tab.call(t, "session", "", `{"customer":"tablet-01"}`), "bad_request") // not a customer id
	// Staff may start sessions too (default SessionRoles).
	ok(t, e.connect(t, anna, "").call(t, "session", "", `{}`))

	// Tokens are one-time and short-lived (the customer store's rules).
	if _, err := e.cust.Redeem(t.Context(), u.Query().Get("t")); err == nil {
		t.Fatal("a token worked twice")
	}
	e.clock.Advance(customer.DefaultTokenTTL + time.Second)
	au, _ := url.Parse(again.URL)
	if _, err := e.cust.Redeem(t.Context(), au.Query().Get("t")); err == nil {
		t.Fatal("an expired token worked")
	}
}

// SessionRoles limits who may start sessions; without Tokens the op is
// unavailable.
func TestSessionRolesAndUnavailable(t *testing.T) {
	e := newEnv(t, Options{SessionRoles: []string{"chat-tablet"}}, withTokens)
	fails(t, e.connect(t, anna, "").call(t, "session", "", `{}`), "forbidden")
	ok(t, e.connect(t, tablet, "").call(t, "session", "", `{}`))

	e2 := newEnv(t, Options{})
	fails(t, e2.connect(t, tablet, "").call(t, "session", "", `{}`), "unavailable")
}

// A chat tablet cannot log in as a customer by naming her id: the id is no
// secret (member lists, booking views), and whoever holds the session's URL
// logs in as that customer, the tablet itself included. It gets no token
// until she confirms the tablet's presence code from her own phone; one
// confirmation resumes her once. Staff (ResumeRoles) resume by id.
func TestSessionResumeNeedsTheCustomer(t *testing.T) {
	e := newEnv(t, Options{}, withTokens)
	b := e.customerLogin(t, "cust-bbbb1234", "phone")
	ok(t, b.call(t, "open", "", `{}`))
	sendText(t, b, "cust-bbbb1234", "", "back door code 4321")

	tab := e.connect(t, tablet, "")
	// The id alone: refused, with no URL and nothing redeemable.
	a := tab.call(t, "session", "", `{"customer":"cust-bbbb1234"}`)
	fails(t, a, "forbidden")
	if a.URL != "" || a.Error.Details == nil || !strings.Contains(a.raw, `"reason":"not_present"`) {
		t.Fatalf("a tablet's session for a customer by id: %s", a.raw)
	}
	// A new customer is still fine.
	if n := ok(t, tab.call(t, "session", "", `{}`)); n.Customer == "cust-bbbb1234" {
		t.Fatalf("a new customer's session resumed B: %s", n.raw)
	}

	// The tablet shows its presence code; nobody is at it yet.
	code := ok(t, tab.call(t, "presence_start", "", `{}`))
	u, err := url.Parse(code.URL)
	if err != nil || u.Query().Get("present") != code.Code || code.Code == "" || len(code.QRPNG) == 0 {
		t.Fatalf("presence_start: %s", code.raw)
	}
	if g := ok(t, tab.call(t, "presence_get", "", `{}`)); g.Customer != "" {
		t.Fatalf("presence before any confirmation: %s", g.raw)
	}
	// Only a customer confirms, and only with the code shown.
	fails(t, tab.call(t, "presence_confirm", "", fmt.Sprintf(`{"code":%q}`, code.Code)), "forbidden")
	fails(t, b.call(t, "presence_confirm", "", `{"code":"not-a-code"}`), "not_found")
	// Another customer confirming at the tablet does not make it B.
	c := e.customerLogin(t, "cust-cccc1234", "phone")
	other := ok(t, e.connect(t, tablet2, "").call(t, "presence_start", "", `{}`))
	ok(t, c.call(t, "presence_confirm", "", fmt.Sprintf(`{"code":%q}`, other.Code)))
	fails(t, e.connect(t, tablet2, "").call(t, "session", "", `{"customer":"cust-bbbb1234"}`), "forbidden")
	fails(t, b.call(t, "presence_confirm", "", fmt.Sprintf(`{"code":%q}`, other.Code)), "conflict") // C's already

	// B confirms from her phone: the tablet may resume her, once.
	cf := ok(t, b.call(t, "presence_confirm", "", fmt.Sprintf(`{"code":%q}`, code.Code)))
	if cf.Device != tablet.ID || cf.Customer != "cust-bbbb1234" || cf.Until == nil || !cf.Until.Equal(e.clock.Now().Add(customer.DefaultPresenceTTL)) {
		t.Fatalf("presence_confirm: %s", cf.raw)
	}
	if g := ok(t, tab.call(t, "presence_get", "", `{}`)); g.Customer != "cust-bbbb1234" {
		t.Fatalf("presence after B confirmed: %s", g.raw)
	}
	s := ok(t, tab.call(t, "session", "", `{"customer":"cust-bbbb1234"}`))
	su, _ := url.Parse(s.URL)
	login, err := e.cust.Redeem(t.Context(), su.Query().Get("t"))
	if err != nil || login.Customer != "cust-bbbb1234" {
		t.Fatalf("redeem the confirmed resume: %+v %v", login, err)
	}
	h := ok(t, e.connectAs(t, login.Username, login.Password, "tablet").call(t, "history", "", `{"conversation":"cust-bbbb1234"}`))
	if len(h.Messages) == 0 || h.Messages[0].Text != "back door code 4321" {
		t.Fatalf("the resumed customer's history: %s", h.raw)
	}
	fails(t, tab.call(t, "session", "", `{"customer":"cust-bbbb1234"}`), "forbidden") // used up

	// A code not confirmed in time is dead; a confirmation ends with its time.
	late := ok(t, tab.call(t, "presence_start", "", `{}`))
	e.clock.Advance(customer.DefaultTokenTTL + time.Second)
	fails(t, b.call(t, "presence_confirm", "", fmt.Sprintf(`{"code":%q}`, late.Code)), "conflict")
	again := ok(t, tab.call(t, "presence_start", "", `{}`))
	ok(t, b.call(t, "presence_confirm", "", fmt.Sprintf(`{"code":%q}`, again.Code)))
	e.clock.Advance(customer.DefaultPresenceTTL + time.Second)
	fails(t, tab.call(t, "session", "", `{"customer":"cust-bbbb1234"}`), "forbidden")

	// Staff, who see the customer, resume her by id.
	ok(t, e.connect(t, anna, "").call(t, "session", "", `{"customer":"cust-bbbb1234"}`))
	// presence_end: the tablet's customer is done.
	fin := ok(t, tab.call(t, "presence_start", "", `{}`))
	ok(t, b.call(t, "presence_confirm", "", fmt.Sprintf(`{"code":%q}`, fin.Code)))
	if end := ok(t, tab.call(t, "presence_end", "", `{}`)); !end.Ended {
		t.Fatalf("presence_end: %s", end.raw)
	}
	fails(t, tab.call(t, "session", "", `{"customer":"cust-bbbb1234"}`), "forbidden")
}
