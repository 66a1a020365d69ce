package pagetest

// Close and rate, and the console's Reports: a customer chats on her
// phone, a groomer answers 90 s later and closes the conversation 5 min
// after her first message; the phone shows the rating card, she gives four
// stars and a comment, once; the console's Reports tab then shows the
// conversation handled, the first response and resolution times and the
// rating, by day and by staff member, in English and Chinese, on a desk
// and on a phone. Her next message reopens the conversation.

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/storeedge/storeedge/internal/testkit/browsertest"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

func TestCloseRateAndReports(t *testing.T) {
	s := startConsoleStore(t)
	tablet := s.Connect(t, storetest.Device{ID: "tablet-1", Role: "chat-tablet"}, "qr")
	phone := browsertest.New(t, browsertest.Phone())
	console := browsertest.New(t, browsertest.WindowSize(1024, 768))

	browsertest.Navigate(t, phone, chatURL(t, s, tablet))
	browsertest.WaitJS(t, phone, `chatView.state === 'ready' && chatView.status === 'online'`, 10*time.Second, showChat)
	customer := browsertest.Eval[string](t, phone, `chatView.customer`)
	typeAndSend(t, phone, "My umbrella, did I leave it in the shop yesterday?")
	browsertest.WaitJS(t, phone, `chatView.messages.some(m => m.from === chatView.customer)`, 10*time.Second, showChat)

	browsertest.Navigate(t, console, "http://"+s.HTTP+"/console/")
	browsertest.WaitJS(t, console, `window.consoleView && document.getElementById('signin')`, 10*time.Second)
	consoleSignIn(t, console, "staff-anna", "pw-staff-anna")
	browsertest.WaitJS(t, console, `consoleView.state === 'ready'`, 10*time.Second, showConsole)
	browsertest.WaitJS(t, console, fmt.Sprintf(`consoleView.conversations.some(c => c.conversation === %q)`, customer), 10*time.Second, showConsole)
	consoleOpen(t, console, customer)
	browsertest.WaitJS(t, console, `!document.getElementById('close-conv').hidden`, 5*time.Second, showConsole)

	s.Advance(90 * time.Second)
	const reply = "Hi, this is Anna: yes, it is at the counter."
	consoleRun(t, console, chromedp.SendKeys(chromedp.CSS("#reply"), reply+kb.Enter))
	browsertest.WaitJS(t, phone, fmt.Sprintf(`chatView.messages.some(m => m.from === 'staff-anna' && m.text === %q)`, reply), 10*time.Second, showChat)
	s.Advance(210 * time.Second)
	consoleClick(t, console, "#close-conv")
	browsertest.WaitJS(t, console, `consoleView.open.messages.some(m => m.kind === 'system' && m.card && m.card.type === 'closed') &&
		document.getElementById('close-conv').hidden &&
		[...document.querySelectorAll('#messages li')].some(li => li.textContent.includes('Closed by')) &&
		![...document.querySelectorAll('#messages li')].some(li => li.textContent.includes('Closed by') && li.querySelector('button'))`, 10*time.Second, showConsole)
	browsertest.WaitJS(t, console, fmt.Sprintf(`!consoleView.conversations.find(c => c.conversation === %q).waiting`, customer), 10*time.Second, showConsole)
	consoleShot(t, console, "closed")

	// The phone shows the rating card; sending without stars is refused
	// on the page; four stars and a comment go through once.
	browsertest.WaitJS(t, phone, `!!document.querySelector('#rate-1 .rate-stars button[data-stars="4"]')`, 10*time.Second, showChat)
	shot(t, phone, "rate-card")
	run(t, phone, chromedp.Click(chromedp.CSS(`#rate-1 .rate-send`)))
	browsertest.WaitJS(t, phone, `document.querySelector('#rate-1 .rate-error').textContent !== ''`, 5*time.Second, showChat)
	const comment = "Quick and kind, thank you"
	run(t, phone, chromedp.Click(chromedp.CSS(`#rate-1 .rate-stars button[data-stars="4"]`)),
		chromedp.SendKeys(chromedp.CSS(`#rate-1 .rate-comment`), comment),
		chromedp.Click(chromedp.CSS(`#rate-1 .rate-send`)))
	browsertest.WaitJS(t, phone, `!!document.querySelector('#rate-1 .rate-done') && chatView.messages.some(m => m.kind === 'system' && m.card && m.card.type === 'rated' && m.card.stars === 4)`, 10*time.Second, showChat)
	shot(t, phone, "rated")
	if n := browsertest.Eval[int](t, phone, `document.querySelectorAll('#rate-1 .rate-send').length`); n != 0 {
		t.Fatalf("the card still offers to rate after the rating")
	}
	if n := browsertest.Eval[int](t, phone, `[...document.querySelectorAll('#messages li.system')].filter(li => li.querySelector('button.recall')).length`); n != 0 {
		t.Fatalf("the page offers to recall the rating")
	}
	// The console shows her rating in the conversation.
	browsertest.WaitJS(t, console, fmt.Sprintf(`[...document.querySelectorAll('#messages li')].some(li => li.textContent.includes(%q) && li.textContent.includes('★★★★☆'))`, comment), 10*time.Second, showConsole)

	// Reports: one conversation, 90 s to respond, 5 min to resolve, four stars.
	day := s.Now().In(mustZone(t, "Asia/Shanghai")).Format(time.DateOnly)
	consoleClick(t, console, "#tab-reports")
	setField(t, console, "reports-from", day, "input")
	setField(t, console, "reports-to", day, "input")
	consoleClick(t, console, "#reports-show")
	want := fmt.Sprintf(`consoleView.reports.byDay.length === 1 && consoleView.reports.byDay[0].key === %q &&
		consoleView.reports.byDay[0].handled === 1 && consoleView.reports.byDay[0].first_response_avg_ms === 90000 &&
		consoleView.reports.byDay[0].resolution_avg_ms === 300000 && consoleView.reports.byDay[0].stars_avg === 4 &&
		consoleView.reports.byStaff.length === 1 && consoleView.reports.byStaff[0].key === 'staff-anna' && consoleView.reports.byStaff[0].ratings === 1`, day)
	browsertest.WaitJS(t, console, want, 10*time.Second, showConsole)
	if got := browsertest.Eval[string](t, console, `document.querySelector('#reports-by-day tbody tr td:nth-child(3)').textContent`); got != "1 min 30 s / 1 min 30 s" {
		t.Errorf("first response cell %q", got)
	}
	consoleShot(t, console, "reports")
	consoleClick(t, console, "#lang")
	browsertest.WaitJS(t, console, `document.getElementById('tab-reports').textContent === '报表' &&
		document.querySelector('#reports-by-day thead').textContent.includes('首次响应') &&
		document.querySelector('#reports-by-day tbody tr td:nth-child(3)').textContent === '1 分 30 秒 / 1 分 30 秒'`, 5*time.Second, showConsole)
	consoleShot(t, console, "reports-zh")

	// On a phone the console's Reports fit the width (the tables scroll
	// inside their box, the page does not).
	small := browsertest.New(t, browsertest.Phone())
	browsertest.Navigate(t, small, "http://"+s.HTTP+"/console/")
	browsertest.WaitJS(t, small, `window.consoleView && document.getElementById('signin')`, 10*time.Second)
	consoleSignIn(t, small, "staff-anna", "pw-staff-anna")
	browsertest.WaitJS(t, small, `consoleView.state === 'ready'`, 10*time.Second, showConsole)
	consoleClick(t, small, "#tab-reports")
	setField(t, small, "reports-from", day, "input")
	setField(t, small, "reports-to", day, "input")
	consoleClick(t, small, "#reports-show")
	browsertest.WaitJS(t, small, `consoleView.reports.byDay.length === 1 && document.documentElement.scrollWidth <= window.innerWidth`, 10*time.Second, showConsole)
	consoleShot(t, small, "reports-phone")

	// The card in Chinese.
	run(t, phone, chromedp.Click(chromedp.ID("lang")))
	browsertest.WaitJS(t, phone, `document.querySelector('#rate-1 .rate-done').textContent.includes('谢谢') &&
		document.querySelector('#rate-1 .card-title').textContent.includes('门店已结束本次咨询')`, 5*time.Second, showChat)
	shot(t, phone, "rated-zh")

	// Her next message reopens the conversation: the console offers Close again.
	typeAndSend(t, phone, "One more thing: do you sell raincoats for dogs?")
	consoleClick(t, console, "#tab-chats")
	browsertest.WaitJS(t, console, `!document.getElementById('close-conv').hidden`, 10*time.Second, showConsole)
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
