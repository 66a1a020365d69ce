package pagetest

// The customer at home, end to end, across three origins: the store's pages
// on 127.0.0.1, the staff console on localhost (the same store, another
// origin) and HQ's page at home (storeedge-hq, its PostgreSQL replica and
// its broker: internal/testkit/hqrig). Home is a network namespace
// (internal/testkit/netnstest) that reaches only HQ's HTTP and the TURN
// server (internal/testkit/turntest), both bound on the host's end of its
// veth pair; the home browser runs inside it. The store's internet goes
// through a fault proxy the test cuts and restores.
//
// The story, in the store's time zone, which the test picks so that it is
// 3 a.m. there now: a parent scans the chat code in the shop and chats;
// taps "Continue at home" and opens the link on HQ's page; at 3 a.m., with
// the store closed and its internet cut, sends a photo and asks about her
// crying baby: HQ tells her at once that the store is closed and gives the
// store's FAQ answer. She books two visits from home while the store is
// still offline (free slots from HQ's replica, marked so); one of them was
// taken in the shop meanwhile. Then "the morning": the store is back:
// staff answer in the console; she sees the answer at home once, after her
// messages; the store confirms one booking and turns the other down with
// alternatives, one of which she takes with one tap. At the visit she
// watches the grooming table's camera from home, through TURN only.
//
// The clocks: HQ runs on the real one, and what it sends the store (a
// watch from home) carries deadlines on it, so the store's clock (which
// the test sets) never runs ahead of the real one. For the live view the
// visit must be in its slot on both: the store opens 60 to 120 s after the
// test starts (its hours say so, to the minute), the first visit is at the
// opening, and the test waits for it before the dog is checked in.
//
// She acts on the pages (the store page's #home and #home-link, HQ's
// composer, Book and Watch); what she sees is checked on the screen and,
// for exact counts and order, through HQ's JSON API called from inside
// HQ's page with the login the page keeps on the phone.
//
// Run: go test -run TestCustomerAtHome ./broker/web/pagetest/ (as root:
// the namespace). It takes about two minutes, most of it waiting for the
// store to open.

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/internal/testkit/browsertest"
	"github.com/storeedge/storeedge/internal/testkit/hqrig"
	"github.com/storeedge/storeedge/internal/testkit/netnstest"
	"github.com/storeedge/storeedge/internal/testkit/pgtest"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/internal/testkit/turntest"
)

// TestMain: HQ's rig needs PostgreSQL, stopped when the tests end.
func TestMain(m *testing.M) { pgtest.Main(m) }

// homeFleet: the store's devices (two grooming tables, each with its camera).
var homeFleet = []storetest.Device{
	{ID: "staff-anna", Role: "staff"},
	{ID: "tablet-1", Role: "chat-tablet"},
	{ID: "cam-1", Role: "camera"},
	{ID: "cam-2", Role: "camera"},
	{ID: "kiosk-1", Role: "kiosk"},
}

// threeAM is a fixed-offset zone where it is 3 a.m. now (Etc/GMT-N is
// UTC+N), and the store's clock reading now.
func threeAM() (zone string, now time.Time) {
	now = time.Now().Truncate(time.Second)
	off := (3 - now.UTC().Hour() + 24) % 24
	if off > 12 {
		off -= 24
	}
	switch {
	case off == 0:
		zone = "Etc/GMT"
	case off > 0:
		zone = fmt.Sprintf("Etc/GMT-%d", off)
	default:
		zone = fmt.Sprintf("Etc/GMT+%d", -off)
	}
	return zone, now
}

// homeMsg is a message as HQ's API at home gives it.
type homeMsg struct {
	Key      string `json:"key"`
	ID       string `json:"id"`
	Seq      int64  `json:"seq"`
	From     string `json:"from"`
	Sender   string `json:"sender"`
	Kind     string `json:"kind"`
	Text     string `json:"text"`
	State    string `json:"state"`
	Recalled bool   `json:"recalled"`
	Auto     bool   `json:"auto"`
	Via      string `json:"via"`
	Media    *struct {
		Hash string `json:"hash"`
	} `json:"media"`
}

