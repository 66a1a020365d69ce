package pagetest

// The staff console in headless Chromium, tablet-sized, against a whole
// store: a customer's conversation that waits for a person, a reply that
// reaches the customer, a booking made at the kiosk that shows on the
// board, check-in, a progress stage with a snapshot from the room camera
// that lands in the customer's chat, and logins that may not open it.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/device"
	devcam "github.com/storeedge/storeedge/device/camera"
	"github.com/storeedge/storeedge/device/camera/clip"
	"github.com/storeedge/storeedge/internal/testkit/browsertest"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

// consoleFleet: the devices of the console's store.
var consoleFleet = []storetest.Device{
	{ID: "staff-anna", Role: "staff"},
	{ID: "tablet-1", Role: "chat-tablet"},
	{ID: "cam-1", Role: "camera"},
	{ID: "kiosk-1", Role: "kiosk"},
}

// startConsoleStore starts a store with MQTT over WebSocket (for the page's
// origin only) and a relay whose cam-1 films table-1, on loopback.
func startConsoleStore(t *testing.T) *storetest.Store {
	t.Helper()
	return storetest.Start(t, storetest.Options{Devices: consoleFleet, Config: func(c *broker.Config) {
		c.Camera.Rooms = map[string]string{"cam-1": "table-1"}
		c.Camera.Loopback = true
		c.Listeners.Websocket = "127.0.0.1:0"
		c.Listeners.WebsocketPath = "/mqtt"
	}})
}

// startConsoleCamera connects cam (with its presence, so the console lists
// it as online) and streams the test clip until the test ends.
func startConsoleCamera(t *testing.T, s *storetest.Store, cam string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := device.Connect(ctx, device.Config{Brokers: []string{"mqtt://" + s.Addr}, DeviceID: cam, Password: "pw-" + cam,
		ReconnectMin: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("connect %s: %v", cam, err)
	}
	src, err := clip.NewSource()
	if err != nil {
		t.Fatal(err)
	}
	p := devcam.New(c, src, devcam.Options{PeerOptions: devcam.PeerOptions{Loopback: true, Log: slog.New(slog.DiscardHandler)}})
	rctx, rcancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(rctx) }()
	t.Cleanup(func() {
		rcancel()
		if err := <-done; err != nil {
			t.Errorf("camera %s: %v", cam, err)
		}
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		_ = c.Close(cctx)
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := p.Registration(); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not registered within 10 s", cam)
		}
		time.Sleep(10 * time.Millisecond) // polling the publisher's state
	}
}

const showConsole = `JSON.stringify(window.consoleView)`

// consoleShot writes the viewport to console-<name>.png in the screenshot
// directory, the name the README and `make screenshots` use.
func consoleShot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(browsertest.ScreenshotDir(t), "console-"+name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func consoleRun(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// consoleClick clicks the element sel names. A redraw of the board between
// finding the element and clicking it replaces the node (chromedp: "Could not
// find node"); the click is then aimed again at the redrawn element.
func consoleClick(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	var err error
	for range 3 {
		if err = chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel))); err == nil || !strings.Contains(err.Error(), "Could not find node") {
			break
		}
	}
	if err != nil {
		t.Fatalf("click %s: %v", sel, err)
	}
}

// consoleType types text into the empty field sel names, as consoleClick
// clicks: a redraw of the board between finding the field and focusing it is
// met by aiming again at the redrawn field (no key has been sent by then).
// The field must then hold exactly text: a redraw in the middle of typing
// keeps the focus and the typed value.
func consoleType(t *testing.T, ctx context.Context, sel, text string) {
	t.Helper()
	var err error
	for range 3 {
		if err = chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(sel), text)); err == nil || !strings.Contains(err.Error(), "Could not find node") {
			break
		}
	}
	if err != nil {
		t.Fatalf("type into %s: %v", sel, err)
	}
	// Keys go to the focused element: a page still loading may move the
	// focus (to the reply box, a dialog) between SendKeys' focus and its
	// keys. Then the text is typed again, into the field emptied first.
	want := fmt.Sprintf(`document.querySelector(%q).value === %q`, sel, text)
	for range 3 {
		if browsertest.Eval[bool](t, ctx, want) {
			return
		}
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) { // polling with a deadline
			if browsertest.Eval[bool](t, ctx, want) {
				return
			}
		}
		browsertest.Eval[bool](t, ctx, fmt.Sprintf(`(() => { const el = document.querySelector(%q); el.value = ''; el.focus(); return true; })()`, sel))
		if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(sel), text)); err != nil {
			t.Fatalf("type into %s: %v", sel, err)
		}
	}
	browsertest.WaitJS(t, ctx, want, 5*time.Second)
}

