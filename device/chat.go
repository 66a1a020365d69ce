package device

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Chat: the typed ops of svc/chat (PROTOCOL.md, "Chat") and the events on
// chat/{conversation}/events. Sends, recalls, read and delivered marks of
// one conversation go in its lane ("chat/"+conversation), so they take
// effect in the order they were made.

// Message kinds of ChatSendRequest.Kind and ChatMessage.Kind.
const (
	KindText   = "text"
	KindCard   = "card"
	KindImage  = "image"
	KindVoice  = "voice"
	KindVideo  = "video"
	KindFile   = "file"
	KindSystem = "system" // group membership changes, written by the service
)

// ConversationView is a conversation as open, list, waiting, handoff,
// assign and the group ops answer it. ReadUpTo and Unread are the caller's;
// Receipts are every member's.
type ConversationView struct {
	Conversation string     `json:"conversation"`
	Kind         string     `json:"kind"` // "direct" or "group"
	Title        string     `json:"title,omitempty"`
	Members      []string   `json:"members"`
	Created      time.Time  `json:"created"`
	LastSeq      uint64     `json:"last_seq"`
	ReadUpTo     uint64     `json:"read_up_to"`
	Unread       uint64     `json:"unread"`
	Assistant    bool       `json:"assistant"`
	Waiting      *time.Time `json:"waiting,omitempty"`
	Assigned     []string   `json:"assigned,omitempty"`
	Receipts     []Receipt  `json:"receipts"`
}

// Receipt is how far one member's devices got (Delivered) and how far the
// member read; read implies delivered.
type Receipt struct {
	Member    string `json:"member"`
	Delivered uint64 `json:"delivered"`
	Read      uint64 `json:"read"`
}

// ChatOpenRequest opens or resumes a conversation. Both fields are
// optional: a customer opens their own conversation with neither.
type ChatOpenRequest struct {
	Conversation string   `json:"conversation,omitempty"`
	Members      []string `json:"members,omitempty"` // the caller is added
}

// ChatOpenResult is the conversation; New is true when open created it.
type ChatOpenResult struct {
	ConversationView
	New bool `json:"new"`
}

// MediaRef names an uploaded blob (Upload's Blob.Hash) in a media message.
type MediaRef struct {
	Hash string `json:"hash"`
}

// ChatSendRequest is one message. Kind says which body it has: Text for
// "text"; Card (a JSON object with a "type") for "card"; Media, with an
// optional Text caption, for "image", "voice", "video" and "file".
type ChatSendRequest struct {
	Conversation string          `json:"conversation"`
	Kind         string          `json:"kind"`
	Text         string          `json:"text,omitempty"`
	Card         json.RawMessage `json:"card,omitempty"`
	Media        *MediaRef       `json:"media,omitempty"`
	Announcement bool            `json:"announcement,omitempty"` // staff, in groups
	Lang         string          `json:"lang,omitempty"`         // "zh" or "en", for the FAQ assistant
}

// SendResult is where a sent message was stored.
type SendResult struct {
	Conversation string    `json:"conversation"`
	Seq          uint64    `json:"seq"`
	TS           time.Time `json:"ts"`
	// ID is the message's id: its send request's id, as events and
	// history show it.
	ID string `json:"-"`
}

// ChatHistoryRequest asks for the messages after seq After (0: from the
// first), at most Limit (0: the store's page size).
type ChatHistoryRequest struct {
	Conversation string `json:"conversation"`
	After        uint64 `json:"after,omitempty"`
	Limit        int    `json:"limit,omitempty"`
}

// HistoryPage is one page of a conversation's messages, oldest first; ask
// again with After = Next while More.
type HistoryPage struct {
	Conversation string        `json:"conversation"`
	Messages     []ChatMessage `json:"messages"`
	Next         uint64        `json:"next"`
	More         bool          `json:"more"`
	LastSeq      uint64        `json:"last_seq"`
	ReadUpTo     uint64        `json:"read_up_to"`
	Unread       uint64        `json:"unread"`
	Receipts     []Receipt     `json:"receipts"`
}

