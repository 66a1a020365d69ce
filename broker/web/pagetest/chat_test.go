package pagetest

// The customer's scan-to-chat page (/chat) on a phone-sized headless
// Chromium: the code's token, text, a photo, the FAQ assistant, talk to a
// person, the staff's reply and read ticks, and a dropped connection.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/internal/testkit/browsertest"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

var fleet = []storetest.Device{
	{ID: "tablet-1", Role: "chat-tablet"},
	{ID: "staff-anna", Role: "staff"},
	{ID: "kiosk-1", Role: "kiosk"},
}

// startWebStore starts a store with MQTT over WebSocket on, which the
// pages need; only the pages' own origin may open it.
func startWebStore(t *testing.T) *storetest.Store {
	t.Helper()
	return storetest.Start(t, storetest.Options{Devices: fleet, Config: func(c *broker.Config) {
		c.Listeners.Websocket = "127.0.0.1:0"
		c.Listeners.WebsocketPath = "/mqtt"
	}})
}

// chatURL asks the tablet for a scan-to-chat code and returns the URL its
// QR code holds, on the test store's HTTP listener instead of the
// configured public_url's host (storeedge.local), path and query kept.
func chatURL(t *testing.T, s *storetest.Store, tablet *storetest.Client) string {
	t.Helper()
	var sess struct {
		URL string `json:"url"`
	}
	storetest.OK(t, tablet.Call(t, "chat", "session", "{}")).Decode(t, &sess)
	i := strings.Index(sess.URL, "/chat?t=")
	if i < 0 {
		t.Fatalf("session url %q: want …/chat?t=…", sess.URL)
	}
	return "http://" + s.HTTP + sess.URL[i:]
}

type pageMsg struct {
	Seq      int    `json:"seq"`
	From     string `json:"from"`
	Kind     string `json:"kind"`
	Text     string `json:"text"`
	Auto     bool   `json:"auto"`
	Ticks    string `json:"ticks"`
	Recalled any    `json:"recalled"`
}

type chatView struct {
	State        string    `json:"state"`
	Customer     string    `json:"customer"`
	Conversation string    `json:"conversation"`
	Status       string    `json:"status"`
	Messages     []pageMsg `json:"messages"`
	Pending      []any     `json:"pending"`
	Handoff      bool      `json:"handoff"`
	Notice       *string   `json:"notice"`
}

const showChat = `JSON.stringify(window.chatView)`

// shot saves a screenshot as chat-<name>.png in browsertest's folder.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(browsertest.ScreenshotDir(t), "chat-"+name+".png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

// typeAndSend types text into the composer and taps Send.
func typeAndSend(t *testing.T, b context.Context, text string) {
	t.Helper()
	run(t, b, chromedp.SendKeys(chromedp.ID("text"), text), chromedp.Click(chromedp.ID("send")))
}

