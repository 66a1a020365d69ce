package pagetest

// The consultants' desk across three screens: a customer on her phone, and
// two staff consoles. Anna takes the customer's chat (the phone says "Anna
// is answering"), they see each other typing, Anna transfers the chat to
// Lin with a note, Lin accepts it in her console, and the phone says "Lin
// is answering".

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/internal/testkit/browsertest"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

// signInConsole opens a console in b and signs in as user.
func signInConsole(t *testing.T, b context.Context, s *storetest.Store, user, password string) {
	t.Helper()
	q := url.Values{"u": {user}}
	browsertest.Navigate(t, b, fmt.Sprintf("http://%s/console/?%s#%s", s.HTTP, q.Encode(), url.Values{"p": {password}}.Encode()))
	browsertest.WaitJS(t, b, `window.consoleView && document.getElementById('signin')`, 10*time.Second)
	consoleRun(t, b, chromedp.Click(chromedp.CSS("#signin")))
	browsertest.WaitJS(t, b, `consoleView.state === 'ready' && consoleView.chatDesk && consoleView.chatDesk.colleagues.length >= 2`, 10*time.Second, showConsole)
}

func TestDeskTransferAndTyping(t *testing.T) {
	s := storetest.Start(t, storetest.Options{Devices: []storetest.Device{{ID: "tablet-1", Role: "chat-tablet"}, {ID: "owner", Role: "admin"}},
		Config: func(c *broker.Config) {
			c.Listeners.Websocket = "127.0.0.1:0"
			c.Listeners.WebsocketPath = "/mqtt"
		}})
	tablet := s.Connect(t, storetest.Device{ID: "tablet-1", Role: "chat-tablet"}, "qr")
	owner := s.Connect(t, storetest.Device{ID: "owner", Role: "admin"}, "")
	for _, a := range [][2]string{{"staff-anna", "Anna"}, {"staff-lin", "Lin"}} {
		storetest.OK(t, owner.Call(t, "accounts", "staff_add", fmt.Sprintf(`{"account":%q,"name":%q,"role":"staff","password":"%s-password-1"}`, a[0], a[1], a[0])))
	}

	// The customer scans the code and asks for a person.
	phone := browsertest.New(t, browsertest.Phone())
	browsertest.Navigate(t, phone, chatURL(t, s, tablet))
	browsertest.WaitJS(t, phone, `chatView.state === 'ready' && chatView.status === 'online'`, 10*time.Second, showChat)
	customer := browsertest.Eval[string](t, phone, `chatView.customer`)
	typeAndSend(t, phone, "Can Dou have the oat shampoo after her vaccination?")
	run(t, phone, chromedp.Click(chromedp.ID("handoff")))
	browsertest.WaitJS(t, phone, `document.getElementById('confirm-handoff').open`, 5*time.Second)
	run(t, phone, chromedp.Click(chromedp.ID("handoff-yes")))
	browsertest.WaitJS(t, phone, `chatView.handoff === true`, 10*time.Second, showChat)
	if got := browsertest.Eval[bool](t, phone, `document.getElementById('agent').hidden`); !got {
		t.Fatal(`the phone says someone is answering before anyone took the chat`)
	}

	// Anna takes it over: the phone names her.
	anna := browsertest.New(t, browsertest.WindowSize(1280, 800))
	signInConsole(t, anna, s, "staff-anna", "staff-anna-password-1")
	browsertest.WaitJS(t, anna, fmt.Sprintf(`consoleView.conversations.some(c => c.conversation === %q && c.waiting)`, customer), 10*time.Second, showConsole)
	consoleOpen(t, anna, customer)
	consoleClick(t, anna, "#take-over")
	browsertest.WaitJS(t, phone, `chatView.agent && chatView.agent.name === 'Anna' && document.getElementById('agent').textContent === 'Anna is answering'`, 10*time.Second, showChat)

	// Typing, both ways: the customer types (not sent yet), Anna sees it;
	// Anna types, the phone shows "Anna is typing…".
	run(t, phone, chromedp.SendKeys(chromedp.ID("text"), "And is it OK for"))
	browsertest.WaitJS(t, anna, `consoleView.chatDesk.typing.length === 1 && document.getElementById('desk-typing').textContent.endsWith('is typing…')`, 10*time.Second, showConsole)
	consoleShot(t, anna, "desk-customer-typing")
	consoleRun(t, anna, chromedp.SendKeys(chromedp.CSS("#reply"), "Yes, two days after"))
	browsertest.WaitJS(t, phone, `chatView.typing.length === 1 && document.getElementById('typing').textContent === 'Anna is typing…'`, 10*time.Second, showChat)
	shot(t, phone, "desk-anna-typing")
	// Sent: the typing line goes at once (a message ends its sender's typing,
	// and "false" follows).
	consoleRun(t, anna, chromedp.SendKeys(chromedp.CSS("#reply"), " the vaccination."+kb.Enter))
	browsertest.WaitJS(t, phone, `chatView.messages.some(m => m.from === 'staff-anna') && chatView.typing.length === 0 && document.getElementById('typing').textContent === ''`, 10*time.Second, showChat)
	typeAndSend(t, phone, " cats too?")
	browsertest.WaitJS(t, anna, `consoleView.chatDesk.typing.length === 0`, 10*time.Second, showConsole)

	// Lin signs in; Anna transfers the chat to her with a note.
	lin := browsertest.New(t, browsertest.WindowSize(1280, 800))
	signInConsole(t, lin, s, "staff-lin", "staff-lin-password-1")
	const note = "Dou had her vaccination on Monday; she asks about the oat shampoo"
	consoleClick(t, anna, "#transfer-open")
	browsertest.WaitJS(t, anna, `document.getElementById('transfer-dialog').open && [...document.getElementById('transfer-to').options].some(o => o.value === 'staff-lin')`, 5*time.Second)
	setField(t, anna, "transfer-to", "staff-lin", "change")
	consoleType(t, anna, "#transfer-note", note)
	consoleShot(t, anna, "desk-transfer-dialog")
	consoleClick(t, anna, "#transfer-send")
	browsertest.WaitJS(t, anna, `!document.getElementById('transfer-dialog').open && consoleView.chatDesk.status === 'Offered to Lin: waiting for an answer.'`, 10*time.Second, showConsole)

	// Lin's console shows the offer with the note; she accepts.
	browsertest.WaitJS(t, lin, fmt.Sprintf(`consoleView.chatDesk.offers.length === 1 && consoleView.chatDesk.offers[0].conversation === %q &&
		consoleView.chatDesk.offers[0].note === %q && document.getElementById('offer-%s').textContent.includes('Anna offers you a conversation')`, customer, note, customer), 10*time.Second, showConsole)
	consoleShot(t, lin, "desk-offer")
	consoleClick(t, lin, "#lang")
	browsertest.WaitJS(t, lin, fmt.Sprintf(`document.getElementById('offer-%s').textContent.includes('Anna 想把与') && document.getElementById('offer-accept-%s').textContent === '接受'`, customer, customer), 5*time.Second, showConsole)
	consoleShot(t, lin, "desk-offer-zh")
	consoleClick(t, lin, "#lang")
	browsertest.WaitJS(t, lin, fmt.Sprintf(`document.getElementById('offer-accept-%s').textContent === 'Accept'`, customer), 5*time.Second, showConsole)
	// The customer never sees the note.
	if browsertest.Eval[bool](t, phone, fmt.Sprintf(`document.body.textContent.includes(%q)`, note)) {
		t.Fatal("the customer's page shows the staff's transfer note")
	}
	consoleClick(t, lin, "#offer-accept-"+customer)
	browsertest.WaitJS(t, lin, fmt.Sprintf(`consoleView.chatDesk.offers.length === 0 && consoleView.open && consoleView.open.conversation === %q`, customer), 10*time.Second, showConsole)

	// The phone now names Lin; Anna's console says Lin took over.
	browsertest.WaitJS(t, phone, `chatView.agent.name === 'Lin' && document.getElementById('agent').textContent === 'Lin is answering'`, 10*time.Second, showChat)
	browsertest.WaitJS(t, anna, `consoleView.chatDesk.status === 'Lin took over this conversation.' && document.getElementById('transfer-open').hidden`, 10*time.Second, showConsole)
	consoleShot(t, anna, "desk-transferred")
	consoleRun(t, lin, chromedp.SendKeys(chromedp.CSS("#reply"), "Hi, this is Lin. Yes, cats too."+kb.Enter))
	browsertest.WaitJS(t, phone, `chatView.messages.some(m => m.from === 'staff-lin')`, 10*time.Second, showChat)
	shot(t, phone, "desk-lin-answering")
	run(t, phone, chromedp.Click(chromedp.ID("lang")))
	browsertest.WaitJS(t, phone, `document.getElementById('agent').textContent === 'Lin 正在为你服务'`, 5*time.Second, showChat)
	shot(t, phone, "desk-lin-answering-zh")

	// Lin offers it back; Anna declines: Lin keeps it and is told, and the
	// phone still names Lin.
	consoleClick(t, lin, "#transfer-open")
	browsertest.WaitJS(t, lin, `document.getElementById('transfer-dialog').open && [...document.getElementById('transfer-to').options].some(o => o.value === 'staff-anna')`, 5*time.Second)
	setField(t, lin, "transfer-to", "staff-anna", "change")
	consoleClick(t, lin, "#transfer-send")
	browsertest.WaitJS(t, anna, fmt.Sprintf(`consoleView.chatDesk.offers.length === 1 && !!document.getElementById('offer-decline-%s')`, customer), 10*time.Second, showConsole)
	consoleClick(t, anna, "#offer-decline-"+customer)
	browsertest.WaitJS(t, lin, `consoleView.chatDesk.status === 'Anna declined: the conversation stays with you.'`, 10*time.Second, showConsole)
	consoleShot(t, lin, "desk-declined")
	if name := browsertest.Eval[string](t, phone, `chatView.agent.name`); name != "Lin" {
		t.Fatalf("after a declined offer the phone names %q", name)
	}
}

