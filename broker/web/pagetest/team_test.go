package pagetest

// The console's "Team & devices" tab in headless Chromium: an admin adds a
// staff member (a short password is refused with the server's reason), adds
// a kiosk and reads its pairing code off the page; the kiosk enrols with
// device.Enroll, shows online, and is revoked from the page: disconnected
// within a second, it cannot log in again. Staff do not see the tab. The
// kept sign-in survives a reload and ends after accounts.console_session_ttl.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/eclipse/paho.golang/paho"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/device"
	"github.com/storeedge/storeedge/internal/testkit/browsertest"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

const showTeam = `JSON.stringify({team: window.teamView, console: window.consoleView && window.consoleView.state, err: document.getElementById('login-error').textContent})`

// mqttLogin logs in over MQTT 5; gone closes when the broker drops it.
func mqttLogin(t *testing.T, addr, user, pw string) (gone <-chan struct{}, err error) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: nc, OnClientError: func(error) {}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: user + ":t", KeepAlive: 30, CleanStart: true,
		Username: user, UsernameFlag: true, Password: []byte(pw), PasswordFlag: true}); err != nil {
		nc.Close()
		return nil, err
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c.Done(), nil
}

// teamClick is consoleClick that gives up after 10 s (a click waits for
// its element for ever).
func teamClick(t *testing.T, b context.Context, sel string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b, 10*time.Second)
	defer cancel()
	consoleClick(t, ctx, sel)
}

