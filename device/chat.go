package device

import (
	"context"

	"github.com/storeedge/storeedge/proto"
)

// Chat: the typed ops of svc/chat (PROTOCOL.md, "Chat") and the events on
// chat/{conversation}/events. Sends, recalls, read and delivered marks of
// one conversation go in its lane ("chat/"+conversation), so they take
// effect in the order they were made.

// Message kinds of ChatSendRequest.Kind and ChatMessage.Kind.
const (
	KindText   = proto.KindText
	KindCard   = proto.KindCard
	KindImage  = proto.KindImage
	KindVoice  = proto.KindVoice
	KindVideo  = proto.KindVideo
	KindFile   = proto.KindFile
	KindSystem = proto.KindSystem // group membership changes, written by the service
)

// The chat wire types (package proto has their documentation).
type (
	ConversationView = proto.ConversationView
	Receipt          = proto.Receipt
	ChatOpenRequest  = proto.ChatOpenRequest
	ChatOpenResult   = proto.ChatOpenAnswer
	MediaRef         = proto.MediaRef
	// ChatSendRequest is one message; Text is a pointer (proto.String)
	// because a caption-less media message and an empty text differ.
	ChatSendRequest    = proto.ChatSendRequest
	ChatHistoryRequest = proto.ChatHistoryRequest
	HistoryPage        = proto.HistoryPage
	ChatMessage        = proto.ChatMessage
	Card               = proto.Card
	MediaInfo          = proto.MediaInfo
	ReadResult         = proto.ReadAnswer
	RecallResult       = proto.RecallAnswer
	ChatListRequest    = proto.ChatListRequest
	ConversationPage   = proto.ConversationPage
	GroupResult        = proto.GroupAnswer
	QuickReply         = proto.QuickReply
	QuickReplies       = proto.QuickReplies
	ChatSession        = proto.ChatSession
	ChatEvent          = proto.ChatEvent
)

// SendResult is where a sent message was stored, and its ID: its send
// request's id, as events and history show it.
type SendResult struct {
	proto.ChatSendAnswer
	ID string `json:"-"`
}

func chatLane(conversation string) string { return "chat/" + conversation }

// ChatOpen creates a conversation with the members named, or resumes it.
func (c *Client) ChatOpen(ctx context.Context, r ChatOpenRequest, opts ...CallOption) (ChatOpenResult, error) {
	return call[ChatOpenResult](ctx, c, "chat", "open", r, opts...)
}

// ChatSend sends a message and answers its seq once it is stored.
func (c *Client) ChatSend(ctx context.Context, r ChatSendRequest, opts ...CallOption) (SendResult, error) {
	id := NewID()
	var o callOpts
	for _, f := range opts {
		f(&o)
	}
	if o.id != "" {
		id = o.id
	}
	opts = append(inLane(chatLane(r.Conversation), opts), WithID(id))
	res, err := call[SendResult](ctx, c, "chat", "send", r, opts...)
	res.ID = id
	return res, err
}

// ChatHistory reads one page of a conversation's messages.
func (c *Client) ChatHistory(ctx context.Context, r ChatHistoryRequest, opts ...CallOption) (HistoryPage, error) {
	return call[HistoryPage](ctx, c, "chat", "history", r, opts...)
}

// ChatRead marks the conversation read up to seq upTo (which implies
// delivered) and answers how many messages are still unread.
func (c *Client) ChatRead(ctx context.Context, conversation string, upTo uint64, opts ...CallOption) (ReadResult, error) {
	return call[ReadResult](ctx, c, "chat", "read", proto.ChatReadRequest{Conversation: conversation, UpTo: &upTo}, inLane(chatLane(conversation), opts)...)
}

// ChatDelivered tells the members that this device has stored the
// messages up to seq upTo.
func (c *Client) ChatDelivered(ctx context.Context, conversation string, upTo uint64, opts ...CallOption) (ReadResult, error) {
	return call[ReadResult](ctx, c, "chat", "delivered", proto.ChatReadRequest{Conversation: conversation, UpTo: &upTo}, inLane(chatLane(conversation), opts)...)
}

