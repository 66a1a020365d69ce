package pagetest

// The customer page's "My bookings": a booking staff made for the
// customer, its stages as they happen, the live view's button while the
// pet is in, and the survey after the visit.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/storeedge/storeedge/internal/testkit/browsertest"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

func TestChatBookings(t *testing.T) {
	s := startWebStore(t)
	tablet := s.Connect(t, storetest.Device{ID: "tablet-1", Role: "chat-tablet"}, "qr")
	staff := s.Connect(t, storetest.Device{ID: "staff-anna", Role: "staff"}, "console")
	b := browsertest.New(t, browsertest.Phone())

	browsertest.Navigate(t, b, chatURL(t, s, tablet))
	browsertest.WaitJS(t, b, `chatView.state === 'ready' && chatView.status === 'online'`, 10*time.Second, showChat)
	customer := browsertest.Eval[string](t, b, `chatView.customer`)

	// Staff book the first free dog-groom slot today for the customer.
	var av struct {
		Days []struct {
			Slots []struct {
				Start string `json:"start"`
			} `json:"slots"`
		} `json:"days"`
	}
	storetest.OK(t, staff.Call(t, "booking", "availability", fmt.Sprintf(`{"service":"dog-groom","date":%q}`, s.Now().Format(time.DateOnly)))).Decode(t, &av)
	if len(av.Days) == 0 || len(av.Days[0].Slots) == 0 {
		t.Fatalf("no free slot today: %+v", av)
	}
	start := av.Days[0].Slots[0].Start
	var bk struct {
		Booking struct {
			ID string `json:"id"`
		} `json:"booking"`
	}
	storetest.OK(t, staff.Call(t, "booking", "book", fmt.Sprintf(`{"service":"dog-groom","start":%q,"customer":%q}`, start, customer))).Decode(t, &bk)
	id := bk.Booking.ID

	run(t, b, chromedp.Click(chromedp.ID("tab-bookings")))
	browsertest.WaitJS(t, b, fmt.Sprintf(`chatView.bookings.some(x => x.id === %q && x.status === 'booked')`, id), 10*time.Second, showChat)

	// Checked in and bathing: the page follows the booking's events.
	st, err := time.Parse(time.RFC3339, start)
	if err != nil {
		t.Fatal(err)
	}
	s.Set(st)
	storetest.OK(t, staff.Call(t, "booking", "check_in", fmt.Sprintf(`{"booking":%q}`, id)))
	storetest.OK(t, staff.Call(t, "booking", "progress", fmt.Sprintf(`{"booking":%q,"stage":"bathing"}`, id)))
	browsertest.WaitJS(t, b, fmt.Sprintf(`chatView.bookings.some(x => x.id === %q && x.status === 'checked_in' && x.stage === 'bathing')`, id), 10*time.Second, showChat)
	if got := browsertest.Eval[string](t, b, `document.querySelector('#booking-list .stage.current').textContent`); !strings.HasPrefix(got, "Bathing") {
		t.Errorf("current stage on screen %q", got)
	}
	// The progress card reached the chat too.
	browsertest.WaitJS(t, b, `chatView.messages.some(m => m.from === 'booking' && m.kind === 'card')`, 10*time.Second, showChat)

	// Watch live: this store has no camera on the table, which the page
	// says in words.
	run(t, b, chromedp.Click(chromedp.CSS("#booking-list button.watch")))
	browsertest.WaitJS(t, b, `chatView.live && chatView.live.state === 'error'`, 10*time.Second, showChat)
	if got := browsertest.Eval[string](t, b, `chatView.live.code + ' / ' + document.getElementById('live-status').textContent`); got != "not_found / There is no camera for this visit right now." {
		t.Errorf("live view without a camera: %s", got)
	}
	shot(t, b, "bookings-in-progress")
	run(t, b, chromedp.Click(chromedp.ID("live-stop")))

	// Finished: the customer rates the visit.
	storetest.OK(t, staff.Call(t, "booking", "complete", fmt.Sprintf(`{"booking":%q}`, id)))
	browsertest.WaitJS(t, b, fmt.Sprintf(`chatView.bookings.some(x => x.id === %q && x.status === 'completed')`, id), 10*time.Second, showChat)
	run(t, b, chromedp.Click(chromedp.CSS("#booking-list li.status-completed button.secondary")))
	browsertest.WaitJS(t, b, `document.getElementById('survey').open`, 5*time.Second)
	run(t, b,
		chromedp.Click(chromedp.CSS(`label[for="score-5"]`)),
		chromedp.SendKeys(chromedp.ID("survey-comment"), "Dou loved it"))
	shot(t, b, "survey")
	run(t, b, chromedp.Click(chromedp.ID("survey-send")))
	browsertest.WaitJS(t, b, fmt.Sprintf(`chatView.bookings.some(x => x.id === %q && x.surveyed)`, id), 10*time.Second, showChat)

	var got struct {
		Survey struct {
			Score   int    `json:"score"`
			Comment string `json:"comment"`
		} `json:"survey"`
	}
	storetest.OK(t, staff.Call(t, "booking", "get", fmt.Sprintf(`{"booking":%q}`, id))).Decode(t, &got)
	if got.Survey.Score != 5 || got.Survey.Comment != "Dou loved it" {
		t.Errorf("survey as staff see it: %+v", got.Survey)
	}
}
