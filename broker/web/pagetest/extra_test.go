package pagetest

// Page features the other tests leave out: in the staff console, a
// reschedule into a slot taken meanwhile (the conflict's alternatives as
// buttons), a cancel with a reason, a photo sent from the console and a
// recalled staff message; on the customer's page, a recalled message.

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/storeedge/storeedge/internal/testkit/browsertest"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

// openConsole signs staff-anna in to the console in a tablet-sized
// browser and waits until it is ready.
func openConsole(t *testing.T, s *storetest.Store) context.Context {
	t.Helper()
	b := browsertest.New(t, browsertest.WindowSize(1024, 768))
	q := url.Values{"u": {"staff-anna"}}
	browsertest.Navigate(t, b, fmt.Sprintf("http://%s/console/?%s#%s", s.HTTP, q.Encode(), url.Values{"p": {"pw-staff-anna"}}.Encode()))
	browsertest.WaitJS(t, b, `window.consoleView && document.getElementById('signin')`, 10*time.Second)
	consoleRun(t, b, chromedp.Click(chromedp.CSS("#signin")))
	browsertest.WaitJS(t, b, `consoleView.state === 'ready'`, 10*time.Second, showConsole)
	return b
}

type bookingView struct {
	ID     string `json:"id"`
	Start  string `json:"start"`
	Status string `json:"status"`
	Reason string `json:"reason"`
}

// getBooking reads a booking as staff see it.
func getBooking(t *testing.T, staff *storetest.Client, id string) bookingView {
	t.Helper()
	var a struct {
		Booking bookingView `json:"booking"`
	}
	storetest.OK(t, staff.Call(t, "booking", "get", fmt.Sprintf(`{"booking":%q}`, id))).Decode(t, &a)
	return a.Booking
}

// todaysSlots lists today's free dog-groom starts, leaving out exclude's
// own hold when it is not "".
func todaysSlots(t *testing.T, s *storetest.Store, c *storetest.Client, exclude string) []string {
	t.Helper()
	var av struct {
		Days []struct {
			Slots []struct {
				Start string `json:"start"`
			} `json:"slots"`
		} `json:"days"`
	}
	storetest.OK(t, c.Call(t, "booking", "availability", fmt.Sprintf(`{"service":"dog-groom","date":%q,"exclude":%q}`, s.Now().Format(time.DateOnly), exclude))).Decode(t, &av)
	var out []string
	for _, d := range av.Days {
		for _, sl := range d.Slots {
			out = append(out, sl.Start)
		}
	}
	return out
}

// book makes a dog-groom booking for customer at start and returns its id.
func book(t *testing.T, c *storetest.Client, customer, start string) string {
	t.Helper()
	var bk struct {
		Booking bookingView `json:"booking"`
	}
	storetest.OK(t, c.Call(t, "booking", "book", fmt.Sprintf(`{"service":"dog-groom","start":%q,"customer":%q}`, start, customer))).Decode(t, &bk)
	return bk.Booking.ID
}

// digits is how the console names a slot's button: the start's digits.
var nonDigits = regexp.MustCompile(`[^0-9]`)

func digits(start string) string { return nonDigits.ReplaceAllString(start, "") }

// hhmm is the wall-clock time the console shows for a start.
func hhmm(start string) string {
	if len(start) < 16 {
		return ""
	}
	return start[11:16]
}

