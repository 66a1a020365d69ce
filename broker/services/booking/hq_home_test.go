package booking_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/storeedge/storeedge/broker/services/booking"
	st "github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/proto"
)

// A customer of the store at home (cust-…) books, moves and cancels
// through HQ: the store treats her as the same customer as in the shop.
// A move to a taken time is refused with the nearest free ones; a move of
// someone else's booking is forbidden; a replayed move gets the same
// outcome and moves nothing twice.
func TestHomeCustomerBooksAndMoves(t *testing.T) {
	hq := startHQ(t)
	s := st.Start(t, st.Options{Devices: all, Config: hq.config})
	staff := s.Connect(t, anna, "")
	staff.Subscribe(t, booking.HQOutcomeTopic)

	// She books 10:00 from home as cust-amy, her id in the shop.
	hq.send(booking.HQRequestTopic, []byte(fmt.Sprintf(`{"v":1,"id":"home-req-1","customer":"cust-amy","service":"dog-groom","start":%q,
		"profile":{"id":"pet-1","kind":"pet","name":"Mochi","species":"dog","breed":"shiba","size":"small"}}`, at(tue, "10:00"))))
	o := outcomes(t, staff, 1, "home-req-1")[0]
	if !o.OK || o.Booking == nil || o.Booking.Customer != "cust-amy" || o.Customer != "cust-amy" {
		t.Fatalf("booking for cust-amy: %+v", o)
	}
	mine := o.Booking.ID
	// Staff see it among her bookings, as any of hers made in the shop.
	var list struct {
		Bookings []booking.View `json:"bookings"`
	}
	st.OK(t, staff.Call(t, "booking", "list", `{"customer":"cust-amy"}`)).Decode(t, &list)
	if len(list.Bookings) != 1 || list.Bookings[0].ID != mine {
		t.Fatalf("her bookings at the store: %+v", list.Bookings)
	}

	// Her pet's profile is kept under her, for staff to see.
	var withProfile struct {
		Profile *booking.Profile `json:"profile"`
	}
	st.OK(t, staff.Call(t, "booking", "get", fmt.Sprintf(`{"booking":%q}`, mine))).Decode(t, &withProfile)
	if withProfile.Profile == nil || withProfile.Profile.Name != "Mochi" {
		t.Fatalf("her pet's profile: %+v", withProfile.Profile)
	}
	var profs struct {
		Profiles []booking.Profile `json:"profiles"`
	}
	st.OK(t, staff.Call(t, "booking", "profile_list", `{"customer":"cust-amy"}`)).Decode(t, &profs)
	if len(profs.Profiles) != 1 || profs.Profiles[0].Name != "Mochi" {
		t.Fatalf("her profiles at the store: %+v", profs.Profiles)
	}

	// Both tables are taken at 16:00.
	st.OK(t, book(t, staff, "dog-groom", at(tue, "16:00"), "cust-b"))
	st.OK(t, book(t, staff, "dog-groom", at(tue, "16:00"), "cust-c"))
	var other bookingAnswer
	st.OK(t, book(t, staff, "dog-groom", at(tue, "19:00"), "cust-d")).Decode(t, &other)

	// A move to 16:00: conflict, taken, with free times instead.
	hq.send(booking.HQMoveTopic, []byte(fmt.Sprintf(`{"v":1,"id":"home-mv-1","customer":"cust-amy","booking":%q,"start":%q}`, mine, at(tue, "16:00"))))
	mv := outcomes(t, staff, 1, "home-mv-1")[0]
	if mv.OK || mv.Code != "conflict" || mv.Reason != booking.ReasonTaken || len(mv.Alternatives) == 0 {
		t.Fatalf("move to a taken time: %+v", mv)
	}
	for _, a := range mv.Alternatives {
		if rfc(a.Start) == at(tue, "16:00") {
			t.Fatalf("the taken time is offered: %+v", mv.Alternatives)
		}
	}
	// She takes the first alternative: moved.
	alt := rfc(mv.Alternatives[0].Start)
	move2 := []byte(fmt.Sprintf(`{"v":1,"id":"home-mv-2","customer":"cust-amy","booking":%q,"start":%q}`, mine, alt))
	hq.send(booking.HQMoveTopic, move2)
	ok := outcomes(t, staff, 1, "home-mv-2")[0]
	if !ok.OK || ok.Booking == nil || ok.Booking.ID != mine || rfc(ok.Booking.Start) != alt {
		t.Fatalf("move to a free time: %+v", ok)
	}
	var got bookingAnswer
	st.OK(t, staff.Call(t, "booking", "get", fmt.Sprintf(`{"booking":%q}`, mine))).Decode(t, &got)
	if rfc(got.Booking.Start) != alt {
		t.Fatalf("the booking is at %s, want %s", rfc(got.Booking.Start), alt)
	}
	// A replay: the same outcome, no change filed.
	before := lastChange(t, staff)
	hq.send(booking.HQMoveTopic, move2)
	again := outcomes(t, staff, 2, "home-mv-2")[1]
	a, _ := json.Marshal(ok)
	b, _ := json.Marshal(again)
	if !bytes.Equal(a, b) {
		t.Fatalf("replayed move got another outcome:\n%s\n%s", a, b)
	}
	if after := lastChange(t, staff); after != before {
		t.Fatalf("the replay filed changes: %d → %d", before, after)
	}
	// Someone else's booking: forbidden, and it stays where it was.
	hq.send(booking.HQMoveTopic, []byte(fmt.Sprintf(`{"v":1,"id":"home-mv-3","customer":"cust-amy","booking":%q,"start":%q}`, other.Booking.ID, at(tue, "12:00"))))
	if f := outcomes(t, staff, 1, "home-mv-3")[0]; f.OK || f.Code != "forbidden" {
		t.Fatalf("moving another's booking: %+v", f)
	}
	st.OK(t, staff.Call(t, "booking", "get", fmt.Sprintf(`{"booking":%q}`, other.Booking.ID))).Decode(t, &got)
	if rfc(got.Booking.Start) != at(tue, "19:00") {
		t.Fatalf("another's booking moved to %s", rfc(got.Booking.Start))
	}
	// She cancels from home.
	hq.send(booking.HQCancelTopic, []byte(fmt.Sprintf(`{"v":1,"id":"home-cx-1","customer":"cust-amy","booking":%q}`, mine)))
	if c := outcomes(t, staff, 1, "home-cx-1")[0]; !c.OK || c.Booking.Status != booking.StatusCancelled {
		t.Fatalf("cancel from home: %+v", c)
	}
}

