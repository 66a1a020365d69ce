package broker_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/proto"
)

// A transfer offer nobody answers expires by itself once
// chat.transfer_timeout has passed on the store's clock: the staff member
// who offered it is told (a transfer event, expired) and keeps the
// conversation; the colleague's late accept is a conflict.
func TestTransferExpiresUnanswered(t *testing.T) {
	s := storetest.Start(t, storetest.Options{Devices: []storetest.Device{{ID: "owner", Role: "admin"}}})
	owner := s.Connect(t, storetest.Device{ID: "owner", Role: "admin"}, "")
	for _, a := range [][2]string{{"staff-anna", "Anna"}, {"staff-lin", "Lin"}} {
		storetest.OK(t, owner.Call(t, "accounts", "staff_add", fmt.Sprintf(`{"account":%q,"name":%q,"role":"staff","password":"%s-password-1"}`, a[0], a[1], a[0])))
	}
	anna := s.ConnectAs(t, "staff-anna", "staff-anna-password-1", "console", false)
	lin := s.ConnectAs(t, "staff-lin", "staff-lin-password-1", "console", false)
	cust := s.CustomerLogin(t, anna, "", "phone", false)
	storetest.OK(t, cust.Call(t, "chat", "open", `{}`))
	conv := cust.Username
	storetest.OK(t, anna.Call(t, "chat", "assign", fmt.Sprintf(`{"conversation":%q,"staff":"staff-anna"}`, conv)))
	anna.Subscribe(t, proto.ChatEventTopic(conv))
	storetest.OK(t, anna.Call(t, "chat", "transfer", fmt.Sprintf(`{"conversation":%q,"to":"staff-lin"}`, conv)))

	s.Advance(2*time.Minute + time.Second) // chat.transfer_timeout: 2m
	got := anna.WaitFor(t, 1, func(m storetest.Msg) bool {
		var ev proto.ChatEvent
		return m.Topic == proto.ChatEventTopic(conv) && json.Unmarshal(m.Payload, &ev) == nil && ev.Type == proto.ChatEventTransfer && ev.State == proto.TransferExpired
	})
	var ev proto.ChatEvent
	if err := json.Unmarshal(got[0].Payload, &ev); err != nil || ev.Member != "staff-lin" || ev.By != "staff-anna" {
		t.Fatalf("expired event %s: %v", got[0].Payload, err)
	}
	storetest.Fails(t, lin.Call(t, "chat", "transfer_answer", fmt.Sprintf(`{"conversation":%q,"accept":true}`, conv)), "conflict", "")
	var v proto.ConversationView
	storetest.OK(t, anna.Call(t, "chat", "open", fmt.Sprintf(`{"conversation":%q}`, conv))).Decode(t, &v)
	if len(v.Assigned) != 1 || v.Assigned[0] != "staff-anna" || v.Agent != "staff-anna" || v.AgentName != "Anna" {
		t.Fatalf("after the offer expired: %+v", v)
	}
}
