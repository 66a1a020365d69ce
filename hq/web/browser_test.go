package web

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/storeedge/storeedge/internal/testkit/browsertest"
	"github.com/storeedge/storeedge/proto"
)

// waitNav is WaitJS across a navigation the page makes by itself (a
// sign-in, a redirect): an evaluation cut by the navigation is tried again.
func waitNav(t *testing.T, ctx context.Context, expr string, timeout time.Duration, show ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if _, err := browsertest.Until(ctx, expr, time.Until(deadline)); err == nil {
			return
		}
	}
	browsertest.WaitJS(t, ctx, expr, time.Second, show...)
}

// shot keeps a PNG of the viewport as out/screenshots/hq-<name>.png (`make
// screenshots` copies the ones the README shows into docs/screenshots).
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(browsertest.ScreenshotDir(t), "hq-"+name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// signInPage opens url, is sent to the sign-in, and signs in with key.
func signInPage(t *testing.T, ctx context.Context, f *fixture, url string) {
	t.Helper()
	browsertest.Navigate(t, ctx, url)
	browsertest.WaitJS(t, ctx, `location.pathname === '/signin' && !!document.querySelector('#key')`, 10*time.Second, `location.href`)
	run(t, ctx, chromedp.SendKeys(chromedp.CSS("#key"), f.key), chromedp.Click(chromedp.CSS("#go")))
}

func TestFleetPageInABrowser(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := browsertest.New(t, browsertest.WindowSize(1280, 900))

	// A wrong key is refused on the page.
	browsertest.Navigate(t, ctx, f.srv.URL+"/")
	browsertest.WaitJS(t, ctx, `location.pathname === '/signin'`, 10*time.Second, `location.href`)
	browsertest.Eval[any](t, ctx, `localStorage.setItem('storeedge.lang','en')`)
	run(t, ctx, chromedp.SendKeys(chromedp.CSS("#key"), "hqk_000000000000_wrong"), chromedp.Click(chromedp.CSS("#go")))
	browsertest.WaitJS(t, ctx, `!document.querySelector('#err').hidden && document.querySelector('#err').textContent.includes('unknown or revoked')`, 10*time.Second,
		`document.querySelector('#err').textContent`)
	browsertest.Eval[any](t, ctx, `document.querySelector('#key').value = ''`)
	run(t, ctx, chromedp.SendKeys(chromedp.CSS("#key"), f.key), chromedp.Click(chromedp.CSS("#go")))

	// The fleet: s-b offline 5 h with a backlog of 120, its oldest entry 6 h old.
	waitNav(t, ctx, `location.pathname === '/' && window.fleet && window.fleet.loads > 0 && document.querySelectorAll('#rows tr').length === 3`, 10*time.Second,
		`location.href`, `document.querySelector('#rows') && document.querySelector('#rows').innerText`)
	row := func(store string) string {
		return browsertest.Eval[string](t, ctx, `document.querySelector('tr[data-store="`+store+`"]').innerText`)
	}
	if r := row("s-b"); !strings.Contains(r, "Offline 5 h") || !strings.Contains(r, "120") || !strings.Contains(r, "6 h") ||
		!strings.Contains(r, "10 min behind") || !strings.Contains(r, "1.3.9") || !strings.Contains(r, "5 h ago") {
		t.Errorf("s-b's row: %q", r)
	}
	if r := row("s-a"); !strings.Contains(r, "Online") || !strings.Contains(r, "10 s ago") || !strings.Contains(r, "in step") {
		t.Errorf("s-a's row: %q", r)
	}
	if r := row("s-c"); !strings.Contains(r, "3 s ahead") {
		t.Errorf("s-c's row: %q", r)
	}
	if s := browsertest.Eval[string](t, ctx, `document.querySelector('#summary').textContent`); !strings.Contains(s, "online: 2") || !strings.Contains(s, "offline: 1") {
		t.Errorf("summary %q", s)
	}
	if who := browsertest.Eval[string](t, ctx, `document.querySelector('#who').textContent`); who != "ops-li" {
		t.Errorf("signed in as %q", who)
	}
	shot(t, ctx, "fleet-1280")

	// Filters: offline for more than 4 hours, then a backlog over 3.
	rows := `Array.from(document.querySelectorAll('#rows tr')).map(r => r.dataset.store).join(',')`
	run(t, ctx, chromedp.SendKeys(chromedp.CSS("#offline"), "4"))
	browsertest.WaitJS(t, ctx, rows+` === 's-b' && location.search === '?offline_hours=4'`, 10*time.Second, rows, `location.search`)
	run(t, ctx, chromedp.Click(chromedp.CSS("#clear")))
	browsertest.WaitJS(t, ctx, rows+` === 's-a,s-b,s-c'`, 10*time.Second, rows)
	run(t, ctx, chromedp.SendKeys(chromedp.CSS("#backlog"), "3"))
	browsertest.WaitJS(t, ctx, rows+` === 's-b,s-c'`, 10*time.Second, rows)
	run(t, ctx, chromedp.SendKeys(chromedp.CSS("#q"), "jing"))
	browsertest.WaitJS(t, ctx, rows+` === 's-c'`, 10*time.Second, rows)
	shot(t, ctx, "fleet-filtered-1280")
	run(t, ctx, chromedp.Click(chromedp.CSS("#clear")))

	run(t, ctx, chromedp.SetValue(chromedp.CSS("#state"), "offline"))
	browsertest.Eval[any](t, ctx, `document.querySelector('#state').dispatchEvent(new Event('change'))`)
	browsertest.WaitJS(t, ctx, rows+` === 's-b' && location.search === '?state=offline'`, 10*time.Second, rows, `location.search`)
	run(t, ctx, chromedp.Click(chromedp.CSS("#clear")))
	browsertest.WaitJS(t, ctx, rows+` === 's-a,s-b,s-c'`, 10*time.Second, rows)

	// It refreshes itself: a store heard of without a reload; its status
	// came 5 min ago and no other since, and no Last Will: online, silent.
	f.status(t, "s-d", proto.StoreStatus{Online: true, Epoch: "e0s-d", Version: "1.4.0"}, now.Add(-5*time.Minute), 0)
	browsertest.WaitJS(t, ctx, `!!document.querySelector('tr[data-store="s-d"]')`, 15*time.Second, rows)
	if r := row("s-d"); !strings.Contains(r, "Online, silent 5 min") {
		t.Errorf("s-d's row: %q", r)
	}

	// A store's page.
	run(t, ctx, chromedp.Click(chromedp.CSS(`tr[data-store="s-a"] a`)))
	waitNav(t, ctx, `location.pathname === '/stores/s-a' && window.storePage && window.storePage.loads > 0`, 10*time.Second, `location.href`)
	text := func(sel string) string {
		return browsertest.Eval[string](t, ctx, `document.querySelector('`+sel+`').innerText`)
	}
	if s := text("#devices"); !strings.Contains(s, "kiosk-1") || !strings.Contains(s, "cam-groom-2") {
		t.Errorf("devices: %q", s)
	}
	if s := text("#bookings"); !strings.Contains(s, "10:00–11:00") || !strings.Contains(s, "Bath & dry") || !strings.Contains(s, "Booked") || strings.Contains(s, "Nail trim") {
		t.Errorf("today's bookings: %q", s)
	}
	if s := text("#book-h"); !strings.Contains(s, "2026-12-08") || !strings.Contains(s, "Asia/Shanghai") {
		t.Errorf("bookings heading: %q", s)
	}
	if s := text("#convs"); !strings.Contains(s, "cu1") || !strings.Contains(s, "waiting 30 min") {
		t.Errorf("open conversations: %q", s)
	}
	if s := text("#fr"); !strings.Contains(s, "1 min 30 s (1 answered)") {
		t.Errorf("first response: %q", s)
	}
	if s := text("#pushes"); !strings.Contains(s, "Version 2") || !strings.Contains(s, "refused") || !strings.Contains(s, "price below zero") || !strings.Contains(s, "applied") {
		t.Errorf("config pushes: %q", s)
	}

	browsertest.Eval[any](t, ctx, `window.scrollTo(0, 0)`)
	shot(t, ctx, "store-1280")

	// A notice to this store.
	run(t, ctx, chromedp.SendKeys(chromedp.CSS("#notice-title"), "Closed on New Year's Day"),
		chromedp.SendKeys(chromedp.CSS("#notice-body"), "Open again on the 2nd."),
		chromedp.Click(chromedp.CSS("#notice-send")))
	browsertest.WaitJS(t, ctx, `!!document.querySelector('#notice-answer') && document.querySelector('#notice-answer').textContent.includes('n-1')`, 10*time.Second,
		`document.querySelector('#notice-section').innerText`)
	var posted *downCall
	for _, c := range f.down.list() {
		if c.Method == "POST" && c.Path == "/api/v1/notices" {
			posted = &c
		}
	}
	if posted == nil || posted.Actor != "ops-li" {
		t.Fatalf("notice posted: %+v", posted)
	}
	var n struct {
		Kind, Title, Body string
		Stores            []string
	}
	if err := json.Unmarshal(posted.Body, &n); err != nil || n.Kind != "notice" || n.Title != "Closed on New Year's Day" || len(n.Stores) != 1 || n.Stores[0] != "s-a" {
		t.Errorf("notice body %s (%v)", posted.Body, err)
	}
	browsertest.Eval[any](t, ctx, `document.querySelector('#notice-answer').scrollIntoView({block: 'center'})`)
	shot(t, ctx, "store-notice-1280")

	// 中文.
	run(t, ctx, chromedp.Click(chromedp.CSS("#lang")))
	browsertest.WaitJS(t, ctx, `document.querySelector('#conv-h').textContent === '进行中的会话' && document.documentElement.lang === 'zh-CN'`, 5*time.Second,
		`document.querySelector('#conv-h').textContent`)
	if s := text("#bookings"); !strings.Contains(s, "已预约") {
		t.Errorf("today's bookings in Chinese: %q", s)
	}
	if s := text("#convs"); !strings.Contains(s, "已等待 30分") {
		t.Errorf("open conversations in Chinese: %q", s)
	}
	browsertest.Eval[any](t, ctx, `window.scrollTo(0, 0)`)
	shot(t, ctx, "store-zh-1280")

	// Signed in, the sign-in page goes straight on.
	browsertest.Navigate(t, ctx, f.srv.URL+"/signin?next=%2Fstores%2Fs-b")
	waitNav(t, ctx, `location.pathname === '/stores/s-b' && window.storePage && window.storePage.loads > 0`, 10*time.Second, `location.href`)

	// Signing out ends the page's session.
	run(t, ctx, chromedp.Click(chromedp.CSS("#signout")))
	waitNav(t, ctx, `location.pathname === '/signin'`, 10*time.Second, `location.href`)
	browsertest.Navigate(t, ctx, f.srv.URL+"/stores/s-a")
	browsertest.WaitJS(t, ctx, `location.pathname === '/signin'`, 10*time.Second, `location.href`)
}

func TestFleetPageOnAPhone(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := browsertest.New(t, browsertest.Phone())
	signInPage(t, ctx, f, f.srv.URL+"/?backlog_over=0")
	waitNav(t, ctx, `location.pathname === '/' && window.fleet && window.fleet.loads > 0 && document.querySelectorAll('#rows tr').length === 3`, 10*time.Second, `location.href`)
	// The filter in the address survived the sign-in.
	if v := browsertest.Eval[string](t, ctx, `document.querySelector('#backlog').value`); v != "0" {
		t.Errorf("backlog filter after the sign-in: %q", v)
	}
	fits := `document.documentElement.scrollWidth <= window.innerWidth`
	if !browsertest.Eval[bool](t, ctx, fits) {
		t.Errorf("the fleet page is %v px wide on a %v px phone", browsertest.Eval[int](t, ctx, `document.documentElement.scrollWidth`), browsertest.Eval[int](t, ctx, `window.innerWidth`))
	}
	// Each store is a card, each value under its label (the table's
	// heading row is hidden).
	if r := browsertest.Eval[string](t, ctx, `document.querySelector('tr[data-store="s-b"]').innerText`); !strings.Contains(r, "Offline 5 h") || !strings.Contains(r, "120") {
		t.Errorf("s-b's card: %q", r)
	}
	label := browsertest.Eval[string](t, ctx, `getComputedStyle(document.querySelector('tr[data-store="s-b"] td:nth-of-type(3)'), '::before').content`)
	if label != `"Backlog"` || browsertest.Eval[bool](t, ctx, `document.querySelector('#fleet thead').offsetHeight > 0`) {
		t.Errorf("a card's backlog label is %s; the heading row shows: %v", label, browsertest.Eval[bool](t, ctx, `document.querySelector('#fleet thead').offsetHeight > 0`))
	}
	shot(t, ctx, "fleet-390")
	browsertest.Navigate(t, ctx, f.srv.URL+"/stores/s-a")
	browsertest.WaitJS(t, ctx, `window.storePage && window.storePage.loads > 0`, 10*time.Second, `location.href`)
	if !browsertest.Eval[bool](t, ctx, fits) {
		t.Errorf("the store page is %v px wide on a phone", browsertest.Eval[int](t, ctx, `document.documentElement.scrollWidth`))
	}
	shot(t, ctx, "store-390")
	// 中文, and the notice form at the bottom.
	run(t, ctx, chromedp.Click(chromedp.CSS("#lang")))
	browsertest.WaitJS(t, ctx, `document.documentElement.lang === 'zh-CN' && document.querySelector('#notice h2').textContent === '发送通知'`, 5*time.Second)
	if !browsertest.Eval[bool](t, ctx, fits) {
		t.Errorf("the store page in Chinese is %v px wide on a phone", browsertest.Eval[int](t, ctx, `document.documentElement.scrollWidth`))
	}
	browsertest.Eval[any](t, ctx, `document.querySelector('#notice').scrollIntoView({block: 'start'})`)
	shot(t, ctx, "store-notice-zh-390")
}