// HQ asks the store live for free times: the answer goes up through the
// outbox to HQ's broker (stores/{store}/up/booking/hq/availability). A
// question that arrives after HQ stopped waiting is dropped unanswered.
func TestHQAvailabilityLive(t *testing.T) {
	hq := startHQ(t)
	s := st.Start(t, st.Options{Devices: all, Config: hq.config})
	staff := s.Connect(t, anna, "")
	st.OK(t, book(t, staff, "dog-groom", at(tue, "15:00"), "cust-b"))
	st.OK(t, book(t, staff, "dog-groom", at(tue, "15:00"), "cust-c"))

	// HQ's ingest takes everything the store sends (the uplink holds its
	// queue while HQ's broker has no subscriber for a topic).
	answers := make(chan proto.HQAvailabilityAnswer, 8)
	conn, err := net.Dial("tcp", hq.addr)
	if err != nil {
		t.Fatal(err)
	}
	sub := paho.NewClient(paho.ClientConfig{Conn: conn, ClientID: "hq-ingest", OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(p paho.PublishReceived) (bool, error) {
			var a proto.HQAvailabilityAnswer
			if p.Packet.Topic == "stores/"+hq.store+"/up/"+proto.TopicAvailabilityAnswer && json.Unmarshal(p.Packet.Payload, &a) == nil {
				answers <- a
			}
			return true, nil
		}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := sub.Connect(ctx, &paho.Connect{KeepAlive: 30, ClientID: "hq-ingest", CleanStart: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Disconnect(&paho.Disconnect{}) })
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: "stores/" + hq.store + "/up/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}

	// Expired (by the store's clock) first, then a live one: the first is
	// never answered, so the first answer HQ gets is the second's.
	hq.send(booking.HQAvailabilityTopic, []byte(fmt.Sprintf(`{"v":1,"id":"av-old","service":"dog-groom","day":%q,"days":1,"expires":%q}`,
		tue, s.Now().Add(-time.Second).Format(time.RFC3339Nano))))
	hq.send(booking.HQAvailabilityTopic, []byte(fmt.Sprintf(`{"v":1,"id":"av-1","service":"dog-groom","day":%q,"days":2,"expires":%q}`,
		tue, s.Now().Add(time.Minute).Format(time.RFC3339Nano))))
	hq.send(booking.HQAvailabilityTopic, []byte(fmt.Sprintf(`{"v":1,"id":"av-2","service":"dog-groom","day":%q,"days":8,"expires":%q}`,
		tue, s.Now().Add(time.Minute).Format(time.RFC3339Nano))))
	var a proto.HQAvailabilityAnswer
	select {
	case a = <-answers:
	case <-time.After(20 * time.Second):
		t.Fatal("no availability answer reached HQ's broker")
	}
	if a.Request != "av-1" || !a.OK || a.Service != "dog-groom" || len(a.Slots) == 0 {
		t.Fatalf("first answer: %+v", a)
	}
	days := map[string]bool{}
	for _, sl := range a.Slots {
		if rfc(sl.Start) == at(tue, "15:00") {
			t.Fatalf("a taken time is offered: %+v", sl)
		}
		days[rfc(sl.Start)[:10]] = true
	}
	if !days[tue] || !days["2026-11-25"] || len(days) != 2 {
		t.Fatalf("days answered: %v", days)
	}
	select {
	case a = <-answers:
	case <-time.After(20 * time.Second):
		t.Fatal("no answer to the second request")
	}
	if a.Request != "av-2" || a.OK || a.Code != "bad_request" || a.Message == "" {
		t.Fatalf("8 days: %+v", a)
	}
}
