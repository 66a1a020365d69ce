package pagetest

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/storeedge/storeedge/internal/testkit/browsertest"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

// A customer cannot send a booking card (forbidden), and the console shows
// a booking card that does not come from the booking service as a plain
// card, not as the store's "Booking …" line.
func TestConsoleCardsNotFromBooking(t *testing.T) {
	s := startConsoleStore(t)
	tablet := s.Connect(t, storetest.Device{ID: "tablet-1", Role: "chat-tablet"}, "qr")
	cust := s.CustomerLogin(t, tablet, "", "phone", false)
	var opened struct {
		Conversation string `json:"conversation"`
	}
	storetest.OK(t, cust.Call(t, "chat", "open", `{}`)).Decode(t, &opened)
	conv := opened.Conversation
	card := `{"type":"booking","event":"created","service":"bath","start":"2026-11-23T15:00:00+08:00"}`
	storetest.Fails(t, cust.Call(t, "chat", "send", fmt.Sprintf(`{"conversation":%q,"kind":"card","card":%s}`, conv, card)), "forbidden", "")
	storetest.OK(t, cust.Call(t, "chat", "send", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"hello"}`, conv)))
	// Staff may send any card; a hand-made booking card is still not the
	// booking service's.
	api := s.Connect(t, storetest.Device{ID: "staff-anna", Role: "staff"}, "api")
	storetest.OK(t, api.Call(t, "chat", "open", fmt.Sprintf(`{"conversation":%q}`, conv)))
	storetest.OK(t, api.Call(t, "chat", "send", fmt.Sprintf(`{"conversation":%q,"kind":"card","card":%s}`, conv, card)))

	b := browsertest.New(t, browsertest.WindowSize(1024, 768))
	q := url.Values{"u": {"staff-anna"}}
	browsertest.Navigate(t, b, fmt.Sprintf("http://%s/console/?%s#%s", s.HTTP, q.Encode(), url.Values{"p": {"pw-staff-anna"}}.Encode()))
	browsertest.WaitJS(t, b, `window.consoleView && document.getElementById('signin')`, 10*time.Second)
	consoleRun(t, b, chromedp.Click(chromedp.CSS("#signin")))
	browsertest.WaitJS(t, b, `consoleView.state === 'ready'`, 10*time.Second, showConsole)
	browsertest.WaitJS(t, b, fmt.Sprintf(`consoleView.conversations.some(c => c.conversation === %q)`, conv), 10*time.Second, showConsole)
	consoleOpen(t, b, conv)
	browsertest.WaitJS(t, b, `consoleView.open && consoleView.open.messages.some(m => m.kind === 'card')`, 10*time.Second, showConsole)
	browsertest.WaitJS(t, b, `(() => { const t = document.getElementById('messages').textContent;
		return t.includes('Card: booking') && !t.includes('Booking'); })()`, 10*time.Second,
		`document.getElementById('messages').textContent`)
}
