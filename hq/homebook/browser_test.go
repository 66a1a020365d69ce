package homebook_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/storeedge/storeedge/hq/homebook"
	"github.com/storeedge/storeedge/internal/testkit/browsertest"
	st "github.com/storeedge/storeedge/internal/testkit/storetest"
)

// The page's bookings part (book.js) in Chromium, on a phone, against the
// real API and a real store: a stale free time is refused with
// alternatives, one tap on one books it, she moves and cancels it, and
// with the store offline the times shown are marked as the replica's.
func TestBookPageInChromium(t *testing.T) {
	r := startRig(t, homebook.Config{LiveWait: 5 * time.Second})
	r.serveStatic(t)
	shots := browsertest.ScreenshotDir(t)
	ctx := browsertest.New(t, browsertest.Phone())
	r.openPage(t, ctx, "en", true)

	eval := func(js string) { browsertest.Eval[any](t, ctx, js) }
	show := `JSON.stringify(window.bookView)`
	browsertest.WaitJS(t, ctx, `!!document.querySelector('.book-svc[data-service="dog-groom"]')`, 20*time.Second, show)
	eval(`document.querySelector('.book-svc[data-service="dog-groom"]').click()`)
	browsertest.WaitJS(t, ctx, `bookView.service === 'dog-groom' && bookView.slots && bookView.slots.source === 'live' && document.querySelectorAll('.book-slot').length > 0 && !!document.querySelector('.book-live')`, 20*time.Second, show)
	browsertest.Screenshot(t, ctx, shots, "phone-live")

	// The first time shown is taken at the counter meanwhile (every
	// table and groomer free then: the second booking may find none).
	first := browsertest.Eval[string](t, ctx, `document.querySelector('.book-slot').dataset.start`)
	st.OK(t, r.staff.Call(t, "booking", "book", fmt.Sprintf(`{"service":"dog-groom","start":%q,"customer":"cust-x"}`, first)))
	r.staff.Call(t, "booking", "book", fmt.Sprintf(`{"service":"dog-groom","start":%q,"customer":"cust-y"}`, first))
	eval(`document.querySelector('.book-slot').click()`)
	browsertest.WaitJS(t, ctx, `document.querySelectorAll('.book-req-rejected .book-alt').length > 0`, 30*time.Second, show)
	eval(`document.querySelector('.book-requests').scrollIntoView()`)
	browsertest.Screenshot(t, ctx, shots, "phone-rejected")
	if txt := browsertest.Eval[string](t, ctx, `document.querySelector('.book-req-rejected .book-reason').textContent`); txt == "" {
		t.Fatal("the rejection shows no reason")
	}
	// One tap on the first alternative: confirmed, and her booking shows.
	alt := browsertest.Eval[string](t, ctx, `document.querySelector('.book-req-rejected .book-alt').dataset.start`)
	eval(`document.querySelector('.book-req-rejected .book-alt').click()`)
	browsertest.WaitJS(t, ctx, `document.querySelectorAll('.book-req-confirmed').length === 1 && document.querySelectorAll('.book-mine .book-item').length === 1`, 30*time.Second, show)
	bk := browsertest.Eval[string](t, ctx, `document.querySelector('.book-mine .book-item').dataset.booking`)
	var start time.Time
	if err := r.pool.QueryRow(context.Background(), `SELECT start_at FROM bookings WHERE booking = $1 AND customer = 'cust-amy'`, bk).Scan(&start); err != nil {
		t.Fatalf("her booking in the replica: %v", err)
	}
	if want, _ := time.Parse(time.RFC3339, alt); !start.Equal(want) {
		t.Fatalf("booked at %v, the alternative was %v", start, want)
	}

	// Move: pick a new time; the store confirms it.
	eval(`document.querySelector('.book-mine .book-move').click()`)
	browsertest.WaitJS(t, ctx, `!!document.querySelector('.book-moving') && bookView.slots && document.querySelectorAll('.book-slot').length > 2`, 20*time.Second, show)
	browsertest.Screenshot(t, ctx, shots, "phone-moving")
	to := browsertest.Eval[string](t, ctx, `[...document.querySelectorAll('.book-slot')].map(b => b.dataset.start).filter(s => s !== `+fmt.Sprintf("%q", alt)+`).pop()`)
	eval(fmt.Sprintf(`document.querySelector('.book-slot[data-start=%q]').click()`, to))
	browsertest.WaitJS(t, ctx, `document.querySelectorAll('.book-req-confirmed').length === 2 && !document.querySelector('.book-moving')`, 30*time.Second, show)
	want, _ := time.Parse(time.RFC3339, to)
	waitFor(t, 30*time.Second, "the booking moved at HQ", func() bool {
		return r.count(`SELECT count(*) FROM bookings WHERE booking = $1 AND start_at = $2`, bk, want) == 1
	})

	// Cancel, confirmed by her.
	eval(`window.confirm = () => true; document.querySelector('.book-mine .book-cancel').click()`)
	browsertest.WaitJS(t, ctx, `document.querySelectorAll('.book-req-confirmed').length === 3 && !!document.querySelector('.book-status-cancelled')`, 30*time.Second, show)

	// The store goes offline: the times are the replica's, marked so.
	r.store.Stop()
	waitFor(t, 30*time.Second, "the store offline at HQ", func() bool { return !r.online() })
	eval(`document.dispatchEvent(new CustomEvent('home:state', {detail: {online: false}})); document.querySelectorAll('.book-day')[2].click()`)
	browsertest.WaitJS(t, ctx, `bookView.slots && bookView.slots.source === 'replica' && !!document.querySelector('.book-replica') && document.querySelectorAll('.book-slot').length > 0`, 20*time.Second, show)
	if txt := browsertest.Eval[string](t, ctx, `document.querySelector('.book-replica').textContent`); len(txt) < 20 {
		t.Fatalf("the replica's mark: %q", txt)
	}
	browsertest.Screenshot(t, ctx, shots, "phone-offline")
	eval(`localStorage.setItem('storeedge.home.lang', 'zh'); document.dispatchEvent(new CustomEvent('home:lang'))`)
	browsertest.WaitJS(t, ctx, `document.querySelector('.book-replica').textContent.includes('门店暂时离线')`, 5*time.Second)
	browsertest.Screenshot(t, ctx, shots, "phone-offline-zh")

	// Desktop.
	dctx := browsertest.New(t)
	r.openPage(t, dctx, "zh", false)
	browsertest.WaitJS(t, dctx, `bookView.slots && document.querySelectorAll('.book-slot').length > 0 && document.querySelectorAll('.book-req-confirmed').length === 3`, 20*time.Second, `JSON.stringify(window.bookView)`)
	browsertest.Screenshot(t, dctx, shots, "desktop-zh")
	browsertest.Eval[any](t, dctx, `document.querySelector('.book-mine').scrollIntoView(); true`)
	browsertest.Screenshot(t, dctx, shots, "desktop-zh-mine")
}

// serveStatic serves the page's files as storeedge-hq does, under /home/.
func (r *rig) serveStatic(t *testing.T) {
	r.mux.Handle("/home/", http.StripPrefix("/home/", http.FileServer(http.Dir("../home/static"))))
}

// openPage loads the page signed in as Amy and does what home.js does once
// signed in: it shows the bookings section and says the page is ready.
func (r *rig) openPage(t *testing.T, ctx context.Context, lang string, online bool) {
	t.Helper()
	browsertest.Navigate(t, ctx, r.srv.URL+"/home/")
	browsertest.WaitJS(t, ctx, `typeof window.bookView === 'object'`, 10*time.Second)
	browsertest.Eval[any](t, ctx, fmt.Sprintf(`localStorage.setItem('storeedge.home.token', 'hc-amy');
		localStorage.setItem('storeedge.home.lang', %q);
		document.getElementById('book').hidden = false;
		document.dispatchEvent(new CustomEvent('home:ready', {detail: {me: {customer: {id: 'hc-amy', store: 'demo-store', customer: 'cust-amy'}},
			store: {store: 'demo-store', online: %v}}})); true`, lang, online))
}