func TestTeamTab(t *testing.T) {
	s := storetest.Start(t, storetest.Options{
		Devices: []storetest.Device{{ID: "admin-1", Role: "admin"}, {ID: "staff-anna", Role: "staff"}},
		Config: func(c *broker.Config) {
			c.Listeners.Websocket = "127.0.0.1:0"
			c.Listeners.WebsocketPath = "/mqtt"
		}})
	b := browsertest.New(t, browsertest.WindowSize(1280, 900))
	browsertest.Navigate(t, b, fmt.Sprintf("http://%s/console/", s.HTTP))
	browsertest.WaitJS(t, b, `window.teamView && document.getElementById('signin')`, 10*time.Second)
	consoleSignIn(t, b, "admin-1", "pw-admin-1")
	browsertest.WaitJS(t, b, `teamView.known && teamView.admin && !document.getElementById('tab-team').hidden`, 10*time.Second, showTeam)
	teamClick(t, b, "#tab-team")
	browsertest.WaitJS(t, b, `!document.getElementById('team-view').hidden && document.getElementById('chats-view').hidden`, 5*time.Second, showTeam)

	// A staff member: a short password is refused with the reason, then added.
	consoleRun(t, b,
		chromedp.SetValue(chromedp.CSS("#ts-account"), "bob"),
		chromedp.SetValue(chromedp.CSS("#ts-name"), "Bob Wang"),
		chromedp.SetValue(chromedp.CSS("#ts-pass"), "short"))
	teamClick(t, b, "#ts-submit")
	browsertest.WaitJS(t, b, `document.getElementById('ts-msg').textContent.includes('at least 10 characters')`, 5*time.Second, showTeam)
	if got := browsertest.Eval[string](t, b, `document.getElementById('ts-pass').value`); got != "" {
		t.Fatalf("the password stays in the form after a refusal: %q", got)
	}
	consoleRun(t, b, chromedp.SetValue(chromedp.CSS("#ts-pass"), "bob-password-1"))
	teamClick(t, b, "#ts-submit")
	browsertest.WaitJS(t, b, `teamView.staff.some(a => a.account === 'bob' && a.name === 'Bob Wang' && a.role === 'staff')`, 5*time.Second, showTeam)
	if _, err := mqttLogin(t, s.Addr, "bob", "bob-password-1"); err != nil {
		t.Fatalf("bob logs in: %v", err)
	}

	// A kiosk: its pairing code and QR code on the page.
	consoleRun(t, b,
		chromedp.SetValue(chromedp.CSS("#td-role"), "kiosk"),
		chromedp.SetValue(chromedp.CSS("#td-name"), "Front kiosk"))
	teamClick(t, b, "#td-submit")
	browsertest.WaitJS(t, b, `!document.getElementById('td-pairing').hidden && document.getElementById('td-code').textContent.length === 8 &&
		document.getElementById('td-qr').src.startsWith('data:image/png;base64,') && document.getElementById('td-qr').naturalWidth > 0`, 5*time.Second, showTeam)
	browsertest.WaitJS(t, b, `(() => { const r = document.getElementById('td-pairing').getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; })()`, 5*time.Second, showTeam)
	consoleShot(t, b, "team-pairing")
	code := browsertest.Eval[string](t, b, `document.getElementById('td-code').textContent`)
	id := browsertest.Eval[string](t, b, `teamView.pairing.device.account`)
	browsertest.WaitJS(t, b, fmt.Sprintf(`document.querySelector('#team-devices tr[data-account=%q]').dataset.state === 'pending'`, id), 5*time.Second, showTeam)

	cred, err := device.Enroll(context.Background(), "http://"+s.HTTP+"/enroll", code, filepath.Join(t.TempDir(), "kiosk.json"))
	if err != nil {
		t.Fatal(err)
	}
	gone, err := mqttLogin(t, s.Addr, cred.ID, cred.Password)
	if err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, b, fmt.Sprintf(`(() => { const r = document.querySelector('#team-devices tr[data-account=%q]');
		return r && r.dataset.state === 'online' && r.textContent.includes('127.0.0.1') && r.textContent.includes('Front kiosk'); })()`, id), 10*time.Second, showTeam)
	// The used code is taken off the page.
	browsertest.WaitJS(t, b, `document.getElementById('td-pairing').hidden && document.getElementById('td-msg').textContent === 'Front kiosk has enrolled: its pairing code is used up.'`, 5*time.Second, showTeam)
	consoleShot(t, b, "team")

	// Rename it from the page.
	teamClick(t, b, fmt.Sprintf(`#team-devices tr[data-account=%q] [data-act="rename"]`, id))
	browsertest.WaitJS(t, b, `document.activeElement && document.activeElement.id === 'team-edit-`+id+`'`, 5*time.Second, showTeam)
	browsertest.Eval[bool](t, b, `(() => { const i = document.activeElement; i.value = 'Door kiosk'; i.form.requestSubmit(); return true; })()`)
	browsertest.WaitJS(t, b, fmt.Sprintf(`teamView.devices.some(d => d.account === %q && d.name === 'Door kiosk')`, id), 5*time.Second, showTeam)

	// Revoke from the page: two clicks, then it is gone within a second.
	teamClick(t, b, fmt.Sprintf(`#team-devices tr[data-account=%q] [data-act="revoke"]`, id))
	start := time.Now()
	teamClick(t, b, fmt.Sprintf(`#team-devices tr[data-account=%q] [data-act="revoke-confirm"]`, id))
	select {
	case <-gone:
		t.Logf("revoked from the console: disconnected %v after the click", time.Since(start))
	case <-time.After(time.Second):
		t.Fatal("the revoked kiosk is still connected a second after the click")
	}
	browsertest.WaitJS(t, b, fmt.Sprintf(`document.querySelector('#team-devices tr[data-account=%q]').dataset.state === 'revoked'`, id), 5*time.Second, showTeam)
	if _, err := mqttLogin(t, s.Addr, cred.ID, cred.Password); err == nil {
		t.Fatal("the revoked kiosk logged in again")
	}

	// The kept sign-in: a reload signs in again without the password…
	browsertest.Navigate(t, b, fmt.Sprintf("http://%s/console/", s.HTTP))
	browsertest.WaitJS(t, b, `window.consoleView && consoleView.state === 'ready' && teamView.admin`, 10*time.Second, showTeam)
	// …until its time is up: then the page asks again.
	browsertest.Eval[bool](t, b, `(() => { const k = JSON.parse(localStorage.getItem('storeedge.console.login')); k.until = Date.now() - 1000;
		localStorage.setItem('storeedge.console.login', JSON.stringify(k)); return true; })()`)
	browsertest.Navigate(t, b, fmt.Sprintf("http://%s/console/", s.HTTP))
	browsertest.WaitJS(t, b, `window.consoleView && consoleView.state === 'login' && !document.getElementById('login-view').hidden`, 5*time.Second, showTeam)
	if kept := browsertest.Eval[bool](t, b, `localStorage.getItem('storeedge.console.login') !== null`); kept {
		t.Fatal("an expired sign-in is still kept")
	}

	// Staff: no tab.
	consoleSignIn(t, b, "staff-anna", "pw-staff-anna")
	browsertest.WaitJS(t, b, `consoleView.state === 'ready' && teamView.known && !teamView.admin && document.getElementById('tab-team').hidden`, 10*time.Second, showTeam)
	if strings.Contains(browsertest.Eval[string](t, b, `document.getElementById('tabs').innerText`), "Team") {
		t.Fatal("staff see the Team & devices tab")
	}
}