func TestConsoleBookings(t *testing.T) {
	s := startConsoleStore(t)
	tablet := s.Connect(t, storetest.Device{ID: "tablet-1", Role: "chat-tablet"}, "qr")
	staff := s.Connect(t, storetest.Device{ID: "staff-anna", Role: "staff"}, "api")
	cust, _ := s.CustomerCredentials(t, tablet, "")

	slots := todaysSlots(t, s, staff, "")
	if len(slots) < 4 {
		t.Fatalf("want at least 4 free dog-groom slots today, have %v", slots)
	}
	// The booking to move is the day's last; the slot it is moved to is
	// hours before, so that its own hold, which a reschedule ignores,
	// cannot make that slot free for it alone.
	last := slots[len(slots)-1]
	moving := book(t, staff, cust, last)
	cancelling := book(t, staff, cust, slots[len(slots)/2])

	b := openConsole(t, s)
	consoleRun(t, b, chromedp.Click(chromedp.CSS("#tab-board")))
	browsertest.WaitJS(t, b, fmt.Sprintf(`consoleView.board.some(x => x.id === %q) && consoleView.board.some(x => x.id === %q)`, moving, cancelling), 10*time.Second, showConsole)

	t.Run("reschedule into a taken slot", func(t *testing.T) {
		k := "bk-" + moving + "-"
		consoleRun(t, b, chromedp.Click(chromedp.CSS("#"+k+"reschedule")))
		// The free times the panel offers, read before anyone else books.
		free := todaysSlots(t, s, staff, moving)
		lastAt, err := time.Parse(time.RFC3339, last)
		if err != nil {
			t.Fatal(err)
		}
		var target string
		for _, st := range free {
			if at, err := time.Parse(time.RFC3339, st); err == nil && lastAt.Sub(at) >= 3*time.Hour {
				target = st
				break
			}
		}
		if target == "" {
			t.Fatalf("no free slot 3 h before %s to move to: %v", last, free)
		}
		btn := "#" + k + "slot-" + digits(target)
		browsertest.WaitJS(t, b, fmt.Sprintf(`!!document.querySelector(%q)`, btn), 10*time.Second,
			fmt.Sprintf(`document.getElementById(%q).textContent`, "bk-"+moving))

		// Meanwhile the target is booked up (as many resources as it has).
		for i := 0; ; i++ {
			other, _ := s.CustomerCredentials(t, tablet, "")
			a := staff.Call(t, "booking", "book", fmt.Sprintf(`{"service":"dog-groom","start":%q,"customer":%q}`, target, other))
			if !a.OK {
				storetest.Fails(t, a, "conflict", "taken")
				break
			}
			if i == 10 {
				t.Fatalf("%s still free after %d bookings", target, i+1)
			}
		}

		consoleClick(t, b, btn) // the bookings just made redraw the board
		alts := "#bk-" + moving + " .panel.conflict button"
		browsertest.WaitJS(t, b, fmt.Sprintf(`document.querySelectorAll(%q).length > 0`, alts), 10*time.Second,
			fmt.Sprintf(`document.getElementById(%q).textContent`, k+"msg"))
		if msg := browsertest.Eval[string](t, b, fmt.Sprintf(`document.getElementById(%q).textContent`, k+"msg")); msg != "That time is taken. Free times nearby:" {
			t.Errorf("conflict message %q", msg)
		}
		if st := getBooking(t, staff, moving).Start; st != last {
			t.Fatalf("the booking moved on a conflict: start %s, was %s", st, last)
		}

		// Each alternative is a button named by its start; pick the first.
		ids := browsertest.Eval[[]string](t, b, fmt.Sprintf(`[...document.querySelectorAll(%q)].map(x => x.id)`, alts))
		for _, id := range ids {
			if id == k+"alt-"+digits(target) {
				t.Errorf("the taken slot is offered as an alternative: %v", ids)
			}
		}
		pick := ids[0]
		label := browsertest.Eval[string](t, b, fmt.Sprintf(`document.getElementById(%q).textContent`, pick))
		consoleRun(t, b, chromedp.Click(chromedp.ID(pick)))

		var moved bookingView
		deadline := time.Now().Add(10 * time.Second)
		for {
			moved = getBooking(t, staff, moving)
			if moved.Start != last {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the booking did not move after picking %s", pick)
			}
			time.Sleep(50 * time.Millisecond) // polling the store's state
		}
		if k+"alt-"+digits(moved.Start) != pick {
			t.Errorf("moved to %s, picked %s", moved.Start, pick)
		}
		if !strings.HasSuffix(label, hhmm(moved.Start)) {
			t.Errorf("alternative labelled %q, moved to %s", label, moved.Start)
		}
		// The board shows the new time, and the conflict is gone.
		browsertest.WaitJS(t, b, fmt.Sprintf(`(() => { const c = document.getElementById(%q);
			return c && c.querySelector('.bk-time').textContent.startsWith(%q) && !c.querySelector('.panel.conflict'); })()`, "bk-"+moving, hhmm(moved.Start)+"–"),
			10*time.Second, fmt.Sprintf(`document.getElementById(%q).textContent`, "bk-"+moving))
		consoleShot(t, b, "rescheduled")
	})

	t.Run("cancel with a reason", func(t *testing.T) {
		k := "bk-" + cancelling + "-"
		const reason = "The dog has a cold"
		consoleRun(t, b, chromedp.Click(chromedp.CSS("#"+k+"cancel")))
		browsertest.WaitJS(t, b, fmt.Sprintf(`document.activeElement && document.activeElement.id === %q`, k+"reason"), 5*time.Second)
		// Typed into the focused field, as a groomer types: the board is
		// redrawn whenever a booking changes, and the page keeps the focus
		// (and what was typed) across it, so no node is aimed at.
		consoleRun(t, b, chromedp.KeyEvent(reason))
		browsertest.WaitJS(t, b, fmt.Sprintf(`(() => { const e = document.getElementById(%q); return e && e.value === %q; })()`, k+"reason", reason), 5*time.Second)
		// The groomer's finger is down on Confirm when another booking
		// changes and the board is asked to redraw; the lift must still
		// cancel (a redraw between press and lift used to drop the tap).
		btn := "#" + k + "confirm-cancel"
		xy := browsertest.Eval[[]float64](t, b, fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.scrollIntoView({block: 'center'});
			const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()`, btn))
		// The page has reacted to the change when it redrew the board or
		// asked to and was held.
		asked := browsertest.Eval[int](t, b, `consoleView.boardAsked || 0`)
		browsertest.Eval[bool](t, b, `(() => { window.boardRedrawn = false;
			new MutationObserver(() => { window.boardRedrawn = true; }).observe(document.getElementById('board'), {childList: true, subtree: true}); return true; })()`)
		consoleRun(t, b, chromedp.MouseEvent(chromedp.MousePressed, xy[0], xy[1], chromedp.ButtonLeft, chromedp.ClickCount(1)))
		other, _ := s.CustomerCredentials(t, tablet, "")
		free := todaysSlots(t, s, staff, "")
		if len(free) == 0 {
			t.Fatal("no free slot left to book while the finger is down")
		}
		if a := staff.Call(t, "booking", "book", fmt.Sprintf(`{"service":"dog-groom","start":%q,"customer":%q}`, free[0], other)); !a.OK {
			t.Fatalf("book %s: %+v", free[0], a)
		}
		browsertest.WaitJS(t, b, fmt.Sprintf(`window.boardRedrawn || (consoleView.boardAsked || 0) > %d`, asked), 10*time.Second, `consoleView.boardAsked`)
		consoleRun(t, b, chromedp.MouseEvent(chromedp.MouseReleased, xy[0], xy[1], chromedp.ButtonLeft, chromedp.ClickCount(1)))
		deadline := time.Now().Add(10 * time.Second)
		for {
			v := getBooking(t, staff, cancelling)
			if v.Status == "cancelled" {
				if v.Reason != reason {
					t.Errorf("cancelled with reason %q, want %q", v.Reason, reason)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("not cancelled: %+v; the card says %q", v, browsertest.Eval[string](t, b, fmt.Sprintf(`(document.getElementById(%q) || {}).textContent || ''`, k+"msg")))
			}
			time.Sleep(50 * time.Millisecond) // polling the store's state
		}
		browsertest.WaitJS(t, b, fmt.Sprintf(`!consoleView.board.some(x => x.id === %q && x.status === 'booked')`, cancelling), 10*time.Second, showConsole)
	})
}

type recallMsg struct {
	Seq      int    `json:"seq"`
	From     string `json:"from"`
	Kind     string `json:"kind"`
	Text     string `json:"text"`
	Recalled string `json:"recalled"`
	Media    *struct {
		Hash string `json:"hash"`
	} `json:"media"`
}

func recallHistory(t *testing.T, c *storetest.Client, conv string) []recallMsg {
	t.Helper()
	var h struct {
		Messages []recallMsg `json:"messages"`
	}
	storetest.OK(t, c.Call(t, "chat", "history", fmt.Sprintf(`{"conversation":%q,"limit":100}`, conv))).Decode(t, &h)
	return h.Messages
}

// waitHistory polls c's view of conv until one message matches.
func waitHistory(t *testing.T, c *storetest.Client, conv, what string, match func(recallMsg) bool) recallMsg {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h := recallHistory(t, c, conv)
		for _, m := range h {
			if match(m) {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not in %s's history of %s: %+v", what, c.ID, conv, h)
		}
		time.Sleep(50 * time.Millisecond) // polling the store's state
	}
}

func TestConsolePhotoAndRecall(t *testing.T) {
	s := startConsoleStore(t)
	tablet := s.Connect(t, storetest.Device{ID: "tablet-1", Role: "chat-tablet"}, "qr")
	cust := s.CustomerLogin(t, tablet, "", "phone", false)
	var opened struct {
		Conversation string `json:"conversation"`
	}
	storetest.OK(t, cust.Call(t, "chat", "open", `{}`)).Decode(t, &opened)
	conv := opened.Conversation
	storetest.OK(t, cust.Call(t, "chat", "send", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"Can I see Dou?"}`, conv)))

	b := openConsole(t, s)
	browsertest.WaitJS(t, b, fmt.Sprintf(`!!document.querySelector('[data-conversation="%s"]')`, conv), 10*time.Second, showConsole)
	consoleOpen(t, b, conv)
	browsertest.WaitJS(t, b, fmt.Sprintf(`consoleView.open && consoleView.open.conversation === %q && consoleView.open.messages.length > 0`, conv), 10*time.Second, showConsole)

	t.Run("photo", func(t *testing.T) {
		consoleRun(t, b, chromedp.SetUploadFiles(chromedp.ID("photo"), []string{testPhoto(t)}))
		browsertest.WaitJS(t, b, `consoleView.open.messages.some(m => m.from === 'staff-anna' && m.kind === 'image')`, 15*time.Second, showConsole,
			`document.getElementById('chat-error').textContent`)
		m := waitHistory(t, cust, conv, "the photo", func(m recallMsg) bool { return m.From == "staff-anna" && m.Kind == "image" })
		if m.Media == nil || len(m.Media.Hash) != 64 {
			t.Errorf("the photo's media %+v", m.Media)
		}
		browsertest.WaitJS(t, b, `[...document.querySelectorAll('#messages img.photo')].some(i => i.complete && i.naturalWidth > 0)`, 10*time.Second)
	})

	t.Run("recall", func(t *testing.T) {
		const text = "Sorry, wrong chat"
		consoleRun(t, b, chromedp.SendKeys(chromedp.CSS("#reply"), text+kb.Enter))
		browsertest.WaitJS(t, b, fmt.Sprintf(`consoleView.open.messages.some(m => m.from === 'staff-anna' && m.text === %q)`, text), 10*time.Second, showConsole)
		seq := browsertest.Eval[int](t, b, fmt.Sprintf(`consoleView.open.messages.find(m => m.from === 'staff-anna' && m.text === %q).seq`, text))
		waitHistory(t, cust, conv, "the message", func(m recallMsg) bool { return m.Seq == seq && m.Text == text })

		consoleClick(t, b, fmt.Sprintf("#recall-%d", seq)) // the list redraws as receipts arrive
		browsertest.WaitJS(t, b, fmt.Sprintf(`consoleView.open.messages.some(m => m.seq === %d && m.recalled && m.text === undefined)`, seq), 10*time.Second, showConsole)
		if n := browsertest.Eval[int](t, b, fmt.Sprintf(`document.querySelectorAll('#recall-%d').length`, seq)); n != 0 {
			t.Errorf("the recall button stays on a recalled message")
		}
		m := waitHistory(t, cust, conv, "the recall", func(m recallMsg) bool { return m.Seq == seq && m.Recalled != "" })
		if m.Text != "" {
			t.Errorf("the recalled message keeps its text: %+v", m)
		}
	})
}

