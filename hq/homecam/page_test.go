package homecam_test

// The live view's messages on the page at home, in English and Chinese:
// the store offline, nothing checked in, a store that does not answer.

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/internal/testkit/browsertest"
)

// pageShell is the page at home for a login, with the store's state as
// home.js would announce it.
const pageShell = `<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/home/watch.css"><style>body{font-family:sans-serif;margin:0;padding:12px}</style></head>
<body><main><section id="watch"></section></main>
<script type="module" src="/home/watch.js"></script>
<script type="module">
import { setToken } from '/home/lib.js';
localStorage.setItem('storeedge.home.lang', %q);
setToken(%q);
document.dispatchEvent(new CustomEvent('home:ready', { detail: { me: {}, store: { store: %q, online: %t, open: true } } }));
</script></body></html>`

// servePage serves the page shell and the static files beside the API.
func (a *apiRig) servePage(t *testing.T) string {
	t.Helper()
	api := strings.TrimSuffix(a.url, "/home/api/v1")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /home/t", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, pageShell, q.Get("lang"), q.Get("tok"), q.Get("store"), q.Get("online") == "1")
	})
	mux.Handle("GET /home/{file}", http.StripPrefix("/home/", http.FileServerFS(os.DirFS("../home/static"))))
	target, _ := url.Parse(api)
	mux.Handle("/home/api/", httputil.NewSingleHostReverseProxy(target))
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return hs.URL + "/home/t"
}

// TestPageMessages: the store offline says so and offers no Watch; a
// customer with nothing checked in is told when the view opens; a store
// that does not answer gives a message and a way to try again. Each in
// English and Chinese.
func TestPageMessages(t *testing.T) {
	a := startAPI(t)
	page := a.servePage(t)
	b := browsertest.New(t, browsertest.Phone())
	shots := browsertest.ScreenshotDir(t)
	text := func(sel string) string {
		return browsertest.Eval[string](t, b, fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ''`, sel))
	}
	for _, c := range []struct{ lang, offline, none, unreachable string }{
		{"en", "The store is offline now. The live view comes back when it is online.",
			"Nothing to watch now: the live view opens once your pet is checked in at the store.",
			"The store is not reachable now. Try again in a moment."},
		{"zh", "门店目前离线，恢复在线后即可观看实时画面。", "现在没有可观看的画面：宠物在门店签到后即可观看。", "暂时无法连接门店，请稍后再试。"},
	} {
		// Her store offline: said, and Watch is off.
		browsertest.Navigate(t, b, page+"?lang="+c.lang+"&tok=tok-away&store=s2&online=0")
		browsertest.WaitJS(t, b, `document.querySelector('#watch .watch-go') !== null`, 10*time.Second, showView)
		if got := text("#watch-offline"); got != c.offline {
			t.Errorf("%s offline: %q", c.lang, got)
		}
		if !browsertest.Eval[bool](t, b, `document.querySelector('#watch .watch-go').disabled`) {
			t.Errorf("%s: Watch enabled while the store is offline", c.lang)
		}
		browsertest.Screenshot(t, b, shots, "offline-"+c.lang)

		browsertest.Navigate(t, b, page+"?lang="+c.lang+"&tok=tok-her&store=s1&online=1")
		browsertest.WaitJS(t, b, `document.querySelector('#watch .watch-go') !== null`, 10*time.Second, showView)

		// Hers, the store online but silent: after answer_wait, the message.
		tap(t, b, `#watch .watch-go`)
		browsertest.WaitJS(t, b, `watchView.state === 'error'`, 15*time.Second, showView)
		if got := text("#watch-error"); got != c.unreachable {
			t.Errorf("%s unreachable: %q", c.lang, got)
		}
		if text(".watch-retry") == "" {
			t.Errorf("%s: no way to try again", c.lang)
		}
		browsertest.Screenshot(t, b, shots, "unreachable-"+c.lang)
	}
	// Nothing checked in: the customer whose only booking is not.
	a.addCustomer("tok-none", "hc-00000000000000dd", "s1", "cust-none")
	browsertest.Navigate(t, b, page+"?lang=en&tok=tok-none&store=s1&online=1")
	browsertest.WaitJS(t, b, `document.querySelector('#watch-none') !== null`, 10*time.Second, showView)
	if got := text("#watch-none"); got != "Nothing to watch now: the live view opens once your pet is checked in at the store." {
		t.Errorf("nothing checked in: %q", got)
	}
}
