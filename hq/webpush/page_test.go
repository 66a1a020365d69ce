package webpush

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/serviceworker"
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
			// home.js redrawing the Me section keeps the part in it.
			browsertest.Eval[bool](t, ctx, `document.getElementById('me').replaceChildren(Object.assign(document.createElement('h2'), {textContent: 'Your devices'})), true`)
			browsertest.WaitJS(t, ctx, `!!document.querySelector('#me #push-on')`, 5*time.Second)

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

// The service worker shows a push as a notification (title, body, tag)
// when no page of it is visible, and shows nothing while the page is
// visible (the page shows the reply itself).
func TestServiceWorkerShowsPush(t *testing.T) {
	r := newRig(t)
	in := r.instance()
	r.login("hl-phone")
	srv := r.pageServer(in)
	in.mux.HandleFunc("GET /elsewhere", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("<!doctype html><title>elsewhere</title>"))
	})
	ctx := browsertest.New(t)
	if _, err := chromedp.CallBrowser(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
		Permission: &cdpbrowser.PermissionDescriptor{Name: "notifications"}, Setting: cdpbrowser.PermissionSettingGranted, Origin: srv.URL}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	regs := map[string]serviceworker.RegistrationID{}
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*serviceworker.EventWorkerRegistrationUpdated); ok {
			mu.Lock()
			for _, reg := range e.Registrations {
				if !reg.IsDeleted {
					regs[reg.ScopeURL] = reg.RegistrationID
				}
			}
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, serviceworker.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	browsertest.Navigate(t, ctx, srv.URL+"/home/")
	browsertest.Eval[bool](t, ctx, signIn("en"))
	browsertest.Eval[string](t, ctx, `navigator.serviceWorker.ready.then(r => r.scope)`)
	var id serviceworker.RegistrationID
	waitFor(t, "the registration is reported", func() bool {
		mu.Lock()
		defer mu.Unlock()
		id = regs[srv.URL+"/home/"]
		return id != ""
	})
	deliver := func(p Payload) {
		t.Helper()
		b, _ := json.Marshal(p)
		if _, err := chromedp.Call(ctx, serviceworker.DeliverPushMessage, serviceworker.DeliverPushMessageParams{
			Origin: srv.URL, RegistrationID: id, Data: string(b)}); err != nil {
			t.Fatal(err)
		}
	}
	notifications := `navigator.serviceWorker.getRegistration('/home/').then(r => r.getNotifications())
		.then(ns => ns.map(n => ({title: n.title, body: n.body, tag: n.tag, url: n.data && n.data.url})))`

	deliver(Payload{V: 1, Title: "Mochi Grooming", Body: "while the page is open", URL: "/home/", Tag: "visible"})
	browsertest.Navigate(t, ctx, srv.URL+"/elsewhere")
	// The page left is torn down a moment after the navigation (until
	// then the worker may still find it visible): the reply is delivered
	// again until it shows, as the next reply would be.
	deadline := time.Now().Add(20 * time.Second)
	for {
		deliver(Payload{V: 1, Title: "Mochi Grooming", Body: "Yes, come at 4pm.", URL: "/home/", Tag: "chat"})
		if _, err := browsertest.Until(ctx, notifications+`.then(ns => ns.length > 0)`, time.Second); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no notification shown for a push with no page open: %v", browsertest.Eval[any](t, ctx, notifications))
		}
	}
	type shown struct{ Title, Body, Tag, URL string }
	got := browsertest.Eval[[]shown](t, ctx, notifications)
	if want := []shown{{"Mochi Grooming", "Yes, come at 4pm.", "chat", "/home/"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("notifications %+v, want %+v", got, want)
	}
}
