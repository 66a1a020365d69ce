package pagetest

// The console's front desk: staff take a walk-in for tomorrow, find it on
// tomorrow's board and in the week view, and are warned in words when a
// customer they book already has a visit at that time.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/storeedge/storeedge/broker"

	"github.com/storeedge/storeedge/internal/testkit/browsertest"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

// setField sets a form control's value as a person would and fires the
// event the page listens to (change for selects and dates, input for text).
func setField(t *testing.T, b context.Context, id, value, event string) {
	t.Helper()
	browsertest.Eval[bool](t, b, fmt.Sprintf(`(() => { const n = document.getElementById(%q); n.value = %q; n.dispatchEvent(new Event(%q, {bubbles: true})); return true; })()`, id, value, event))
}

// scrollTo brings the element with id to the middle of its pane, for a
// screenshot that shows it.
func scrollTo(t *testing.T, b context.Context, id string) {
	t.Helper()
	browsertest.Eval[bool](t, b, fmt.Sprintf(`(() => { document.getElementById(%q).scrollIntoView({block: 'center'}); return true; })()`, id))
}

// slotID is the id of the form's chip for a start (the digits of it).
func slotID(prefix, start string) string {
	return "#" + prefix + strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, start)
}

const showDesk = `JSON.stringify({desk: consoleView.desk, board: consoleView.board})`

