package home

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	_ "image/jpeg" // decodes what the page sends
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/storeedge/storeedge/internal/testkit/browsertest"
	"github.com/storeedge/storeedge/proto"
)

func run(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// On a phone: the link from the store signs her in (retrying until the
// store's vouch arrives), she writes at night while the store is away and
// HQ answers at once, marked; the store's staff answer appears by itself;
// her devices are listed; without a login the page says how to get one.
func TestPageAtHomeInABrowser(t *testing.T) {
	e := start(t, Config{})
	e.clock.Set(time.Date(2026, 12, 7, 19, 0, 0, 0, time.UTC)) // 03:00 in Shanghai
	e.shop(t, "s-a")
	e.exec(t, `UPDATE stores SET name = 'Paws Xuhui' WHERE store = 's-a'`)
	e.status(t, "s-a", false)
	dir := browsertest.ScreenshotDir(t)
	// A fake microphone that needs no permission prompt, for the voice note.
	ctx := browsertest.New(t, browsertest.Phone(), browsertest.Flag("use-fake-device-for-media-stream", true),
		browsertest.Flag("use-fake-ui-for-media-stream", true))

	// No login, no link.
	browsertest.Navigate(t, ctx, e.web.URL+"/home/")
	browsertest.Eval[any](t, ctx, `localStorage.setItem('storeedge.home.lang','en')`)
	browsertest.Navigate(t, ctx, e.web.URL+"/home/")
	browsertest.WaitJS(t, ctx, `!document.querySelector('#signin').hidden && document.querySelector('#signin').innerText.includes('Ask the store for a link')`,
		10*time.Second, `document.body.innerText`)
	browsertest.Screenshot(t, ctx, dir, "nologin-phone")

	// The link, opened before the store's vouch reached HQ.
	code := "k7m3q2xw9abcdefghjkl"
	browsertest.Navigate(t, ctx, "about:blank")
	browsertest.Navigate(t, ctx, e.web.URL+"/home/#link=s-a."+code)
	browsertest.WaitJS(t, ctx, `document.querySelector('#signin').innerText.includes('Waiting for the store')`, 10*time.Second, `document.body.innerText`)
	e.send(t, "s-a", proto.TopicHomeVouch, e.vouch("s-a", "cust-1", code, false, e.clock.Now().Add(15*time.Minute), nil))
	browsertest.WaitJS(t, ctx, `!document.querySelector('#tabs').hidden && location.hash === '' && !!localStorage.getItem('storeedge.home.token')`,
		15*time.Second, `document.body.innerText`, `location.href`)
	if s := browsertest.Eval[string](t, ctx, `document.querySelector('#top').innerText`); !strings.Contains(s, "Paws Xuhui") || !strings.Contains(s, "Offline") {
		t.Fatalf("header: %q", s)
	}

	// She writes; HQ answers at once for the store that is away.
	run(t, ctx, chromedp.SendKeys(chromedp.CSS("#chat-input"), "My baby won't stop crying"), chromedp.Click(chromedp.CSS("#chat-send")))
	browsertest.WaitJS(t, ctx, `[...document.querySelectorAll('.msg.me')].some(m => m.innerText.includes("won't stop crying")) &&
		[...document.querySelectorAll('.msg.hq')].some(m => m.innerText.includes('Answered by HQ') && m.innerText.includes('closed'))`,
		10*time.Second, `document.querySelector('#chat-list').innerText`)
	got := e.down.wait(t, "/down/chat/message", 1)
	var m proto.HQChatMessage
	_ = json.Unmarshal(got[0].Payload, &m)
	if m.Customer != "cust-1" || m.AutoReply == nil {
		t.Fatalf("down: %s", got[0].Payload)
	}
	browsertest.Screenshot(t, ctx, dir, "chat-offline-phone")

	// Morning: the store is back, files hers and HQ's answer, and Anna answers.
	e.clock.Add(7 * time.Hour) // 10:00 in Shanghai
	e.status(t, "s-a", true)
	e.chat(t, "s-a", "cust-1", 1, m.ID, "cust-1", *m.Text, false)
	e.chat(t, "s-a", "cust-1", 2, m.ID+".auto", "assistant", m.AutoReply.Text, true)
	e.chat(t, "s-a", "cust-1", 3, "s-3", "staff-anna", "Good morning! Is she feeding well? Come by at 10 and we'll have a look.", false)
	browsertest.WaitJS(t, ctx, `[...document.querySelectorAll('.msg.staff')].some(m => m.innerText.includes('Anna') && m.innerText.includes('Good morning'))
		&& document.querySelectorAll('.msg.me').length === 1 && document.querySelector('#store-state').innerText === 'Online'`,
		30*time.Second, `document.querySelector('#chat-list').innerText`, `document.querySelector('#store-state').innerText`)
	// Her read receipt went down.
	e.down.wait(t, "/down/chat/read", 1)
	browsertest.Screenshot(t, ctx, dir, "chat-phone")

	// A large photo goes as a JPEG of at most 1600 px, before the message.
	img := image.NewRGBA(image.Rect(0, 0, 3200, 2400))
	for y := 0; y < 2400; y++ {
		for x := 0; x < 3200; x++ {
			img.Set(x, y, color.RGBA{uint8(x / 13), uint8(y / 10), 120, 255})
		}
	}
	file := filepath.Join(t.TempDir(), "rash.png")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	f.Close()
	run(t, ctx, chromedp.SetUploadFiles(chromedp.ID("chat-file"), []string{file}))
	browsertest.WaitJS(t, ctx, `[...document.querySelectorAll('.msg.me img')].some(i => i.complete && i.naturalWidth === 1600)`, 20*time.Second,
		`document.querySelector('#chat-list').innerText`, `document.querySelector('#chat-error').innerText`)
	puts := e.down.wait(t, "/down/media/put", 1)
	var put proto.HQMediaPut
	_ = json.Unmarshal(puts[0].Payload, &put)
	cfg, format, err := image.DecodeConfig(bytes.NewReader(put.Data))
	if err != nil || format != "jpeg" || put.Type != "image/jpeg" || cfg.Width != 1600 || cfg.Height != 1200 {
		t.Fatalf("the photo sent down: %s %s %dx%d %v", put.Type, format, cfg.Width, cfg.Height, err)
	}
	e.down.wait(t, "/down/chat/message", 2)

	// A voice note: tap to record, tap the square to send.
	run(t, ctx, chromedp.Click(chromedp.ID("chat-voice")))
	browsertest.WaitJS(t, ctx, `document.querySelector('#chat-voice').classList.contains('rec')`, 10*time.Second,
		`document.querySelector('#chat-error').innerText`)
	// About a second of sound (the page's clock, polled).
	browsertest.WaitJS(t, ctx, `(window.recFrom ??= performance.now()) && performance.now() - window.recFrom > 1000`, 5*time.Second)
	run(t, ctx, chromedp.Click(chromedp.ID("chat-voice")))
	puts = e.down.wait(t, "/down/media/put", 2)
	_ = json.Unmarshal(puts[1].Payload, &put)
	if !strings.HasPrefix(put.Type, "audio/") || len(put.Data) < 100 {
		t.Fatalf("the voice note sent down: %s, %d bytes", put.Type, len(put.Data))
	}
	var voice proto.HQChatMessage
	_ = json.Unmarshal(e.down.wait(t, "/down/chat/message", 3)[2].Payload, &voice)
	if voice.Kind != "voice" || voice.Media == nil || voice.Media.DurationMs < 500 {
		t.Fatalf("the voice message: %+v", voice)
	}
	browsertest.WaitJS(t, ctx, `!!document.querySelector('.msg.me audio')`, 10*time.Second, `document.querySelector('#chat-list').innerText`)

	// She takes the voice note back: the page says so, and the store is told.
	browsertest.WaitJS(t, ctx, `(() => { const m = [...document.querySelectorAll('.msg.me')].find(m => m.querySelector('audio'));
		const b = m && m.querySelector('.recall'); if (b) b.click(); return !!b; })()`, 10*time.Second, `document.querySelector('#chat-list').innerText`)
	browsertest.WaitJS(t, ctx, `[...document.querySelectorAll('.msg.me.recalled')].some(m => m.innerText.includes('You took this message back'))
		&& !document.querySelector('.msg.me audio')`, 10*time.Second, `document.querySelector('#chat-list').innerText`)
	var rc proto.HQChatRecall
	_ = json.Unmarshal(e.down.wait(t, "/down/chat/recall", 1)[0].Payload, &rc)
	if rc.Message != voice.ID || rc.Customer != "cust-1" {
		t.Fatalf("the recall sent down: %+v", rc)
	}

	// 中文
	run(t, ctx, chromedp.Click(chromedp.CSS("#lang")))
	browsertest.WaitJS(t, ctx, `document.querySelector('#tabs button[data-tab=chat]').innerText === '聊天' && document.querySelector('#chat-send').innerText === '发送'`,
		5*time.Second, `document.querySelector('#tabs').innerText`)
	browsertest.Screenshot(t, ctx, dir, "chat-phone-zh")

	// Me: her devices.
	run(t, ctx, chromedp.Click(chromedp.CSS("#tabs button[data-tab=me]")))
	browsertest.WaitJS(t, ctx, `document.querySelectorAll('#me .devices li').length === 1 && document.querySelector('#me').innerText.includes('本机')`,
		10*time.Second, `document.querySelector('#me').innerText`)
	browsertest.Screenshot(t, ctx, dir, "me-phone-zh")
	run(t, ctx, chromedp.Click(chromedp.CSS("#lang")))

	// The store ends her logins: the page says she is signed out.
	e.send(t, "s-a", proto.TopicHomeRevoke, e.revoke("s-a", "cust-1"))
	// (The page may have noticed already; else opening "Me" asks HQ.)
	browsertest.Eval[any](t, ctx, `document.querySelector('#tabs button[data-tab=me]').click()`)
	browsertest.WaitJS(t, ctx, `!document.querySelector('#signin').hidden && document.querySelector('#signin').innerText.includes('signed out')`,
		30*time.Second, `document.body.innerText`)
}

// On a desktop the page is one centred column.
func TestPageAtHomeDesktop(t *testing.T) {
	e := start(t, Config{})
	e.shop(t, "s-a")
	e.status(t, "s-a", true)
	e.chat(t, "s-a", "cust-1", 1, "m-1", "cust-1", "Do you have a bath slot on Saturday?", false)
	e.chat(t, "s-a", "cust-1", 2, "m-2", "assistant", "Opening hours: Mon–Fri 09:30–21:00, Sat–Sun 09:00–21:30.", true)
	e.chat(t, "s-a", "cust-1", 3, "m-3", "staff-anna", "Yes, 10:00 is free. Shall I book it?", false)
	tok := e.signIn(t, "s-a", "cust-1")
	ctx := browsertest.New(t, browsertest.WindowSize(1280, 800))
	browsertest.Navigate(t, ctx, e.web.URL+"/home/")
	browsertest.Eval[any](t, ctx, `localStorage.setItem('storeedge.home.lang','en'); localStorage.setItem('storeedge.home.token', '`+tok+`')`)
	browsertest.Navigate(t, ctx, e.web.URL+"/home/")
	browsertest.WaitJS(t, ctx, `document.querySelectorAll('#chat-list .msg').length === 3 && document.querySelector('.msg.assistant').innerText.includes('Assistant')`,
		10*time.Second, `document.body.innerText`)
	if w := browsertest.Eval[float64](t, ctx, `document.body.getBoundingClientRect().width`); w > 800 {
		t.Fatalf("the page is %v px wide on a desktop", w)
	}
	browsertest.Screenshot(t, ctx, browsertest.ScreenshotDir(t), "chat-desktop")
}

// While HQ's broker cannot take a message the page says HQ keeps it, and
// it goes to the store once the broker is back.
func TestPageSendsAgain(t *testing.T) {
	e := start(t, Config{PublishTimeout: 300 * time.Millisecond, ResendEvery: 200 * time.Millisecond})
	e.status(t, "s-a", false)
	tok := e.signIn(t, "s-a", "cust-1")
	ctx := browsertest.New(t, browsertest.Phone())
	browsertest.Navigate(t, ctx, e.web.URL+"/home/")
	browsertest.Eval[any](t, ctx, `localStorage.setItem('storeedge.home.lang','en'); localStorage.setItem('storeedge.home.token', '`+tok+`')`)
	browsertest.Navigate(t, ctx, e.web.URL+"/home/")
	browsertest.WaitJS(t, ctx, `!!document.querySelector('#chat-input') && !document.querySelector('#tabs').hidden`, 10*time.Second, `document.body.innerText`)
	e.broker.Stop()
	run(t, ctx, chromedp.SendKeys(chromedp.ID("chat-input"), "is anyone there?"), chromedp.Click(chromedp.ID("chat-send")))
	browsertest.WaitJS(t, ctx, `document.querySelectorAll('.msg.me').length === 1 && document.querySelector('.msg.me').innerText.includes('is anyone there') &&
		document.querySelector('#chat-error').innerText.includes('HQ keeps your message')`, 10*time.Second,
		`document.querySelector('#chat-list').innerText`, `document.querySelector('#chat-error').innerText`)
	browsertest.Screenshot(t, ctx, browsertest.ScreenshotDir(t), "kept-phone")
	e.clock.Add(time.Second) // past publish_timeout: due to be sent again
	e.broker.Restart(t)
	down := listenDown(t, e.broker.Addr)
	deadline := time.Now().Add(45 * time.Second)
	for len(down.on("/down/chat/message")) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the page did not send it again: %s", browsertest.Eval[string](t, ctx, `document.querySelector('#chat-list').innerText`))
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
	if n := browsertest.Eval[int](t, ctx, `document.querySelectorAll('.msg.me').length`); n != 1 {
		t.Fatalf("%d of her messages on the page", n)
	}
}
