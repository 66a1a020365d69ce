package chat

import (
	"time"
)

// Event types on chat/{conversation}/events.
const (
	EventMessage = "message"
	EventRead    = "read"
	EventRecall  = "recall"
)

// Event is one event on chat/{conversation}/events. It never carries a
// message body (see the package doc); fetch it with history after Seq-1.
//
//	message: seq, id, from, kind, ts
//	read:    member, up_to, ts
//	recall:  seq, by, ts
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
