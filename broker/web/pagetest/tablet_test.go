package pagetest

// The chat tablet's page (/tablet/): signed in once as the chat tablet, it
// shows the shop, "scan to chat" in both languages and a scan-to-chat code
// that a phone can use; it shows a new code after one is used and after one
// expires, says in plain words when the login is refused or the link is
// down, comes back by itself after a reload, and fits a tablet either way
// round and a phone.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/png"
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
	"github.com/storeedge/storeedge/proto"
)

type tabletView struct {
	State     string `json:"state"`
	Store     string `json:"store"`
	Status    string `json:"status"`
	URL       string `json:"url"`
	QR        string `json:"qr"`
	Expires   string `json:"expires"`
	Renewals  int    `json:"renewals"`
	Problem   string `json:"problem"`
	LoginErr  string `json:"loginError"`
	EverySecs int    `json:"every"`
}

const showTablet = `JSON.stringify(Object.assign({}, window.tabletView, {qr: (window.tabletView && tabletView.qr || '').slice(0, 40)}))`

// tabletShot writes the viewport to tablet-<name>.png in the screenshot
// directory.
func tabletShot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(browsertest.ScreenshotDir(t), "tablet-"+name+".png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

// tabletSignIn fills the page's sign-in form and submits it.
func tabletSignIn(t *testing.T, ctx context.Context, user, password string) {
	t.Helper()
	run(t, ctx,
		chromedp.SetValue(chromedp.CSS("#user"), user),
		chromedp.SetValue(chromedp.CSS("#pass"), password),
		chromedp.Click(chromedp.CSS("#signin")))
}

// redeem posts the token of a code's URL to /chat/redeem as the customer
// page does, and returns the HTTP status and the error code, if any.
func redeem(t *testing.T, s *storetest.Store, codeURL string) (int, string) {
	t.Helper()
	_, token, ok := strings.Cut(codeURL, "?t=")
	if !ok || token == "" {
		t.Fatalf("code URL %q has no token", codeURL)
	}
	body, _ := json.Marshal(map[string]string{"token": token})
	resp, err := http.Post("http://"+s.HTTP+"/chat/redeem", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&ans)
	return resp.StatusCode, ans.Error.Code
}

// onTestStore is a code's URL on the test store's HTTP listener (the
// configured public_url names storeedge.local), path and query kept.
func onTestStore(t *testing.T, s *storetest.Store, codeURL string) string {
	t.Helper()
	i := strings.Index(codeURL, "/chat?t=")
	if i < 0 {
		t.Fatalf("code URL %q: want …/chat?t=…", codeURL)
	}
	return "http://" + s.HTTP + codeURL[i:]
}

// fits checks that nothing overflows the viewport sideways and that the
// whole code is on screen, at least minSide CSS pixels wide.
func fits(t *testing.T, ctx context.Context, size string, minSide float64) {
	t.Helper()
	if w := browsertest.Eval[float64](t, ctx, `document.documentElement.scrollWidth - window.innerWidth`); w > 0 {
		t.Errorf("%s: the page is %v px wider than the screen", size, w)
	}
	var r struct{ Left, Top, Right, Bottom, Width, Height, VW, VH float64 }
	r = browsertest.Eval[struct{ Left, Top, Right, Bottom, Width, Height, VW, VH float64 }](t, ctx,
		`(() => { const b = document.getElementById('qr').getBoundingClientRect();
		  return {Left: b.left, Top: b.top, Right: b.right, Bottom: b.bottom, Width: b.width, Height: b.height, VW: innerWidth, VH: innerHeight}; })()`)
	if r.Left < 0 || r.Top < 0 || r.Right > r.VW || r.Bottom > r.VH {
		t.Errorf("%s: the code is not wholly on screen: %+v", size, r)
	}
	if r.Width < minSide || r.Width != r.Height {
		t.Errorf("%s: the code is %v×%v px, want a square of at least %v", size, r.Width, r.Height, minSide)
	}
	// Centred sideways in its column: the store's name and the words are
	// centred above it in portrait, beside it in landscape.
	if r.VH > r.VW {
		if mid := (r.Left + r.Right) / 2; mid < r.VW/2-2 || mid > r.VW/2+2 {
			t.Errorf("%s: the code's centre is at x=%v of %v", size, mid, r.VW)
		}
	}
}

func TestChatTabletPage(t *testing.T) {
	const storeID = "paws-and-cradle-7"
	s := storetest.Start(t, storetest.Options{Devices: consoleFleet, Config: func(c *broker.Config) {
		c.StoreID = storeID
		// The shortest a code may live, so the page's renewal before
		// expiry is seen in a minute. (The scan-to-chat tokens run on the
		// wall clock, not the store's test clock.)
		c.Chat.TokenTTL = time.Minute
		c.Listeners.Websocket = "127.0.0.1:0"
		c.Listeners.WebsocketPath = "/mqtt"
	}})
	// The counter tablet, landscape: a 1024×768 viewport (the window's
	// own size would lose the height of the browser's bars).
	tab := browsertest.New(t, browsertest.WindowSize(1024, 768))
	run(t, tab, chromedp.EmulateViewport(1024, 768))
	// A new code every 2 s instead of 30, so the test does not wait.
	page := "http://" + s.HTTP + "/tablet/?renew=2"

	// A wrong password: refused in words that say what to do, nothing kept.
	browsertest.Navigate(t, tab, page)
	browsertest.WaitJS(t, tab, `window.tabletView && tabletView.state === 'login'`, 10*time.Second, showTablet)
	tabletSignIn(t, tab, "tablet-1", "not-the-password")
	browsertest.WaitJS(t, tab, `tabletView.state === 'login' && tabletView.loginError !== ''`, 10*time.Second, showTablet)
	msg := browsertest.Eval[string](t, tab, `document.getElementById('login-error').textContent`)
	for _, want := range []string{"refused", "password", "admin", "拒绝"} {
		if !strings.Contains(msg, want) {
			t.Errorf("refusal reads %q: want %q in it", msg, want)
		}
	}
	tabletShot(t, tab, "refused")
	if got := browsertest.Eval[bool](t, tab, `localStorage.getItem('storeedge.tablet.login') === null`); !got {
		t.Error("a refused login was remembered")
	}

	// A kiosk's account may not show chat codes: said so, not kept.
	tabletSignIn(t, tab, "kiosk-1", "pw-kiosk-1")
	browsertest.WaitJS(t, tab, `tabletView.state === 'login' && tabletView.loginError.includes('chat tablet')`, 10*time.Second, showTablet)
	if got := browsertest.Eval[bool](t, tab, `localStorage.getItem('storeedge.tablet.login') === null`); !got {
		t.Error("a login that cannot show codes was remembered")
	}

	// The chat tablet's own login: the shop, both languages, the code.
	tabletSignIn(t, tab, "tablet-1", "pw-tablet-1")
	browsertest.WaitJS(t, tab, `tabletView.state === 'showing' && tabletView.url !== '' && document.getElementById('qr').complete && document.getElementById('qr').naturalWidth > 0`, 10*time.Second, showTablet)
	v := browsertest.Eval[tabletView](t, tab, `tabletView`)
	if v.Store != storeID || browsertest.Eval[string](t, tab, `document.getElementById('store').textContent`) != storeID {
		t.Errorf("shop shown as %q, want %q", v.Store, storeID)
	}
	words := browsertest.Eval[string](t, tab, `document.getElementById('code-view').innerText`)
	for _, want := range []string{"扫码咨询", "Scan to chat"} {
		if !strings.Contains(words, want) {
			t.Errorf("the page reads %q: want %q", words, want)
		}
	}
	// The image is the session answer's qr_png: a PNG the page got with
	// the URL it holds, and that URL is a scan-to-chat one.
	if src := browsertest.Eval[string](t, tab, `document.getElementById('qr').src`); src != v.QR {
		t.Errorf("img src is not the code the page holds")
	}
	b64, ok := strings.CutPrefix(v.QR, "data:image/png;base64,")
	if !ok {
		t.Fatalf("code image %.40q…: want a PNG data URL", v.QR)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("code image: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 100 || b.Dx() != b.Dy() {
		t.Errorf("code image is %v", b)
	}
	if !strings.Contains(v.URL, "/chat?t=") {
		t.Fatalf("code URL %q", v.URL)
	}
	if got := browsertest.Eval[string](t, tab, `document.getElementById('qr').dataset.url`); got != v.URL {
		t.Errorf("the image is labelled with %q, the page holds %q", got, v.URL)
	}
	if got := browsertest.Eval[bool](t, tab, `JSON.parse(localStorage.getItem('storeedge.tablet.login')).user === 'tablet-1'`); !got {
		t.Error("the login is not remembered")
	}
	if note := browsertest.Eval[string](t, tab, `document.getElementById('renew-note').textContent`); !strings.Contains(note, "works once") || !strings.Contains(note, "at least every 2 seconds") {
		t.Errorf("renewal note %q", note)
	}
	fits(t, tab, "1024×768", 400)
	tabletShot(t, tab, "1024x768")

	// A phone scans the code on screen and chats: the code works.
	first := v.URL
	phone := browsertest.New(t, browsertest.Phone())
	browsertest.Navigate(t, phone, onTestStore(t, s, first))
	browsertest.WaitJS(t, phone, `window.chatView && chatView.state === 'ready' && chatView.status === 'online'`, 10*time.Second, showChat)
	// It worked once; the next phone gets a fresh code from the screen.
	if code, why := redeem(t, s, first); code != http.StatusGone || why != "used" {
		t.Errorf("the used code redeemed again: %d %q, want 410 used", code, why)
	}
	browsertest.WaitJS(t, tab, fmt.Sprintf(`tabletView.state === 'showing' && tabletView.url !== %q`, first), 10*time.Second, showTablet)
	second := browsertest.Eval[string](t, tab, `tabletView.url`)
	if code, why := redeem(t, s, second); code != http.StatusOK {
		t.Errorf("the fresh code: %d %q, want 200", code, why)
	}

	// The link drops: the code goes and the page says why and what to do;
	// it comes back by itself.
	s.Stop()
	browsertest.WaitJS(t, tab, `tabletView.state === 'problem' && tabletView.status === 'reconnecting'`, 15*time.Second, showTablet)
	if got := browsertest.Eval[bool](t, tab, `document.getElementById('qr').hidden`); !got {
		t.Error("a code is still shown while the link is down")
	}
	if p := browsertest.Eval[string](t, tab, `document.getElementById('problem').textContent`); !strings.Contains(p, "Wi-Fi") || !strings.Contains(p, "连接") {
		t.Errorf("link-down message %q", p)
	}
	tabletShot(t, tab, "offline")
	s.Up()
	n := browsertest.Eval[int](t, tab, `tabletView.renewals`)
	browsertest.WaitJS(t, tab, fmt.Sprintf(`tabletView.state === 'showing' && tabletView.status === 'online' && tabletView.renewals > %d`, n), 20*time.Second, showTablet)

	// A restart of the tablet (a reload), now with the longest interval
	// the address allows: back to a code by itself, and that code is
	// renewed before it expires (chat.token_ttl is 1 minute here), while
	// it still works.
	browsertest.Navigate(t, tab, "http://"+s.HTTP+"/tablet/?renew=300")
	browsertest.WaitJS(t, tab, `window.tabletView && tabletView.state === 'showing' && tabletView.url !== ''`, 10*time.Second, showTablet)
	old := browsertest.Eval[tabletView](t, tab, `tabletView`)
	browsertest.WaitJS(t, tab, fmt.Sprintf(`tabletView.state === 'showing' && tabletView.url !== %q`, old.URL), 70*time.Second, showTablet)
	renewed := browsertest.Eval[tabletView](t, tab, `tabletView`)
	if code, why := redeem(t, s, old.URL); code != http.StatusOK {
		t.Errorf("the code replaced before its expiry (%s): %d %q, want 200 (still valid)", old.Expires, code, why)
	}
	if code, why := redeem(t, s, renewed.URL); code != http.StatusOK {
		t.Errorf("the renewed code: %d %q, want 200", code, why)
	}

	// Portrait tablet and phone: the whole code on screen, nothing sideways.
	run(t, tab, chromedp.EmulateViewport(768, 1024))
	browsertest.WaitJS(t, tab, `innerWidth === 768`, 5*time.Second)
	fits(t, tab, "768×1024", 400)
	tabletShot(t, tab, "768x1024")
	run(t, tab, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch))
	browsertest.WaitJS(t, tab, `innerWidth === 390`, 5*time.Second)
	fits(t, tab, "390×844", 250)
	tabletShot(t, tab, "phone")

	// Sign out forgets the login: a reload asks for it again.
	run(t, tab, chromedp.Click(chromedp.CSS("#logout")))
	browsertest.WaitJS(t, tab, `tabletView.state === 'login'`, 5*time.Second, showTablet)
	browsertest.Navigate(t, tab, page)
	browsertest.WaitJS(t, tab, `window.tabletView && tabletView.state === 'login'`, 10*time.Second, showTablet)
	if got := browsertest.Eval[bool](t, tab, `localStorage.getItem('storeedge.tablet.login') === null`); !got {
		t.Error("the login is still remembered after signing out")
	}
}

// TestChatTabletPairs: the chat tablet's page takes the pairing code the
// console shows for a chat tablet and signs in with the account it gets,
// remembered across a reload. A code that is unknown, used, or a kiosk's
// is refused in words that say what to do.
func TestChatTabletPairs(t *testing.T) {
	s := storetest.Start(t, storetest.Options{Devices: []storetest.Device{{ID: "admin-1", Role: "admin"}}, Config: func(c *broker.Config) {
		c.Listeners.Websocket = "127.0.0.1:0"
		c.Listeners.WebsocketPath = "/mqtt"
	}})
	admin := s.Connect(t, storetest.Device{ID: "admin-1", Role: "admin"}, "console")
	var tablet, kiosk proto.Pairing
	storetest.OK(t, admin.Call(t, proto.ServiceAccounts, "device_add", `{"role":"chat-tablet","name":"Counter tablet"}`)).Decode(t, &tablet)
	storetest.OK(t, admin.Call(t, proto.ServiceAccounts, "device_add", `{"role":"kiosk","name":"Front kiosk"}`)).Decode(t, &kiosk)

	tab := browsertest.New(t, browsertest.WindowSize(1024, 768))
	page := "http://" + s.HTTP + "/tablet/"
	browsertest.Navigate(t, tab, page)
	browsertest.WaitJS(t, tab, `window.tabletView && tabletView.state === 'login'`, 10*time.Second, showTablet)
	pair := func(b context.Context, code string) {
		t.Helper()
		run(t, b, chromedp.SetValue(chromedp.ID("code"), code), chromedp.Click(chromedp.ID("pair-btn")))
	}
	refused := func(b context.Context, want ...string) {
		t.Helper()
		browsertest.WaitJS(t, b, `tabletView.state === 'login' && tabletView.loginError !== ''`, 10*time.Second, showTablet)
		msg := browsertest.Eval[string](t, b, `document.getElementById('login-error').textContent`)
		for _, w := range want {
			if !strings.Contains(msg, w) {
				t.Errorf("the page says %q: want %q in it", msg, w)
			}
		}
		if browsertest.Eval[bool](t, b, `localStorage.getItem('storeedge.tablet.login') !== null`) {
			t.Error("a refused pairing was remembered")
		}
	}
	pair(tab, "AAAA2222")
	refused(tab, "unknown or was used", "New code", "配对码无效")
	pair(tab, kiosk.Code)
	refused(tab, "kiosk, not a chat tablet", "chat-tablet")

	pair(tab, tablet.Code)
	browsertest.WaitJS(t, tab, `tabletView.state === 'showing' && tabletView.url !== '' && document.getElementById('qr').naturalWidth > 0`, 10*time.Second, showTablet)
	if got := browsertest.Eval[string](t, tab, `JSON.parse(localStorage.getItem('storeedge.tablet.login')).user`); got != tablet.Account.ID {
		t.Fatalf("the page signed in as %q, want %s", got, tablet.Account.ID)
	}
	tabletShot(t, tab, "paired")
	// A restart of the tablet: back to a code by itself.
	browsertest.Navigate(t, tab, page)
	browsertest.WaitJS(t, tab, `window.tabletView && tabletView.state === 'showing' && tabletView.url !== ''`, 10*time.Second, showTablet)

	// The code is used up: another screen cannot pair with it.
	other := browsertest.New(t, browsertest.WindowSize(1024, 768))
	browsertest.Navigate(t, other, page)
	browsertest.WaitJS(t, other, `window.tabletView && tabletView.state === 'login'`, 10*time.Second, showTablet)
	pair(other, tablet.Code)
	refused(other, "unknown or was used")
}