func TestChatRecall(t *testing.T) {
	s := startWebStore(t)
	tablet := s.Connect(t, storetest.Device{ID: "tablet-1", Role: "chat-tablet"}, "qr")
	staff := s.Connect(t, storetest.Device{ID: "staff-anna", Role: "staff"}, "console")
	b := browsertest.New(t, browsertest.Phone())

	browsertest.Navigate(t, b, chatURL(t, s, tablet))
	browsertest.WaitJS(t, b, `chatView.state === 'ready' && chatView.status === 'online'`, 10*time.Second, showChat)
	conv := browsertest.Eval[string](t, b, `chatView.conversation`)

	const text = "Oops, meant for someone else"
	typeAndSend(t, b, text)
	browsertest.WaitJS(t, b, fmt.Sprintf(`chatView.messages.some(m => m.from === chatView.customer && m.text === %q && m.seq > 0)`, text), 10*time.Second, showChat)
	seq := browsertest.Eval[int](t, b, fmt.Sprintf(`chatView.messages.find(m => m.from === chatView.customer && m.text === %q).seq`, text))

	storetest.OK(t, staff.Call(t, "chat", "open", fmt.Sprintf(`{"conversation":%q}`, conv)))
	waitHistory(t, staff, conv, "the message", func(m recallMsg) bool { return m.Seq == seq && m.Text == text })

	// Within the window the message has a Recall button.
	btn := fmt.Sprintf(`#messages li[data-seq="%d"] button.recall`, seq)
	browsertest.WaitJS(t, b, fmt.Sprintf(`!!document.querySelector(%q)`, btn), 5*time.Second, showChat)
	run(t, b, chromedp.Click(chromedp.CSS(btn)))
	browsertest.WaitJS(t, b, fmt.Sprintf(`chatView.messages.some(m => m.seq === %d && m.recalled)`, seq), 10*time.Second, showChat)
	browsertest.WaitJS(t, b, fmt.Sprintf(`!document.querySelector(%q) && !!document.querySelector('#messages li[data-seq="%d"] .recalled')`, btn, seq), 5*time.Second, showChat)
	shot(t, b, "recalled")

	m := waitHistory(t, staff, conv, "the recall", func(m recallMsg) bool { return m.Seq == seq && m.Recalled != "" })
	if m.Text != "" {
		t.Errorf("the recalled message keeps its text for staff: %+v", m)
	}
}