// In a group, the console shows on Anna's own message how many of the
// other members have read it, and their names on tap.
func TestDeskGroupReadBy(t *testing.T) {
	s := storetest.Start(t, storetest.Options{Devices: []storetest.Device{{ID: "owner", Role: "admin"}, {ID: "staff-bo", Role: "staff"}, {ID: "staff-cy", Role: "staff"}, {ID: "tablet-1", Role: "chat-tablet"}},
		Config: func(c *broker.Config) {
			c.Listeners.Websocket = "127.0.0.1:0"
			c.Listeners.WebsocketPath = "/mqtt"
		}})
	owner := s.Connect(t, storetest.Device{ID: "owner", Role: "admin"}, "")
	for _, a := range [][2]string{{"staff-anna", "Anna"}, {"staff-lin", "Lin"}} {
		storetest.OK(t, owner.Call(t, "accounts", "staff_add", fmt.Sprintf(`{"account":%q,"name":%q,"role":"staff","password":"%s-password-1"}`, a[0], a[1], a[0])))
	}
	annaAPI := s.ConnectAs(t, "staff-anna", "staff-anna-password-1", "api", false)
	var g struct{ Conversation string }
	storetest.OK(t, annaAPI.Call(t, "chat", "group_create", `{"title":"Saturday shift","members":["staff-lin","staff-bo","staff-cy","tablet-1"]}`)).Decode(t, &g)

	anna := browsertest.New(t, browsertest.WindowSize(1280, 800))
	signInConsole(t, anna, s, "staff-anna", "staff-anna-password-1")
	browsertest.WaitJS(t, anna, fmt.Sprintf(`consoleView.conversations.some(c => c.conversation === %q)`, g.Conversation), 10*time.Second, showConsole)
	consoleOpen(t, anna, g.Conversation)
	consoleRun(t, anna, chromedp.SendKeys(chromedp.CSS("#reply"), "The 9:30 poodle moves to table 2"+kb.Enter))
	browsertest.WaitJS(t, anna, `consoleView.open.messages.some(m => m.from === 'staff-anna' && m.kind === 'text')`, 10*time.Second, showConsole)
	seq := browsertest.Eval[int](t, anna, `consoleView.open.messages.filter(m => m.from === 'staff-anna' && m.kind === 'text')[0].seq`)
	browsertest.WaitJS(t, anna, fmt.Sprintf(`(r => r && r.read === 0 && r.of === 4)(consoleView.chatDesk.readers[%d])`, seq), 10*time.Second, showConsole)

	// Lin and Bo read it: "Read by 2 of 4"; a tap names them and the others.
	lin := s.ConnectAs(t, "staff-lin", "staff-lin-password-1", "api", false)
	bo := s.Connect(t, storetest.Device{ID: "staff-bo", Role: "staff"}, "api")
	for _, c := range []*storetest.Client{lin, bo} {
		storetest.OK(t, c.Call(t, "chat", "read", fmt.Sprintf(`{"conversation":%q,"up_to":%d}`, g.Conversation, seq)))
	}
	browsertest.WaitJS(t, anna, fmt.Sprintf(`(r => r && r.read === 2 && r.of === 4)(consoleView.chatDesk.readers[%d]) &&
		document.getElementById('readers-%d').textContent === 'Read by 2 of 4'`, seq, seq), 10*time.Second, showConsole)
	consoleClick(t, anna, fmt.Sprintf("#readers-%d", seq))
	browsertest.WaitJS(t, anna, fmt.Sprintf(`(n => n && n.textContent.includes('Read: staff-bo, Lin') && n.textContent.includes('Not yet: staff-cy, tablet-1'))(document.getElementById('readers-names-%d'))`, seq), 10*time.Second, showConsole)
	consoleShot(t, anna, "desk-read-by")
}
