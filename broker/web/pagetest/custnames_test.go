package pagetest

// The console shows customers by name, not by id: the conversation list,
// the chat's header and the booking board; staff edit her card beside the
// chat (versioned).

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/storeedge/storeedge/internal/testkit/browsertest"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/proto"
)

func TestConsoleShowsNames(t *testing.T) {
	s := startConsoleStore(t)
	tablet := s.Connect(t, storetest.Device{ID: "tablet-1", Role: "chat-tablet"}, "qr")
	staff := s.Connect(t, storetest.Device{ID: "staff-anna", Role: "staff"}, "api")
	lin := s.CustomerLogin(t, tablet, "", "phone", false)
	anon := s.CustomerLogin(t, tablet, "", "phone", false)
	storetest.OK(t, lin.Call(t, "customer", "me_put", `{"name":"Lin","phone":"13900001111","consent":true}`))
	for _, c := range []*storetest.Client{lin, anon} {
		storetest.OK(t, c.Call(t, "chat", "open", `{}`))
		storetest.OK(t, c.Call(t, "chat", "send", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"hello"}`, c.Username)))
		storetest.OK(t, c.Call(t, "chat", "handoff", fmt.Sprintf(`{"conversation":%q}`, c.Username)))
	}
	storetest.OK(t, lin.Call(t, "booking", "book", `{"service":"dog-bath","start":"2026-11-23T15:00:00+08:00"}`))

	b := browsertest.New(t, browsertest.WindowSize(1024, 768))
	q := url.Values{"u": {"staff-anna"}}
	browsertest.Navigate(t, b, fmt.Sprintf("http://%s/console/?%s#%s", s.HTTP, q.Encode(), url.Values{"p": {"pw-staff-anna"}}.Encode()))
	browsertest.WaitJS(t, b, `window.consoleView && document.getElementById('signin')`, 10*time.Second)
	consoleRun(t, b, chromedp.Click(chromedp.CSS("#signin")))
	browsertest.WaitJS(t, b, `consoleView.state === 'ready'`, 10*time.Second, showConsole)

	title := func(conv string) string {
		return fmt.Sprintf(`(document.querySelector('[data-conversation=%q] .conv-title') || {}).textContent`, conv)
	}
	browsertest.WaitJS(t, b, title(lin.Username)+` === 'Lin' && `+title(anon.Username)+` === 'Customer · `+anon.Username[len(anon.Username)-4:]+`'`,
		10*time.Second, `JSON.stringify(window.consoleCustomers)`)
	if n := browsertest.Eval[int](t, b, `[...document.querySelectorAll('.conv-title')].filter(e => e.textContent.includes('cust-')).length`); n != 0 {
		t.Errorf("%d conversations still titled by id", n)
	}

	// Her conversation: the header and the card.
	consoleOpen(t, b, lin.Username)
	browsertest.WaitJS(t, b, `document.getElementById('chat-title').textContent === 'Lin' && window.consoleCustomers.card && document.getElementById('card-name').value === 'Lin'`, 10*time.Second, `JSON.stringify(window.consoleCustomers)`)
	consoleRun(t, b, chromedp.SendKeys(chromedp.ID("card-tags"), "vip, dogs"), chromedp.SendKeys(chromedp.ID("card-notes"), "prefers mornings"), chromedp.Click(chromedp.ID("card-save")))
	browsertest.WaitJS(t, b, `window.consoleCustomers.card.rev === 2`, 10*time.Second, `JSON.stringify(window.consoleCustomers)`)
	var c proto.CardAnswer
	storetest.OK(t, staff.Call(t, "customer", "card_get", fmt.Sprintf(`{"customer":%q}`, lin.Username))).Decode(t, &c)
	if c.Card.Notes != "prefers mornings" || len(c.Card.Tags) != 2 || c.Card.Name != "Lin" || c.Card.Phone != "13900001111" {
		t.Fatalf("the card after the console saved it: %+v", c.Card)
	}
	consoleShot(t, b, "customer-card")

	// The board.
	consoleClick(t, b, "#tab-board")
	browsertest.WaitJS(t, b, `[...document.querySelectorAll('.bk-service')].some(e => e.textContent.includes('Lin'))`, 10*time.Second, showConsole)
	if n := browsertest.Eval[int](t, b, `[...document.querySelectorAll('.bk-service')].filter(e => e.textContent.includes('cust-')).length`); n != 0 {
		t.Errorf("%d board cards show a customer id", n)
	}
}