// run runs chromedp actions in the page and fails the test on an error.
func run(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// testPhoto writes a PNG the size of a phone photo's short side.
func testPhoto(t *testing.T) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 1200, 900))
	for y := 0; y < 900; y++ {
		for x := 0; x < 1200; x++ {
			img.Set(x, y, color.RGBA{uint8(x / 5), uint8(y / 4), 160, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "dog.png")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestChatPage(t *testing.T) {
	s := startWebStore(t)
	tablet := s.Connect(t, storetest.Device{ID: "tablet-1", Role: "chat-tablet"}, "qr")
	staff := s.Connect(t, storetest.Device{ID: "staff-anna", Role: "staff"}, "console")
	b := browsertest.New(t, browsertest.Phone())

	// The QR code's URL: /chat?t=… (redirected to /chat/, token kept).
	browsertest.Navigate(t, b, chatURL(t, s, tablet))
	browsertest.WaitJS(t, b, `chatView.state === 'ready' && chatView.status === 'online'`, 10*time.Second, showChat)
	if loc := browsertest.Eval[string](t, b, `location.pathname + location.search`); loc != "/chat/" {
		t.Errorf("address after login %q: the token must leave the address bar", loc)
	}
	v := browsertest.Eval[chatView](t, b, `chatView`)
	if !strings.HasPrefix(v.Customer, "cust-") || v.Conversation != v.Customer {
		t.Fatalf("customer %q conversation %q", v.Customer, v.Conversation)
	}
	conv := v.Conversation

	// A text, then a photo from the camera roll (resized and uploaded).
	typeAndSend(t, b, "Hello, I am here with Dou")
	browsertest.WaitJS(t, b, `chatView.messages.some(m => m.from === chatView.customer && m.text === 'Hello, I am here with Dou')`, 10*time.Second, showChat)
	run(t, b, chromedp.SetUploadFiles(chromedp.ID("photo"), []string{testPhoto(t)}))
	browsertest.WaitJS(t, b, `chatView.messages.some(m => m.from === chatView.customer && m.kind === 'image')`, 15*time.Second, showChat)
	browsertest.WaitJS(t, b, `[...document.querySelectorAll('#messages img.photo')].some(i => i.complete && i.naturalWidth > 0)`, 10*time.Second)
	if errs := browsertest.Eval[[]string](t, b, `chatView.mediaErrors`); len(errs) != 0 {
		t.Errorf("blobs the page could not read: %v", errs)
	}

	// A question the FAQ knows is answered at once, marked automatic.
	typeAndSend(t, b, "What time do you open?")
	browsertest.WaitJS(t, b, `chatView.messages.some(m => m.from === 'assistant' && m.auto)`, 10*time.Second, showChat)
	if n := browsertest.Eval[int](t, b, `document.querySelectorAll('#messages .msg.auto .badge').length`); n == 0 {
		t.Error("the automatic answer is not marked as such on screen")
	}
	shot(t, b, "faq")

	// Talk to a person, confirmed in a dialog.
	run(t, b, chromedp.Click(chromedp.ID("handoff")))
	browsertest.WaitJS(t, b, `document.getElementById('confirm-handoff').open`, 5*time.Second)
	shot(t, b, "handoff-confirm")
	run(t, b, chromedp.Click(chromedp.ID("handoff-yes")))
	browsertest.WaitJS(t, b, `chatView.handoff === true`, 10*time.Second, showChat)

	// Staff see the conversation waiting, join, reply and read.
	var waiting struct {
		Conversations []struct {
			Conversation string `json:"conversation"`
		} `json:"conversations"`
	}
	storetest.OK(t, staff.Call(t, "chat", "waiting", "{}")).Decode(t, &waiting)
	found := false
	for _, c := range waiting.Conversations {
		found = found || c.Conversation == conv
	}
	if !found {
		t.Fatalf("%s is not in the waiting queue: %+v", conv, waiting)
	}
	storetest.OK(t, staff.Call(t, "chat", "open", fmt.Sprintf(`{"conversation":%q}`, conv)))
	var sent struct {
		Seq int `json:"seq"`
	}
	storetest.OK(t, staff.Call(t, "chat", "send", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"Hi, this is Anna. Dou is fine."}`, conv))).Decode(t, &sent)
	browsertest.WaitJS(t, b, `chatView.messages.some(m => m.from === 'staff-anna' && m.text.startsWith('Hi, this is Anna'))`, 10*time.Second, showChat)
	// The page marks the reply read (the chat is on screen).
	waitRead(t, staff, conv, v.Customer, sent.Seq)
	storetest.OK(t, staff.Call(t, "chat", "read", fmt.Sprintf(`{"conversation":%q,"up_to":%d}`, conv, sent.Seq)))
	browsertest.WaitJS(t, b, `chatView.messages.filter(m => m.from === chatView.customer).every(m => m.ticks === 'read')`, 10*time.Second, showChat)
	if n := browsertest.Eval[int](t, b, `document.querySelectorAll('#messages .tick-read').length`); n < 2 {
		t.Errorf("%d read ticks on screen", n)
	}
	shot(t, b, "reply-read")

	// Switch to Chinese and back: the page's strings follow.
	run(t, b, chromedp.Click(chromedp.ID("lang")))
	if got := browsertest.Eval[string](t, b, `document.getElementById('send').textContent`); got != "发送" {
		t.Errorf("Send in Chinese: %q", got)
	}
	shot(t, b, "zh")
	run(t, b, chromedp.Click(chromedp.ID("lang")))

	// The store goes away; a message typed meanwhile waits, and arrives
	// once when it is back.
	s.Stop()
	browsertest.WaitJS(t, b, `chatView.status === 'reconnecting'`, 10*time.Second, showChat)
	if st := browsertest.Eval[string](t, b, `document.getElementById('status').textContent`); st != "Reconnecting…" {
		t.Errorf("status while down: %q", st)
	}
	typeAndSend(t, b, "Typed while offline")
	browsertest.WaitJS(t, b, `chatView.pending.length === 1`, 5*time.Second, showChat)
	shot(t, b, "offline")
	s.Up()
	browsertest.WaitJS(t, b, `chatView.status === 'online' && chatView.pending.length === 0 && chatView.messages.some(m => m.text === 'Typed while offline')`, 15*time.Second, showChat)
	if n := browsertest.Eval[int](t, b, `chatView.messages.filter(m => m.text === 'Typed while offline').length`); n != 1 {
		t.Errorf("the offline message is on the page %d times", n)
	}
	staff.Reconnect(t)
	var hist struct {
		Messages []struct {
			Text string `json:"text"`
		} `json:"messages"`
	}
	storetest.OK(t, staff.Call(t, "chat", "history", fmt.Sprintf(`{"conversation":%q}`, conv))).Decode(t, &hist)
	n := 0
	for _, m := range hist.Messages {
		if m.Text == "Typed while offline" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the store holds the offline message %d times", n)
	}
	shot(t, b, "back-online")

	// A reload logs in with the saved login: the token was used once.
	browsertest.Navigate(t, b, "http://"+s.HTTP+"/chat/")
	browsertest.WaitJS(t, b, `chatView.state === 'ready' && chatView.messages.some(m => m.text === 'Typed while offline')`, 10*time.Second, showChat)
}

// waitRead waits until member's read pointer in conv reaches seq, as the
// staff client sees it.
func waitRead(t *testing.T, staff *storetest.Client, conv, member string, seq int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var view struct {
			Receipts []struct {
				Member string `json:"member"`
				Read   int    `json:"read"`
			} `json:"receipts"`
		}
		a := storetest.OK(t, staff.Call(t, "chat", "history", fmt.Sprintf(`{"conversation":%q,"after":%d}`, conv, seq)))
		if err := json.Unmarshal(a.Raw, &view); err != nil {
			t.Fatal(err)
		}
		for _, r := range view.Receipts {
			if r.Member == member && r.Read >= seq {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not read %s up to %d: %s", member, conv, seq, a)
		}
		time.Sleep(50 * time.Millisecond) // polling the store's state with a deadline
	}
}
