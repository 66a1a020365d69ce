package broker_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/proto"
)

// "… is typing" on chat/{conversation}/typing: a member's publish reaches
// the other members with "from" set by the broker to who published it (a
// forged "from" is replaced), a non-member's is dropped, and nothing of it
// waits in an offline persistent session: after the phone is put away and
// the store restarts, the phone gets the message sent meanwhile and no
// typing.
func TestTypingStampedDroppedNeverQueued(t *testing.T) {
	s := storetest.Start(t, storetest.Options{Devices: []storetest.Device{{ID: "staff-anna", Role: "staff"}, {ID: "staff-cy", Role: "staff"}}})
	anna := s.Connect(t, storetest.Device{ID: "staff-anna", Role: "staff"}, "console")
	cy := s.Connect(t, storetest.Device{ID: "staff-cy", Role: "staff"}, "console")
	cust := s.CustomerLogin(t, anna, "", "phone", true)
	var open struct{ Conversation string }
	storetest.OK(t, cust.Call(t, "chat", "open", `{}`)).Decode(t, &open)
	conv := open.Conversation
	typingTopic, eventsTopic := proto.ChatTypingTopic(conv), proto.ChatEventTopic(conv)
	cust.Subscribe(t, typingTopic)
	cust.Subscribe(t, eventsTopic)
	storetest.OK(t, anna.Call(t, "chat", "open", fmt.Sprintf(`{"conversation":%q}`, conv))) // Anna joins
	anna.Subscribe(t, typingTopic)
	cy.Subscribe(t, "chat/+/typing") // staff may watch; Cy is no member of this one

	typing := func(m storetest.Msg) proto.ChatTyping {
		t.Helper()
		var ty proto.ChatTyping
		if err := json.Unmarshal(m.Payload, &ty); err != nil {
			t.Fatalf("typing payload %s: %v", m.Payload, err)
		}
		return ty
	}
	from := func(who string) func(storetest.Msg) bool {
		return func(m storetest.Msg) bool {
			if m.Topic != typingTopic {
				return false
			}
			var ty proto.ChatTyping
			return json.Unmarshal(m.Payload, &ty) == nil && ty.From == who
		}
	}

	// The customer types (QoS 0), claiming to be Anna: Anna sees the customer.
	cust.PublishQoS(t, typingTopic, []byte(`{"v":1,"from":"staff-anna","typing":true}`), 0)
	got := anna.WaitFor(t, 1, from(cust.Username))
	if ty := typing(got[0]); ty.V != 1 || !ty.Typing || string(got[0].Payload) != fmt.Sprintf(`{"v":1,"from":%q,"typing":true}`, cust.Username) {
		t.Fatalf("anna got %s", got[0].Payload)
	}
	// Cy, no member, types (QoS 1 and 0), and a bad payload from Anna:
	// dropped. Anna's own typing after them is the marker.
	cy.Publish(t, typingTopic, []byte(`{"v":1,"typing":true}`))
	cy.PublishQoS(t, typingTopic, []byte(`{"v":1,"typing":true}`), 0)
	anna.PublishQoS(t, typingTopic, []byte(`{"v":1,"typing":"yes"}`), 0)
	anna.PublishQoS(t, typingTopic, []byte(`{"v":1,"typing":false}`), 0)
	cust.WaitFor(t, 1, from("staff-anna"))
	if n := len(cust.Msgs(from("staff-cy"))) + len(anna.Msgs(from("staff-cy"))); n != 0 {
		t.Fatalf("a non-member's typing was delivered %d times", n)
	}
	if n := len(cust.Msgs(from("staff-anna"))); n != 1 {
		t.Fatalf("the customer got %d typing messages from Anna, want 1", n)
	}
	before := len(cust.Msgs(storetest.Topic(typingTopic))) // Anna's, and her own echoed

	// The phone is put away (its session stays). Anna types at QoS 1 and
	// sends a message; the store restarts.
	cust.Close()
	anna.Publish(t, typingTopic, []byte(`{"v":1,"typing":true}`))
	if ty := typing(cy.WaitFor(t, 2, from("staff-anna"))[1]); !ty.Typing {
		t.Fatalf("QoS 1 typing as delivered live: %+v", ty)
	}
	storetest.OK(t, anna.Call(t, "chat", "send", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"Your puppy is ready"}`, conv)))
	s.Restart()
	cust.Reconnect(t)
	// The message's event was kept for her; the typing was not.
	cust.WaitFor(t, 1, func(m storetest.Msg) bool {
		var ev proto.ChatEvent
		return m.Topic == eventsTopic && json.Unmarshal(m.Payload, &ev) == nil && ev.Type == proto.ChatEventMessage && ev.From == "staff-anna"
	})
	if n := len(cust.Msgs(storetest.Topic(typingTopic))); n != before {
		t.Fatalf("after coming back the customer has %d typing messages, want the %d from before: %v", n, before, cust.Msgs(storetest.Topic(typingTopic)))
	}
}
