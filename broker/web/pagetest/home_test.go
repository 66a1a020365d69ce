package pagetest

// "Continue at home" on the customer's chat page, and the console's new
// login at home for a customer who lost her phone: both ask the store for
// a link to HQ's page at home (svc/home/link) and show it as a link and a
// QR code; the store's signed vouch goes up to HQ's broker.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/eclipse/paho.golang/paho"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/internal/testkit/browsertest"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/proto"
)

const homePage = "https://hq.example.com/home/"

// vouchWatch hears the vouches the store sends up to HQ's broker. It
// takes everything the store sends up: an entry nobody subscribed to
// holds the store's uplink back (PUBACK "no matching subscribers").
type vouchWatch struct {
	mu      sync.Mutex
	got     []proto.HomeVouch
	revoked []string // customers
}

func watchVouches(t *testing.T, addr string) *vouchWatch {
	t.Helper()
	w := &vouchWatch{}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: conn, ClientID: "hq-vouches", OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) {
			var v proto.HomeVouch
			if strings.HasSuffix(pr.Packet.Topic, "/up/home/vouch") && json.Unmarshal(pr.Packet.Payload, &v) == nil {
				w.mu.Lock()
				w.got = append(w.got, v)
				w.mu.Unlock()
			}
			var r proto.HomeRevoke
			if strings.HasSuffix(pr.Packet.Topic, "/up/home/revoke") && json.Unmarshal(pr.Packet.Payload, &r) == nil {
				w.mu.Lock()
				w.revoked = append(w.revoked, r.Customer)
				w.mu.Unlock()
			}
			return true, nil
		}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{KeepAlive: 30, ClientID: "hq-vouches", CleanStart: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "stores/+/up/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return w
}

