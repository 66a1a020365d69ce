package chat

import (
	"github.com/storeedge/storeedge/proto"
)

// Event types on chat/{conversation}/events (proto.ChatEvent*).
const (
	EventMessage   = proto.ChatEventMessage
	EventRead      = proto.ChatEventRead
	EventDelivered = proto.ChatEventDelivered
	EventRecall    = proto.ChatEventRecall
	EventMembers   = proto.ChatEventMembers
	EventWaiting   = proto.ChatEventWaiting
	EventAssigned  = proto.ChatEventAssigned
	EventTransfer  = proto.ChatEventTransfer
	EventAgent     = proto.ChatEventAgent
)

// Event is one event on chat/{conversation}/events. It never carries a
// message body (see the package doc); fetch it with history after Seq-1.
type Event = proto.ChatEvent

// EventTopic is where a conversation's events are published.
func EventTopic(convID string) string { return proto.ChatEventTopic(convID) }

// emit publishes an event after its change has committed. The change stands
// whether or not the event goes out (members converge through history), so a
// failure is logged and not returned to the requester.
func (s *Service) emit(e Event) {
	e.V = proto.Version
	if err := s.o.Router.Emit(EventTopic(e.Conversation), e); err != nil {
		s.log.Warn("chat: event not published", "conversation", e.Conversation, "type", e.Type, "err", err)
	}
}
