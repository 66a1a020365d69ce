package pagetest

// A customer on her phone-sized page: she asks a price, books a visit for
// Thursday from the free times, moves it, comes back two days later (the
// store's clock) and is recognised with her history, sets her name and
// asks the store to forget her.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/storeedge/storeedge/internal/testkit/browsertest"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/proto"
)

func TestPhoneBooksAndComesBack(t *testing.T) {
	s := startWebStore(t)
	tablet := s.Connect(t, storetest.Device{ID: "tablet-1", Role: "chat-tablet"}, "qr")
	staff := s.Connect(t, storetest.Device{ID: "staff-anna", Role: "staff"}, "console")
	b := browsertest.New(t, browsertest.Phone())

	browsertest.Navigate(t, b, chatURL(t, s, tablet))
	browsertest.WaitJS(t, b, `chatView.state === 'ready' && chatView.status === 'online'`, 10*time.Second, showChat)
	me := browsertest.Eval[string](t, b, `chatView.customer`)
	if shop := browsertest.Eval[string](t, b, `document.getElementById('store-name').textContent`); shop == "" {
		t.Error("the page does not show the shop's name")
	}

	// A price question before opening (08:00) gets the price.
	typeAndSend(t, b, "How much is a dog bath?")
	browsertest.WaitJS(t, b, `chatView.messages.some(m => m.from === 'assistant' && m.auto && m.text.includes('¥88'))`, 10*time.Second, showChat)
	// Times are the store's (08:00 in Shanghai), not the browser's zone.
	browsertest.WaitJS(t, b, `[...document.querySelectorAll('#messages .meta time')].every(e => e.textContent.startsWith('08:00'))`, 10*time.Second,
		`[...document.querySelectorAll('#messages .meta time')].map(e => e.textContent).join(',')`)
	shot(t, b, "price")

	// Book: hours, services with prices, free times of Thursday.
	run(t, b, chromedp.Click(chromedp.ID("tab-book")))
	browsertest.WaitJS(t, b, `chatView.catalogue && chatView.catalogue.services.length > 0 && document.querySelectorAll('#hours li').length === 7`, 10*time.Second, showChat)
	if p := browsertest.Eval[string](t, b, `document.getElementById('prices').textContent`); !strings.Contains(p, "Dog bath (small/medium)¥88") && !strings.Contains(p, "Dog bath (small/medium) ¥88") {
		t.Errorf("prices on the page: %q", p)
	}
	if h := browsertest.Eval[string](t, b, `document.getElementById('hours').textContent`); !strings.Contains(h, "09:30-21:00") {
		t.Errorf("hours on the page: %q", h)
	}
	pick := func(id, value string) {
		t.Helper()
		browsertest.Eval[bool](t, b, fmt.Sprintf(`(() => { const s = document.getElementById(%q); s.value = %q; s.dispatchEvent(new Event('change')); return s.value === %q; })()`, id, value, value))
	}
	// Her dog, added on the page and picked for the booking.
	run(t, b, chromedp.Click(chromedp.CSS("#add-profile summary")), chromedp.SendKeys(chromedp.ID("p-name"), "Dou"),
		chromedp.Click(chromedp.ID("p-save")))
	browsertest.WaitJS(t, b, `chatView.profiles.length === 1 && chatView.profiles[0].name === 'Dou' && chatView.bookProfile === chatView.profiles[0].id && document.getElementById('book-profile').value === chatView.bookProfile`, 10*time.Second, showChat)
	dou := browsertest.Eval[string](t, b, `chatView.bookProfile`)
	pick("book-service", "dog-bath")
	pick("book-date", "2026-11-26")
	ten := "2026-11-26T10:00:00+08:00"
	browsertest.WaitJS(t, b, fmt.Sprintf(`!!document.querySelector('#slots button[data-start=%q]')`, ten), 10*time.Second, showChat)
	shot(t, b, "book")
	run(t, b, chromedp.Click(chromedp.CSS(fmt.Sprintf(`#slots button[data-start="%s"]`, ten))))
	browsertest.WaitJS(t, b, `chatView.bookMsg && chatView.bookMsg.key === 'bookDone'`, 10*time.Second, showChat)
	id := browsertest.Eval[string](t, b, `chatView.lastBooked`)
	var got struct {
		Booking proto.Booking `json:"booking"`
	}
	storetest.OK(t, staff.Call(t, "booking", "get", fmt.Sprintf(`{"booking":%q}`, id))).Decode(t, &got)
	if got.Booking.Customer != me || got.Booking.Service != "dog-bath" || got.Booking.Start.Format(time.RFC3339) != ten || got.Booking.Source != "chat" || got.Booking.Profile != dou {
		t.Fatalf("the store's booking: %+v", got.Booking)
	}

	// My bookings shows it; she moves it to 11:00.
	run(t, b, chromedp.Click(chromedp.ID("tab-bookings")))
	browsertest.WaitJS(t, b, fmt.Sprintf(`chatView.bookings.some(x => x.id === %q && x.status === 'booked') && !!document.querySelector('.move[data-booking=%q]')`, id, id), 10*time.Second, showChat)
	shot(t, b, "my-bookings")
	run(t, b, chromedp.Click(chromedp.CSS(fmt.Sprintf(`.move[data-booking="%s"]`, id))))
	eleven := "2026-11-26T11:00:00+08:00"
	browsertest.WaitJS(t, b, fmt.Sprintf(`chatView.moving && !!document.querySelector('#slots button[data-start=%q]')`, eleven), 10*time.Second, showChat)
	run(t, b, chromedp.Click(chromedp.CSS(fmt.Sprintf(`#slots button[data-start="%s"]`, eleven))))
	browsertest.WaitJS(t, b, `chatView.bookMsg && chatView.bookMsg.key === 'bookMoved'`, 10*time.Second, showChat)
	storetest.OK(t, staff.Call(t, "booking", "get", fmt.Sprintf(`{"booking":%q}`, id))).Decode(t, &got)
	if got.Booking.Start.Format(time.RFC3339) != eleven || got.Booking.Status != proto.StatusBooked {
		t.Fatalf("after the move: %+v", got.Booking)
	}

	// A second visit at 15:00, then cancelled from My bookings.
	run(t, b, chromedp.Click(chromedp.ID("tab-book")))
	three := "2026-11-26T15:00:00+08:00"
	browsertest.WaitJS(t, b, fmt.Sprintf(`!chatView.moving && !!document.querySelector('#slots button[data-start=%q]')`, three), 10*time.Second, showChat)
	run(t, b, chromedp.Click(chromedp.CSS(fmt.Sprintf(`#slots button[data-start="%s"]`, three))))
	browsertest.WaitJS(t, b, fmt.Sprintf(`chatView.bookMsg && chatView.bookMsg.key === 'bookDone' && chatView.lastBooked !== %q`, id), 10*time.Second, showChat)
	second := browsertest.Eval[string](t, b, `chatView.lastBooked`)
	run(t, b, chromedp.Click(chromedp.ID("tab-bookings")))
	browsertest.WaitJS(t, b, fmt.Sprintf(`!!document.querySelector('.cancel-visit[data-booking=%q]')`, second), 10*time.Second, showChat)
	run(t, b, chromedp.Click(chromedp.CSS(fmt.Sprintf(`.cancel-visit[data-booking="%s"]`, second))))
	browsertest.WaitJS(t, b, `document.getElementById('confirm').open`, 5*time.Second)
	run(t, b, chromedp.Click(chromedp.ID("confirm-yes")))
	browsertest.WaitJS(t, b, `chatView.notice === 'cancelled'`, 10*time.Second, showChat)
	storetest.OK(t, staff.Call(t, "booking", "get", fmt.Sprintf(`{"booking":%q}`, second))).Decode(t, &got)
	if got.Booking.Status != proto.StatusCancelled {
		t.Fatalf("the cancelled visit: %+v", got.Booking)
	}

	// Two days later (the store's clock) she opens the page again: the
	// same customer, her messages, her booking.
	s.Advance(48 * time.Hour)
	browsertest.Navigate(t, b, "http://"+s.HTTP+"/chat/")
	browsertest.WaitJS(t, b, `chatView.state === 'ready' && chatView.status === 'online' && chatView.messages.some(m => m.text === 'How much is a dog bath?')`, 10*time.Second, showChat)
	if again := browsertest.Eval[string](t, b, `chatView.customer`); again != me {
		t.Fatalf("two days later the page is customer %q, want %q", again, me)
	}
	run(t, b, chromedp.Click(chromedp.ID("tab-bookings")))
	browsertest.WaitJS(t, b, fmt.Sprintf(`chatView.bookings.some(x => x.id === %q)`, id), 10*time.Second, showChat)
	run(t, b, chromedp.Click(chromedp.ID("tab-chat")))
	shot(t, b, "two-days-later")

	// Her name, for the console.
	run(t, b, chromedp.Click(chromedp.ID("tab-bookings")), chromedp.Click(chromedp.CSS("#me summary")),
		chromedp.SendKeys(chromedp.ID("me-name"), "Lin"), chromedp.Click(chromedp.ID("me-save")))
	browsertest.WaitJS(t, b, `chatView.card && chatView.card.name === 'Lin'`, 10*time.Second, showChat)
	var names proto.NamesAnswer
	storetest.OK(t, staff.Call(t, "customer", "names", fmt.Sprintf(`{"customers":[%q]}`, me))).Decode(t, &names)
	if names.Names[me] != "Lin" {
		t.Fatalf("staff see %q for her", names.Names[me])
	}

	// Forget me: confirmed, then the page is logged out and says so.
	run(t, b, chromedp.Click(chromedp.ID("forget")))
	browsertest.WaitJS(t, b, `document.getElementById('confirm').open`, 5*time.Second)
	shot(t, b, "forget-confirm")
	run(t, b, chromedp.Click(chromedp.ID("confirm-yes")))
	browsertest.WaitJS(t, b, `chatView.state === 'gate' && chatView.gate === 'forgotten' && localStorage.getItem('storeedge.chat.login') === null`, 10*time.Second, showChat)
	shot(t, b, "forgotten")
	storetest.OK(t, staff.Call(t, "customer", "names", fmt.Sprintf(`{"customers":[%q]}`, me))).Decode(t, &names)
	if names.Names[me] != proto.ForgottenName {
		t.Fatalf("after forget me staff see %q", names.Names[me])
	}
	var h struct {
		Messages []struct {
			Text string `json:"text"`
		} `json:"messages"`
	}
	storetest.OK(t, staff.Call(t, "chat", "history", fmt.Sprintf(`{"conversation":%q}`, me))).Decode(t, &h)
	for _, m := range h.Messages {
		if m.Text != "" {
			t.Fatalf("a message body survived forget me: %q", m.Text)
		}
	}
}

