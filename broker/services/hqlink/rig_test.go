package hqlink_test

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/cloudsync"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	st "github.com/storeedge/storeedge/internal/testkit/storetest"
)

// hq is HQ as the store sees it: its broker (a real mosquitto) the store's
// cloudsync links to, and a client of it that sends down and hears
// everything the store sends up.
type hq struct {
	t     *testing.T
	c     *paho.Client
	addr  string
	store string

	mu  sync.Mutex
	ups []upMsg
}

type upMsg struct {
	Local   string // the store's local topic
	Payload []byte
}

func startHQ(t *testing.T) *hq {
	t.Helper()
	b := mosquittotest.Start(t, mosquittotest.Options{})
	h := &hq{t: t, addr: b.Addr}
	conn, err := net.Dial("tcp", b.Addr)
	if err != nil {
		t.Fatal(err)
	}
	h.c = paho.NewClient(paho.ClientConfig{Conn: conn, ClientID: "hq-test", OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) {
			_, local, ok := strings.Cut(strings.SplitN(pr.Packet.Topic, "/", 3)[2], "up/")
			if ok {
				h.mu.Lock()
				h.ups = append(h.ups, upMsg{Local: local, Payload: pr.Packet.Payload})
				h.mu.Unlock()
			}
			return true, nil
		}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := h.c.Connect(ctx, &paho.Connect{KeepAlive: 30, ClientID: "hq-test", CleanStart: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "stores/+/up/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.c.Disconnect(&paho.Disconnect{}) })
	return h
}

// config links the store's cloudsync to HQ's broker.
func (h *hq) config(c *broker.Config) {
	c.Cloud.URL = "mqtt://" + h.addr
	c.Cloud.ReconnectMin, c.Cloud.ReconnectMax = 20*time.Millisecond, 200*time.Millisecond
	h.store = c.StoreID
}

// send publishes payload for the store's local topic hq/{local} with the
// user property id (cloudsync's dedup); until the store's link has
// subscribed (PUBACK 0x10: no subscriber) it is sent again, up to 20 s.
func (h *hq) send(local, id string, payload []byte) {
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

// up returns what the store sent up on local so far, in order.
func (h *hq) up(local string) [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out [][]byte
	for _, m := range h.ups {
		if m.Local == local {
			out = append(out, m.Payload)
		}
	}
	return out
}

// waitUp waits up to 20 s for a message on local that match accepts, and
// returns the first.
func waitUp[T any](h *hq, local string, match func(T) bool) T {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, p := range h.up(local) {
			var v T
			if json.Unmarshal(p, &v) == nil && match(v) {
				return v
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("nothing matching on up/%s within 20 s; got %d message(s): %s", local, len(h.up(local)), h.dump(local))
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
}

func (h *hq) dump(local string) string {
	var b strings.Builder
	for _, p := range h.up(local) {
		b.Write(p)
		b.WriteByte('\n')
	}
	return b.String()
}

var (
	admin = st.Device{ID: "admin-wu", Role: "admin"}
	anna  = st.Device{ID: "staff-anna", Role: "staff"}
	fleet = []st.Device{admin, anna}
)