// ChatMessage is one stored message. A recalled one has Recalled set and
// no body. From is a member, "assistant" (the FAQ assistant, Auto set) or
// a store service posting into the conversation ("booking").
type ChatMessage struct {
	Seq          uint64          `json:"seq"`
	ID           string          `json:"id"`
	From         string          `json:"from"`
	Kind         string          `json:"kind"`
	TS           time.Time       `json:"ts"`
	Text         string          `json:"text,omitempty"`
	Card         json.RawMessage `json:"card,omitempty"`
	Media        *MediaInfo      `json:"media,omitempty"`
	Recalled     *time.Time      `json:"recalled,omitempty"`
	Auto         bool            `json:"auto,omitempty"`
	Intent       string          `json:"intent,omitempty"`
	Announcement bool            `json:"announcement,omitempty"`
}

// DecodeCard decodes the message's card (a booking card into a Card or a
// Change, say).
func (m ChatMessage) DecodeCard(v any) error {
	if len(m.Card) == 0 {
		return fmt.Errorf("device: message %d is a %s message, not a card", m.Seq, m.Kind)
	}
	return json.Unmarshal(m.Card, v)
}

// Card is the head every card has: Type is product, booking, promotion,
// progress, reminder, survey (or members, in system messages); Event is
// the booking change a booking service card is about.
type Card struct {
	Type  string `json:"type"`
	Event string `json:"event,omitempty"`
}

// MediaInfo describes the blob of a media message; Width, Height and
// Thumbnail are known for JPEG and PNG images, DurationMs for audio and video.
type MediaInfo struct {
	Hash       string `json:"hash"`
	Type       string `json:"type"`
	Size       int64  `json:"size"`
	Name       string `json:"name,omitempty"`
	DurationMs int64  `json:"duration_ms,omitempty"`
	Width      int    `json:"width,omitempty"`
	Height     int    `json:"height,omitempty"`
	Thumbnail  string `json:"thumbnail,omitempty"`
}

// ReadResult is the caller's pointer after ChatRead or ChatDelivered;
// Unread is given by ChatRead only.
type ReadResult struct {
	Conversation string `json:"conversation"`
	UpTo         uint64 `json:"up_to"`
	Unread       uint64 `json:"unread"`
}

// RecallResult says when a message was recalled.
type RecallResult struct {
	Conversation string    `json:"conversation"`
	Seq          uint64    `json:"seq"`
	Recalled     time.Time `json:"recalled"`
}

// ChatListRequest pages through the caller's conversations: After is the
// previous page's Next, Limit 0 is the store's page size.
type ChatListRequest struct {
	After string `json:"after,omitempty"`
	Limit int    `json:"limit,omitempty"`
}

// ConversationPage is one page of conversations.
type ConversationPage struct {
	Conversations []ConversationView `json:"conversations"`
	Next          string             `json:"next"`
	More          bool               `json:"more"`
}

// GroupResult is the group after a membership change, and what changed.
type GroupResult struct {
	ConversationView
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
}

// QuickReply is one of the store's saved snippets for staff.
type QuickReply struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	ZH    string `json:"zh"`
	EN    string `json:"en"`
}

// QuickReplies are the snippets, whether the store is open now, and when
// it opens next when it is closed.
type QuickReplies struct {
	QuickReplies []QuickReply `json:"quick_replies"`
	Open         bool         `json:"open"`
	NextOpen     *time.Time   `json:"next_open,omitempty"`
}

// ChatSession is a scan-to-chat code: show QRPNG (a PNG of URL) to the
// customer; it works once, until Expires.
type ChatSession struct {
	Customer     string    `json:"customer"`
	Conversation string    `json:"conversation"`
	URL          string    `json:"url"`
	Expires      time.Time `json:"expires"`
	QRPNG        []byte    `json:"qr_png"`
}

// Wire bodies of the ops whose Go signature takes plain arguments.
type (
	convBody struct {
		Conversation string `json:"conversation"`
	}
	upToBody struct {
		Conversation string `json:"conversation"`
		UpTo         uint64 `json:"up_to"`
	}
	seqBody struct {
		Conversation string `json:"conversation"`
		Seq          uint64 `json:"seq"`
	}
	membersBody struct {
		Conversation string   `json:"conversation,omitempty"`
		Title        string   `json:"title,omitempty"`
		Members      []string `json:"members,omitempty"`
	}
	assignBody struct {
		Conversation string `json:"conversation"`
		Staff        string `json:"staff"`
	}
	sessionBody struct {
		Customer string `json:"customer,omitempty"`
	}
)

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
	return call[ReadResult](ctx, c, "chat", "read", upToBody{conversation, upTo}, inLane(chatLane(conversation), opts)...)
}

