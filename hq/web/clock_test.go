package web

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/storeedge/storeedge/internal/testkit/browsertest"
	"github.com/storeedge/storeedge/proto"
)

// A store whose clock has no time source yet says so in its presence; the
// fleet page and the store's page show it in words, in English and in
// Chinese, on a desktop and on a phone, and the store's row is back to its
// skew once its clock is set (a status stamped earlier by the unset clock
// than the last one still counts).
func TestFleetShowsAStoreClockNotSet(t *testing.T) {
	f := newFixture(t, Options{})
	// s-c booted with its clock a day ahead and no NTP; s-a is synced.
	f.status(t, "s-c", proto.StoreStatus{Online: true, Epoch: "e0s-c", ClockSynced: ptr(false)}, now.Add(-5*time.Second), -24*time.Hour)
	f.status(t, "s-a", proto.StoreStatus{Online: true, Epoch: "e0s-a", ClockSynced: ptr(true)}, now.Add(-5*time.Second), 0)

	for _, size := range []struct {
		name string
		opt  browsertest.Option
	}{{"1280", browsertest.WindowSize(1280, 900)}, {"phone", browsertest.Phone()}} {
		t.Run(size.name, func(t *testing.T) {
			ctx := browsertest.New(t, size.opt)
			browsertest.Navigate(t, ctx, f.srv.URL+"/")
			browsertest.WaitJS(t, ctx, `location.pathname === '/signin' && !!document.querySelector('#key')`, 10*time.Second, `location.href`)
			browsertest.Eval[any](t, ctx, `localStorage.setItem('storeedge.lang','en')`)
			run(t, ctx, chromedp.SendKeys(chromedp.CSS("#key"), f.key), chromedp.Click(chromedp.CSS("#go")))
			waitNav(t, ctx, `location.pathname === '/' && window.fleet && window.fleet.loads > 0 && document.querySelectorAll('#rows tr').length === 3`, 10*time.Second, `location.href`)
			cell := func(store string) string {
				return browsertest.Eval[string](t, ctx, `document.querySelector('tr[data-store="`+store+`"] [data-clock]').textContent`)
			}
			if c := cell("s-c"); c != "Not set: no time source yet" {
				t.Errorf("s-c's clock: %q", c)
			}
			if c := cell("s-a"); c != "in step" {
				t.Errorf("s-a's clock: %q", c)
			}
			if !browsertest.Eval[bool](t, ctx, `document.documentElement.scrollWidth <= window.innerWidth`) {
				t.Errorf("the fleet page is wider than the window")
			}
			browsertest.Eval[any](t, ctx, `document.querySelector('tr[data-store="s-c"]').scrollIntoView({block: 'center'})`)
			shot(t, ctx, "clock-en-"+size.name)
			run(t, ctx, chromedp.Click(chromedp.CSS("#lang")))
			browsertest.WaitJS(t, ctx, `document.documentElement.lang === 'zh-CN'`, 5*time.Second, `document.documentElement.lang`)
			if c := cell("s-c"); c != "未校准：尚未同步时间" {
				t.Errorf("s-c's clock in Chinese: %q", c)
			}
			browsertest.Eval[any](t, ctx, `document.querySelector('tr[data-store="s-c"]').scrollIntoView({block: 'center'})`)
			shot(t, ctx, "clock-zh-"+size.name)
			// The store's own page.
			browsertest.Navigate(t, ctx, f.srv.URL+"/stores/s-c")
			waitNav(t, ctx, `window.storePage && window.storePage.loads > 0`, 10*time.Second, `location.href`)
			if s := browsertest.Eval[string](t, ctx, `document.querySelector('#facts').innerText`); !strings.Contains(s, "未校准：尚未同步时间") {
				t.Errorf("s-c's page: %q", s)
			}
		})
	}

	// NTP sets s-c's clock back by a day: its next status, stamped earlier
	// than the one before, is taken, and the row shows the clock in step.
	f.status(t, "s-c", proto.StoreStatus{Online: true, Epoch: "e0s-c", ClockSynced: ptr(true)}, now, 0)
	var rows struct {
		Stores []struct {
			Store       string `json:"store"`
			ClockSynced *bool  `json:"clock_synced"`
			ClockSkewMS int64  `json:"clock_skew_ms"`
		} `json:"stores"`
	}
	res := f.call(t, "GET", "/api/v1/stores", f.key, "")
	if err := json.NewDecoder(res.Body).Decode(&rows); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range rows.Stores {
		if s.Store == "s-c" {
			found = true
			if s.ClockSynced == nil || !*s.ClockSynced || s.ClockSkewMS != 0 {
				t.Errorf("s-c after NTP set its clock: synced %v, skew %d ms", s.ClockSynced, s.ClockSkewMS)
			}
		}
		if s.Store == "s-b" && s.ClockSynced != nil {
			t.Errorf("s-b never said, yet its clock_synced is %v", *s.ClockSynced)
		}
	}
	if !found {
		t.Fatal("s-c not in the API's stores")
	}
}