type homeRequest struct {
	ID           string `json:"id"`
	Kind         string `json:"kind"`
	Start        string `json:"start"`
	State        string `json:"state"`
	Code         string `json:"code"`
	Message      string `json:"message"`
	Alternatives []struct {
		Start string `json:"start"`
		End   string `json:"end"`
	} `json:"alternatives"`
}

// homeAPI calls HQ's API at home from inside HQ's page (its origin, its
// fetch) with the login the page keeps on the device: the token (hqt_…)
// found in its localStorage, whatever the key. body is JSON or "".
func homeAPI(t *testing.T, b context.Context, method, path, body string) (int, []byte) {
	t.Helper()
	var out struct {
		Status int    `json:"status"`
		Body   string `json:"body"`
		Err    string `json:"err"`
	}
	js := fmt.Sprintf(`(async () => {
		try {
			const all = Object.keys(localStorage).map((k) => localStorage.getItem(k)).join(' ');
			const tok = (all.match(/hqt_[A-Za-z0-9_-]+/) || [])[0];
			const h = {};
			if (tok) h['Authorization'] = 'Bearer ' + tok;
			const body = %s;
			if (body) h['Content-Type'] = 'application/json';
			const r = await fetch('/home/api/v1' + %q, {method: %q, headers: h, body: body || undefined});
			return JSON.stringify({status: r.status, body: await r.text()});
		} catch (e) { return JSON.stringify({status: 0, body: '', err: String(e)}); }
	})()`, jsString(body), path, method)
	if err := json.Unmarshal([]byte(browsertest.Eval[string](t, b, js)), &out); err != nil {
		t.Fatal(err)
	}
	if out.Err != "" {
		t.Fatalf("%s /home/api/v1%s from HQ's page: %s", method, path, out.Err)
	}
	return out.Status, []byte(out.Body)
}

// homeJSON is homeAPI that wants status want and decodes the answer into v.
func homeJSON(t *testing.T, b context.Context, method, path, body string, want int, v any) {
	t.Helper()
	code, got := homeAPI(t, b, method, path, body)
	if code != want {
		t.Fatalf("%s /home/api/v1%s: %d %s, want %d", method, path, code, got, want)
	}
	if v != nil {
		if err := json.Unmarshal(got, v); err != nil {
			t.Fatalf("%s /home/api/v1%s: %v: %s", method, path, err, got)
		}
	}
}

// homeMessages is her conversation as HQ's page at home gets it.
func homeMessages(t *testing.T, b context.Context) []homeMsg {
	t.Helper()
	var m struct {
		Messages []homeMsg `json:"messages"`
	}
	homeJSON(t, b, "GET", "/messages", "", 200, &m)
	return m.Messages
}

// waitHome polls her view at home (GET path) until ok says yes.
func waitHome[T any](t *testing.T, b context.Context, path string, timeout time.Duration, ok func(T) bool) T {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var v T
		code, body := homeAPI(t, b, "GET", path, "")
		if code == 200 && json.Unmarshal(body, &v) == nil && ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /home/api/v1%s: not as wanted within %v: %d %s", path, timeout, code, body)
		}
		time.Sleep(100 * time.Millisecond) // polling with a deadline
	}
}

// homeTap taps the element sel names on HQ's page, found and clicked in
// one step: the booking section redraws its lists while it polls, and a
// node found a moment before may be gone at the click.
func homeTap(t *testing.T, b context.Context, sel string) {
	t.Helper()
	if !browsertest.Eval[bool](t, b, fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return false; e.click(); return true; })()`, sel)) {
		t.Fatalf("no %s on HQ's page", sel)
	}
}

// homeShot saves HQ's page as home-<name>.png in browsertest's folder.
func homeShot(t *testing.T, b context.Context, name string) {
	t.Helper()
	buf, err := chromedp.Run(b, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(browsertest.ScreenshotDir(t), "home-"+name+".png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

var linkURL = regexp.MustCompile(`https?://[^\s"'<>]+#link=[A-Za-z0-9._-]+`)