// TestConsoleSignInExpires: the sign-in is kept for
// accounts.console_session_ttl (12 h), and an open page signs out by
// itself, saying why, when that time is up.
func TestConsoleSignInExpires(t *testing.T) {
	s := storetest.Start(t, storetest.Options{
		Devices: []storetest.Device{{ID: "admin-1", Role: "admin"}},
		Config: func(c *broker.Config) {
			c.Listeners.Websocket = "127.0.0.1:0"
			c.Listeners.WebsocketPath = "/mqtt"
		}})
	b := browsertest.New(t, browsertest.WindowSize(1024, 768))
	browsertest.Navigate(t, b, fmt.Sprintf("http://%s/console/", s.HTTP))
	browsertest.WaitJS(t, b, `window.teamView && document.getElementById('signin')`, 10*time.Second)
	if ttl := browsertest.Eval[float64](t, b, `fetch('/client.json').then(r => r.json()).then(c => c.console_session_ttl_s)`); ttl != 12*3600 {
		t.Fatalf("/client.json console_session_ttl_s = %v, want 43200 (12 h)", ttl)
	}
	consoleSignIn(t, b, "admin-1", "pw-admin-1")
	browsertest.WaitJS(t, b, `consoleView.state === 'ready'`, 10*time.Second, showTeam)
	until := browsertest.Eval[float64](t, b, `JSON.parse(localStorage.getItem('storeedge.console.login')).until - Date.now()`)
	if until < 11.9*3600*1000 || until > 12*3600*1000 {
		t.Fatalf("kept for %v ms, want 12 h", until)
	}
	// A kept sign-in with a second and a half left: the reload signs in,
	// then the page signs out by itself.
	browsertest.Eval[bool](t, b, `(() => { const k = JSON.parse(localStorage.getItem('storeedge.console.login')); k.until = Date.now() + 1500;
		localStorage.setItem('storeedge.console.login', JSON.stringify(k)); return true; })()`)
	browsertest.Navigate(t, b, fmt.Sprintf("http://%s/console/", s.HTTP))
	browsertest.WaitJS(t, b, `window.consoleView && consoleView.state === 'ready'`, 5*time.Second, showTeam)
	browsertest.WaitJS(t, b, `consoleView.state === 'login' && document.getElementById('login-error').textContent.includes('expired')`, 5*time.Second, showTeam)
	if browsertest.Eval[bool](t, b, `localStorage.getItem('storeedge.console.login') !== null`) {
		t.Fatal("the expired sign-in is still kept")
	}
}