// ChatRecall recalls the caller's own message seq within the recall window.
func (c *Client) ChatRecall(ctx context.Context, conversation string, seq uint64, opts ...CallOption) (RecallResult, error) {
	return call[RecallResult](ctx, c, "chat", "recall", proto.ChatRecallRequest{Conversation: conversation, Seq: seq}, inLane(chatLane(conversation), opts)...)
}

// ChatList reads one page of the caller's conversations.
func (c *Client) ChatList(ctx context.Context, r ChatListRequest, opts ...CallOption) (ConversationPage, error) {
	return call[ConversationPage](ctx, c, "chat", "list", r, opts...)
}

// GroupCreate creates a group (staff) with the caller and members.
func (c *Client) GroupCreate(ctx context.Context, title string, members []string, opts ...CallOption) (GroupResult, error) {
	return call[GroupResult](ctx, c, "chat", "group_create", proto.GroupCreateRequest{Title: title, Members: members}, opts...)
}

// GroupAdd adds members to a group.
func (c *Client) GroupAdd(ctx context.Context, conversation string, members []string, opts ...CallOption) (GroupResult, error) {
	return call[GroupResult](ctx, c, "chat", "group_add", proto.GroupMembersRequest{Conversation: conversation, Members: members}, opts...)
}

// GroupRemove removes members from a group; any member may remove
// themselves.
func (c *Client) GroupRemove(ctx context.Context, conversation string, members []string, opts ...CallOption) (GroupResult, error) {
	return call[GroupResult](ctx, c, "chat", "group_remove", proto.GroupMembersRequest{Conversation: conversation, Members: members}, opts...)
}

// ChatHandoff is the customer's "talk to a person": the conversation waits
// for staff and the assistant stops answering.
func (c *Client) ChatHandoff(ctx context.Context, conversation string, opts ...CallOption) (ConversationView, error) {
	return call[ConversationView](ctx, c, "chat", "handoff", proto.ConversationRequest{Conversation: conversation}, opts...)
}

// ChatWaiting lists the conversations waiting for a person (staff),
// longest waiting first.
func (c *Client) ChatWaiting(ctx context.Context, opts ...CallOption) ([]ConversationView, error) {
	a, err := call[proto.WaitingAnswer](ctx, c, "chat", "waiting", nil, opts...)
	return a.Conversations, err
}

// ChatAssign assigns a conversation to a staff member, who becomes a member.
func (c *Client) ChatAssign(ctx context.Context, conversation, staff string, opts ...CallOption) (ConversationView, error) {
	return call[ConversationView](ctx, c, "chat", "assign", proto.AssignRequest{Conversation: conversation, Staff: staff}, opts...)
}

// QuickReplies reads the store's saved snippets (staff).
func (c *Client) QuickReplies(ctx context.Context, opts ...CallOption) (QuickReplies, error) {
	return call[QuickReplies](ctx, c, "chat", "quick_replies", nil, opts...)
}

// ChatSession starts a scan-to-chat session: "" for a new customer, or a
// returning customer's id to resume her. Staff may name her; a chat tablet
// only after she confirmed its presence code (ChatPresenceStart), and one
// confirmation resumes her once, else ErrForbidden (reason "not_present").
func (c *Client) ChatSession(ctx context.Context, customer string, opts ...CallOption) (ChatSession, error) {
	return call[ChatSession](ctx, c, "chat", "session", proto.ChatSessionRequest{Customer: customer}, opts...)
}

// Chat event types (ChatEvent.Type).
const (
	ChatEventMessage   = proto.ChatEventMessage
	ChatEventDelivered = proto.ChatEventDelivered
	ChatEventRead      = proto.ChatEventRead
	ChatEventRecall    = proto.ChatEventRecall
	ChatEventMembers   = proto.ChatEventMembers
	ChatEventWaiting   = proto.ChatEventWaiting
	ChatEventAssigned  = proto.ChatEventAssigned
)

// OnChatEvents calls h for every event of conversation; staff pass "+"
// for every conversation. Members other than staff must open the
// conversation before they subscribe. h runs on the receiving goroutine.
func (c *Client) OnChatEvents(ctx context.Context, conversation string, h func(ChatEvent)) error {
	return onJSON(ctx, c, proto.ChatEventTopic(conversation), func(_ string, e ChatEvent) { h(e) })
}
