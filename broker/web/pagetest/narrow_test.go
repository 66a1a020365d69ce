package pagetest

// The staff console on a phone (390 × 844) and a tablet upright (768 ×
// 1024): nothing wider than the screen, every control within reach, on
// each tab; times on the store's clock when the browser is set to another
// zone.

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/storeedge/storeedge/internal/testkit/browsertest"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

// browserZone is the zone the browsers of these tests are set to: not the
// store's (Asia/Shanghai), twelve or thirteen hours from it.
const browserZone = "America/New_York"

// setBrowserZone makes the page's clock run in zone, as a tablet set to
// another zone would.
func setBrowserZone(t *testing.T, ctx context.Context, zone string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: zone})
		return err
	})); err != nil {
		t.Fatalf("time zone %s: %v", zone, err)
	}
	if got := browsertest.Eval[string](t, ctx, `Intl.DateTimeFormat().resolvedOptions().timeZone`); got != zone {
		t.Fatalf("browser zone %q, want %q", got, zone)
	}
}

// consoleSignedIn opens the console in b and signs in as staff-anna.
func consoleSignedIn(t *testing.T, b context.Context, s *storetest.Store) {
	t.Helper()
	q := url.Values{"u": {"staff-anna"}}
	browsertest.Navigate(t, b, fmt.Sprintf("http://%s/console/?%s#%s", s.HTTP, q.Encode(), url.Values{"p": {"pw-staff-anna"}}.Encode()))
	browsertest.WaitJS(t, b, `window.consoleView && document.getElementById('signin')`, 10*time.Second)
	consoleRun(t, b, chromedp.Click(chromedp.CSS("#signin")))
	browsertest.WaitJS(t, b, `consoleView.state === 'ready'`, 10*time.Second, showConsole)
}

// layoutProblems lists what a user of a small screen could not reach: the
// page wider than the window, a visible control sticking out of the window
// (unless it sits in a box that scrolls sideways, like the quick replies),
// a control lower than 44 px, Sign out outside the viewport once signed
// in, a reply box narrower than 240 px, text smaller than 13 px, a button
// whose label overflows it, a control under another element when scrolled
// into view.
// The screen's width is given: a phone's browser widens its layout
// viewport (innerWidth) to a page wider than the screen and zooms out.
const layoutProblems = `(() => {
	const w = %d, hgt = window.innerHeight, bad = [];
	const doc = document.documentElement;
	if (window.innerWidth > w) bad.push('layout viewport ' + window.innerWidth + ' px wide on a ' + w + ' px screen');
	if (doc.scrollWidth > window.innerWidth) bad.push('page ' + doc.scrollWidth + ' px wide in ' + window.innerWidth);
	if (doc.scrollHeight > window.innerHeight) bad.push('page ' + doc.scrollHeight + ' px high in ' + window.innerHeight + ': the header scrolls away');
	const scrollsX = (el) => {
		for (let a = el.parentElement; a; a = a.parentElement) {
			const ox = getComputedStyle(a).overflowX;
			if ((ox === 'auto' || ox === 'scroll') && a.scrollWidth > a.clientWidth) return true;
		}
		return false;
	};
	const name = (el) => el.id || el.className || el.tagName;
	for (const el of document.querySelectorAll('button, textarea, select, input, label.button')) {
		if (el.classList.contains('visually-hidden') || !el.getClientRects().length) continue;
		const r = el.getBoundingClientRect();
		if (r.width === 0 && r.height === 0) continue;
		if ((r.left < -1 || r.right > w + 1) && !scrollsX(el)) bad.push(name(el) + ' at x ' + Math.round(r.left) + '..' + Math.round(r.right));
		if (el.scrollWidth > el.clientWidth + 1 && el.tagName === 'BUTTON') bad.push(name(el) + ': its label is wider than it');
		// Brought into view, its middle is its own: not under another pane.
		el.scrollIntoView({ block: 'center', inline: 'nearest' });
		const v = el.getBoundingClientRect();
		const hit = document.elementFromPoint(v.left + v.width / 2, v.top + v.height / 2);
		if (!hit || !(el === hit || el.contains(hit) || (el.tagName === 'LABEL' && hit === document.getElementById(el.htmlFor)))) {
			bad.push(name(el) + ' covered by ' + (hit ? name(hit) : 'nothing'));
		}
		if (el.type !== 'checkbox' && r.height < 43.5) bad.push(name(el) + ' ' + Math.round(r.height) + ' px high');
	}
	for (const el of document.querySelectorAll('main p, main li, main dd, main dt, .tab, #logout')) {
		if (!el.getClientRects().length || el.closest('.visually-hidden')) continue;
		const fs = parseFloat(getComputedStyle(el).fontSize);
		if (fs < 13) bad.push(name(el) + ' text ' + fs + ' px');
	}
	const so = document.getElementById('logout').getBoundingClientRect();
	if (consoleView.state === 'ready' && !(so.width > 0 && so.left >= 0 && so.right <= w && so.top >= 0 && so.bottom <= hgt)) {
		bad.push('Sign out at ' + JSON.stringify(so));
	}
	const reply = document.getElementById('reply');
	if (reply.getClientRects().length && reply.getBoundingClientRect().width < 240) {
		bad.push('reply box ' + Math.round(reply.getBoundingClientRect().width) + ' px wide');
	}
	return bad;
})()`