// ChatDelivered tells the members that this device has stored the
// messages up to seq upTo.
func (c *Client) ChatDelivered(ctx context.Context, conversation string, upTo uint64, opts ...CallOption) (ReadResult, error) {
	return call[ReadResult](ctx, c, "chat", "delivered", upToBody{conversation, upTo}, inLane(chatLane(conversation), opts)...)
}

// ChatRecall recalls the caller's own message seq within the recall window.
func (c *Client) ChatRecall(ctx context.Context, conversation string, seq uint64, opts ...CallOption) (RecallResult, error) {
	return call[RecallResult](ctx, c, "chat", "recall", seqBody{conversation, seq}, inLane(chatLane(conversation), opts)...)
}

// ChatList reads one page of the caller's conversations.
func (c *Client) ChatList(ctx context.Context, r ChatListRequest, opts ...CallOption) (ConversationPage, error) {
	return call[ConversationPage](ctx, c, "chat", "list", r, opts...)
}

// GroupCreate creates a group (staff) with the caller and members.
func (c *Client) GroupCreate(ctx context.Context, title string, members []string, opts ...CallOption) (GroupResult, error) {
	return call[GroupResult](ctx, c, "chat", "group_create", membersBody{Title: title, Members: members}, opts...)
}

// GroupAdd adds members to a group.
func (c *Client) GroupAdd(ctx context.Context, conversation string, members []string, opts ...CallOption) (GroupResult, error) {
	return call[GroupResult](ctx, c, "chat", "group_add", membersBody{Conversation: conversation, Members: members}, opts...)
}

// GroupRemove removes members from a group; any member may remove
// themselves.
func (c *Client) GroupRemove(ctx context.Context, conversation string, members []string, opts ...CallOption) (GroupResult, error) {
	return call[GroupResult](ctx, c, "chat", "group_remove", membersBody{Conversation: conversation, Members: members}, opts...)
}

// ChatHandoff is the customer's "talk to a person": the conversation waits
// for staff and the assistant stops answering.
func (c *Client) ChatHandoff(ctx context.Context, conversation string, opts ...CallOption) (ConversationView, error) {
	return call[ConversationView](ctx, c, "chat", "handoff", convBody{conversation}, opts...)
}

// ChatWaiting lists the conversations waiting for a person (staff),
// longest waiting first.
func (c *Client) ChatWaiting(ctx context.Context, opts ...CallOption) ([]ConversationView, error) {
	a, err := call[ConversationPage](ctx, c, "chat", "waiting", nil, opts...)
	return a.Conversations, err
}

// ChatAssign assigns a conversation to a staff member, who becomes a member.
func (c *Client) ChatAssign(ctx context.Context, conversation, staff string, opts ...CallOption) (ConversationView, error) {
	return call[ConversationView](ctx, c, "chat", "assign", assignBody{conversation, staff}, opts...)
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
	return call[ChatSession](ctx, c, "chat", "session", sessionBody{customer}, opts...)
}

// Chat event types (ChatEvent.Type).
const (
	ChatEventMessage   = "message"
	ChatEventDelivered = "delivered"
	ChatEventRead      = "read"
	ChatEventRecall    = "recall"
	ChatEventMembers   = "members"
	ChatEventWaiting   = "waiting"
	ChatEventAssigned  = "assigned"
)

// ChatEvent is a change in a conversation. It never carries a message's
// body: fetch it with ChatHistory (After: Seq-1). Events come at least
// once and may come out of seq order: key them by Seq and Member.
type ChatEvent struct {
	Type         string    `json:"type"`
	Conversation string    `json:"conversation"`
	Seq          uint64    `json:"seq,omitempty"`
	ID           string    `json:"id,omitempty"`
	From         string    `json:"from,omitempty"`
	Kind         string    `json:"kind,omitempty"`
	Auto         bool      `json:"auto,omitempty"`
	Member       string    `json:"member,omitempty"`
	UpTo         uint64    `json:"up_to,omitempty"`
	By           string    `json:"by,omitempty"`
	Added        []string  `json:"added,omitempty"`
	Removed      []string  `json:"removed,omitempty"`
	TS           time.Time `json:"ts"`
}

// OnChatEvents calls h for every event of conversation; staff pass "+"
// for every conversation. Members other than staff must open the
// conversation before they subscribe. h runs on the receiving goroutine.
func (c *Client) OnChatEvents(ctx context.Context, conversation string, h func(ChatEvent)) error {
	return onJSON(ctx, c, "chat/"+conversation+"/events", func(_ string, e ChatEvent) { h(e) })
}