func TestCustomerAtHome(t *testing.T) {
	zone, now := threeAM()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	today := now.In(loc).Format(time.DateOnly)
	// The store opens at the whole minute two minutes from now (60 to 120
	// s away); the part of the story that needs it closed (HQ's answer at
	// night, the free slots from HQ's replica) is over before.
	opens := now.Add(2 * time.Minute).Truncate(time.Minute)

	// Home: a namespace that reaches only what is bound on ns.HostIP, HQ's
	// HTTP and the TURN server for the live view.
	ns := netnstest.New(t)
	turn := turntest.Start(t, turntest.Options{IP: ns.HostIP})
	hq := hqrig.Start(t, hqrig.Options{
		Listen: ns.HostIP,
		Files:  map[string][]byte{"turn.secret": []byte(turn.Secret + "\n")},
		YAML: "home_camera:\n  turn_urls: [\"" + turn.URL() + "\"]\n" +
			"  turn_secret_file: \"{dir}/turn.secret\"\n",
	})

	// The store: closed at this hour (its FAQ's hours in a zone where it is
	// 3 a.m.); hqrig points its home_url at HQ's page.
	dir := t.TempDir()
	faq, err := os.ReadFile("../../../configs/faq.yaml")
	if err != nil {
		t.Fatal(err)
	}
	faqFile := filepath.Join(dir, "faq.yaml")
	faqHours := strings.Replace(string(faq), "time_zone: Asia/Shanghai", "time_zone: "+zone, 1)
	faqHours = regexp.MustCompile(`(?m)^    (mon|tue|wed|thu|fri|sat|sun): \[.*\]$`).
		ReplaceAllString(faqHours, `    $1: ["`+opens.In(loc).Format("15:04")+`-21:00"]`)
	if err := os.WriteFile(faqFile, []byte(faqHours), 0o600); err != nil {
		t.Fatal(err)
	}
	// Every groomer works from the opening: the visit is at the opening.
	svcs, err := os.ReadFile("../../../configs/services.yaml")
	if err != nil {
		t.Fatal(err)
	}
	servicesFile := filepath.Join(dir, "services.yaml")
	allDay := regexp.MustCompile(`(?m)^        (mon|tue|wed|thu|fri|sat|sun): \[.*\]$`).
		ReplaceAllString(string(svcs), `        $1: ["00:00-23:59"]`)
	if err := os.WriteFile(servicesFile, []byte(allDay), 0o600); err != nil {
		t.Fatal(err)
	}
	const storeID = "s-home-1"
	s := hq.LinkStoreWith(t, storeID, storetest.Options{Devices: homeFleet, Start: now, Config: func(c *broker.Config) {
		c.Listeners.Websocket = "127.0.0.1:0"
		c.Listeners.WebsocketPath = "/mqtt"
		c.Camera.Rooms = map[string]string{"cam-1": "table-1", "cam-2": "table-2"}
		c.Camera.Loopback = true
		c.Chat.FAQFile = faqFile
		c.Booking.ServicesFile = servicesFile
	}})
	startConsoleCamera(t, s.Store, "cam-1")
	startConsoleCamera(t, s.Store, "cam-2")
	hq.WaitOnline(t, storeID, true, 30*time.Second)
	tablet := s.Connect(t, storetest.Device{ID: "tablet-1", Role: "chat-tablet"}, "qr")
	staff := s.Connect(t, storetest.Device{ID: "staff-anna", Role: "staff"}, "check")

	// In the shop: she scans the tablet's code and chats.
	shop := browsertest.New(t, browsertest.Phone())
	browsertest.Navigate(t, shop, chatURL(t, s.Store, tablet))
	browsertest.WaitJS(t, shop, `chatView.state === 'ready' && chatView.status === 'online'`, 10*time.Second, showChat)
	customer := browsertest.Eval[string](t, shop, `chatView.customer`)
	typeAndSend(t, shop, "Hello, I bought the night-time formula here today")
	browsertest.WaitJS(t, shop, `chatView.messages.some(m => m.from === chatView.customer && m.text.includes('night-time formula'))`, 10*time.Second, showChat)

	// "Continue at home" (#home): the store page shows her a link to HQ's
	// page (#home-link, and its QR code for another phone).
	browsertest.WaitJS(t, shop, `(() => { const b = document.getElementById('home'); return !!b && b.getClientRects().length > 0; })()`, 10*time.Second, showChat)
	run(t, shop, chromedp.Click(chromedp.ID("home")))
	browsertest.WaitJS(t, shop, `(() => { const a = document.getElementById('home-link'); return !!a && a.getClientRects().length > 0 && a.href.includes('#link='); })()`,
		15*time.Second, `JSON.stringify(window.chatHome)`)
	link := linkURL.FindString(browsertest.Eval[string](t, shop, `document.getElementById('home-link').href`))
	if !strings.HasPrefix(link, hq.URL+"/home/#link="+storeID+".") {
		t.Fatalf("the link %q is not HQ's page for %s", link, storeID)
	}
	shot(t, shop, "athome-continue")

	// At home: the link opens HQ's page, which signs her in (retrying while
	// the store's vouch is on its way) and keeps the login on the device.
	// Home reaches HQ, not the store: neither from the namespace nor from
	// the browser at home.
	if out, err := ns.Command("timeout", "2", "bash", "-c", "exec 3<>/dev/tcp/"+strings.Replace(s.HTTP, ":", "/", 1)).CombinedOutput(); err == nil {
		t.Fatalf("home reached the store's HTTP at %s: %s", s.HTTP, out)
	}
	home := browsertest.New(t, browsertest.Phone(), browsertest.InNamespace(ns.Name))
	browsertest.Navigate(t, home, link)
	browsertest.WaitJS(t, home, `Object.keys(localStorage).some((k) => /hqt_/.test(localStorage.getItem(k)))`, 40*time.Second,
		`document.body.innerText`)
	var me struct {
		Customer struct {
			ID       string `json:"id"`
			Store    string `json:"store"`
			Customer string `json:"customer"`
		} `json:"customer"`
	}
	homeJSON(t, home, "GET", "/me", "", 200, &me)
	storePage := "http://" + s.HTTP + "/"
	if got := browsertest.Eval[string](t, home, fmt.Sprintf(`(async () => {
		const c = new AbortController();
		setTimeout(() => c.abort(), 5000);
		try { await fetch(%q, {mode: 'no-cors', signal: c.signal}); return 'reached'; } catch (e) { return 'failed: ' + e; }
	})()`, storePage)); !strings.HasPrefix(got, "failed") {
		t.Fatalf("the browser at home fetched the store's page %s: %s", storePage, got)
	}
	if me.Customer.Customer != customer || me.Customer.Store != storeID || !strings.HasPrefix(me.Customer.ID, "hc-") {
		t.Fatalf("signed in at home as %+v, want %s of %s", me.Customer, customer, storeID)
	}
	// One conversation: what she wrote in the shop is there at home.
	waitHome(t, home, "/messages", 20*time.Second, func(m struct{ Messages []homeMsg }) bool {
		for _, x := range m.Messages {
			if x.From == "me" && strings.Contains(x.Text, "night-time formula") {
				return true
			}
		}
		return false
	})
	browsertest.WaitJS(t, home, `document.body.innerText.includes('night-time formula')`, 10*time.Second, `document.body.innerText`)
	// HQ's replica has the shop (services, hours) before the link goes.
	waitHome(t, home, "/shop", 20*time.Second, func(v struct {
		Services []struct{ ID string } `json:"services"`
	}) bool {
		return len(v.Services) > 0
	})

	// 3 a.m.: the store's internet is cut.
	s.Cut()
	hq.WaitOnline(t, storeID, false, 15*time.Second)

	// She sends a photo and asks about her crying baby, from the page's
	// composer.
	t.Logf("the store cut %v after the start; it opens in %v", time.Since(now).Round(time.Second), time.Until(opens).Round(time.Second))
	if time.Until(opens) < 20*time.Second {
		t.Fatalf("too slow: the store opens at %v, too soon for the story of a closed store", opens)
	}
	const asked = "My newborn keeps crying at night, what can I do?"
	mineOf := func(x homeMsg) bool { return x.From == "me" && (x.Kind == "image" || x.Text == asked) }
	run(t, home, chromedp.SetUploadFiles(chromedp.ID("chat-file"), []string{testPhoto(t)}))
	waitHome(t, home, "/messages", 20*time.Second, func(m struct{ Messages []homeMsg }) bool {
		for _, x := range m.Messages {
			if x.From == "me" && x.Kind == "image" {
				return true
			}
		}
		return false
	})
	run(t, home, chromedp.SendKeys(chromedp.ID("chat-input"), asked), chromedp.Click(chromedp.ID("chat-send")))
	// At once: HQ knows the store is offline and does not wait for it
	// (home.reply_wait, 4 s, is for a store that looks online): the FAQ's
	// answer is on her screen within 3 s.
	if took := browsertest.WaitJS(t, home, `document.body.innerText.includes('See a doctor soon if')`, 10*time.Second, `document.body.innerText`); took > 3*time.Second {
		t.Fatalf("HQ's answer took %v with the store offline", took)
	}
	// HQ has her messages (not the store yet), the store is closed (HQ
	// says so) and the FAQ's answer, with the health rules (care steps,
	// when to see a doctor, not a diagnosis).
	var notice, answer bool
	sentN := 0
	for _, x := range homeMessages(t, home) {
		if mineOf(x) {
			sentN++
			if x.State != "sending" {
				t.Fatalf("with the store offline her message is %+v, want sending", x)
			}
		}
		notice = notice || (x.From == "assistant" && x.Via == "hq" && strings.Contains(strings.ToLower(x.Text), "closed"))
		answer = answer || (x.From == "assistant" && x.Via == "hq" && strings.Contains(x.Text, "See a doctor soon if") && strings.Contains(x.Text, "not a diagnosis"))
	}
	if sentN != 2 || !notice || !answer {
		t.Fatalf("at 3 a.m.: her messages %d, HQ's notice %v, FAQ %v: %+v", sentN, notice, answer, homeMessages(t, home))
	}
	browsertest.WaitJS(t, home, `document.body.innerText.includes('See a doctor soon if')`, 10*time.Second, `document.body.innerText`)
	homeShot(t, home, "athome-3am")

	// Still offline, she books from home: today's free dog-groom slots from
	// HQ's replica, marked as such. Meanwhile, in the shop, the store fills
	// the second of them on both tables.
	var slots struct {
		Source string `json:"source"`
		AsOf   string `json:"as_of"`
		Slots  []struct {
			Start string `json:"start"`
			End   string `json:"end"`
		} `json:"slots"`
	}
	homeJSON(t, home, "GET", "/slots?service=dog-groom&day="+today, "", 200, &slots)
	if !time.Now().Before(opens) {
		t.Fatalf("too slow: the slots were asked for %v after the opening", time.Since(opens))
	}
	if slots.Source != "replica" || slots.AsOf == "" || len(slots.Slots) < 4 {
		t.Fatalf("slots with the store offline: %+v, want several from the replica", slots)
	}
	// The second is hours after the first, so that filling it leaves the
	// first free.
	first, taken := slots.Slots[0].Start, ""
	for _, sl := range slots.Slots {
		if a, b := parseTime(t, first), parseTime(t, sl.Start); b.Sub(a) >= 4*time.Hour {
			taken = sl.Start
			break
		}
	}
	if taken == "" {
		t.Fatalf("no slot 4 hours after %s: %+v", first, slots.Slots)
	}
	filled := 0
	for i := range 4 {
		a, err := staff.TryCall("booking", "book", fmt.Sprintf("walk-in-%d", i),
			fmt.Sprintf(`{"service":"dog-groom","start":%q,"contact":{"name":"Walk-in %d","phone":"1380000000%d"}}`, taken, i, i))
		if err != nil {
			t.Fatal(err)
		}
		if !a.OK {
			if a.Error == nil || a.Error.Code != "conflict" {
				t.Fatalf("a walk-in at %s: %s", taken, a.Raw)
			}
			break
		}
		filled++
	}
	if filled == 0 || filled == 4 {
		t.Fatalf("%d walk-ins booked at %s; want the slot full", filled, taken)
	}
	// On the page: Book, the service, today, the times marked as HQ's last
	// picture of the store; one tap a time.
	const showBook = `JSON.stringify(window.bookView)`
	run(t, home, chromedp.Click(chromedp.CSS(`#tabs [data-tab="book"]`)))
	browsertest.WaitJS(t, home, `!!document.querySelector('.book-svc[data-service="dog-groom"]')`, 15*time.Second, showBook)
	homeTap(t, home, `.book-svc[data-service="dog-groom"]`)
	if browsertest.Eval[bool](t, home, fmt.Sprintf(`!!document.querySelector('.book-day[data-day=%q]')`, today)) {
		homeTap(t, home, fmt.Sprintf(`.book-day[data-day=%q]`, today))
	}
	slotBtn := func(start string) string { return fmt.Sprintf(`.book-slot[data-start=%q]`, start) }
	browsertest.WaitJS(t, home, fmt.Sprintf(`bookView.slots && bookView.slots.source === 'replica' && !!document.querySelector('.book-replica') && !!document.querySelector(%q)`, slotBtn(first)),
		15*time.Second, showBook)
	// On a phone (390 px) the Book tab fits the screen, in English and in
	// Chinese: no sideways scrolling, every service's duration and price
	// in view.
	for _, lang := range []string{"zh", "en"} {
		browsertest.Eval[any](t, home, fmt.Sprintf(`(localStorage.setItem('storeedge.home.lang', %q), document.dispatchEvent(new CustomEvent('home:lang')), 0)`, lang))
		homeShot(t, home, "athome-book-"+lang)
		bookFits(t, home, lang)
	}
	requestAt := func(rs []homeRequest, start string) *homeRequest {
		for i := range rs {
			if sameInstant(rs[i].Start, start) {
				return &rs[i]
			}
		}
		return nil
	}
	waitRequests := func(ok func([]homeRequest) bool) []homeRequest {
		t.Helper()
		return waitHome(t, home, "/bookings", 30*time.Second, func(v struct {
			Requests []homeRequest `json:"requests"`
		}) bool {
			return ok(v.Requests)
		}).Requests
	}
	for _, start := range []string{first, taken} {
		browsertest.WaitJS(t, home, fmt.Sprintf(`!!document.querySelector(%q)`, slotBtn(start)), 15*time.Second, showBook)
		homeTap(t, home, slotBtn(start))
		waitRequests(func(rs []homeRequest) bool { return requestAt(rs, start) != nil })
	}
	for _, r := range waitRequests(func([]homeRequest) bool { return true }) {
		if r.State != "waiting" {
			t.Fatalf("a request while the store is offline: %+v, want waiting", r)
		}
	}
	homeShot(t, home, "athome-book-offline")

	// "The morning": the store's internet is back. (The store's clock
	// stays where it is: what HQ sends carries deadlines on HQ's clock, the
	// real one, and a store clock hours ahead would find them all past.)
	s.Restore()
	hq.WaitOnline(t, storeID, true, 30*time.Second)

	// Her messages reached the store once each, in order, the store filed
	// HQ's answer after them (marked automatic) and did not answer again.
	var hist []consoleHistoryMsg
	for deadline := time.Now().Add(30 * time.Second); ; {
		hist = consoleHistory(t, staff, customer)
		var gotPhoto, gotText int
		for _, m := range hist {
			if m.From == customer && m.Kind == "image" {
				gotPhoto++
			}
			if m.From == customer && m.Text == asked {
				gotText++
			}
		}
		if gotPhoto == 1 && gotText == 1 {
			break
		}
		if gotPhoto > 1 || gotText > 1 || time.Now().After(deadline) {
			t.Fatalf("her messages from home at the store: photo %d, text %d: %+v", gotPhoto, gotText, hist)
		}
		time.Sleep(100 * time.Millisecond) // polling with a deadline
	}
	var photoSeq, textSeq int
	for _, m := range hist {
		switch {
		case m.From == customer && m.Kind == "image":
			photoSeq = m.Seq
		case m.From == customer && m.Text == asked:
			textSeq = m.Seq
		}
	}
	if photoSeq == 0 || textSeq <= photoSeq {
		t.Fatalf("her messages out of order at the store: photo %d, text %d", photoSeq, textSeq)
	}

	// Staff answer in the console (localhost: another origin than the
	// store's pages on 127.0.0.1).
	_, port, _ := net.SplitHostPort(s.HTTP)
	console := browsertest.New(t, browsertest.WindowSize(1024, 768))
	browsertest.Navigate(t, console, "http://localhost:"+port+"/console/")
	browsertest.WaitJS(t, console, `window.consoleView && document.getElementById('signin')`, 10*time.Second)
	consoleSignIn(t, console, "staff-anna", "pw-staff-anna")
	browsertest.WaitJS(t, console, `consoleView.state === 'ready'`, 10*time.Second, showConsole)
	consoleOpen(t, console, customer)
	browsertest.WaitJS(t, console, fmt.Sprintf(`consoleView.open && consoleView.open.conversation === %q &&
		consoleView.open.messages.some(m => m.kind === 'image') && consoleView.open.messages.some(m => m.text === %q)`, customer, asked), 15*time.Second, showConsole)
	const reply = "Good morning, this is Anna. Try the steps above; if she is still unsettled bring her in at ten and we will take a look."
	consoleRun(t, console, chromedp.SendKeys(chromedp.CSS("#reply"), reply+kb.Enter))
	consoleShot(t, console, "athome-morning")

	// At home she sees the answer exactly once, after her messages.
	msgs := waitHome(t, home, "/messages", 20*time.Second, func(m struct{ Messages []homeMsg }) bool {
		for _, x := range m.Messages {
			if x.Text == reply {
				return true
			}
		}
		return false
	}).Messages
	var replies, last int64
	var mine []int64
	for _, x := range msgs {
		if x.Seq != 0 && x.Seq <= last {
			t.Fatalf("messages at home out of order: %+v", msgs)
		}
		if x.Seq != 0 {
			last = x.Seq
		}
		if x.Text == reply {
			replies++
			if x.From != "staff" || x.Seq == 0 {
				t.Fatalf("the reply at home: %+v", x)
			}
			for _, s := range mine {
				if s >= x.Seq {
					t.Fatalf("the reply (seq %d) before her message (seq %d): %+v", x.Seq, s, msgs)
				}
			}
		}
		if mineOf(x) {
			if x.Seq == 0 || x.State == "sending" {
				t.Fatalf("her message %s at home once the store has it: %+v", x.ID, x)
			}
			mine = append(mine, x.Seq)
		}
	}
	if replies != 1 || len(mine) != 2 {
		t.Fatalf("at home: the reply %d times, her messages %d: %+v", replies, len(mine), msgs)
	}
	homeTap(t, home, `#tabs [data-tab="chat"]`)
	browsertest.WaitJS(t, home, fmt.Sprintf(`document.body.innerText.split(%q).length === 2`, reply), 10*time.Second, `document.body.innerText`)
	homeShot(t, home, "athome-reply")

	// The store decided her requests: the first confirmed, the taken slot
	// turned down with alternatives.
	type bookingsView struct {
		Bookings []struct {
			ID     string `json:"id"`
			Start  string `json:"start"`
			Status string `json:"status"`
		} `json:"bookings"`
		Requests []homeRequest `json:"requests"`
	}
	decided := waitHome(t, home, "/bookings", 30*time.Second, func(v bookingsView) bool {
		n := 0
		for _, r := range v.Requests {
			if r.State != "waiting" {
				n++
			}
		}
		return n == 2
	})
	if r := requestAt(decided.Requests, first); r == nil || r.State != "confirmed" {
		t.Fatalf("the free slot's request: %+v", r)
	}
	if r := requestAt(decided.Requests, taken); r == nil || r.State != "rejected" || len(r.Alternatives) == 0 || r.Message == "" {
		t.Fatalf("the taken slot's request: %+v", r)
	}
	// She takes the first alternative the page offers, with one tap.
	homeTap(t, home, `#tabs [data-tab="book"]`)
	browsertest.WaitJS(t, home, `!!document.querySelector('.book-req-rejected .book-alt')`, 30*time.Second, showBook)
	alt := browsertest.Eval[string](t, home, `document.querySelector('.book-req-rejected .book-alt').dataset.start`)
	homeTap(t, home, `.book-req-rejected .book-alt`)
	type bookingsOnly struct {
		Bookings []struct {
			ID     string `json:"id"`
			Start  string `json:"start"`
			Status string `json:"status"`
		} `json:"bookings"`
		Requests []homeRequest `json:"requests"`
	}
	booked := waitHome(t, home, "/bookings", 30*time.Second, func(v bookingsOnly) bool {
		r := requestAt(v.Requests, alt)
		return r != nil && r.State == "confirmed"
	})
	homeShot(t, home, "athome-booked")
	var visit string
	for _, bk := range booked.Bookings {
		if sameInstant(bk.Start, first) && bk.Status == "booked" {
			visit = bk.ID
		}
	}
	if visit == "" {
		t.Fatalf("the confirmed visit is not among her bookings: %+v", booked.Bookings)
	}

	// The visit: the groomer checks the dog in; she watches from home. The
	// viewer reaches only HQ and TURN: the connection must be relayed.
	// The visit's time comes (real time: see the clocks above), and the
	// store's clock goes there.
	at := parseTime(t, first)
	for time.Now().Before(at.Add(time.Second)) {
		if time.Until(at) > 5*time.Minute {
			t.Fatalf("the visit at %v is too far away", at)
		}
		time.Sleep(200 * time.Millisecond) // waiting for the real clock to reach the visit
	}
	s.Set(time.Now())
	storetest.OK(t, staff.Call(t, "booking", "check_in", fmt.Sprintf(`{"booking":%q}`, visit)))
	waitHome(t, home, "/cameras", 20*time.Second, func(v struct {
		Bookings []struct{ Booking string } `json:"bookings"`
	}) bool {
		for _, b := range v.Bookings {
			if b.Booking == visit {
				return true
			}
		}
		return false
	})
	// She opens the page again (the login kept on the phone) and taps
	// Watch on her visit's card.
	browsertest.Navigate(t, home, hq.URL+"/home/")
	const showWatch = `JSON.stringify(window.watchView)`
	browsertest.WaitJS(t, home, `!!document.querySelector('#tabs [data-tab="watch"]')`, 15*time.Second, `document.body.innerText`)
	run(t, home, chromedp.Click(chromedp.CSS(`#tabs [data-tab="watch"]`)))
	goBtn := fmt.Sprintf(`#watch .watch-card[data-booking=%q] .watch-go`, visit)
	browsertest.WaitJS(t, home, fmt.Sprintf(`(() => { const b = document.querySelector(%q); return !!b && !b.disabled; })()`, goBtn), 20*time.Second, `document.getElementById('watch').innerText`)
	run(t, home, chromedp.Click(chromedp.CSS(goBtn)))
	browsertest.WaitJS(t, home, `watchView.state === 'watching' || watchView.state === 'error'`, 30*time.Second, showWatch)
	if e := browsertest.Eval[string](t, home, `watchView.state === 'error' ? String(watchView.error) : ''`); e != "" {
		t.Fatalf("the live view did not start: %s: %s", e, browsertest.Eval[string](t, home, showWatch))
	}
	// Frames, through the TURN server (the viewer's side of the pair a
	// relay candidate).
	browsertest.WaitJS(t, home, `watchView.framesDecoded > 5 && watchView.candidateType === 'relay'`, 20*time.Second, showWatch)
	homeShot(t, home, "athome-live")
}

func parseTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("time %q: %v", s, err)
	}
	return v
}

// sameInstant: two RFC 3339 times name the same instant.
func sameInstant(a, b string) bool {
	x, err1 := time.Parse(time.RFC3339, a)
	y, err2 := time.Parse(time.RFC3339, b)
	return err1 == nil && err2 == nil && x.Equal(y)
}

// bookFits fails the test when HQ's Book tab does not fit the screen: a
// page wider than the viewport (naming the elements past its edge) or a
// service's duration and price cut off.
func bookFits(t *testing.T, b context.Context, lang string) {
	t.Helper()
	if bad := browsertest.Eval[string](t, b, `(() => {
		const w = document.documentElement.clientWidth;
		if (document.documentElement.scrollWidth > w) {
			const out = [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > w + 1)
				.slice(0, 6).map((e) => e.tagName.toLowerCase() + '.' + [...e.classList].join('.') + ' ' + Math.round(e.getBoundingClientRect().width) + ' px');
			return 'the page is ' + document.documentElement.scrollWidth + ' px wide on a ' + w + ' px screen: ' + out.join(', ');
		}
		for (const m of document.querySelectorAll('.book-svc-meta')) {
			const r = m.getBoundingClientRect();
			if (r.right > w || r.left < 0) return '"' + m.textContent + '" is cut off (' + r.left + '–' + r.right + ' px of ' + w + ')';
		}
		return document.querySelectorAll('.book-svc-meta').length ? '' : 'no service rows';
	})()`); bad != "" {
		homeShot(t, b, "athome-book-overflow-"+lang)
		t.Fatalf("the Book tab (%s) at %d px: %s", lang, browsertest.Eval[int](t, b, `document.documentElement.clientWidth`), bad)
	}
}