// consoleOpen opens conversation conv from the console's list, as staff
// tap it. The list is redrawn whenever a conversation changes; a redraw
// between the press and the release of a click swallows the click, as it
// would a finger's tap, so the tap is repeated until the conversation is
// open.
func consoleOpen(t *testing.T, ctx context.Context, conv string) {
	t.Helper()
	sel := fmt.Sprintf(`[data-conversation=%q]`, conv)
	open := fmt.Sprintf(`!!(window.consoleView && consoleView.open && consoleView.open.conversation === %q)`, conv)
	for range 3 {
		consoleClick(t, ctx, sel)
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) {
			if browsertest.Eval[bool](t, ctx, open) {
				return
			}
			time.Sleep(50 * time.Millisecond) // polling with a deadline
		}
	}
	t.Fatalf("conversation %s did not open after three taps", conv)
}

// consoleSignIn fills the console's form and submits it.
func consoleSignIn(t *testing.T, ctx context.Context, user, password string) {
	t.Helper()
	consoleRun(t, ctx,
		chromedp.SetValue(chromedp.CSS("#user"), user),
		chromedp.SetValue(chromedp.CSS("#pass"), password),
		chromedp.Click(chromedp.CSS("#signin")))
}

type consoleHistoryMsg struct {
	Seq  int    `json:"seq"`
	From string `json:"from"`
	Kind string `json:"kind"`
	Text string `json:"text"`
	Card *struct {
		Type  string `json:"type"`
		Stage string `json:"stage"`
		Photo string `json:"photo"`
	} `json:"card"`
	Media *struct {
		Hash string `json:"hash"`
	} `json:"media"`
}

func consoleHistory(t *testing.T, c *storetest.Client, conv string) []consoleHistoryMsg {
	t.Helper()
	var h struct {
		Messages []consoleHistoryMsg `json:"messages"`
	}
	storetest.OK(t, c.Call(t, "chat", "history", fmt.Sprintf(`{"conversation":%q,"limit":100}`, conv))).Decode(t, &h)
	return h.Messages
}

