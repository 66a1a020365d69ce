package web

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/eclipse/paho.golang/paho"

	"github.com/storeedge/storeedge/cloudsync/hq"
	"github.com/storeedge/storeedge/hq/downlink"
	"github.com/storeedge/storeedge/hq/replica"
	"github.com/storeedge/storeedge/internal/testkit/browsertest"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	"github.com/storeedge/storeedge/internal/testkit/mqtttest"
	"github.com/storeedge/storeedge/proto"
)

// heard is what a store's link subscribed on HQ's broker received.
type heard struct {
	mu   sync.Mutex
	msgs []*paho.Publish
}

func (h *heard) add(p *paho.Publish) {
	h.mu.Lock()
	h.msgs = append(h.msgs, p)
	h.mu.Unlock()
}

// wait polls for a message on topic until the deadline.
func (h *heard) wait(t *testing.T, topic string) *paho.Publish {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		for _, p := range h.msgs {
			if p.Topic == topic {
				h.mu.Unlock()
				return p
			}
		}
		h.mu.Unlock()
		time.Sleep(20 * time.Millisecond) // polling, with a deadline
	}
	t.Fatalf("nothing on %s within 10 s", topic)
	return nil
}

// TestNoticeAndConfigPushThroughTheDownlink: the pages and the API in
// front of HQ's real downlink, publishing on a real mosquitto, the store's
// answers applied through the replica.
func TestNoticeAndConfigPushThroughTheDownlink(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	mosq := mosquittotest.Start(t, mosquittotest.Options{})

	// s-a's link, as cloudsync subscribes on HQ's broker.
	got := &heard{}
	link, _, err := mqtttest.Dial(t, mosq.Addr, &paho.Connect{ClientID: "store-s-a", CleanStart: true, KeepAlive: 30}, got.add)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := link.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: "stores/s-a/down/#", QoS: 1}, {Topic: "hq/broadcast/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}

	pub, err := downlink.NewMQTTPublisher(ctx, downlink.MQTTOptions{URL: "mqtt://" + mosq.Addr, ClientID: "hq-web-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close(context.Background()) })
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	svc, err := downlink.New(downlink.Options{Pool: f.r.Pool(), Publisher: pub, Now: f.clock.Now, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	f.srv.Config.Handler = New(Options{Replica: f.r, Down: svc.Handler(), Now: f.clock.Now, Logger: logger})
	// The consumers' replica: the downlink applies the stores' answers.
	answers, err := replica.Open(ctx, f.url, replica.Options{Keys: f.keys,
		Handlers: map[string]replica.TopicHandler{proto.TopicConfigAck: svc, proto.TopicNoticeAck: svc}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(answers.Close)

	b := browsertest.New(t, browsertest.WindowSize(1280, 900))
	signInPage(t, b, f, f.srv.URL+"/stores/s-a")
	waitNav(t, b, `location.pathname === '/stores/s-a' && window.storePage && window.storePage.loads > 0`, 10*time.Second, `location.href`)
	text := func(sel string) string {
		return browsertest.Eval[string](t, b, `document.querySelector('`+sel+`').innerText`)
	}
	if s := text("#pushes"); !strings.Contains(s, "No config push sent") {
		t.Errorf("config pushes before any: %q", s)
	}

	// A notice to this store, from its page.
	run(t, b, chromedp.SendKeys(chromedp.CSS("#notice-title"), "Closed on the 1st"), chromedp.SendKeys(chromedp.CSS("#notice-body"), "Back on the 2nd."), chromedp.Click(chromedp.CSS("#notice-send")))
	browsertest.WaitJS(t, b, `!!document.querySelector('#notice-answer') && /Sent: notice/.test(document.querySelector('#notice-answer').textContent)`, 10*time.Second,
		`document.querySelector('#notice-section').innerText`)
	p := got.wait(t, "stores/s-a/down/notice")
	var n proto.Notice
	if err := json.Unmarshal(p.Payload, &n); err != nil || n.Title != "Closed on the 1st" || n.Body != "Back on the 2nd." || n.From != "ops-li" {
		t.Errorf("the notice the store got: %s (%v)", p.Payload, err)
	}
	if !strings.Contains(text("#notice-answer"), n.ID) {
		t.Errorf("the page says %q, the notice is %s", text("#notice-answer"), n.ID)
	}

	// A promotion to every store, from the fleet page.
	browsertest.Navigate(t, b, f.srv.URL+"/")
	browsertest.WaitJS(t, b, `window.fleet && window.fleet.loads > 0`, 10*time.Second)
	run(t, b, chromedp.Click(chromedp.CSS(`input[name="notice-to"][value="all"]`)))
	b2 := `document.querySelector('#notice-kind')`
	browsertest.Eval[any](t, b, b2+`.value = 'promotion'; `+b2+`.dispatchEvent(new Event('change'))`)
	run(t, b, chromedp.SendKeys(chromedp.CSS("#notice-title"), "Winter bath week"), chromedp.Click(chromedp.CSS("#notice-send")))
	browsertest.WaitJS(t, b, `!!document.querySelector('#notice-answer') && /Sent: notice/.test(document.querySelector('#notice-answer').textContent)`, 10*time.Second,
		`document.querySelector('#notice-section').innerText`)
	storeNotice := n.ID
	p = got.wait(t, proto.TopicBroadcastNotice)
	if err := json.Unmarshal(p.Payload, &n); err != nil || n.Title != "Winter bath week" || n.Kind != proto.NoticePromotion {
		t.Errorf("the broadcast the store got: %s (%v)", p.Payload, err)
	}
	// Who sent what: the fleet page lists both, newest first.
	sent := `document.querySelector('#sent') ? document.querySelector('#sent').innerText : ''`
	browsertest.WaitJS(t, b, `(`+sent+`).includes('“Winter bath week” to every store by ops-li')`, 10*time.Second, sent)
	// s-a acknowledges the first through its outbox; the list counts it.
	u := f.uplink("s-a")
	nack, _ := json.Marshal(proto.NoticeAck{V: 1, ID: storeNotice, TS: now})
	u.seq++
	u.sseq[proto.StreamBooking]++
	if out, err := answers.Apply(ctx, hq.Message{Store: "s-a", Origin: "e0s-a/nack", Seq: u.seq, Epoch: "e0s-a", Stream: proto.StreamBooking,
		SSeq: u.sseq[proto.StreamBooking], Stored: now, Topic: proto.CloudUpTopic("s-a", proto.TopicNoticeAck),
		LocalTopic: proto.TopicNoticeAck, Payload: nack}); err != nil || !out.Applied {
		t.Fatalf("the store's notice ack: %+v %v", out, err)
	}
	browsertest.Navigate(t, b, f.srv.URL+"/")
	line := `document.querySelector('#sent li[data-notice="` + storeNotice + `"]')`
	browsertest.WaitJS(t, b, `!!`+line+` && `+line+`.innerText.includes('“Closed on the 1st” to s-a by ops-li · acknowledged by 1')`, 10*time.Second, sent)
	browsertest.Eval[any](t, b, `document.querySelector('#sent-section').scrollIntoView({block: 'center'})`)
	shot(t, b, "fleet-notices-1280")

	// A config push through the API; the store refuses it.
	res := f.call(t, "POST", "/api/v1/stores/s-a/config", f.key, `{"faq":{"yaml":"intents: []"}}`)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("config push: %d", res.StatusCode)
	}
	p = got.wait(t, "stores/s-a/down/config/push")
	var push proto.ConfigPush
	if err := json.Unmarshal(p.Payload, &push); err != nil || push.Version != 1 || push.By != "ops-li" {
		t.Fatalf("the push the store got: %s (%v)", p.Payload, err)
	}
	ack, _ := json.Marshal(proto.ConfigAck{V: 1, ID: push.ID, Version: push.Version, OK: false, Code: "bad_request",
		Reason: "the FAQ does not parse", Errors: []string{"line 1: intents is empty"}, TS: now})
	u.seq++
	u.sseq[proto.StreamBooking]++
	if out, err := answers.Apply(ctx, hq.Message{Store: "s-a", Origin: "e0s-a/ack", Seq: u.seq, Epoch: "e0s-a", Stream: proto.StreamBooking,
		SSeq: u.sseq[proto.StreamBooking], Stored: now, Topic: proto.CloudUpTopic("s-a", proto.TopicConfigAck),
		LocalTopic: proto.TopicConfigAck, Payload: ack}); err != nil || !out.Applied {
		t.Fatalf("the store's answer: %+v %v", out, err)
	}
	browsertest.Navigate(t, b, f.srv.URL+"/stores/s-a")
	browsertest.WaitJS(t, b, `window.storePage && window.storePage.loads > 0 && /refused/.test(document.querySelector('#pushes').innerText)`, 10*time.Second,
		`document.querySelector('#pushes').innerText`)
	if s := text("#pushes"); !strings.Contains(s, "Version 1 by ops-li") || !strings.Contains(s, "the FAQ does not parse") || !strings.Contains(s, "line 1: intents is empty") {
		t.Errorf("config pushes: %q", s)
	}
	browsertest.Eval[any](t, b, `document.querySelector('#pushes').scrollIntoView({block: 'center'})`)
	shot(t, b, "store-config-refused-1280")
}
