package pagetest

// The store set up as its owner and people use it, from an empty data
// directory, in the browser: the owner opens the setup address the box
// printed and makes the first admin; in the console she adds a staff
// member, a kiosk (the example kiosk enrols with the pairing code read off
// the page), a chat tablet (its page takes its pairing code) and a camera;
// she sets a price and the hours and closes a holiday. A customer gets in
// on her phone through the chat tablet's code, chats, books, and is
// recognised two days later (the store's clock). The staff member signs in
// with the password the admin gave. Revoking the kiosk disconnects it
// within a second.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/device"
	"github.com/storeedge/storeedge/internal/testkit/browsertest"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/proto"
)

// addDevice adds a device in the Team & devices tab and returns the new
// account's id and the pairing code the page shows.
func addDevice(t *testing.T, b context.Context, role, name, room string) (id, code string) {
	t.Helper()
	consoleRun(t, b, chromedp.SetValue(chromedp.CSS("#td-role"), role))
	browsertest.Eval[bool](t, b, `(() => { document.getElementById('td-role').dispatchEvent(new Event('change')); return true; })()`)
	consoleRun(t, b, chromedp.SetValue(chromedp.CSS("#td-name"), name))
	if room != "" {
		consoleRun(t, b, chromedp.SetValue(chromedp.CSS("#td-room"), room))
	}
	before := browsertest.Eval[string](t, b, `(teamView.pairing && teamView.pairing.code) || ''`)
	teamClick(t, b, "#td-submit")
	browsertest.WaitJS(t, b, fmt.Sprintf(`teamView.pairing && teamView.pairing.code !== %q && !document.getElementById('td-pairing').hidden &&
		document.getElementById('td-code').textContent.length === 8 && document.getElementById('td-qr').naturalWidth > 0`, before), 5*time.Second, showTeam)
	return browsertest.Eval[string](t, b, `teamView.pairing.device.account`), browsertest.Eval[string](t, b, `document.getElementById('td-code').textContent`)
}

// deviceRow is the JavaScript condition that the device list shows id in
// state with every text of want in its row.
func deviceRow(id, state string, want ...string) string {
	cond := fmt.Sprintf(`r && r.dataset.state === %q`, state)
	for _, w := range want {
		cond += fmt.Sprintf(` && r.textContent.includes(%q)`, w)
	}
	return fmt.Sprintf(`(() => { const r = document.querySelector('#team-devices tr[data-account=%q]'); return %s; })()`, id, cond)
}

