package webpush

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/storeedge/storeedge/internal/testkit/browsertest"
)

// pageServer serves the page at home from its files (hq/home/static) with
// the push routes, as storeedge-hq mounts them under /home/.
func (r *rig) pageServer(in *instance) *httptest.Server {
	mux := in.mux
	mux.Handle("GET /home/", http.StripPrefix("/home/", http.FileServer(http.Dir("../home/static"))))
	srv := httptest.NewServer(mux)
	r.t.Cleanup(srv.Close)
	return srv
}

// signIn stands in for home.js: the login kept on the phone, the language,
// and the "home:ready" event the parts wait for.
func signIn(lang string) string {
	return `localStorage.setItem('storeedge.home.token', 'hl-phone');
		localStorage.setItem('storeedge.home.lang', '` + lang + `');
		document.getElementById('me').hidden = false;
		document.dispatchEvent(new CustomEvent('home:ready', {detail: {me: {customer: {name: 'Lin'}}, store: {name: 'Mochi Grooming'}}}));
		true`
}

// The page registers its service worker for /home/, and when the browser
// cannot reach a push service (no internet here) it says so in words
// instead of failing silently; nothing is kept at HQ. Blocked
// notifications are said to be blocked.
func TestPageNotifications(t *testing.T) {
	r := newRig(t)
	in := r.instance()
	r.login("hl-phone")
	srv := r.pageServer(in)
	shots := browsertest.ScreenshotDir(t)

	for _, c := range []struct {
		name string
		opts []browsertest.Option
		lang string
		word string // in the failure's text
	}{
		{"phone-en", []browsertest.Option{browsertest.Phone()}, "en", "could not reach its notification service"},
		{"desktop-zh", nil, "zh", "连接不上它的通知服务"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := browsertest.New(t, c.opts...)
			grant := func(s cdpbrowser.PermissionSetting) {
				t.Helper()
				if _, err := chromedp.CallBrowser(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
					Permission: &cdpbrowser.PermissionDescriptor{Name: "notifications"}, Setting: s, Origin: srv.URL}); err != nil {
					t.Fatal(err)
				}
			}
			grant(cdpbrowser.PermissionSettingGranted)
			browsertest.Navigate(t, ctx, srv.URL+"/home/")
			browsertest.Eval[bool](t, ctx, signIn(c.lang))
			browsertest.WaitJS(t, ctx, `document.querySelector('#push-state')?.dataset.state === 'off'`, 20*time.Second,
				`document.getElementById('push')?.outerHTML`)
			scope := browsertest.Eval[string](t, ctx, `navigator.serviceWorker.ready.then(r => r.scope)`)
			if scope != srv.URL+"/home/" {
				t.Errorf("service worker scope %q, want %q", scope, srv.URL+"/home/")
			}
			if s := browsertest.Eval[string](t, ctx, `navigator.serviceWorker.ready.then(r => r.active.scriptURL)`); s != srv.URL+"/home/sw.js" {
				t.Errorf("service worker %q", s)
			}
			browsertest.Screenshot(t, ctx, shots, "off")

			browsertest.Eval[bool](t, ctx, `document.getElementById('push-on').click(), true`)
			browsertest.WaitJS(t, ctx, `document.querySelector('#push-state')?.dataset.state === 'failed'`, 30*time.Second,
				`document.getElementById('push')?.outerHTML`)
			text := browsertest.Eval[string](t, ctx, `document.getElementById('push-state').textContent`)
			if !strings.Contains(text, c.word) {
				t.Errorf("the page says %q, want words about the push service (%q)", text, c.word)
			}
			if !browsertest.Eval[bool](t, ctx, `!!document.getElementById('push-on')`) {
				t.Error("no button to try again")
			}
			browsertest.Screenshot(t, ctx, shots, "failed")
			if n := r.count(`SELECT count(*) FROM home_push_subscriptions`); n != 0 {
				t.Errorf("%d subscriptions kept at HQ", n)
			}

			grant(cdpbrowser.PermissionSettingDenied)
			browsertest.Navigate(t, ctx, srv.URL+"/home/")
			browsertest.Eval[bool](t, ctx, signIn(c.lang))
			browsertest.WaitJS(t, ctx, `document.querySelector('#push-state')?.dataset.state === 'blocked'`, 20*time.Second,
				`document.getElementById('push')?.outerHTML`)
			browsertest.Screenshot(t, ctx, shots, "blocked")
		})
	}
}
