package booking_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/broker/services/booking"
	"github.com/storeedge/storeedge/cloudsync"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	st "github.com/storeedge/storeedge/internal/testkit/storetest"
)

// hqBroker is HQ's broker (a real mosquitto) with the test store's
// cloudsync connected to it: online requests reach the store as they do in
// production, through the bridge's downlink. Start the store with
// Config: hq.config.
type hqBroker struct {
	t     *testing.T
	pub   *paho.Client
	addr  string
	store string
	n     int
}

func startHQ(t *testing.T) *hqBroker {
	t.Helper()
	b := mosquittotest.Start(t, mosquittotest.Options{})
	conn, err := net.Dial("tcp", b.Addr)
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
	return &hqBroker{t: t, pub: c, addr: b.Addr}
}

// config points the store's cloudsync at HQ's broker.
func (h *hqBroker) config(c *broker.Config) {
	c.Cloud.URL = "mqtt://" + h.addr
	c.Cloud.ReconnectMin, c.Cloud.ReconnectMax = 20*time.Millisecond, 200*time.Millisecond
	h.store = c.StoreID
}

// send has HQ send payload for the store's local topic (hq/...), which on
// HQ's broker is stores/{store}/down/...; each send is a new message (its
// own message id): HQ sending a request again after an outage is a new
// message, and the desk knows the request by the id inside. While the
// store's link is still coming up HQ's broker has no subscriber for it
// (PUBACK 0x10, the message dropped): it is sent again, up to 20 s.
func (h *hqBroker) send(topic string, payload []byte) {
	h.t.Helper()
	down := "stores/" + h.store + "/down/" + strings.TrimPrefix(topic, "hq/")
	deadline := time.Now().Add(20 * time.Second)
	for {
		h.n++
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		pr, err := h.pub.Publish(ctx, &paho.Publish{Topic: down, QoS: 1, Payload: payload,
			Properties: &paho.PublishProperties{User: paho.UserProperties{{Key: cloudsync.PropID, Value: fmt.Sprintf("hq-msg-%d", h.n)}}}})
		cancel()
		if err != nil {
			h.t.Fatalf("HQ publish %s: %v", down, err)
		}
		if pr == nil || pr.ReasonCode != 0x10 {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("HQ publish %s: the store's link never subscribed at HQ", down)
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
}

func outcomes(t *testing.T, c *st.Client, n int, request string) []booking.Outcome {
	t.Helper()
	var out []booking.Outcome
	for _, m := range c.WaitFor(t, n, func(m st.Msg) bool {
		var o booking.Outcome
		return m.Topic == booking.HQOutcomeTopic && json.Unmarshal(m.Payload, &o) == nil && o.Request == request
	}) {
		var o booking.Outcome
		_ = json.Unmarshal(m.Payload, &o)
		out = append(out, o)
	}
	return out
}

// The store is the system of record for its slots. While its link to HQ is
// down, a walk-in takes the last 15:00 groom at the kiosk. HQ's online
// request for the same slot — made earlier at HQ, arriving later — is
// rejected with alternatives, and the online customer is told in their
// conversation. A replay of the request after another outage gets the same
// outcome and books nothing; a request for an offered alternative is
// confirmed.
func TestWalkInBeatsLaterOnlineRequest(t *testing.T) {
	hq := startHQ(t)
	s := st.Start(t, st.Options{Devices: all, Config: hq.config})
	staff := s.Connect(t, anna, "")
	staff.Subscribe(t, booking.HQOutcomeTopic)
	staff.Subscribe(t, booking.StaffTopic)
	k := s.Connect(t, kiosk1, "")
	slot := at(tue, "15:00")

	// A regular holds one table at 15:00; the walk-in takes the other.
	st.OK(t, book(t, staff, "dog-groom", slot, "cust-regular"))
	var walkIn bookingAnswer
	st.OK(t, k.Call(t, "booking", "book", fmt.Sprintf(`{"service":"dog-groom","start":%q,"customer":"cust-walkin","contact":{"name":"Ms Zhang","phone":"13800000000"}}`, slot))).Decode(t, &walkIn)

	// The link returns: HQ's request (made at 09:00 HQ time) arrives.
	req := []byte(fmt.Sprintf(`{"v":1,"id":"hq-req-1001","customer":"hq-c42","service":"dog-groom","start":%q,"notes":"first visit"}`, slot))
	hq.send(booking.HQRequestTopic, req)
	o := outcomes(t, staff, 1, "hq-req-1001")[0]
	if o.OK || o.Code != "conflict" || o.Reason != booking.ReasonTaken || len(o.Alternatives) == 0 || o.Customer != "hq-c42" {
		t.Fatalf("outcome: %+v", o)
	}
	for _, a := range o.Alternatives {
		if a.Start.Format(time.RFC3339) == slot {
			t.Fatalf("the taken slot is offered: %+v", o.Alternatives)
		}
	}
	// The board sees the rejection as a change, with the alternatives.
	rej := staff.WaitFor(t, 1, func(m st.Msg) bool {
		return m.Topic == booking.StaffTopic && decodeChange(t, m).Type == booking.ChangeHQRejected
	})
	if c := decodeChange(t, rej[0]); c.HQRequest != "hq-req-1001" || len(c.Alternatives) != len(o.Alternatives) {
		t.Fatalf("rejection change: %+v", c)
	}
	// The online customer is told in their conversation (HQ relays it).
	var hist struct {
		Messages []struct {
			From string          `json:"from"`
			Kind string          `json:"kind"`
			Card json.RawMessage `json:"card"`
		} `json:"messages"`
	}
	st.OK(t, staff.Call(t, "chat", "history", `{"conversation":"hq-c42"}`)).Decode(t, &hist)
	if len(hist.Messages) != 1 || hist.Messages[0].From != booking.ChatSender || !bytes.Contains(hist.Messages[0].Card, []byte(`"event":"hq_rejected"`)) ||
		!bytes.Contains(hist.Messages[0].Card, []byte(o.Alternatives[0].Start.Format(time.RFC3339))) {
		t.Fatalf("the online customer's conversation: %+v", hist)
	}
	before := lastChange(t, staff)

	// HQ replays the request after another outage: the same outcome, nothing new.
	hq.send(booking.HQRequestTopic, req)
	again := outcomes(t, staff, 2, "hq-req-1001")[1]
	a, _ := json.Marshal(o)
	b, _ := json.Marshal(again)
	if !bytes.Equal(a, b) {
		t.Fatalf("replay got another outcome:\n%s\n%s", a, b)
	}
	if after := lastChange(t, staff); after != before {
		t.Fatalf("the replay filed changes: %d → %d", before, after)
	}

	// The customer takes the first alternative: confirmed.
	req2 := []byte(fmt.Sprintf(`{"v":1,"id":"hq-req-1002","customer":"hq-c42","service":"dog-groom","start":%q,
		"profile":{"kind":"pet","name":"Doudou","species":"dog","breed":"poodle","size":"small","temperament":"afraid of the dryer"}}`, o.Alternatives[0].Start.Format(time.RFC3339)))
	hq.send(booking.HQRequestTopic, req2)
	ok := outcomes(t, staff, 1, "hq-req-1002")[0]
	if !ok.OK || ok.Booking == nil || ok.Booking.Source != "hq" || ok.Booking.HQRequest != "hq-req-1002" || !ok.Booking.Start.Equal(o.Alternatives[0].Start) {
		t.Fatalf("confirmation: %+v", ok)
	}
	if ok.Booking.Notes != "" || ok.Booking.Contact != nil {
		t.Fatalf("an outcome carries personal data: %+v", ok.Booking)
	}
	// Staff see the profile's temperament note on the board.
	var got struct {
		Profile *booking.Profile `json:"profile"`
	}
	st.OK(t, staff.Call(t, "booking", "get", fmt.Sprintf(`{"booking":%q}`, ok.Booking.ID))).Decode(t, &got)
	if got.Profile == nil || got.Profile.Temperament != "afraid of the dryer" {
		t.Fatalf("staff do not see the profile: %+v", got.Profile)
	}
	hq.send(booking.HQRequestTopic, req2)
	if again := outcomes(t, staff, 2, "hq-req-1002")[1]; again.Booking == nil || again.Booking.ID != ok.Booking.ID {
		t.Fatalf("replayed confirmation: %+v", again)
	}

	// HQ cancels it for the customer; a replay is the same outcome.
	cancel := []byte(fmt.Sprintf(`{"v":1,"id":"hq-req-1003","customer":"hq-c42","booking":%q,"reason":"dog is sick"}`, ok.Booking.ID))
	hq.send(booking.HQCancelTopic, cancel)
	if c := outcomes(t, staff, 1, "hq-req-1003")[0]; !c.OK || c.Booking.Status != booking.StatusCancelled {
		t.Fatalf("cancel outcome: %+v", c)
	}
	// Another online customer cannot cancel the walk-in.
	hq.send(booking.HQCancelTopic, []byte(fmt.Sprintf(`{"v":1,"id":"hq-req-1004","customer":"hq-c43","booking":%q}`, walkIn.Booking.ID)))
	if c := outcomes(t, staff, 1, "hq-req-1004")[0]; c.OK || c.Code != "forbidden" {
		t.Fatalf("foreign cancel outcome: %+v", c)
	}
}

// An HQ request the store cannot take at all (beyond the horizon) is
// rejected with alternatives the customer can actually book.
func TestHQRequestBeyondHorizon(t *testing.T) {
	hq := startHQ(t)
	s := st.Start(t, st.Options{Devices: all, Config: hq.config})
	staff := s.Connect(t, anna, "")
	staff.Subscribe(t, booking.HQOutcomeTopic)
	hq.send(booking.HQRequestTopic, []byte(`{"v":1,"id":"hq-far","customer":"hq-c2","service":"dog-groom","start":"2027-06-01T15:00:00+08:00"}`))
	o := outcomes(t, staff, 1, "hq-far")[0]
	if o.OK || o.Reason != booking.ReasonBeyondHorizon || len(o.Alternatives) == 0 {
		t.Fatalf("outcome: %+v", o)
	}
	last := s.Now().AddDate(0, 0, 61) // horizon_days 60, through the end of that day
	for _, a := range o.Alternatives {
		at := a.Start
		if !at.After(s.Now()) || !at.Before(last) {
			t.Fatalf("alternative %s cannot be booked (now %v)", a.Start, s.Now())
		}
		if !offered(t, staff, "dog-groom", rfc(a.Start)[:10], rfc(a.Start)) {
			t.Fatalf("alternative %s is not offered by availability", a.Start)
		}
	}
}