// wait returns the first vouch match accepts, within 20 s.
func (w *vouchWatch) wait(t *testing.T, match func(proto.HomeVouch) bool) proto.HomeVouch {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; {
		w.mu.Lock()
		for _, v := range w.got {
			if match(v) {
				w.mu.Unlock()
				return v
			}
		}
		n := len(w.got)
		w.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no matching vouch at HQ within 20 s (%d others)", n)
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
}

// startHomeStore starts a store with the pages on and, when linked, a link
// to HQ's broker (a real mosquitto) and cloud.yaml's home_url set.
func startHomeStore(t *testing.T, devices []storetest.Device, linked bool) (*storetest.Store, *vouchWatch) {
	t.Helper()
	var w *vouchWatch
	var hqAddr string
	if linked {
		hqb := mosquittotest.Start(t, mosquittotest.Options{})
		hqAddr = hqb.Addr
		w = watchVouches(t, hqAddr)
	}
	mapFile := filepath.Join(t.TempDir(), "cloud.yaml")
	if err := os.WriteFile(mapFile, []byte(strings.Replace(string(configs.Cloud), `home_url: ""`, "home_url: "+homePage, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	s := storetest.Start(t, storetest.Options{Devices: devices, Config: func(c *broker.Config) {
		c.Listeners.Websocket = "127.0.0.1:0"
		c.Listeners.WebsocketPath = "/mqtt"
		if linked {
			c.Cloud.URL = "mqtt://" + hqAddr
			c.Cloud.ReconnectMin, c.Cloud.ReconnectMax = 20*time.Millisecond, 200*time.Millisecond
			c.Cloud.MapFile = mapFile
		}
	}})
	return s, w
}

type homeView struct {
	State   string `json:"state"`
	URL     string `json:"url"`
	Expires string `json:"expires"`
}

const showHome = `JSON.stringify({home: window.chatHome, msg: document.getElementById('home-msg').textContent})`

// The customer taps "Continue at home": the dialog shows an anchor this
// phone opens and the QR code another phone scans, with the time the link
// works until, in English and Chinese; the store's vouch for her is at HQ.
func TestChatContinueAtHome(t *testing.T) {
	s, hq := startHomeStore(t, fleet, true)
	tablet := s.Connect(t, storetest.Device{ID: "tablet-1", Role: "chat-tablet"}, "qr")
	b := browsertest.New(t, browsertest.Phone())
	browsertest.Navigate(t, b, chatURL(t, s, tablet))
	browsertest.WaitJS(t, b, `chatView.state === 'ready' && chatView.status === 'online'`, 10*time.Second, showChat)
	cust := browsertest.Eval[string](t, b, `chatView.customer`)

	run(t, b, chromedp.Click(chromedp.ID("home")))
	browsertest.WaitJS(t, b, `chatHome.state === 'ready' && document.getElementById('home-dialog').open`, 10*time.Second, showHome)
	h := browsertest.Eval[homeView](t, b, `chatHome`)
	href := browsertest.Eval[string](t, b, `document.getElementById('home-link').href`)
	if href != h.URL || !strings.HasPrefix(href, homePage+"#link=demo-store.") {
		t.Fatalf("the link on screen %q (view %q)", href, h.URL)
	}
	browsertest.WaitJS(t, b, `(() => { const a = document.getElementById('home-link'), q = document.getElementById('home-qr');
		return a.getClientRects().length > 0 && q.complete && q.naturalWidth >= 100 && q.getBoundingClientRect().width >= 150; })()`, 5*time.Second, showHome)
	// The store's clock reads 08:00; links live 15 minutes (home.link_ttl).
	if txt := browsertest.Eval[string](t, b, `document.getElementById('home-expires').textContent`); !strings.Contains(txt, "until 08:15") {
		t.Errorf("the expiry on screen: %q", txt)
	}
	code := strings.TrimPrefix(href, homePage+"#link=demo-store.")
	v := hq.wait(t, func(v proto.HomeVouch) bool { return v.Customer == cust })
	if v.CodeHash != sha256hex(code) {
		t.Fatalf("the code on screen is not the one the store vouched for at HQ: %+v", v)
	}
	shot(t, b, "home-link")
	// In Chinese: the button, and a new link's dialog.
	run(t, b, chromedp.Click(chromedp.ID("home-close")))
	browsertest.WaitJS(t, b, `!document.getElementById('home-dialog').open`, 5*time.Second)
	run(t, b, chromedp.Click(chromedp.ID("lang")))
	if got := browsertest.Eval[string](t, b, `document.getElementById('home').textContent`); got != "继续在家聊" {
		t.Errorf("the button in Chinese: %q", got)
	}
	run(t, b, chromedp.Click(chromedp.ID("home")))
	browsertest.WaitJS(t, b, `chatHome.state === 'ready' && document.getElementById('home-qr').complete`, 10*time.Second, showHome)
	if got := browsertest.Eval[string](t, b, `document.getElementById('home-title').textContent + '|' + document.getElementById('home-expires').textContent`); !strings.HasPrefix(got, "继续在家聊|") || !strings.Contains(got, "有效期至") {
		t.Errorf("the dialog in Chinese: %q", got)
	}
	if again := browsertest.Eval[string](t, b, `chatHome.url`); again == h.URL {
		t.Error("the same link twice")
	}
	shot(t, b, "home-link-zh")
}

// A store not linked to HQ: the dialog says so in people's words, and the
// button goes.
func TestChatContinueAtHomeUnavailable(t *testing.T) {
	s, _ := startHomeStore(t, fleet, false)
	tablet := s.Connect(t, storetest.Device{ID: "tablet-1", Role: "chat-tablet"}, "qr")
	b := browsertest.New(t, browsertest.Phone())
	browsertest.Navigate(t, b, chatURL(t, s, tablet))
	browsertest.WaitJS(t, b, `chatView.state === 'ready'`, 10*time.Second, showChat)
	run(t, b, chromedp.Click(chromedp.ID("home")))
	browsertest.WaitJS(t, b, `chatHome.state === 'unavailable'`, 10*time.Second, showHome)
	msg := browsertest.Eval[string](t, b, `document.getElementById('home-msg').textContent`)
	if !strings.Contains(msg, "not linked to HQ") {
		t.Errorf("the explanation: %q", msg)
	}
	if browsertest.Eval[bool](t, b, `document.getElementById('home-link').getClientRects().length > 0 || document.getElementById('home-qr').getClientRects().length > 0`) {
		t.Error("a link is shown though there is none")
	}
	shot(t, b, "home-unavailable")
	run(t, b, chromedp.Click(chromedp.ID("home-close")))
	if browsertest.Eval[bool](t, b, `document.getElementById('home').getClientRects().length > 0`) {
		t.Error("the button is still offered")
	}
}

// A customer lost her phone: staff open her conversation in the console
// and make a new login at home; the QR code and link show, and the store's
// vouch at HQ asks to end her other logins (replace).
func TestConsoleNewLoginAtHome(t *testing.T) {
	s, hq := startHomeStore(t, consoleFleet, true)
	tablet := s.Connect(t, storetest.Device{ID: "tablet-1", Role: "chat-tablet"}, "qr")
	she := s.CustomerLogin(t, tablet, "", "phone", false)
	var opened struct {
		Conversation string `json:"conversation"`
	}
	storetest.OK(t, she.Call(t, "chat", "open", `{}`)).Decode(t, &opened)
	cust := opened.Conversation
	storetest.OK(t, she.Call(t, "chat", "send", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"I lost my phone"}`, cust)))

	b := openConsole(t, s)
	browsertest.WaitJS(t, b, fmt.Sprintf(`consoleView.conversations.some(c => c.conversation === %q)`, cust), 10*time.Second, showConsole)
	consoleOpen(t, b, cust)
	browsertest.WaitJS(t, b, `document.getElementById('home-relink').getClientRects().length > 0`, 10*time.Second, `JSON.stringify(window.consoleHome)`)
	consoleClick(t, b, "#home-relink")
	browsertest.WaitJS(t, b, `consoleHome.state === 'ready' && document.getElementById('home-qr').complete && document.getElementById('home-qr').naturalWidth >= 100`,
		10*time.Second, `JSON.stringify(window.consoleHome)`)
	href := browsertest.Eval[string](t, b, `document.getElementById('home-link').href`)
	v := hq.wait(t, func(v proto.HomeVouch) bool { return v.Customer == cust && v.Replace })
	if !strings.HasPrefix(href, homePage+"#link=demo-store.") || v.CodeHash != sha256hex(strings.TrimPrefix(href, homePage+"#link=demo-store.")) {
		t.Fatalf("the console's link %q and the vouch at HQ %+v", href, v)
	}
	if msg := browsertest.Eval[string](t, b, `document.getElementById('home-msg').textContent`); !strings.Contains(msg, "until 08:15") {
		t.Errorf("the expiry on the store's clock (08:00 + 15m): %q", msg)
	}
	consoleRun(t, b, chromedp.ScrollIntoView(chromedp.ID("home-qr")))
	consoleShot(t, b, "home-relink")
	consoleClick(t, b, "#lang")
	if got := browsertest.Eval[string](t, b, `document.getElementById('home-relink').textContent + '|' + document.getElementById('home-msg').textContent`); !strings.HasPrefix(got, "为新手机生成在家聊登录") || !strings.Contains(got, "扫描") {
		t.Errorf("in Chinese: %q", got)
	}

	// End her logins at home: a revoke goes up to HQ.
	consoleClick(t, b, "#home-revoke")
	browsertest.WaitJS(t, b, `consoleHome.state === 'revoked'`, 10*time.Second, `JSON.stringify(window.consoleHome)`)
	for deadline := time.Now().Add(20 * time.Second); ; {
		hq.mu.Lock()
		done := slices.Contains(hq.revoked, cust)
		hq.mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no revoke for her at HQ within 20 s")
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
}

func sha256hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