func TestConsoleFrontDesk(t *testing.T) {
	s := startConsoleStore(t)
	staff := s.Connect(t, storetest.Device{ID: "staff-anna", Role: "staff"}, "api")
	const today, tomorrow = "2026-11-23", "2026-11-24"
	// Mei Lin booked a dog bath tomorrow at 13:00 by phone.
	var mei struct {
		Booking struct {
			ID string `json:"id"`
		} `json:"booking"`
	}
	storetest.OK(t, staff.Call(t, "booking", "book", fmt.Sprintf(`{"service":"dog-bath","start":"%sT13:00:00+08:00","customer":"cust-mei","source":"phone","contact":{"name":"Mei Lin","phone":"139 2222 3333"}}`, tomorrow))).Decode(t, &mei)

	for _, size := range []struct {
		name string
		opts []browsertest.Option
		w    int
	}{
		{"tablet", []browsertest.Option{browsertest.WindowSize(1024, 768)}, 1024},
		{"phone", []browsertest.Option{browsertest.Phone()}, 390},
	} {
		t.Run(size.name, func(t *testing.T) {
			b := browsertest.New(t, size.opts...)
			setBrowserZone(t, b, browserZone) // the store's days, not New York's
			consoleSignedIn(t, b, s)
			consoleClick(t, b, "#tab-board")
			browsertest.WaitJS(t, b, fmt.Sprintf(`consoleView.desk.day === %q && consoleView.desk.today === %q && consoleView.desk.week.length === 7`, today, today), 10*time.Second, showDesk)
			checkLayout(t, b, size.w, "bookings, today")

			// The day after: Mei's visit, and the week says so.
			consoleClick(t, b, "#day-next")
			browsertest.WaitJS(t, b, fmt.Sprintf(`consoleView.desk.day === %q && consoleView.board.some(x => x.id === %q)`, tomorrow, mei.Booking.ID), 10*time.Second, showDesk)
			if got := browsertest.Eval[string](t, b, `document.getElementById('board-title').textContent`); !strings.Contains(got, tomorrow) {
				t.Errorf("board title %q does not name %s", got, tomorrow)
			}
			if size.name == "phone" {
				return // the tablet made the bookings; the phone looks at them
			}
			weekCount := func(day string) string {
				return browsertest.Eval[string](t, b, fmt.Sprintf(`(document.querySelector('#week-%s .wcount') || {}).textContent || ''`, day))
			}
			browsertest.WaitJS(t, b, fmt.Sprintf(`consoleView.desk.week.some(d => d.date === %q && d.bookings === 1)`, tomorrow), 10*time.Second, showDesk)

			// A walk-in, new to the store, for tomorrow at 10:00.
			consoleClick(t, b, "#new-booking")
			browsertest.WaitJS(t, b, `!!document.getElementById('new-booking-form')`, 5*time.Second)
			setField(t, b, "nb-source", "walk_in", "change")
			consoleClick(t, b, "#nb-who-new")
			consoleRun(t, b, chromedp.SendKeys(chromedp.ID("nb-name"), "Wang Fang"), chromedp.SendKeys(chromedp.ID("nb-phone"), "138 0013 8000"))
			setField(t, b, "nb-fit", "medium", "change")
			setField(t, b, "nb-service", "dog-bath", "change")
			if got := browsertest.Eval[string](t, b, `document.getElementById('nb-date').value`); got != tomorrow {
				t.Errorf("the form's day is %q, want the board's %s", got, tomorrow)
			}
			start := tomorrow + "T10:00:00+08:00"
			browsertest.WaitJS(t, b, fmt.Sprintf(`(consoleView.desk.slots || []).includes(%q)`, start), 10*time.Second, showDesk)
			checkLayout(t, b, size.w, "bookings, new booking form")
			consoleClick(t, b, slotID("nb-slot-", start))
			scrollTo(t, b, "nb-book")
			consoleShot(t, b, "desk-new-walk-in")
			consoleClick(t, b, "#nb-book")
			browsertest.WaitJS(t, b, `consoleView.desk.result !== ''`, 10*time.Second, showDesk)
			if got := browsertest.Eval[string](t, b, `document.getElementById('desk-result').textContent`); got != "Booked: Dog bath (small/medium), 2026-11-24 10:00, for Wang Fang." {
				t.Errorf("result %q", got)
			}
			// On tomorrow's board, by name, and counted in the week.
			browsertest.WaitJS(t, b, `consoleView.board.length === 2`, 10*time.Second, showDesk)
			if got := browsertest.Eval[string](t, b, `[...document.querySelectorAll('#board .bk-service')].map(n => n.textContent).join(' | ')`); !strings.Contains(got, "Wang Fang") || !strings.Contains(got, "Mei Lin") {
				t.Errorf("the board shows %q, want the names", got)
			}
			browsertest.WaitJS(t, b, fmt.Sprintf(`consoleView.desk.week.some(d => d.date === %q && d.bookings === 2)`, tomorrow), 10*time.Second, showDesk)
			if got := weekCount(tomorrow); got != "2" {
				t.Errorf("the week shows %q for tomorrow, want 2", got)
			}
			if got := weekCount(today); got != "0" {
				t.Errorf("the week shows %q for today, want 0", got)
			}
			scrollTo(t, b, "board-desk")
			consoleShot(t, b, "desk-tomorrow")

			// Mei again, at 13:30: she is already here then.
			consoleClick(t, b, "#new-booking")
			consoleRun(t, b, chromedp.SendKeys(chromedp.ID("nb-search"), "mei"))
			browsertest.WaitJS(t, b, `consoleView.desk.matches.includes('cust-mei')`, 10*time.Second, showDesk)
			consoleClick(t, b, "#nb-match-cust-mei")
			setField(t, b, "nb-service", "dog-groom", "change")
			start = tomorrow + "T13:30:00+08:00"
			browsertest.WaitJS(t, b, fmt.Sprintf(`(consoleView.desk.slots || []).includes(%q)`, start), 10*time.Second, showDesk)
			consoleClick(t, b, slotID("nb-slot-", start))
			consoleClick(t, b, "#nb-book")
			browsertest.WaitJS(t, b, fmt.Sprintf(`consoleView.desk.overlap === %q`, mei.Booking.ID), 10*time.Second, showDesk)
			want := "Mei Lin already has a visit then: Dog bath (small/medium), 2026-11-24 13:00–14:00 (table-1, groomer-li)."
			if got := browsertest.Eval[string](t, b, `document.querySelector('#nb-overlap p').textContent`); got != want {
				t.Errorf("overlap warning %q, want %q", got, want)
			}
			checkLayout(t, b, size.w, "bookings, overlap warning")
			scrollTo(t, b, "nb-overlap")
			consoleShot(t, b, "desk-overlap")
			if n := len(getBoard(t, staff, tomorrow)); n != 2 {
				t.Fatalf("the warning booked something: %d bookings", n)
			}
			consoleClick(t, b, "#nb-anyway")
			browsertest.WaitJS(t, b, `consoleView.board.length === 3 && consoleView.desk.overlap === null`, 10*time.Second, showDesk)
			browsertest.WaitJS(t, b, fmt.Sprintf(`consoleView.desk.week.some(d => d.date === %q && d.bookings === 3)`, tomorrow), 10*time.Second, showDesk)

			// Back to today, empty.
			consoleClick(t, b, "#day-today")
			browsertest.WaitJS(t, b, fmt.Sprintf(`consoleView.desk.day === %q && consoleView.board.length === 0`, today), 10*time.Second, showDesk)
		})
	}
	// The phone, signed in after the tablet booked: tomorrow's three, laid
	// out for a 390 px screen with the form open.
	t.Run("phone-after", func(t *testing.T) {
		b := browsertest.New(t, browsertest.Phone())
		consoleSignedIn(t, b, s)
		consoleClick(t, b, "#tab-board")
		browsertest.WaitJS(t, b, fmt.Sprintf(`consoleView.desk.day === %q`, today), 10*time.Second, showDesk)
		consoleClick(t, b, "#week-"+tomorrow)
		browsertest.WaitJS(t, b, `consoleView.board.length === 3`, 10*time.Second, showDesk)
		checkLayout(t, b, 390, "phone, tomorrow's board")
		scrollTo(t, b, "board-desk")
		consoleShot(t, b, "desk-phone-board")
		consoleClick(t, b, "#new-booking")
		consoleClick(t, b, "#nb-who-new")
		setField(t, b, "nb-service", "dog-bath", "change")
		browsertest.WaitJS(t, b, `(consoleView.desk.slots || []).length > 0`, 10*time.Second, showDesk)
		checkLayout(t, b, 390, "phone, new booking form")
		// Nothing in the Bookings pane is wider than it (the pane would
		// scroll sideways and cut the form's right edge).
		if wide := browsertest.Eval[[]string](t, b, `[...document.querySelectorAll('#board-view *')].filter(n => n.getClientRects().length && n.getBoundingClientRect().right > document.getElementById('board-view').clientWidth + 1).map(n => n.id || n.className || n.tagName)`); len(wide) > 0 {
			t.Errorf("wider than the Bookings pane on a phone: %v", wide)
		}
		scrollTo(t, b, "new-booking-form")
		consoleShot(t, b, "desk-phone-form")
		// In Chinese: the desk's words change with the page's and still fit.
		consoleClick(t, b, "#lang")
		browsertest.WaitJS(t, b, `document.getElementById('new-booking').textContent === '新建预约' && document.getElementById('day-prev').textContent === '‹ 前一天'`, 5*time.Second)
		checkLayout(t, b, 390, "phone, new booking form, in Chinese")
		scrollTo(t, b, "board-desk")
		consoleShot(t, b, "desk-phone-form-zh")
	})
}