func checkLayout(t *testing.T, b context.Context, width int, where string) {
	t.Helper()
	if bad := browsertest.Eval[[]string](t, b, fmt.Sprintf(layoutProblems, width)); len(bad) > 0 {
		t.Errorf("%s: %s", where, strings.Join(bad, "; "))
	}
}

// TestConsoleNarrow signs in on a phone and on a tablet upright, with the
// browser in New York while the store is in Shanghai, and looks at each
// tab with a conversation open and a booking at 15:00 on the board.
func TestConsoleNarrow(t *testing.T) {
	s := startConsoleStore(t)
	tablet := s.Connect(t, storetest.Device{ID: "tablet-1", Role: "chat-tablet"}, "qr")
	kiosk := s.Connect(t, storetest.Device{ID: "kiosk-1", Role: "kiosk"}, "")
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}

	cust := s.CustomerLogin(t, tablet, "", "phone", false)
	var opened struct {
		Conversation string `json:"conversation"`
	}
	storetest.OK(t, cust.Call(t, "chat", "open", `{}`)).Decode(t, &opened)
	conv := opened.Conversation
	storetest.OK(t, cust.Call(t, "chat", "send", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"Can Dou come at three this afternoon? She is a medium golden retriever"}`, conv)))
	storetest.OK(t, cust.Call(t, "chat", "handoff", fmt.Sprintf(`{"conversation":%q}`, conv)))
	var hist struct {
		Messages []struct {
			Seq int    `json:"seq"`
			TS  string `json:"ts"`
		} `json:"messages"`
	}
	storetest.OK(t, cust.Call(t, "chat", "history", fmt.Sprintf(`{"conversation":%q}`, conv))).Decode(t, &hist)
	if len(hist.Messages) == 0 {
		t.Fatal("no message in the history")
	}
	sent, err := time.Parse(time.RFC3339Nano, hist.Messages[0].TS)
	if err != nil {
		t.Fatalf("message ts %q: %v", hist.Messages[0].TS, err)
	}
	sentAt := sent.In(shanghai).Format("15:04")

	// The kiosk books her at 15:00, the store's time.
	var code struct {
		Code string `json:"code"`
	}
	storetest.OK(t, kiosk.Call(t, "booking", "presence_start", `{}`)).Decode(t, &code)
	storetest.OK(t, cust.Call(t, "chat", "presence_confirm", fmt.Sprintf(`{"code":%q}`, code.Code)))
	day := s.Now().In(shanghai).Format(time.DateOnly)
	var av struct {
		Days []struct {
			Slots []struct {
				Start string `json:"start"`
			} `json:"slots"`
		} `json:"days"`
	}
	storetest.OK(t, kiosk.Call(t, "booking", "availability", fmt.Sprintf(`{"service":"dog-groom","date":%q}`, day))).Decode(t, &av)
	start := ""
	for _, d := range av.Days {
		for _, sl := range d.Slots {
			if at, err := time.Parse(time.RFC3339, sl.Start); err == nil && at.In(shanghai).Format("15:04") == "15:00" {
				start = sl.Start
			}
		}
	}
	if start == "" {
		t.Fatalf("no free dog-groom slot at 15:00 on %s: %+v", day, av)
	}
	var bk struct {
		Booking struct {
			ID string `json:"id"`
		} `json:"booking"`
	}
	storetest.OK(t, kiosk.Call(t, "booking", "book", fmt.Sprintf(`{"service":"dog-groom","start":%q,"customer":%q}`, start, cust.Username))).Decode(t, &bk)
	id := bk.Booking.ID

	for _, size := range []struct {
		name string
		opts []browsertest.Option
		w    int
	}{
		{"phone", []browsertest.Option{browsertest.Phone()}, 390},
		{"tablet-upright", []browsertest.Option{browsertest.WindowSize(768, 1024)}, 768},
	} {
		t.Run(size.name, func(t *testing.T) {
			b := browsertest.New(t, size.opts...)
			setBrowserZone(t, b, browserZone)
			consoleSignedIn(t, b, s)
			checkLayout := func(where string) { t.Helper(); checkLayout(t, b, size.w, where) }
			checkLayout("conversations, none open")

			consoleOpen(t, b, conv)
			browsertest.WaitJS(t, b, fmt.Sprintf(`consoleView.open && consoleView.open.conversation === %q && consoleView.open.messages.length > 0`, conv), 10*time.Second, showConsole)
			checkLayout("conversations, one open")
			// The message's time is the store's clock, not New York's.
			head := browsertest.Eval[string](t, b, fmt.Sprintf(`document.querySelector('#messages [data-seq="%d"] .msg-head').textContent`, hist.Messages[0].Seq))
			if !strings.HasSuffix(head, " · "+sentAt) {
				t.Errorf("message head %q, want the store's time %s", head, sentAt)
			}
			consoleShot(t, b, size.name+"-chats")

			consoleClick(t, b, "#tab-board")
			browsertest.WaitJS(t, b, fmt.Sprintf(`consoleView.board.some(x => x.id === %q)`, id), 10*time.Second, showConsole)
			if got := browsertest.Eval[string](t, b, fmt.Sprintf(`document.querySelector('#bk-%s .bk-time').textContent`, id)); !strings.HasPrefix(got, "15:00–") {
				t.Errorf("the booking at 15:00 store time shows as %q", got)
			}
			consoleShot(t, b, size.name+"-board")
			checkLayout("bookings")
			consoleClick(t, b, "#bk-"+id+"-reschedule")
			browsertest.WaitJS(t, b, fmt.Sprintf(`!!document.querySelector('#bk-%s .slots button')`, id), 10*time.Second)
			if got := browsertest.Eval[string](t, b, fmt.Sprintf(`document.getElementById('bk-%s-date').value`, id)); got != day {
				t.Errorf("the reschedule panel's date %q, want the store's day %s", got, day)
			}
			checkLayout("bookings, reschedule open")
			consoleShot(t, b, size.name+"-board-reschedule")

			consoleClick(t, b, "#tab-health")
			browsertest.WaitJS(t, b, `consoleView.health && consoleView.health.disk_total_bytes > 0`, 10*time.Second, showConsole)
			checkLayout("store health")
			consoleShot(t, b, size.name+"-health")
			// In Chinese too: the other words fit the same rows.
			consoleClick(t, b, "#lang")
			browsertest.WaitJS(t, b, `document.getElementById('logout').textContent === '退出登录'`, 5*time.Second)
			checkLayout("store health, in Chinese")
			consoleClick(t, b, "#tab-board")
			checkLayout("bookings, in Chinese")
			consoleShot(t, b, size.name+"-board-zh")
			consoleClick(t, b, "#lang")
			browsertest.WaitJS(t, b, `document.getElementById('logout').textContent === 'Sign out'`, 5*time.Second)

			// Sign out is reachable: one tap signs out.
			consoleClick(t, b, "#logout")
			browsertest.WaitJS(t, b, `consoleView.state === 'login'`, 5*time.Second, showConsole)
			checkLayout("sign in")
		})
	}
}
