package chat

import (
	"time"
)

// Event types on chat/{conversation}/events.
const (
	EventMessage   = "message"   // a message was stored: seq, id, from, kind, ts, auto
	EventRead      = "read"      // a member read up to up_to
	EventDelivered = "delivered" // a member's device got everything up to up_to
	EventRecall    = "recall"    // the sender recalled seq
	EventMembers   = "members"   // a group's members changed: added, removed, by
	EventWaiting   = "waiting"   // the conversation waits for a person
	EventAssigned  = "assigned"  // the conversation was assigned to staff member "member"
)

// Event is one event on chat/{conversation}/events. It never carries a
// message body (see the package doc); fetch it with history after Seq-1.
//
//	message:   seq, id, from, kind, ts, auto (the FAQ assistant's)
//	read:      member, up_to, ts
//	delivered: member, up_to, ts
//	recall:    seq, by, ts
//	members:   added, removed, by, seq (of the system message), ts
//	waiting:   ts
//	assigned:  member (the staff member), by, ts
type Event struct {
	V            int       `json:"v"`
	Type         string    `json:"type"`
	Conversation string    `json:"conversation"`
	Seq          uint64    `json:"seq,omitempty"`
	ID           string    `json:"id,omitempty"`
	From         string    `json:"from,omitempty"`
	Kind         string    `json:"kind,omitempty"`
	Member       string    `json:"member,omitempty"`
	UpTo         uint64    `json:"up_to,omitempty"`
	By           string    `json:"by,omitempty"`
	Auto         bool      `json:"auto,omitempty"`
	Added        []string  `json:"added,omitempty"`
	Removed      []string  `json:"removed,omitempty"`
	TS           time.Time `json:"ts"`
}

// EventTopic is where a conversation's events are published.
func EventTopic(convID string) string { return "chat/" + convID + "/events" }

// emit publishes an event after its change has committed. The change stands
// whether or not the event goes out (members converge through history), so a
// failure is logged and not returned to the requester.
func (s *Service) emit(e Event) {
	e.V = 1
	if err := s.o.Router.Emit(EventTopic(e.Conversation), e); err != nil {
		s.log.Warn("chat: event not published", "conversation", e.Conversation, "type", e.Type, "err", err)
	}
}
