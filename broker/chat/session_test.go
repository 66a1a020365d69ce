package chat

import (
	"bytes"
	"fmt"
	"image/png"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker/auth/customer"
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

	// A session for the same customer again: another token, same conversation.
	again := ok(t, tab.call(t, "session", "", fmt.Sprintf(`{"customer":%q}`, s.Customer)))
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
