package pagetest

// The box's front door: opening the box's address shows which store it is
// and the two ways in, the chat for customers and the console for staff,
// in English and Chinese, with the same security headers as the pages.

import (
	"context"
	"net/http"
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

// frontShot writes the viewport to front-<name>.png in the screenshot
// directory, as consoleShot does for the console.
func frontShot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(browsertest.ScreenshotDir(t), "front-"+name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFrontDoor(t *testing.T) {
	const storeID = "paws-and-cradle-7"
	s := storetest.Start(t, storetest.Options{Devices: consoleFleet, Config: func(c *broker.Config) {
		c.StoreID = storeID
		c.Listeners.Websocket = "127.0.0.1:0"
		c.Listeners.WebsocketPath = "/mqtt"
	}})

	// What a plain HTTP client gets at the box's address: a page, under
	// the pages' CSP, not {"error":"not found"}.
	resp, err := http.Get("http://" + s.HTTP + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET / = %d %q, want 200 text/html", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for k, want := range map[string]string{
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "same-origin",
		"Cache-Control":          "no-cache",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("GET / %s = %q, want %q", k, got, want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("GET / CSP = %q, want the pages' policy", csp)
	}

	b := browsertest.New(t, browsertest.Phone())
	browsertest.Navigate(t, b, "http://"+s.HTTP+"/")
	browsertest.WaitJS(t, b, `window.frontView && frontView.ready`, 10*time.Second, `JSON.stringify(window.frontView)`)
	if got := browsertest.Eval[string](t, b, `frontView.lang`); got != "en" {
		t.Fatalf("page opened in %q, want English (the browser's language)", got)
	}

	text := func(id string) string {
		return browsertest.Eval[string](t, b, `document.getElementById('`+id+`').textContent.trim()`)
	}
	if got := text("store"); got != storeID {
		t.Errorf("store shown as %q, want %q", got, storeID)
	}
	if got := browsertest.Eval[string](t, b, `document.title`); !strings.Contains(got, storeID) || !strings.Contains(got, "storeedge store box") {
		t.Errorf("title %q, want the store's id and what the box is", got)
	}
	if got := browsertest.Eval[string](t, b, `document.querySelector('.what').textContent`); got != "storeedge store box" {
		t.Errorf("subtitle %q", got)
	}
	// The links resolve to the console and the chat page.
	if got := browsertest.Eval[string](t, b, `document.getElementById('to-console').href`); got != "http://"+s.HTTP+"/console/" {
		t.Errorf("console link %q", got)
	}
	if got := browsertest.Eval[string](t, b, `document.getElementById('to-chat').href`); got != "http://"+s.HTTP+"/chat/" {
		t.Errorf("chat link %q", got)
	}
	if got := text("to-console"); !strings.HasPrefix(got, "Staff console") {
		t.Errorf("console link reads %q", got)
	}
	if got := text("to-chat"); !strings.HasPrefix(got, "Chat with the store") || !strings.Contains(got, "Wi-Fi") {
		t.Errorf("chat link reads %q", got)
	}
	// Nothing overflows a phone's width.
	if w := browsertest.Eval[float64](t, b, `document.documentElement.scrollWidth - window.innerWidth`); w > 0 {
		t.Errorf("page is %v px wider than the phone", w)
	}
	frontShot(t, b, "en")

	// In Chinese, the switch remembered for the other pages.
	consoleRun(t, b, chromedp.Click(chromedp.CSS("#lang")))
	browsertest.WaitJS(t, b, `frontView.lang === 'zh'`, 5*time.Second)
	if got := text("to-console"); !strings.HasPrefix(got, "员工控制台") {
		t.Errorf("console link in Chinese reads %q", got)
	}
	if got := text("to-chat"); !strings.HasPrefix(got, "与门店聊天") {
		t.Errorf("chat link in Chinese reads %q", got)
	}
	if got := browsertest.Eval[string](t, b, `document.documentElement.lang`); got != "zh-CN" {
		t.Errorf("<html lang> = %q in Chinese", got)
	}
	frontShot(t, b, "zh")

	// The console link opens the console's sign-in, in the language chosen.
	consoleRun(t, b, chromedp.Click(chromedp.CSS("#to-console")), chromedp.WaitVisible(chromedp.CSS("#signin")))
	browsertest.WaitJS(t, b, `location.pathname === '/console/' && window.consoleView && document.getElementById('signin') && document.documentElement.lang === 'zh-CN'`, 10*time.Second)

	// The chat link opens the customer's page; with no code scanned yet it
	// asks for one.
	browsertest.Navigate(t, b, "http://"+s.HTTP+"/")
	browsertest.WaitJS(t, b, `window.frontView && frontView.ready`, 10*time.Second)
	consoleRun(t, b, chromedp.Click(chromedp.CSS("#to-chat")), chromedp.WaitVisible(chromedp.CSS("#gate-msg")))
	browsertest.WaitJS(t, b, `location.pathname === '/chat/' && document.body.dataset.state === 'gate' && document.getElementById('gate-msg').textContent !== ''`, 10*time.Second)
}
