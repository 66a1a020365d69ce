package pagetest

// The console's "From HQ" tab: what headquarters sent the store, shown to
// staff without a terminal, live.

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/cloudsync"
	"github.com/storeedge/storeedge/internal/testkit/browsertest"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/proto"
)

// hqNotice publishes n on HQ's broker as HQ does (QoS 1, its id as the
// message id), again while the store's link has not subscribed yet (0x10).
func hqNotice(t *testing.T, c *paho.Client, topic string, n proto.Notice) {
	t.Helper()
	p, _ := json.Marshal(n)
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		pr, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: p,
			Properties: &paho.PublishProperties{User: paho.UserProperties{{Key: cloudsync.PropID, Value: n.ID}}}})
		cancel()
		if err != nil {
			t.Fatalf("HQ publish %s: %v", topic, err)
		}
		if pr == nil || pr.ReasonCode != 0x10 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("HQ publish %s: the store's link never subscribed", topic)
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
}

// TestConsoleShowsNoticesFromHQ: a notice HQ sent before staff signed in
// is in the "From HQ" tab; a promotion sent to every store while the
// console is open is counted on the tab at once and listed first, with its
// body, in English and in Chinese.
func TestConsoleShowsNoticesFromHQ(t *testing.T) {
	hq := mosquittotest.Start(t, mosquittotest.Options{})
	var store string
	s := storetest.Start(t, storetest.Options{Devices: consoleFleet, Config: func(c *broker.Config) {
		c.Listeners.Websocket = "127.0.0.1:0"
		c.Listeners.WebsocketPath = "/mqtt"
		c.Cloud.URL = "mqtt://" + hq.Addr
		c.Cloud.ReconnectMin, c.Cloud.ReconnectMax = 20*time.Millisecond, 200*time.Millisecond
		store = c.StoreID
	}})
	conn, err := net.Dial("tcp", hq.Addr)
	if err != nil {
		t.Fatal(err)
	}
	pub := paho.NewClient(paho.ClientConfig{Conn: conn, ClientID: "hq-sender"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := pub.Connect(ctx, &paho.Connect{KeepAlive: 30, ClientID: "hq-sender", CleanStart: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Disconnect(&paho.Disconnect{}) })

	sent := s.Now().Add(-time.Hour)
	hqNotice(t, pub, proto.CloudDownTopic(store, "notice"), proto.Notice{V: 1, ID: "n-inventory", Kind: proto.NoticeNotice,
		Title: "Inventory on Sunday", Body: "Count the shampoo shelf before 10:00.", From: "ops", SentAt: sent})
	staff := s.Connect(t, consoleFleet[0], "probe")
	deadline := time.Now().Add(20 * time.Second)
	for {
		var l proto.NoticesList
		storetest.OK(t, staff.Call(t, "notices", "list", `{}`)).Decode(t, &l)
		if len(l.Notices) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the store never kept HQ's notice")
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}

	b := browsertest.New(t, browsertest.WindowSize(1024, 768))
	setBrowserZone(t, b, browserZone)
	consoleSignedIn(t, b, s)
	const view = `JSON.stringify(window.noticesView)`
	browsertest.WaitJS(t, b, `noticesView.allowed && !document.getElementById('tab-notices').hidden`, 10*time.Second, view)

	// While staff look at the conversations, HQ sends a promotion to all.
	hqNotice(t, pub, proto.TopicBroadcastNotice, proto.Notice{V: 1, ID: "promo-spa", Kind: proto.NoticePromotion,
		Title: "Spa week -20%", Body: "Every bath and groom, Monday to Friday.", From: "marketing", SentAt: s.Now()})
	browsertest.WaitJS(t, b, `document.getElementById('tab-notices-count').textContent === '1' && !document.getElementById('tab-notices-count').hidden`,
		15*time.Second, view)

	consoleClick(t, b, "#tab-notices")
	browsertest.WaitJS(t, b, `!document.getElementById('notices-view').hidden && document.getElementById('tab-notices-count').hidden &&
		document.querySelectorAll('#notices-list .notice').length === 2`, 10*time.Second, view)
	first := browsertest.Eval[string](t, b, `document.querySelector('#notices-list .notice').textContent`)
	// Times are the store's (Shanghai), though the browser is in New York.
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Promotion", "Spa week -20%", "Every bath and groom, Monday to Friday.", "from marketing",
		"Sent " + s.Now().In(shanghai).Format("2006-01-02 15:04")} {
		if !strings.Contains(first, want) {
			t.Errorf("the first notice %q does not show %q", first, want)
		}
	}
	if second := browsertest.Eval[string](t, b, `document.querySelectorAll('#notices-list .notice')[1].textContent`); !strings.Contains(second, "Inventory on Sunday") ||
		!strings.Contains(second, "Count the shampoo shelf") || !strings.Contains(second, sent.In(shanghai).Format("2006-01-02 15:04")) {
		t.Errorf("the second notice: %q", second)
	}
	consoleShot(t, b, "notices")

	consoleClick(t, b, "#lang")
	browsertest.WaitJS(t, b, `document.getElementById('notices-tab-label').textContent === '总部消息' &&
		document.querySelector('#notices-list .notice-kind').textContent === '促销'`, 5*time.Second, view)

	// On a phone the tab is reachable and fits.
	p := browsertest.New(t, browsertest.Phone())
	consoleSignedIn(t, p, s)
	browsertest.WaitJS(t, p, `noticesView.allowed && !document.getElementById('tab-notices').hidden`, 10*time.Second, view)
	consoleClick(t, p, "#tab-notices")
	browsertest.WaitJS(t, p, `document.querySelectorAll('#notices-list .notice').length === 2`, 10*time.Second, view)
	checkLayout(t, p, 390, "the From HQ tab")
	consoleShot(t, p, "notices-phone")
}