// TestConsoleLoginThrottled: the console signs in over MQTT (WebSocket),
// so wrong passwords typed there meet the broker's login backoff
// (auth.login_backoff_after, 5): after them even the right password is
// refused for a while, counted in storeedge_login_backoff_refused_total.
func TestConsoleLoginThrottled(t *testing.T) {
	s := storetest.Start(t, storetest.Options{
		Devices: []storetest.Device{{ID: "admin-1", Role: "admin"}},
		Config: func(c *broker.Config) {
			c.Listeners.Websocket = "127.0.0.1:0"
			c.Listeners.WebsocketPath = "/mqtt"
		}})
	b := browsertest.New(t, browsertest.WindowSize(1024, 768))
	browsertest.Navigate(t, b, fmt.Sprintf("http://%s/console/", s.HTTP))
	browsertest.WaitJS(t, b, `window.teamView && document.getElementById('signin')`, 10*time.Second)
	for i := range 5 {
		consoleSignIn(t, b, "admin-1", fmt.Sprintf("wrong-%d", i))
		browsertest.WaitJS(t, b, `consoleView.state === 'error' && consoleView.error === 'login' && !document.getElementById('signin').disabled`, 10*time.Second, showTeam)
	}
	consoleSignIn(t, b, "admin-1", "pw-admin-1")
	browsertest.WaitJS(t, b, `consoleView.state === 'error' && consoleView.error === 'login' && !document.getElementById('signin').disabled`, 10*time.Second, showTeam)
	resp, err := http.Get("http://" + s.HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "\nstoreedge_login_backoff_refused_total 1\n") {
		t.Fatalf("storeedge_login_backoff_refused_total is not 1 after the right password was refused:\n%s", grepLines(string(body), "backoff"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestTeamTabNarrow: the Team & devices tab on a phone and on a tablet
// upright, with a device's pairing code shown: nothing out of reach (the
// checks of TestConsoleNarrow).
func TestTeamTabNarrow(t *testing.T) {
	s := storetest.Start(t, storetest.Options{
		Devices: []storetest.Device{{ID: "admin-1", Role: "admin"}, {ID: "staff-anna", Role: "staff"}, {ID: "kiosk-01", Role: "kiosk"}},
		Config: func(c *broker.Config) {
			c.Listeners.Websocket = "127.0.0.1:0"
			c.Listeners.WebsocketPath = "/mqtt"
		}})
	for _, c := range []struct {
		name  string
		opts  []browsertest.Option
		width int
	}{
		{"phone", []browsertest.Option{browsertest.Phone()}, 390},
		{"tablet-upright", []browsertest.Option{browsertest.WindowSize(768, 1024)}, 768},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := browsertest.New(t, c.opts...)
			browsertest.Navigate(t, b, fmt.Sprintf("http://%s/console/", s.HTTP))
			browsertest.WaitJS(t, b, `window.teamView && document.getElementById('signin')`, 10*time.Second)
			consoleSignIn(t, b, "admin-1", "pw-admin-1")
			browsertest.WaitJS(t, b, `teamView.known && teamView.admin && !document.getElementById('tab-team').hidden`, 10*time.Second, showTeam)
			checkLayout(t, b, c.width, c.name+" signed in")
			teamClick(t, b, "#tab-team")
			consoleRun(t, b,
				chromedp.SetValue(chromedp.CSS("#td-role"), "camera"),
				chromedp.SetValue(chromedp.CSS("#td-name"), "Grooming room camera "+c.name))
			browsertest.Eval[bool](t, b, `(() => { document.getElementById('td-role').dispatchEvent(new Event('change')); return true; })()`)
			consoleRun(t, b, chromedp.SetValue(chromedp.CSS("#td-room"), "table-1"))
			teamClick(t, b, "#td-submit")
			browsertest.WaitJS(t, b, `!document.getElementById('td-pairing').hidden && document.getElementById('td-qr').naturalWidth > 0`, 5*time.Second, showTeam)
			checkLayout(t, b, c.width, c.name+" team tab")
			browsertest.Screenshot(t, b, browsertest.ScreenshotDir(t), "team")
		})
	}
}
