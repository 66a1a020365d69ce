package web_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/storeedge/storeedge/cloudsync/topicmap"
	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/hq/replica"
	"github.com/storeedge/storeedge/internal/testkit/hqrig"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/proto"
)

// A real store linked to a real HQ (mosquitto as HQ's broker, storeedge-hq
// with PostgreSQL): a groomer answers a customer 45 s after her message and
// closes the conversation 3 min after it, she gives five stars; HQ's
// reports API then has the conversation handled by her, with those times
// and that rating, through the store's outbox and the default topic map,
// which files closings and ratings as chat: at QoS 1, in the chat stream,
// never evicted for lack of room.
func TestStoreReportsReachHQ(t *testing.T) {
	m, err := topicmap.Parse(configs.Cloud)
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{proto.TopicChatClosing, proto.TopicChatRating} {
		if r, ok := m.Match(topic); !ok || r.Class != "chat" || r.QoS != 1 {
			t.Errorf("configs/cloud.yaml files %s as %+v (matched %v), want class chat at QoS 1", topic, r, ok)
		}
	}
	hq := hqrig.Start(t, hqrig.Options{})
	s := hq.LinkStoreWith(t, "s-rep", storetest.Options{Start: time.Now(), Devices: []storetest.Device{
		{ID: "staff-li", Role: "staff"}, {ID: "tablet-1", Role: "chat-tablet"}}})
	hq.WaitOnline(t, "s-rep", true, 30*time.Second)
	staff := s.Connect(t, storetest.Device{ID: "staff-li", Role: "staff"}, "")
	tablet := s.Connect(t, storetest.Device{ID: "tablet-1", Role: "chat-tablet"}, "qr")
	cust := s.CustomerLogin(t, tablet, "", "phone", false)
	var opened struct {
		Conversation string `json:"conversation"`
	}
	storetest.OK(t, cust.Call(t, "chat", "open", `{}`)).Decode(t, &opened)
	conv := opened.Conversation
	storetest.OK(t, cust.Call(t, "chat", "send", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"Is my umbrella still at the counter?"}`, conv)))
	storetest.OK(t, staff.Call(t, "chat", "open", fmt.Sprintf(`{"conversation":%q}`, conv)))
	s.Advance(45 * time.Second)
	storetest.OK(t, staff.Call(t, "chat", "send", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"Yes, it is here."}`, conv)))
	s.Advance(135 * time.Second)
	storetest.OK(t, staff.Call(t, "chat", "close", fmt.Sprintf(`{"conversation":%q}`, conv)))
	storetest.OK(t, cust.Call(t, "chat", "rate", fmt.Sprintf(`{"conversation":%q,"closing":1,"stars":5,"comment":"Thanks!"}`, conv)))

	var rep replica.Reports
	for deadline := time.Now().Add(30 * time.Second); ; {
		hq.APIJSON(t, "/api/v1/stores/s-rep/reports", &rep)
		if rep.Total.Handled == 1 && rep.Total.Ratings == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the closing and its rating are not in HQ's reports 30 s after: %s", hq.API(t, "/api/v1/stores/s-rep/reports"))
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
	if len(rep.ByStaff) != 1 || rep.ByStaff[0].Key != "staff-li" || rep.ByStaff[0].FirstResponseAvgMs != 45_000 ||
		rep.ByStaff[0].ResolutionAvgMs != 180_000 || rep.ByStaff[0].StarsAvg != 5 || len(rep.ByDay) != 1 {
		t.Fatalf("HQ's reports: %+v", rep)
	}
}