func getBoard(t *testing.T, staff *storetest.Client, day string) []bookingView {
	t.Helper()
	var board struct {
		Bookings []bookingView `json:"bookings"`
	}
	storetest.OK(t, staff.Call(t, "booking", "board", fmt.Sprintf(`{"date":%q}`, day))).Decode(t, &board)
	return board.Bookings
}

// The Activity tab: an admin sees what staff did (the bookings they took),
// newest first, with the booking as it was made; staff have no such tab.
func TestConsoleActivity(t *testing.T) {
	fleet := append([]storetest.Device{{ID: "admin-1", Role: "admin"}}, consoleFleet...)
	s := storetest.Start(t, storetest.Options{Devices: fleet, Config: func(c *broker.Config) {
		c.Listeners.Websocket = "127.0.0.1:0"
		c.Listeners.WebsocketPath = "/mqtt"
	}})
	staff := s.Connect(t, storetest.Device{ID: "staff-anna", Role: "staff"}, "api")
	var ids []string
	for _, body := range []string{
		`{"service":"dog-bath","start":"2026-11-24T10:00:00+08:00","source":"walk_in","contact":{"name":"Wang Fang","phone":"138 0013 8000"}}`,
		`{"service":"dog-bath","start":"2026-11-24T13:00:00+08:00","customer":"cust-mei","source":"phone"}`,
	} {
		var a struct {
			Booking struct {
				ID string `json:"id"`
			} `json:"booking"`
		}
		storetest.OK(t, staff.Call(t, "booking", "book", body)).Decode(t, &a)
		ids = append(ids, a.Booking.ID)
	}

	// Staff: no Activity tab.
	b := browsertest.New(t, browsertest.WindowSize(1024, 768))
	consoleSignedIn(t, b, s)
	if browsertest.Eval[bool](t, b, `!document.getElementById('tab-activity').hidden || consoleView.activity.allowed`) {
		t.Error("staff see the Activity tab")
	}

	for _, size := range []struct {
		name string
		opts []browsertest.Option
		w    int
	}{
		{"tablet", []browsertest.Option{browsertest.WindowSize(1024, 768)}, 1024},
		{"phone", []browsertest.Option{browsertest.Phone()}, 390},
	} {
		t.Run(size.name, func(t *testing.T) {
			b := browsertest.New(t, size.opts...)
			browsertest.Navigate(t, b, fmt.Sprintf("http://%s/console/?u=admin-1#p=pw-admin-1", s.HTTP))
			browsertest.WaitJS(t, b, `window.consoleView && document.getElementById('signin')`, 10*time.Second)
			consoleRun(t, b, chromedp.Click(chromedp.CSS("#signin")))
			browsertest.WaitJS(t, b, `consoleView.state === 'ready' && consoleView.activity.allowed`, 10*time.Second, `JSON.stringify(consoleView.activity)`)
			consoleClick(t, b, "#tab-activity")
			browsertest.WaitJS(t, b, `consoleView.activity.entries.length === 2`, 10*time.Second, `JSON.stringify(consoleView.activity)`)
			got := browsertest.Eval[string](t, b, `[...document.querySelectorAll('#activity-list .act-head')].map(n => n.textContent).join(' | ')`)
			want := fmt.Sprintf("2026-11-23 08:00staff-annabooked%s | 2026-11-23 08:00staff-annabooked%s", ids[1], ids[0])
			if got != want {
				t.Errorf("activity shows %q, want %q", got, want)
			}
			consoleClick(t, b, fmt.Sprintf("#act-%d-toggle", 1))
			if got := browsertest.Eval[string](t, b, `document.querySelector('#act-1 .act-change').textContent`); !strings.Contains(got, `"name": "Wang Fang"`) || !strings.Contains(got, ids[0]) {
				t.Errorf("the first entry's details: %q", got)
			}
			checkLayout(t, b, size.w, "activity")
			consoleShot(t, b, size.name+"-activity")
		})
	}
}
