package chat

import (
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker/quota"
	"github.com/storeedge/storeedge/internal/testkit/testclock"
)

// quotaDetails asserts a quota_exceeded answer for budget reason and
// returns its retry hint in seconds.
func quotaDetails(t *testing.T, a answer, reason string) float64 {
	t.Helper()
	fails(t, a, "quota_exceeded")
	d, _ := a.Error.Details.(map[string]any)
	retry, _ := d["retry_after"].(float64)
	if d["reason"] != reason || retry < 1 {
		t.Fatalf("want details with reason %s and retry_after ≥ 1: %s", reason, a.raw)
	}
	return retry
}

// One customer sending as fast as she can is stopped after
// CustomerMessages messages with quota_exceeded and a retry hint; nothing
// more is stored, staff and other customers go on, and after the hint she
// sends again. Before the limit she filled the database at 2,000 messages
// a second.
func TestCustomerMessageRate(t *testing.T) {
	clock := testclock.New(time.Date(2025, 3, 4, 23, 0, 0, 0, time.UTC))
	quiet := slog.New(slog.DiscardHandler)
	msgs := quota.New(quota.Options{Name: "messages_per_minute", Unit: "messages", Per: 5, Window: time.Minute, Now: clock.Now, Log: quiet})
	e := newEnv(t, Options{Now: clock.Now, CustomerMessages: msgs})
	cust := e.customerLogin(t, "", "phone")
	id := devOf(cust)
	other := e.customerLogin(t, "", "phone")
	staff := e.connect(t, anna, "")
	ok(t, cust.call(t, "open", "", `{}`))
	ok(t, other.call(t, "open", "", `{}`))
	ok(t, staff.call(t, "open", "", fmt.Sprintf(`{"conversation":%q}`, id)))
	for i := range 5 {
		ok(t, cust.call(t, "send", fmt.Sprintf("m%d", i), fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"spam %d"}`, id, i)))
	}
	before := e.counts(t)
	for i := 5; i < 50; i++ {
		retry := quotaDetails(t, cust.call(t, "send", "", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"spam %d"}`, id, i)), "messages_per_minute")
		if retry != 12 {
			t.Fatalf("retry_after %v, want 12 (a minute's budget of 5 refills one every 12 s)", retry)
		}
	}
	if after := e.counts(t); !maps.Equal(before, after) {
		t.Fatalf("refused sends stored something: %v → %v", before, after)
	}
	// A repeat of a stored send is its first answer, not a new message.
	if a := ok(t, cust.call(t, "send", "m4", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"spam 4"}`, id))); a.Seq != 5 {
		t.Fatalf("repeat: %s", a.raw)
	}
	ok(t, staff.call(t, "send", "", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"please slow down"}`, id)))
	sendText(t, other, devOf(other), "", "hello")
	if msgs.Refused() != 45 {
		t.Fatalf("refused counted %d, want 45", msgs.Refused())
	}
	clock.Advance(12 * time.Second)
	ok(t, cust.call(t, "send", "", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"sorry"}`, id)))
	quotaDetails(t, cust.call(t, "send", "", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"again"}`, id)), "messages_per_minute")
}

// A customer's texts and cards count against CustomerBytes: past the day's
// budget a send is quota_exceeded with the time until enough has refilled.
func TestCustomerBytesPerDay(t *testing.T) {
	clock := testclock.New(time.Date(2025, 3, 4, 23, 0, 0, 0, time.UTC))
	bytes := quota.New(quota.Options{Name: "bytes_per_day", Unit: "bytes", Per: 1000, Window: 24 * time.Hour, Now: clock.Now, Log: slog.New(slog.DiscardHandler)})
	e := newEnv(t, Options{Now: clock.Now, CustomerBytes: bytes})
	cust := e.customerLogin(t, "", "phone")
	id := devOf(cust)
	ok(t, cust.call(t, "open", "", `{}`))
	text := strings.Repeat("x", 400)
	sendText(t, cust, id, "", text)
	sendText(t, cust, id, "", text)
	before := e.counts(t)
	retry := quotaDetails(t, cust.call(t, "send", "", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":%q}`, id, text)), "bytes_per_day")
	if want := (200.0 / 1000) * 86400; retry != want { // 200 bytes short, 1000 per 86,400 s
		t.Fatalf("retry_after %v, want %v", retry, want)
	}
	if after := e.counts(t); !maps.Equal(before, after) {
		t.Fatalf("a refused send stored something: %v → %v", before, after)
	}
	sendText(t, cust, id, "", strings.Repeat("y", 200)) // what is left of the budget
	clock.Advance(time.Duration(retry) * time.Second)
	sendText(t, cust, id, "", strings.Repeat("z", 200))
}

// Messages from home are not counted against the store's customer budgets:
// HQ let them through under its own limit (home.messages_per_minute) and
// answered her, and the store stores each one the moment it arrives, in
// order, for its own customer at home (cust-…) and for one only HQ knows
// (hq-…). Before, a burst from home past chat.customer_messages_per_minute
// was refused quota_exceeded and held in cloudsync's retries (with
// everything HQ sent behind it) until the minute passed. Her own devices
// stay bound by the store's budgets.
func TestHQMessagesNotCountedAtTheStore(t *testing.T) {
	clock := testclock.New(time.Date(2025, 3, 4, 23, 0, 0, 0, time.UTC))
	quiet := slog.New(slog.DiscardHandler)
	msgs := quota.New(quota.Options{Name: "messages_per_minute", Unit: "messages", Per: 3, Window: time.Minute, Now: clock.Now, Log: quiet})
	bytes := quota.New(quota.Options{Name: "bytes_per_day", Unit: "bytes", Per: 100, Window: 24 * time.Hour, Now: clock.Now, Log: quiet})
	e := newEnv(t, Options{Now: clock.Now, CustomerMessages: msgs, CustomerBytes: bytes, Outbox: outbox{}})
	she := e.customerLogin(t, "", "phone")
	cust := devOf(she)
	ok(t, she.call(t, "open", "", `{}`))
	for i := range 3 {
		sendText(t, she, cust, "", fmt.Sprintf("in the shop %d", i))
	}
	quotaDetails(t, she.call(t, "send", "", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"one more"}`, cust)), "messages_per_minute")
	staff := e.connect(t, anna, "")

	long := strings.Repeat("z", 60) // two of these are past the day's 100 bytes
	for _, who := range []string{cust, "hq-0123456789abcdef"} {
		for i := range 10 {
			p := fmt.Sprintf(`{"v":1,"id":"hm-%s-%d","customer":%q,"kind":"text","text":"%s %d"}`, who[:3], i, who, long, i)
			if err := e.chat.HandleHQ(t.Context(), HQMessageTopic, []byte(p)); err != nil {
				t.Fatalf("message %d of a burst from home for %s: %v", i, who, err)
			}
		}
		h := staff.history(t, who)
		var got []string
		for _, m := range h.Messages {
			if m.From == who && strings.HasPrefix(m.Text, long) {
				got = append(got, strings.TrimPrefix(m.Text, long+" "))
			}
		}
		if want := "0 1 2 3 4 5 6 7 8 9"; strings.Join(got, " ") != want {
			t.Fatalf("the burst from home for %s at the store: %v, want %s in order: %s", who, got, want, h.raw)
		}
	}
	if msgs.Refused() != 1 || bytes.Refused() != 0 {
		t.Fatalf("refusals: messages %d (want 1, her own device's), bytes %d", msgs.Refused(), bytes.Refused())
	}
	// Her own device is still bound by the store's budget.
	quotaDetails(t, she.call(t, "send", "", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"and another"}`, cust)), "messages_per_minute")
}
