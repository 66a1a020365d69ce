package pagetest

// The console's Shop tab, for admins: a price edited in the browser reaches
// the kiosk at once; a colleague's newer save is a conflict said in words;
// a holiday closes a day, the customer booked that day reads why in her
// chat, and booking that day is refused with the reason.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/internal/testkit/browsertest"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/proto"
)

var shopFleet = []storetest.Device{
	{ID: "admin-wu", Role: "admin"},
	{ID: "admin-he", Role: "admin"},
	{ID: "staff-anna", Role: "staff"},
	{ID: "tablet-1", Role: "chat-tablet"},
	{ID: "kiosk-1", Role: "kiosk"},
}

const showShop = `JSON.stringify({msg: shopView.msg, err: shopView.err, errors: shopView.errors, version: shopView.version, editable: shopView.editable})`

// typeInto replaces what an input holds with text, as typing does (input
// events included).
func typeInto(t *testing.T, b context.Context, id, text string) {
	t.Helper()
	browsertest.Eval[bool](t, b, fmt.Sprintf(`(() => { const e = document.getElementById(%q); e.focus(); e.value = %q; e.dispatchEvent(new Event('input', {bubbles: true})); return true; })()`, id, text))
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func kioskPrice(t *testing.T, k *storetest.Client, id string) int64 {
	t.Helper()
	var cat proto.Catalogue
	storetest.OK(t, k.Call(t, "booking", "services", `{}`)).Decode(t, &cat)
	for _, s := range cat.Services {
		if s.ID == id {
			return s.Price
		}
	}
	t.Fatalf("the kiosk has no %s", id)
	return 0
}

func TestConsoleShop(t *testing.T) {
	s := storetest.Start(t, storetest.Options{Devices: shopFleet, Config: func(c *broker.Config) {
		c.Listeners.Websocket = "127.0.0.1:0"
		c.Listeners.WebsocketPath = "/mqtt"
	}})
	tablet := s.Connect(t, storetest.Device{ID: "tablet-1", Role: "chat-tablet"}, "qr")
	staff := s.Connect(t, storetest.Device{ID: "staff-anna", Role: "staff"}, "")
	kiosk := s.Connect(t, storetest.Device{ID: "kiosk-1", Role: "kiosk"}, "")
	he := s.Connect(t, storetest.Device{ID: "admin-he", Role: "admin"}, "")

	// A mother on her phone, booked for a baby swim on Wednesday.
	phone := browsertest.New(t, browsertest.Phone())
	browsertest.Navigate(t, phone, chatURL(t, s, tablet))
	browsertest.WaitJS(t, phone, `chatView.state === 'ready' && chatView.status === 'online'`, 10*time.Second, showChat)
	mom := browsertest.Eval[string](t, phone, `chatView.customer`)
	storetest.OK(t, staff.Call(t, "booking", "book", fmt.Sprintf(`{"service":"baby-swim","start":"2026-11-25T10:00:00+08:00","customer":%q}`, mom)))

	// Staff do not get the tab; the admin does.
	anna := openConsole(t, s)
	browsertest.WaitJS(t, anna, `shopView.loaded`, 10*time.Second, showShop)
	if browsertest.Eval[bool](t, anna, `!document.getElementById('tab-shop').hidden`) {
		t.Fatal("staff see the Shop tab")
	}

	b := browsertest.New(t, browsertest.WindowSize(1024, 768))
	browsertest.Navigate(t, b, fmt.Sprintf("http://%s/console/?%s#%s", s.HTTP, url.Values{"u": {"admin-wu"}}.Encode(), url.Values{"p": {"pw-admin-wu"}}.Encode()))
	browsertest.WaitJS(t, b, `window.consoleView && document.getElementById('signin')`, 10*time.Second)
	consoleRun(t, b, chromedp.Click(chromedp.CSS("#signin")))
	browsertest.WaitJS(t, b, `consoleView.state === 'ready' && shopView.editable && !document.getElementById('tab-shop').hidden`, 10*time.Second, showShop)
	consoleClick(t, b, "#tab-shop")
	browsertest.WaitJS(t, b, `!document.getElementById('shop-view').hidden && document.getElementById('chats-view').hidden`, 5*time.Second, showShop)
	consoleShot(t, b, "shop")

	// The dog bath goes from ¥88 to ¥99.
	i := browsertest.Eval[int](t, b, `shopView.edit.services.findIndex(s => s.id === 'dog-bath')`)
	if got := browsertest.Eval[string](t, b, fmt.Sprintf(`document.getElementById('shop-svc-%d-price').value`, i)); got != "88.00" {
		t.Fatalf("dog-bath's price on screen: %q", got)
	}
	typeInto(t, b, fmt.Sprintf("shop-svc-%d-price", i), "99")
	consoleClick(t, b, "#shop-save")
	browsertest.WaitJS(t, b, `shopView.version === 2 && shopView.msg.includes('Version 2')`, 10*time.Second, showShop)
	if got := kioskPrice(t, kiosk, "dog-bath"); got != 9900 {
		t.Fatalf("the kiosk's dog-bath costs %d after the edit", got)
	}
	consoleShot(t, b, "shop-saved")

	// A colleague saves meanwhile; this page's next save is a conflict in words.
	var cur proto.CatalogAnswer
	storetest.OK(t, he.Call(t, "booking", "catalog_get", `{}`)).Decode(t, &cur)
	cur.Catalog.Hours.Sun = []string{"10:00-18:00"}
	body := fmt.Sprintf(`{"version":%d,"catalog":%s}`, cur.Version, mustJSON(t, cur.Catalog))
	storetest.OK(t, he.Call(t, "booking", "catalog_set", body))
	typeInto(t, b, fmt.Sprintf("shop-svc-%d-price", i), "120")
	consoleClick(t, b, "#shop-save")
	browsertest.WaitJS(t, b, `shopView.stale && shopView.err.includes('A colleague changed the shop')`, 10*time.Second, showShop)
	if got := browsertest.Eval[string](t, b, `document.getElementById('shop-err').textContent`); !strings.Contains(got, "now version 3") || !strings.Contains(got, "not saved") {
		t.Fatalf("the conflict on screen: %q", got)
	}
	if got := kioskPrice(t, kiosk, "dog-bath"); got != 9900 {
		t.Fatalf("a stale save changed the price to %d", got)
	}
	consoleShot(t, b, "shop-conflict")
	consoleClick(t, b, "#shop-stale-reload")
	browsertest.WaitJS(t, b, `shopView.version === 3 && document.getElementById('shop-hours-sun').value === '10:00-18:00'`, 10*time.Second, showShop)

	// Wednesday is closed for staff training.
	typeInto(t, b, "shop-cl-date", "2026-11-25")
	typeInto(t, b, "shop-cl-zh", "员工培训")
	typeInto(t, b, "shop-cl-en", "Staff training")
	consoleClick(t, b, "#shop-add-closure")
	browsertest.WaitJS(t, b, `shopView.msg.includes('Staff training') && shopView.affected && shopView.affected.length === 1`, 10*time.Second, showShop)
	if got := browsertest.Eval[string](t, b, `document.getElementById('shop-view').textContent`); !strings.Contains(got, "1 customer(s) with a booking then were told") || !strings.Contains(got, "2026-11-25 · 员工培训 / Staff training") {
		t.Fatalf("the closure on screen: %q", got)
	}
	consoleShot(t, b, "shop-closure")

	// The mother reads why on her phone, with other times.
	browsertest.WaitJS(t, phone, `[...document.querySelectorAll('.card-booking')].some(c => c.textContent.includes('Staff training') && c.textContent.includes('Free times instead'))`, 10*time.Second, showChat)
	shot(t, phone, "closed-day")

	// Booking that day is refused with the reason and the nearest free times.
	a := kiosk.Call(t, "booking", "book", `{"service":"dog-bath","start":"2026-11-25T14:00:00+08:00","customer":"cust-walkin"}`)
	storetest.Fails(t, a, "bad_request", proto.ReasonClosed)
	var d struct {
		Error struct {
			Details struct {
				Closure      proto.Closure `json:"closure"`
				Alternatives []proto.Slot  `json:"alternatives"`
			} `json:"details"`
		} `json:"error"`
	}
	a.Decode(t, &d)
	if d.Error.Details.Closure.Reason.ZH != "员工培训" || len(d.Error.Details.Alternatives) == 0 {
		t.Fatalf("the refusal: %s", a)
	}

	// On a phone, in both languages, everything in the tab is in reach.
	pb := browsertest.New(t, browsertest.Phone())
	browsertest.Navigate(t, pb, fmt.Sprintf("http://%s/console/?%s#%s", s.HTTP, url.Values{"u": {"admin-he"}}.Encode(), url.Values{"p": {"pw-admin-he"}}.Encode()))
	browsertest.WaitJS(t, pb, `window.consoleView && document.getElementById('signin')`, 10*time.Second)
	consoleRun(t, pb, chromedp.Click(chromedp.CSS("#signin")))
	browsertest.WaitJS(t, pb, `consoleView.state === 'ready' && shopView.editable && !document.getElementById('tab-shop').hidden`, 10*time.Second, showShop)
	consoleClick(t, pb, "#tab-shop")
	browsertest.WaitJS(t, pb, `!document.getElementById('shop-view').hidden && shopView.closures.length === 2`, 5*time.Second, showShop)
	checkLayout(t, pb, 390, "shop on a phone")
	consoleRun(t, pb, chromedp.ScrollIntoView(chromedp.CSS("#shop-title")))
	consoleShot(t, pb, "phone-shop")
	consoleClick(t, pb, "#lang")
	browsertest.WaitJS(t, pb, `document.getElementById('tab-shop').textContent === '门店'`, 5*time.Second)
	checkLayout(t, pb, 390, "shop on a phone, in Chinese")

	// Reopened from the tab, the day books again.
	id := browsertest.Eval[string](t, b, `shopView.closures.find(c => c.date === '2026-11-25').id`)
	consoleClick(t, b, "#shop-reopen-"+id)
	browsertest.WaitJS(t, b, `shopView.msg.startsWith('Reopened 2026-11-25')`, 10*time.Second, showShop)
	storetest.OK(t, kiosk.Call(t, "booking", "book", `{"service":"dog-bath","start":"2026-11-25T14:00:00+08:00","customer":"cust-walkin"}`))
}