func TestConsole(t *testing.T) {
	s := startConsoleStore(t)
	startConsoleCamera(t, s, "cam-1")
	tablet := s.Connect(t, storetest.Device{ID: "tablet-1", Role: "chat-tablet"}, "qr")
	kiosk := s.Connect(t, storetest.Device{ID: "kiosk-1", Role: "kiosk"}, "")

	b := browsertest.New(t, browsertest.WindowSize(1024, 768))
	q := url.Values{"u": {"staff-anna"}}
	browsertest.Navigate(t, b, fmt.Sprintf("http://%s/console/?%s#%s", s.HTTP, q.Encode(), url.Values{"p": {"pw-staff-anna"}}.Encode()))
	browsertest.WaitJS(t, b, `window.consoleView && document.getElementById('signin')`, 10*time.Second)
	consoleRun(t, b, chromedp.Click(chromedp.CSS("#signin")))
	browsertest.WaitJS(t, b, `consoleView.state === 'ready'`, 10*time.Second, showConsole)
	// The camera announced itself (retained devices/cam-1/status).
	browsertest.WaitJS(t, b, `consoleView.devices['cam-1'] === 'online'`, 10*time.Second, showConsole)

	// A customer scans the tablet's code, asks, and wants a person.
	cust := s.CustomerLogin(t, tablet, "", "phone", false)
	var opened struct {
		Conversation string `json:"conversation"`
	}
	storetest.OK(t, cust.Call(t, "chat", "open", `{}`)).Decode(t, &opened)
	conv := opened.Conversation
	cust.Subscribe(t, "chat/"+conv+"/events")
	storetest.OK(t, cust.Call(t, "chat", "send", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"Is Dou OK? She is afraid of the dryer"}`, conv)))
	storetest.OK(t, cust.Call(t, "chat", "handoff", fmt.Sprintf(`{"conversation":%q}`, conv)))

	// Another conversation that does not wait, so "first" means something.
	other := s.CustomerLogin(t, tablet, "", "phone", false)
	storetest.OK(t, other.Call(t, "chat", "open", `{}`))
	storetest.OK(t, other.Call(t, "chat", "send", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"What time do you open?"}`, other.Username)))

	browsertest.WaitJS(t, b, fmt.Sprintf(`(() => { const c = consoleView.conversations;
		return c.length >= 2 && c[0].conversation === %q && c[0].waiting && c[0].unread > 0; })()`, conv), 10*time.Second, showConsole)

	// Staff open it and reply with Enter.
	consoleOpen(t, b, conv)
	browsertest.WaitJS(t, b, fmt.Sprintf(`consoleView.open && consoleView.open.conversation === %q &&
		consoleView.open.messages.some(m => m.from === %q && m.text.includes('afraid'))`, conv, cust.Username), 10*time.Second, showConsole)
	const reply = "Dou is fine, we dry her gently by hand."
	consoleRun(t, b, chromedp.SendKeys(chromedp.CSS("#reply"), reply+kb.Enter))
	browsertest.WaitJS(t, b, fmt.Sprintf(`consoleView.open.messages.some(m => m.from === 'staff-anna' && m.text === %q)`, reply), 10*time.Second, showConsole)
	cust.WaitFor(t, 1, func(m storetest.Msg) bool {
		return m.Topic == "chat/"+conv+"/events" && strings.Contains(string(m.Payload), `"from":"staff-anna"`)
	})
	found := false
	for _, m := range consoleHistory(t, cust, conv) {
		if m.From == "staff-anna" && m.Text == reply {
			found = true
		}
	}
	if !found {
		t.Fatalf("the customer's history lacks the reply: %+v", consoleHistory(t, cust, conv))
	}
	// Answered: no longer waiting, and read.
	browsertest.WaitJS(t, b, fmt.Sprintf(`consoleView.conversations.some(c => c.conversation === %q && !c.waiting && c.unread === 0)`, conv), 10*time.Second, showConsole)
	consoleShot(t, b, "chats")

	// The kiosk books for this customer, with the pet's profile, once she
	// has confirmed from her phone that she is at the kiosk.
	var code struct {
		Code string `json:"code"`
	}
	storetest.OK(t, kiosk.Call(t, "booking", "presence_start", `{}`)).Decode(t, &code)
	storetest.OK(t, cust.Call(t, "chat", "presence_confirm", fmt.Sprintf(`{"code":%q}`, code.Code)))
	var prof struct {
		Profile struct {
			ID string `json:"id"`
		} `json:"profile"`
	}
	storetest.OK(t, kiosk.Call(t, "booking", "profile_put", fmt.Sprintf(`{"customer":%q,"profile":{"kind":"pet","name":"Dou","species":"dog","breed":"golden retriever","size":"medium","temperament":"afraid of the dryer"}}`, cust.Username))).Decode(t, &prof)
	var av struct {
		Days []struct {
			Slots []struct {
				Start string `json:"start"`
			} `json:"slots"`
		} `json:"days"`
	}
	storetest.OK(t, kiosk.Call(t, "booking", "availability", fmt.Sprintf(`{"service":"dog-groom","date":%q}`, s.Now().Format(time.DateOnly)))).Decode(t, &av)
	if len(av.Days) == 0 || len(av.Days[0].Slots) == 0 {
		t.Fatalf("no free dog-groom slot today: %+v", av)
	}
	var bk struct {
		Booking struct {
			ID        string   `json:"id"`
			Resources []string `json:"resources"`
		} `json:"booking"`
	}
	storetest.OK(t, kiosk.Call(t, "booking", "book", fmt.Sprintf(`{"service":"dog-groom","start":%q,"customer":%q,"profile":%q,"notes":"allergic to oat shampoo"}`,
		av.Days[0].Slots[0].Start, cust.Username, prof.Profile.ID))).Decode(t, &bk)
	id := bk.Booking.ID

	// The board shows it live (booking/events), with the pet's name and notes.
	consoleRun(t, b, chromedp.Click(chromedp.CSS("#tab-board")))
	browsertest.WaitJS(t, b, fmt.Sprintf(`consoleView.board.some(x => x.id === %q && x.status === 'booked')`, id), 10*time.Second, showConsole)
	card := browsertest.Eval[string](t, b, fmt.Sprintf(`document.getElementById(%q).textContent`, "bk-"+id))
	for _, want := range []string{"Dou", "afraid of the dryer", "allergic to oat shampoo"} {
		if !strings.Contains(card, want) {
			t.Errorf("the board's card lacks %q: %s", want, card)
		}
	}

	consoleClick(t, b, "#bk-"+id+"-checkin")
	browsertest.WaitJS(t, b, fmt.Sprintf(`consoleView.board.some(x => x.id === %q && x.status === 'checked_in' && x.stage === 'checked_in')`, id), 10*time.Second, showConsole)

	// Post "bathing" with a snapshot from cam-1: one tap after choosing.
	browsertest.WaitJS(t, b, fmt.Sprintf(`document.getElementById('bk-%s-stage') && document.getElementById('bk-%s-stage').value === 'bathing'`, id, id), 5*time.Second)
	consoleClick(t, b, "#bk-"+id+"-snap")
	browsertest.WaitJS(t, b, fmt.Sprintf(`!!document.getElementById('bk-%s-camera')`, id), 5*time.Second)
	consoleType(t, b, "#bk-"+id+"-camera", "cam-1")
	// Another booking arriving redraws the board: the groomer's field keeps
	// its focus, its text and its caret.
	if len(av.Days[0].Slots) > 1 {
		// The groomer has moved the caret back to fix a letter.
		browsertest.Eval[bool](t, b, fmt.Sprintf(`(() => { const f = document.getElementById('bk-%s-camera'); f.setSelectionRange(2, 2); return true; })()`, id))
		var other struct {
			Booking struct {
				ID string `json:"id"`
			} `json:"booking"`
		}
		storetest.OK(t, kiosk.Call(t, "booking", "book", fmt.Sprintf(`{"service":"dog-groom","start":%q,"customer":%q}`,
			av.Days[0].Slots[len(av.Days[0].Slots)-1].Start, cust.Username))).Decode(t, &other)
		browsertest.WaitJS(t, b, fmt.Sprintf(`consoleView.board.some(x => x.id === %q)`, other.Booking.ID), 10*time.Second, showConsole)
		if got := browsertest.Eval[string](t, b, `(() => { const a = document.activeElement; return a.id + '|' + a.value + '|' + a.selectionStart; })()`); got != "bk-"+id+"-camera|cam-1|2" {
			t.Errorf("after a redraw the focused field is %q, want the camera field with cam-1 and the caret where it was (2)", got)
		}
	}
	consoleClick(t, b, "#bk-"+id+"-post")
	browsertest.WaitJS(t, b, fmt.Sprintf(`consoleView.board.some(x => x.id === %q && x.stage === 'bathing')`, id), 20*time.Second, showConsole,
		fmt.Sprintf(`document.getElementById('bk-%s-msg').textContent`, id))
	// The next stage is offered next, for the one tap that follows.
	browsertest.WaitJS(t, b, fmt.Sprintf(`document.getElementById('bk-%s-stage').value === 'drying'`, id), 5*time.Second)
	consoleShot(t, b, "board")

	// The customer's chat has the progress card and, after it, the photo.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var cardPhoto, photo string
		for _, m := range consoleHistory(t, cust, conv) {
			if m.From == "booking" && m.Kind == "card" && m.Card != nil && m.Card.Type == "progress" && m.Card.Stage == "bathing" {
				cardPhoto = m.Card.Photo
			}
			if m.From == "booking" && m.Kind == "image" && m.Media != nil {
				photo = m.Media.Hash
			}
		}
		if cardPhoto != "" && cardPhoto == photo {
			break
		}
		if time.Now().After(deadline) {
			h, _ := json.Marshal(consoleHistory(t, cust, conv))
			t.Fatalf("no progress card with its photo in the customer's chat: %s", h)
		}
		time.Sleep(50 * time.Millisecond) // polling the customer's history
	}
	// The console's own chat shows them too (the card and the photo).
	consoleRun(t, b, chromedp.Click(chromedp.CSS("#tab-chats")))
	browsertest.WaitJS(t, b, `consoleView.open.messages.some(m => m.from === 'booking' && m.kind === 'card' && m.card.type === 'progress') &&
		consoleView.open.messages.some(m => m.from === 'booking' && m.kind === 'image')`, 10*time.Second, showConsole)

	consoleRun(t, b, chromedp.Click(chromedp.CSS("#tab-health")))
	// svc/store/health answers on this store: the disk is shown, not n/a.
	browsertest.WaitJS(t, b, `consoleView.health && consoleView.health.disk_total_bytes > 0`, 10*time.Second, showConsole)
	consoleShot(t, b, "health")

	// Logins that may not open the console: a customer's and a chat
	// tablet's (a device, but not staff).
	consoleRun(t, b, chromedp.Click(chromedp.CSS("#logout")))
	browsertest.WaitJS(t, b, `consoleView.state === 'login'`, 5*time.Second, showConsole)
	custUser, custPass := s.CustomerCredentials(t, tablet, "")
	consoleSignIn(t, b, custUser, custPass)
	browsertest.WaitJS(t, b, `consoleView.state === 'error' && consoleView.error === 'not_staff'`, 10*time.Second, showConsole)
	if msg := browsertest.Eval[string](t, b, `document.getElementById('login-error').textContent`); msg != "This account cannot open the staff console." {
		t.Errorf("customer login: %q", msg)
	}
	consoleShot(t, b, "refused")
	consoleSignIn(t, b, "tablet-1", "pw-tablet-1")
	browsertest.WaitJS(t, b, `consoleView.state === 'error' && consoleView.error === 'not_staff' && !document.getElementById('signin').disabled`, 15*time.Second, showConsole)
	consoleSignIn(t, b, "staff-anna", "wrong")
	browsertest.WaitJS(t, b, `consoleView.state === 'error' && consoleView.error === 'login'`, 10*time.Second, showConsole)
}