func TestStoreSetUpInABrowser(t *testing.T) {
	began := time.Now()
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	// The example kiosk keeps to the wall clock (its presence code's
	// expiry), so the store's clock starts at the wall clock's now; the
	// test moves it on from there.
	s := storetest.Start(t, storetest.Options{Start: time.Now().In(shanghai), Config: func(c *broker.Config) {
		c.Listeners.Websocket = "127.0.0.1:0"
		c.Listeners.WebsocketPath = "/mqtt"
	}})
	// The example kiosk, built while the owner sets the store up.
	kioskBin := filepath.Join(t.TempDir(), "kiosk")
	built := make(chan struct{})
	var buildErr error
	go func() {
		defer close(built)
		cmd := exec.Command("go", "build", "-o", kioskBin, "./device/examples/kiosk")
		cmd.Dir = filepath.Join("..", "..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build the example kiosk: %w\n%s", err, out)
		}
	}()
	t.Cleanup(func() { <-built })
	day := func(n int) string { return s.Now().In(shanghai).AddDate(0, 0, n).Format(time.DateOnly) }
	holiday, visit := day(2), day(3)

	// 1. The setup address: the store's name, zone and kind, the first
	// admin; the console opens signed in.
	addr := s.Broker().SetupAddress()
	if addr == "" {
		t.Fatal("a store with an empty data directory gave no setup address")
	}
	b := browsertest.New(t, browsertest.WindowSize(1280, 900))
	browsertest.Navigate(t, b, addr)
	browsertest.WaitJS(t, b, `window.setupView && setupView.ready`, 10*time.Second, showSetup)
	if browsertest.Eval[string](t, b, `setupView.lang`) != "en" {
		browsertest.Eval[bool](t, b, `document.getElementById('lang').click(), true`)
	}
	browsertest.Eval[bool](t, b, `(() => {
		const set = (id, v) => { document.getElementById(id).value = v; };
		set('name', '豆豆宠物 Doudou Pets');
		set('time_zone', 'Asia/Shanghai');
		document.querySelector('input[name="kind"][value="pet"]').checked = true;
		set('admin_name', 'owner');
		set('admin_password', 'doudou owner 2026');
		set('confirm', 'doudou owner 2026');
		return true; })()`)
	namedShot(t, b, "walk-setup")
	browsertest.Eval[bool](t, b, `document.getElementById('submit').click(), true`)
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		if _, err := browsertest.Until(b, `location.pathname === '/console/' && !!window.consoleView`, time.Second); err == nil {
			break
		}
	}
	browsertest.WaitJS(t, b, `location.pathname === '/console/' && window.consoleView && consoleView.state === 'ready' && teamView.admin && shopView.editable`, 15*time.Second, showTeam)
	if s.Broker().SetupAddress() != "" {
		t.Error("the setup address still works after the setup")
	}
	t.Logf("set up and signed in %v after the start", time.Since(began).Round(time.Millisecond))

	// 2. Team & devices: a staff member, a kiosk, a chat tablet, a camera.
	teamClick(t, b, "#tab-team")
	browsertest.WaitJS(t, b, `!document.getElementById('team-view').hidden`, 5*time.Second, showTeam)
	consoleRun(t, b,
		chromedp.SetValue(chromedp.CSS("#ts-account"), "anna"),
		chromedp.SetValue(chromedp.CSS("#ts-name"), "Anna Li"),
		chromedp.SetValue(chromedp.CSS("#ts-pass"), "anna grooms 2026"))
	teamClick(t, b, "#ts-submit")
	browsertest.WaitJS(t, b, `teamView.staff.some(a => a.account === 'anna' && a.name === 'Anna Li' && a.role === 'staff') &&
		document.getElementById('team-view').textContent.includes('Anna Li')`, 5*time.Second, showTeam)
	if !browsertest.Eval[bool](t, b, `teamView.staff.some(a => a.account === 'owner' && a.role === 'admin')`) {
		t.Errorf("the admin made at setup is not in the staff list: %s", browsertest.Eval[string](t, b, `JSON.stringify(teamView.staff)`))
	}

	dir := t.TempDir()
	kioskID, kioskCode := addDevice(t, b, "kiosk", "Front kiosk", "")
	consoleShot(t, b, "walk-kiosk-code")
	<-built
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	kioskCreds := filepath.Join(dir, "kiosk-credentials.json")
	kiosk := exec.Command(kioskBin, "-broker", "mqtt://"+s.Addr, "-enroll", kioskCode, "-enroll-url", "http://"+s.HTTP+proto.EnrollPath,
		"-credentials", kioskCreds, "-qr", filepath.Join(dir, "kiosk-presence.png"))
	kioskOut, kioskStdout := io.Pipe()
	kioskErrR, kioskErrW := io.Pipe()
	kiosk.Stdout, kiosk.Stderr = kioskStdout, kioskErrW
	if err := kiosk.Start(); err != nil {
		t.Fatal(err)
	}
	// When it exits, its output ends.
	kioskExited := make(chan struct{})
	go func() { _ = kiosk.Wait(); kioskStdout.Close(); kioskErrW.Close(); close(kioskExited) }()
	stopKiosk := func() { _ = kiosk.Process.Kill(); <-kioskExited }
	t.Cleanup(stopKiosk)
	// What it says on stderr, line by line.
	kioskSays := make(chan string, 100)
	go func() {
		defer close(kioskSays)
		for l := bufio.NewScanner(kioskErrR); l.Scan(); {
			select {
			case kioskSays <- l.Text():
			default:
			}
		}
	}()
	// It says it enrolled, then waits at its presence code for a customer.
	lines := bufio.NewScanner(kioskOut)
	var said []string
	for lines.Scan() {
		said = append(said, lines.Text())
		if strings.HasPrefix(lines.Text(), "Scan this") {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, kioskOut) }()
	if len(said) < 2 || !strings.HasPrefix(said[0], "Enrolled as "+kioskID+" (Front kiosk)") {
		stopKiosk()
		var errs []string
		for l := range kioskSays {
			errs = append(errs, l)
		}
		t.Fatalf("the example kiosk said %q; on stderr %q", said, errs)
	}
	// The page takes the used code away and says the kiosk enrolled.
	browsertest.WaitJS(t, b, deviceRow(kioskID, "online", "Front kiosk", "kiosk-example/1.0")+` && document.getElementById('td-pairing').hidden &&
		document.getElementById('td-msg').textContent === 'Front kiosk has enrolled: its pairing code is used up.'`, 10*time.Second, showTeam)

	// The chat tablet is a browser at the counter: its page takes the
	// pairing code, then shows the scan-to-chat code.
	tabletID, tabletCode := addDevice(t, b, "chat-tablet", "Counter tablet", "")
	tab := browsertest.New(t, browsertest.WindowSize(1024, 768))
	browsertest.Navigate(t, tab, "http://"+s.HTTP+"/tablet/")
	browsertest.WaitJS(t, tab, `window.tabletView && tabletView.state === 'login'`, 10*time.Second, showTablet)
	run(t, tab, chromedp.SendKeys(chromedp.ID("code"), tabletCode), chromedp.Click(chromedp.ID("pair-btn")))
	browsertest.WaitJS(t, tab, `tabletView.state === 'showing' && tabletView.url !== '' && document.getElementById('qr').naturalWidth > 0`, 10*time.Second, showTablet)
	if got := browsertest.Eval[string](t, tab, `JSON.parse(localStorage.getItem('storeedge.tablet.login')).user`); got != tabletID {
		t.Errorf("the tablet signed in as %q, the console added %s", got, tabletID)
	}
	if got := browsertest.Eval[string](t, tab, `document.getElementById('store').textContent`); got != "豆豆宠物 Doudou Pets" {
		t.Errorf("the chat tablet shows the shop as %q", got)
	}
	tabletShot(t, tab, "walk-counter")

	camID, camCode := addDevice(t, b, "camera", "Grooming room camera", "table-1")
	camCred, err := device.Enroll(context.Background(), "http://"+s.HTTP+proto.EnrollPath, camCode, filepath.Join(dir, "camera.json"))
	if err != nil {
		t.Fatal(err)
	}
	if camCred.ID != camID || camCred.Room != "table-1" {
		t.Fatalf("the camera enrolled as %+v; the page added %s", camCred, camID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	cam, err := device.Connect(ctx, device.Config{Brokers: []string{"mqtt://" + s.Addr}, DeviceID: camCred.ID, Password: camCred.Password,
		AppVersion: "camera-walkthrough/1.0", Log: slog.New(slog.DiscardHandler)})
	cancel()
	if err != nil {
		t.Fatalf("the camera connects with its enrolled credentials: %v", err)
	}
	t.Cleanup(func() { _ = cam.Close(context.Background()) })

	// All three online in the list, with their address and app.
	browsertest.WaitJS(t, b, deviceRow(kioskID, "online", "Front kiosk", "127.0.0.1", "kiosk-example/1.0")+" && "+
		deviceRow(tabletID, "online", "Counter tablet")+" && "+
		deviceRow(camID, "online", "Grooming room camera", "table-1", "camera-walkthrough/1.0")+` &&
		document.getElementById('td-pairing').hidden`, 10*time.Second, showTeam)
	consoleRun(t, b, chromedp.ScrollIntoView(chromedp.CSS("#team-devices")))
	consoleShot(t, b, "walk-team")
	t.Logf("team and devices %v after the start", time.Since(began).Round(time.Millisecond))

	// 3. Shop: the dog bath costs ¥98 now; the visit's day opens at 10:00;
	// the holiday is closed.
	teamClick(t, b, "#tab-shop")
	browsertest.WaitJS(t, b, `!document.getElementById('shop-view').hidden && shopView.edit && shopView.version >= 1`, 10*time.Second, showShop)
	v0 := browsertest.Eval[int](t, b, `shopView.version`)
	i := browsertest.Eval[int](t, b, `shopView.edit.services.findIndex(s => s.id === 'dog-bath')`)
	if i < 0 {
		t.Fatalf("the pet shop's starter catalogue has no dog bath: %s", browsertest.Eval[string](t, b, `JSON.stringify(shopView.edit.services.map(s => s.id))`))
	}
	typeInto(t, b, fmt.Sprintf("shop-svc-%d-price", i), "98")
	visitDay, _ := time.ParseInLocation(time.DateOnly, visit, shanghai)
	weekday := strings.ToLower(visitDay.Weekday().String()[:3])
	typeInto(t, b, "shop-hours-"+weekday, "10:00-19:00")
	consoleClick(t, b, "#shop-save")
	browsertest.WaitJS(t, b, fmt.Sprintf(`shopView.version === %d && shopView.msg.includes('Version %d')`, v0+1, v0+1), 10*time.Second, showShop)
	typeInto(t, b, "shop-cl-date", holiday)
	typeInto(t, b, "shop-cl-zh", "中秋节")
	typeInto(t, b, "shop-cl-en", "Mid-Autumn holiday")
	consoleClick(t, b, "#shop-add-closure")
	browsertest.WaitJS(t, b, `shopView.msg.includes('Mid-Autumn holiday')`, 10*time.Second, showShop)
	if got := browsertest.Eval[string](t, b, `document.getElementById('shop-view').textContent`); !strings.Contains(got, holiday+" · 中秋节 / Mid-Autumn holiday") {
		t.Errorf("the closure on screen: %q", got)
	}
	consoleShot(t, b, "walk-shop")
	// The kiosk's credentials book on the holiday: refused, with the reason.
	kc, err := device.LoadCredentials(kioskCreds)
	if err != nil {
		t.Fatal(err)
	}
	asKiosk := s.ConnectAs(t, kc.ID, kc.Password, "check", false)
	refused := asKiosk.Call(t, "booking", "book", fmt.Sprintf(`{"service":"dog-bath","start":"%sT14:00:00+08:00","customer":"cust-walkin"}`, holiday))
	storetest.Fails(t, refused, "bad_request", proto.ReasonClosed)
	if !strings.Contains(refused.String(), "Mid-Autumn holiday") || !strings.Contains(refused.String(), "中秋节") {
		t.Errorf("the refusal does not say why: %s", refused)
	}
	asKiosk.Close()

	// 4. A customer on her phone: the tablet's code, the shop, a chat.
	phone := browsertest.New(t, browsertest.Phone())
	browsertest.Navigate(t, phone, onTestStore(t, s, browsertest.Eval[string](t, tab, `tabletView.url`)))
	browsertest.WaitJS(t, phone, `window.chatView && chatView.state === 'ready' && chatView.status === 'online'`, 10*time.Second, showChat)
	me := browsertest.Eval[string](t, phone, `chatView.customer`)
	if got := browsertest.Eval[string](t, phone, `document.getElementById('store-name').textContent`); got != "豆豆宠物 Doudou Pets" {
		t.Errorf("the phone shows the shop as %q", got)
	}
	const hello = "Hello, can Dou come in for a bath this week?"
	typeAndSend(t, phone, hello)
	browsertest.WaitJS(t, phone, fmt.Sprintf(`chatView.messages.some(m => m.from === chatView.customer && m.text === %q && m.seq > 0)`, hello), 10*time.Second, showChat)
	shot(t, phone, "walk-hello")
	// The owner's console shows her message.
	consoleClick(t, b, "#tab-chats")
	browsertest.WaitJS(t, b, fmt.Sprintf(`consoleView.conversations.some(c => c.conversation === %q)`, me), 10*time.Second, showConsole)
	consoleOpen(t, b, me)
	browsertest.WaitJS(t, b, fmt.Sprintf(`consoleView.open && consoleView.open.conversation === %q && consoleView.open.messages.some(m => m.text === %q)`, me, hello), 10*time.Second, showConsole)

	// She books: the new price and hours on the page, the holiday closed
	// with its reason, a free time on the visit's day.
	run(t, phone, chromedp.Click(chromedp.ID("tab-book")))
	browsertest.WaitJS(t, phone, `chatView.catalogue && chatView.catalogue.services.length > 0`, 10*time.Second, showChat)
	if p := browsertest.Eval[string](t, phone, `document.getElementById('prices').textContent`); !strings.Contains(p, "¥98") || strings.Contains(p, "¥88") {
		t.Errorf("prices on the phone: %q", p)
	}
	if h := browsertest.Eval[string](t, phone, `document.getElementById('hours').textContent`); !strings.Contains(h, "10:00-19:00") {
		t.Errorf("hours on the phone: %q", h)
	}
	pick := func(id, value string) {
		t.Helper()
		if !browsertest.Eval[bool](t, phone, fmt.Sprintf(`(() => { const s = document.getElementById(%q); s.value = %q; s.dispatchEvent(new Event('change')); return s.value === %q; })()`, id, value, value)) {
			t.Fatalf("the phone's %s has no %s", id, value)
		}
	}
	pick("book-service", "dog-bath")
	pick("book-date", holiday)
	browsertest.WaitJS(t, phone, `document.querySelectorAll('#slots button').length === 0 && !document.getElementById('no-slots').hidden &&
		document.getElementById('no-slots').textContent === 'The store is closed that day: Mid-Autumn holiday. Please pick another day.'`, 10*time.Second, showChat)
	shot(t, phone, "walk-holiday")
	pick("book-date", visit)
	browsertest.WaitJS(t, phone, `document.querySelectorAll('#slots button').length > 0`, 10*time.Second, showChat)
	start := browsertest.Eval[string](t, phone, `document.querySelector('#slots button').dataset.start`)
	if !strings.HasPrefix(start, visit+"T10:00") {
		t.Errorf("the first free time on %s is %s, want 10:00 (the hours set in the console)", visit, start)
	}
	run(t, phone, chromedp.Click(chromedp.CSS(fmt.Sprintf(`#slots button[data-start="%s"]`, start))))
	browsertest.WaitJS(t, phone, `chatView.bookMsg && chatView.bookMsg.key === 'bookDone'`, 10*time.Second, showChat)
	booked := browsertest.Eval[string](t, phone, `chatView.lastBooked`)
	shot(t, phone, "walk-booked")
	// On the board of that day in the console.
	consoleClick(t, b, "#tab-board")
	browsertest.WaitJS(t, b, `!!document.getElementById('day-pick')`, 10*time.Second, showDesk)
	setField(t, b, "day-pick", visit, "change")
	browsertest.WaitJS(t, b, fmt.Sprintf(`consoleView.desk.day === %q && consoleView.board.some(x => x.id === %q) &&
		document.querySelector('[data-booking=%q]').getAttribute('aria-label') === %q`, visit, booked, booked, start[11:16]+" Dog bath (small/medium)"), 10*time.Second, showDesk)
	consoleShot(t, b, "walk-board")

	// Two days later (the store's clock) she opens the page again: the
	// same customer, her message, her visit.
	s.Advance(48 * time.Hour)
	browsertest.Navigate(t, phone, "http://"+s.HTTP+"/chat/")
	browsertest.WaitJS(t, phone, fmt.Sprintf(`chatView.state === 'ready' && chatView.status === 'online' && chatView.messages.some(m => m.text === %q)`, hello), 10*time.Second, showChat)
	if again := browsertest.Eval[string](t, phone, `chatView.customer`); again != me {
		t.Fatalf("two days later the phone is customer %q, want %q", again, me)
	}
	run(t, phone, chromedp.Click(chromedp.ID("tab-bookings")))
	browsertest.WaitJS(t, phone, fmt.Sprintf(`chatView.bookings.some(x => x.id === %q && x.status === 'booked')`, booked), 10*time.Second, showChat)
	shot(t, phone, "walk-two-days-later")

	// 5. The staff member signs in with the password the admin gave, and
	// sees the customer's message.
	anna := browsertest.New(t, browsertest.WindowSize(1024, 768))
	browsertest.Navigate(t, anna, "http://"+s.HTTP+"/console/")
	browsertest.WaitJS(t, anna, `window.consoleView && document.getElementById('signin')`, 10*time.Second)
	consoleSignIn(t, anna, "anna", "anna grooms 2026")
	browsertest.WaitJS(t, anna, `consoleView.state === 'ready' && teamView.known && !teamView.admin`, 10*time.Second, showTeam)
	browsertest.WaitJS(t, anna, fmt.Sprintf(`consoleView.conversations.some(c => c.conversation === %q)`, me), 10*time.Second, showConsole)
	consoleOpen(t, anna, me)
	browsertest.WaitJS(t, anna, fmt.Sprintf(`consoleView.open && consoleView.open.messages.some(m => m.text === %q)`, hello), 10*time.Second, showConsole)
	consoleShot(t, anna, "walk-staff")

	// 6. Revoke the kiosk in the console: the running kiosk says its link
	// dropped, and a client holding its credentials is disconnected, within
	// a second; they cannot log in again.
	gone, err := mqttLogin(t, s.Addr, kc.ID, kc.Password)
	if err != nil {
		t.Fatalf("the kiosk's credentials log in: %v", err)
	}
	teamClick(t, b, "#tab-team")
	browsertest.WaitJS(t, b, deviceRow(kioskID, "online"), 10*time.Second, showTeam)
	for drained := false; !drained; { // what it said before counts for nothing
		select {
		case <-kioskSays:
		default:
			drained = true
		}
	}
	teamClick(t, b, fmt.Sprintf(`#team-devices tr[data-account=%q] [data-act="revoke"]`, kioskID))
	clicked := time.Now()
	teamClick(t, b, fmt.Sprintf(`#team-devices tr[data-account=%q] [data-act="revoke-confirm"]`, kioskID))
	within := time.After(time.Second)
	select {
	case <-gone:
		t.Logf("a client with the revoked kiosk's credentials was disconnected %v after the click", time.Since(clicked).Round(time.Millisecond))
	case <-within:
		t.Fatal("a client with the revoked kiosk's credentials is still connected a second after the click")
	}
	for said := ""; !strings.Contains(said, "the connection to the store was lost"); {
		select {
		case l, ok := <-kioskSays:
			if !ok {
				t.Fatal("the kiosk exited instead of saying its link dropped")
			}
			said = l
		case <-within:
			t.Fatal("a second after the click the kiosk has not said that its link dropped")
		}
	}
	t.Logf("the kiosk said its link dropped %v after the click", time.Since(clicked).Round(time.Millisecond))
	// Its retries are refused, and it says so, with what to do.
	for said, deadline := "", time.After(10*time.Second); !strings.Contains(said, "the store refused this kiosk's login"); {
		select {
		case l, ok := <-kioskSays:
			if !ok {
				t.Fatal("the kiosk exited instead of saying its login is refused")
			}
			said = l
		case <-deadline:
			t.Fatal("10 s after the revoke the kiosk has not said that its login is refused")
		}
	}
	browsertest.WaitJS(t, b, deviceRow(kioskID, "revoked"), 5*time.Second, showTeam)
	if _, err := mqttLogin(t, s.Addr, kc.ID, kc.Password); err == nil {
		t.Fatal("the revoked kiosk logged in again")
	}
	consoleRun(t, b, chromedp.ScrollIntoView(chromedp.CSS("#team-devices")))
	consoleShot(t, b, "walk-revoked")
	t.Logf("the walk-through took %v", time.Since(began).Round(time.Millisecond))
}
