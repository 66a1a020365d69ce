package pagetest

// A conversation a customer at home starts through HQ is in the staff
// console from its first message, though the FAQ assistant answered it and
// nobody asked for a person.

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/cloudsync"
	"github.com/storeedge/storeedge/internal/testkit/browsertest"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

// hqPublisher is HQ: a client of HQ's broker (a real mosquitto) the
// store's cloudsync is linked to.
type hqPublisher struct {
	t     *testing.T
	c     *paho.Client
	store string
}

func startHQPublisher(t *testing.T, addr, store string) *hqPublisher {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: conn, ClientID: "hq-sender"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{KeepAlive: 30, ClientID: "hq-sender", CleanStart: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return &hqPublisher{t: t, c: c, store: store}
}

// send publishes payload for the store's local topic hq/{local} with the
// user property id; until the store's link has subscribed at HQ's broker
// (PUBACK 0x10: no subscriber) it is sent again, up to 20 s.
func (h *hqPublisher) send(local, id string, payload []byte) {
	h.t.Helper()
	topic := "stores/" + h.store + "/down/" + local
	for deadline := time.Now().Add(20 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		pr, err := h.c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: payload,
			Properties: &paho.PublishProperties{User: paho.UserProperties{{Key: cloudsync.PropID, Value: id}}}})
		cancel()
		if err != nil {
			h.t.Fatalf("HQ publish %s: %v", topic, err)
		}
		if pr == nil || pr.ReasonCode != 0x10 {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("HQ publish %s: the store's link never subscribed at HQ", topic)
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
}

// TestConsoleSeesHQConversation: staff have the console open; a customer
// at home asks a question the assistant answers. The conversation is in
// the console's list, with the customer's first message unread, without a
// reload and without the customer asking for a person.
func TestConsoleSeesHQConversation(t *testing.T) {
	hqb := mosquittotest.Start(t, mosquittotest.Options{})
	var storeID string
	s := storetest.Start(t, storetest.Options{Devices: consoleFleet, Config: func(c *broker.Config) {
		c.Listeners.Websocket = "127.0.0.1:0"
		c.Listeners.WebsocketPath = "/mqtt"
		c.Cloud.URL = "mqtt://" + hqb.Addr
		c.Cloud.ReconnectMin, c.Cloud.ReconnectMax = 20*time.Millisecond, 200*time.Millisecond
		storeID = c.StoreID
	}})
	hq := startHQPublisher(t, hqb.Addr, storeID)
	b := openConsole(t, s)

	const cust = "hq-c77"
	hq.send("chat/message", "hqm-77-1", []byte(fmt.Sprintf(`{"v":1,"id":"hqm-77-1","customer":%q,"kind":"text","text":"What time do you open?","lang":"en"}`, cust)))
	browsertest.WaitJS(t, b, fmt.Sprintf(`(() => {
		const c = consoleView.conversations.find((c) => c.conversation === %q);
		const el = document.getElementById('conv-' + %q);
		return !!c && c.unread >= 1 && !!el && el.getClientRects().length > 0;
	})()`, cust, cust), 15*time.Second, showConsole)
	if w := browsertest.Eval[bool](t, b, fmt.Sprintf(`consoleView.conversations.find((c) => c.conversation === %q).waiting`, cust)); w {
		t.Fatalf("the assistant answered, yet the conversation waits for a person: %s", browsertest.Eval[string](t, b, showConsole))
	}
	// A console opened later lists it too.
	b = openConsole(t, s)
	browsertest.WaitJS(t, b, fmt.Sprintf(`(() => {
		const c = consoleView.conversations.find((c) => c.conversation === %q);
		return !!c && c.unread >= 1 && !!document.getElementById('conv-' + %q);
	})()`, cust, cust), 15*time.Second, showConsole)
	consoleClick(t, b, "#conv-"+cust)
	browsertest.WaitJS(t, b, `document.getElementById('messages') && document.getElementById('messages').textContent.includes('What time do you open?')`,
		10*time.Second, `document.getElementById('messages') && document.getElementById('messages').textContent`)
	consoleShot(t, b, "hq-conversation")
}