// Staff merge the customer of an open phone page into another id (the same
// person's other phone): the page carries on as that id. Then the store's
// clock passes the login's 180 days without a visit: the page asks her, in
// plain words, to scan the code again.
func TestPhonePageMergedThenExpired(t *testing.T) {
	s := startWebStore(t)
	tablet := s.Connect(t, storetest.Device{ID: "tablet-1", Role: "chat-tablet"}, "qr")
	staff := s.Connect(t, storetest.Device{ID: "staff-anna", Role: "staff"}, "console")
	b := browsertest.New(t, browsertest.Phone())
	browsertest.Navigate(t, b, chatURL(t, s, tablet))
	browsertest.WaitJS(t, b, `chatView.state === 'ready' && chatView.status === 'online'`, 10*time.Second, showChat)
	second := browsertest.Eval[string](t, b, `chatView.customer`)
	kept, _ := s.CustomerCredentials(t, staff, "")

	storetest.OK(t, staff.Call(t, "customer", "merge", fmt.Sprintf(`{"from":%q,"into":%q}`, second, kept)))
	// The page reloads itself as the kept id: wait across the reload.
	want := fmt.Sprintf(`window.chatView && chatView.customer === %q && chatView.state === 'ready' && chatView.status === 'online'`, kept)
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := browsertest.Until(b, want, time.Second); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the merged page is not %s 15 s later: %s", kept, browsertest.Eval[string](t, b, showChat))
		}
	}

	s.Advance(181 * 24 * time.Hour)
	browsertest.WaitJS(t, b, `chatView.state === 'gate' && chatView.gate === 'loginExpired'`, 15*time.Second, showChat)
	if msg := browsertest.Eval[string](t, b, `document.getElementById('gate-msg').textContent`); !strings.Contains(msg, "scan the code at the store") {
		t.Errorf("the page says %q", msg)
	}
	shot(t, b, "login-ended")
}
