package proto

import (
	"encoding/json"
	"fmt"
	"time"
)

// Chat: the ops of svc/chat (PROTOCOL.md, "Chat") and the events on
// chat/{conversation}/events.

// Message kinds (ChatSendRequest.Kind, ChatMessage.Kind). Image, voice,
// video and file messages refer to a blob uploaded through svc/media by its
// SHA-256; system messages are written by the service itself (group
// membership changes).
const (
	KindText   = "text"
	KindCard   = "card"
	KindImage  = "image"
	KindVoice  = "voice"
	KindVideo  = "video"
	KindFile   = "file"
	KindSystem = "system"
)

// Conversation kinds (ConversationView.Kind).
const (
	ConversationDirect = "direct"
	ConversationGroup  = "group"
)

// CardTypes are the structured cards a message may carry.
var CardTypes = []string{"product", "booking", "promotion", "progress", "reminder", "survey"}

// ChatOpenRequest opens or resumes a conversation. Both fields are
// optional: a customer opens their own conversation with neither.
type ChatOpenRequest struct {
	Conversation string   `json:"conversation,omitempty"`
	Members      []string `json:"members,omitempty"` // the caller is added
}

// MediaRef names an uploaded blob (UploadBeginRequest.SHA256) in a media
// message.
type MediaRef struct {
	Hash string `json:"hash"`
}

// ChatSendRequest is one message. Kind says which body it has: Text for
// "text"; Card (a JSON object with a "type") for "card"; Media, with an
// optional Text caption, for "image", "voice", "video" and "file".
type ChatSendRequest struct {
	Conversation string          `json:"conversation"`
	Kind         string          `json:"kind"`
	Text         *string         `json:"text,omitempty"`
	Card         json.RawMessage `json:"card,omitempty"`
	Media        *MediaRef       `json:"media,omitempty"`
	Announcement bool            `json:"announcement,omitempty"` // staff, in groups
	Lang         string          `json:"lang,omitempty"`         // "zh" or "en", for the FAQ assistant
}

// ChatHistoryRequest asks for the messages after seq After (0: from the
// first), at most Limit (0: the store's page size).
type ChatHistoryRequest struct {
	Conversation string `json:"conversation"`
	After        uint64 `json:"after,omitempty"`
	Limit        int    `json:"limit,omitempty"`
}

// ChatReadRequest is the body of read and delivered: the caller's pointer
// moves up to seq UpTo (required).
type ChatReadRequest struct {
	Conversation string  `json:"conversation"`
	UpTo         *uint64 `json:"up_to"`
}

// ChatRecallRequest recalls the caller's own message Seq.
type ChatRecallRequest struct {
	Conversation string `json:"conversation"`
	Seq          uint64 `json:"seq"`
}

// ChatListRequest pages through the caller's conversations: After is the
// previous page's Next, Limit 0 is the store's page size. Remote (staff
// only) pages through the conversations of customers at home instead,
// joined or not, so a console sees them from their first message.
type ChatListRequest struct {
	After  string `json:"after,omitempty"`
	Limit  int    `json:"limit,omitempty"`
	Remote bool   `json:"remote,omitempty"`
}

// GroupCreateRequest creates a group (staff) with the caller and Members.
type GroupCreateRequest struct {
	Title   string   `json:"title,omitempty"`
	Members []string `json:"members,omitempty"`
}

// GroupMembersRequest is the body of group_add and group_remove.
type GroupMembersRequest struct {
	Conversation string   `json:"conversation,omitempty"`
	Members      []string `json:"members,omitempty"`
}

// ConversationRequest names a conversation (handoff).
type ConversationRequest struct {
	Conversation string `json:"conversation"`
}

// AssignRequest assigns a conversation to a staff member.
type AssignRequest struct {
	Conversation string `json:"conversation"`
	Staff        string `json:"staff"`
}

// ChatSessionRequest starts a scan-to-chat session: "" for a new customer,
// or a returning customer's id.
type ChatSessionRequest struct {
	Customer string `json:"customer,omitempty"`
}

// Answers.

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
	// Closed is when staff closed it (nil while open); Closings counts
	// its closings (the last one's number).
	Closed   *time.Time `json:"closed,omitempty"`
	Closings uint64     `json:"closings,omitempty"`
	Receipts []Receipt  `json:"receipts"`
	// Labels are the conversation's labels and its customer's (staff's
	// list, waiting and assign answers only; never a customer's).
	Labels []string `json:"labels,omitempty"`
	// Agent is the staff member answering the customer now (assign, an
	// accepted transfer), AgentName her display name (open answers it).
	Agent     string `json:"agent,omitempty"`
	AgentName string `json:"agent_name,omitempty"`
	// Transfer is the conversation's last transfer offer; staff only (open,
	// waiting and the transfer ops answer it to staff, never to a customer).
	Transfer *TransferView `json:"transfer,omitempty"`
}

// Receipt is how far one member's devices got (Delivered) and how far the
// member read; read implies delivered.
type Receipt struct {
	Member    string `json:"member"`
	Delivered uint64 `json:"delivered"`
	Read      uint64 `json:"read"`
}

// ChatOpenAnswer is the conversation; New is true when open created it.
type ChatOpenAnswer struct {
	ConversationView
	New bool `json:"new"`
}

// ChatSendAnswer is where a sent message was stored.
type ChatSendAnswer struct {
	Conversation string    `json:"conversation"`
	Seq          uint64    `json:"seq"`
	TS           time.Time `json:"ts"`
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

// ChatMessage is one stored message as history returns it. A recalled one
// has Recalled set and no body. From is a member, "assistant" (the FAQ
// assistant, Auto set, Intent the question it answered) or a store service
// posting into the conversation ("booking").
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
		return fmt.Errorf("proto: message %d is a %s message, not a card", m.Seq, m.Kind)
	}
	return json.Unmarshal(m.Card, v)
}

// Card is the head every card has: Type is one of CardTypes (or "members",
// in system messages, or "ask", the assistant's AskCard); Event is the booking change a booking service card
// is about.
type Card struct {
	Type  string `json:"type"`
	Event string `json:"event,omitempty"`
}

// HistoryPage is one page of a conversation's messages, oldest first; ask
// again with After = Next while More. Receipts are every member's
// delivered and read pointers, as in open and list.
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

// ReadAnswer is the caller's pointer after read or delivered; Unread is
// given by read only.
type ReadAnswer struct {
	Conversation string `json:"conversation"`
	UpTo         uint64 `json:"up_to"`
	Unread       uint64 `json:"unread"`
}

// DeliveredAnswer is the caller's delivered pointer after delivered.
type DeliveredAnswer struct {
	Conversation string `json:"conversation"`
	UpTo         uint64 `json:"up_to"`
}

// RecallAnswer says when a message was recalled.
type RecallAnswer struct {
	Conversation string    `json:"conversation"`
	Seq          uint64    `json:"seq"`
	Recalled     time.Time `json:"recalled"`
}

// ConversationPage is one page of conversations (list).
type ConversationPage struct {
	Conversations []ConversationView `json:"conversations"`
	Next          string             `json:"next"`
	More          bool               `json:"more"`
}

// WaitingAnswer is the conversations waiting for a person, longest
// waiting first.
type WaitingAnswer struct {
	Conversations []ConversationView `json:"conversations"`
}

// GroupAnswer is the group after a membership change, and what changed.
type GroupAnswer struct {
	ConversationView
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
}

// MembersCard is the card of a system message about a group's members.
type MembersCard struct {
	Type    string   `json:"type"` // "members"
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
	By      string   `json:"by"`
	Title   string   `json:"title,omitempty"`
}

// AskCard is the FAQ assistant's ask-back (from "assistant", auto): the
// customer's message was close to more than one question, or not quite
// close enough to one. Text asks which one she means; tapping a button
// sends its Text as her text message, which the assistant answers with
// Intent's answer.
type AskCard struct {
	Type    string      `json:"type"` // "ask"
	Text    string      `json:"text"`
	Buttons []AskButton `json:"buttons"`
}

// AskButton is one button of an AskCard.
type AskButton struct {
	Text   string `json:"text"`
	Intent string `json:"intent"`
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

// ChatSession is a scan-to-chat code: show QRPNG (a PNG of URL, base64 on
// the wire) to the customer; it works once, until Expires.
type ChatSession struct {
	Customer     string    `json:"customer"`
	Conversation string    `json:"conversation"`
	URL          string    `json:"url"`
	Expires      time.Time `json:"expires"`
	QRPNG        []byte    `json:"qr_png"`
}

// Chat event types (ChatEvent.Type).
const (
	ChatEventMessage   = "message"   // a message was stored: seq, id, from, kind, ts, auto
	ChatEventRead      = "read"      // a member read up to up_to
	ChatEventDelivered = "delivered" // a member's device got everything up to up_to
	ChatEventRecall    = "recall"    // the sender recalled seq
	ChatEventMembers   = "members"   // a group's members changed: added, removed, by
	ChatEventWaiting   = "waiting"   // the conversation waits for a person
	ChatEventAssigned  = "assigned"  // the conversation was assigned to staff member "member"
	ChatEventTransfer  = "transfer"  // a transfer was offered, accepted, declined or expired: state, member (offered), by (offering)
	ChatEventAgent     = "agent"     // the staff member answering now: member, name
)

// ChatEvent is one event on chat/{conversation}/events. It never carries a
// message's body: fetch it with history after Seq-1. Events come at least
// once and may come out of seq order: key them by Seq and Member.
//
//	message:   seq, id, from, kind, ts, auto (the FAQ assistant's)
//	read:      member, up_to, ts
//	delivered: member, up_to, ts
//	recall:    seq, by, ts
//	members:   added, removed, by, seq (of the system message), ts
//	waiting:   ts
//	assigned:  member (the staff member), by, ts
//	closed:    closing, by, seq (of the system message), ts
//	rated:     closing, seq (of the system message), ts
//	transfer:  state (offered, accepted, declined, expired), member (the colleague offered), by (the offering staff member), ts
//	agent:     member (the staff member answering now), name (her display name), ts
type ChatEvent struct {
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
	Closing      uint64    `json:"closing,omitempty"`
	State        string    `json:"state,omitempty"` // transfer
	Name         string    `json:"name,omitempty"`  // agent
	TS           time.Time `json:"ts"`
}

// Close and rate; reports.
//
// Staff close a customer's conversation (close): a system message with a
// ClosedCard, and the customer is asked for a rating of that closing
// (rate: 1–5 stars and a comment, once per closing; a RatedCard follows).
// A new message from the customer reopens it: a new closing period. The
// figures of the closings (report) are by day (the close's day in the
// store's time zone) or by staff member (who was answering).

// Event types of close and rate.
const (
	ChatEventClosed = "closed" // staff closed the conversation: closing, by, seq (of the system message), ts
	ChatEventRated  = "rated"  // the customer rated a closing: closing, seq (of the system message), ts
)

// Card types of the system messages of close and rate.
const (
	CardClosed = "closed"
	CardRated  = "rated"
)

// Report groupings (ChatReportRequest.By).
const (
	ReportByDay   = "day"
	ReportByStaff = "staff"
)

// ChatRateRequest rates closing Closing of a conversation: Stars 1–5 and
// an optional Comment (at most chat.max_rating_comment characters).
type ChatRateRequest struct {
	Conversation string `json:"conversation"`
	Closing      uint64 `json:"closing"`
	Stars        int    `json:"stars"`
	Comment      string `json:"comment,omitempty"`
}

// ChatReportRequest asks for the figures of the closings from day From to
// day To (YYYY-MM-DD in the store's time zone, both included), by "day"
// or "staff".
type ChatReportRequest struct {
	From string `json:"from"`
	To   string `json:"to"`
	By   string `json:"by"`
}

// ClosedCard is the card of the system message close writes. Staff is who
// the closing counts for (who was answering; the closer when nobody was).
type ClosedCard struct {
	Type    string `json:"type"` // "closed"
	Closing uint64 `json:"closing"`
	By      string `json:"by"`
	Staff   string `json:"staff"`
}

// RatedCard is the card of the system message rate writes.
type RatedCard struct {
	Type    string `json:"type"` // "rated"
	Closing uint64 `json:"closing"`
	Stars   int    `json:"stars"`
	Comment string `json:"comment,omitempty"`
}

// ChatClosing is one closing of a conversation: close's answer, and what
// the store sends HQ on chat/closing. Opened is the customer's first
// message of the period (nil when she wrote none), FirstResponse the first
// staff message after it (the assistant's do not count).
type ChatClosing struct {
	V             int        `json:"v,omitempty"`
	Conversation  string     `json:"conversation"`
	Closing       uint64     `json:"closing"`
	Customer      string     `json:"customer"`
	Staff         string     `json:"staff"`
	By            string     `json:"by"`
	Opened        *time.Time `json:"opened,omitempty"`
	FirstResponse *time.Time `json:"first_response,omitempty"`
	Closed        time.Time  `json:"closed"`
	Seq           uint64     `json:"seq"`
}

// ChatRating is a closing's rating: rate's answer, and what the store
// sends HQ on chat/rating (without the comment: it stays in the
// conversation's sealed history).
type ChatRating struct {
	V            int       `json:"v,omitempty"`
	Conversation string    `json:"conversation"`
	Closing      uint64    `json:"closing"`
	Staff        string    `json:"staff"`
	Stars        int       `json:"stars"`
	TS           time.Time `json:"ts"`
	Seq          uint64    `json:"seq"`
}

// Local topics of closings and ratings for HQ (class chat).
const (
	TopicChatClosing = "chat/closing"
	TopicChatRating  = "chat/rating"
)

// ChatReportRow is the figures of one day or staff member (Key). Handled
// counts the closings; first response and resolution are over the
// closings that have them (Responded, Resolved), in milliseconds; ratings
// are those given to these closings (Stars[i] is how many gave i+1).
type ChatReportRow struct {
	Key                   string  `json:"key"`
	Handled               int     `json:"handled"`
	Responded             int     `json:"responded"`
	FirstResponseAvgMs    int64   `json:"first_response_avg_ms"`
	FirstResponseMedianMs int64   `json:"first_response_median_ms"`
	Resolved              int     `json:"resolved"`
	ResolutionAvgMs       int64   `json:"resolution_avg_ms"`
	ResolutionMedianMs    int64   `json:"resolution_median_ms"`
	Ratings               int     `json:"ratings"`
	StarsAvg              float64 `json:"stars_avg"`
	Stars                 [5]int  `json:"stars"`
}

// ChatReport is report's answer: the rows in key order, and the whole
// range's Total.
type ChatReport struct {
	From     string          `json:"from"`
	To       string          `json:"to"`
	By       string          `json:"by"`
	TimeZone string          `json:"time_zone"`
	Rows     []ChatReportRow `json:"rows"`
	Total    ChatReportRow   `json:"total"`
}

// Search, labels and internal notes (staff only; never in a customer's
// answers or events, nor sent to HQ).

// ChatSearchRequest searches the message texts of one conversation, or of
// every conversation the caller may read, newest first, for Q (a substring,
// case folded). Before continues a search: messages older than it.
type ChatSearchRequest struct {
	Q            string     `json:"q"`
	Conversation string     `json:"conversation,omitempty"`
	Before       *time.Time `json:"before,omitempty"`
}

// ChatSearchHit is one message that matched: Text is the message's text
// (or a card's words), which the console highlights.
type ChatSearchHit struct {
	Conversation string    `json:"conversation"`
	Seq          uint64    `json:"seq"`
	From         string    `json:"from"`
	Kind         string    `json:"kind"`
	TS           time.Time `json:"ts"`
	Text         string    `json:"text"`
}

// Why a search answer stopped before the oldest message (ChatSearchAnswer.Stopped).
const (
	SearchStoppedResults = "results" // it found the most hits one answer carries
	SearchStoppedTime    = "time"    // its time budget ran out
)

// ChatSearchAnswer is the hits, newest first. SearchedTo is the oldest
// message time it read; when More, ask again with Before = SearchedTo for
// older ones, and Stopped says why it stopped ("results" or "time").
type ChatSearchAnswer struct {
	Hits       []ChatSearchHit `json:"hits"`
	Scanned    int             `json:"scanned"`
	SearchedTo *time.Time      `json:"searched_to,omitempty"`
	More       bool            `json:"more"`
	Stopped    string          `json:"stopped,omitempty"`
}

// ChatNoteTarget names what a note or a label belongs to: a conversation
// or a customer (exactly one).
type ChatNoteTarget struct {
	Conversation string `json:"conversation,omitempty"`
	Customer     string `json:"customer,omitempty"`
}

// ChatNoteAddRequest adds an internal note. Its request id is the note's
// id: repeating it adds nothing.
type ChatNoteAddRequest struct {
	ChatNoteTarget
	Text string `json:"text"`
}

// ChatLabelsRequest replaces the labels of a conversation or a customer
// with Labels (ids from the store's list; empty clears them).
type ChatLabelsRequest struct {
	ChatNoteTarget
	Labels []string `json:"labels"`
}

// ChatNote is one internal note.
type ChatNote struct {
	ID     string    `json:"id"`
	Author string    `json:"author"`
	TS     time.Time `json:"ts"`
	Text   string    `json:"text"`
}

// ChatLabel is one of the store's labels, with its names.
type ChatLabel struct {
	ID string `json:"id"`
	EN string `json:"en"`
	ZH string `json:"zh"`
}

// ChatNotesAnswer answers notes, note_add and labels_set: the target's
// notes (newest first, at most a page; More when there are older ones),
// its labels, and the store's label list to choose from.
type ChatNotesAnswer struct {
	ChatNoteTarget
	Notes     []ChatNote  `json:"notes"`
	More      bool        `json:"more"`
	Labels    []string    `json:"labels"`
	Available []ChatLabel `json:"available"`
}

// Transfer, typing and group read receipts.

// Transfer states (TransferView.State, ChatEvent.State).
const (
	TransferOffered  = "offered"
	TransferAccepted = "accepted"
	TransferDeclined = "declined"
	TransferExpired  = "expired" // not answered within chat.transfer_timeout
)

// TransferRequest offers a conversation to a colleague (staff). Note, for
// the colleague only, is never shown to the customer.
type TransferRequest struct {
	Conversation string `json:"conversation"`
	To           string `json:"to"`
	Note         string `json:"note,omitempty"`
}

// TransferAnswerRequest is the offered colleague's answer.
type TransferAnswerRequest struct {
	Conversation string `json:"conversation"`
	Accept       *bool  `json:"accept"`
}

// TransferView is a conversation's last transfer offer, as staff see it.
type TransferView struct {
	Conversation string     `json:"conversation,omitempty"` // in transfers
	From         string     `json:"from"`
	FromName     string     `json:"from_name,omitempty"`
	To           string     `json:"to"`
	ToName       string     `json:"to_name,omitempty"`
	Note         string     `json:"note,omitempty"`
	State        string     `json:"state"`
	Offered      time.Time  `json:"offered"`
	Expires      time.Time  `json:"expires"`
	Answered     *time.Time `json:"answered,omitempty"`
}

// TransferAnswer answers transfer and transfer_answer: the conversation
// (with Transfer set).
type TransferAnswer = ConversationView

// TransfersAnswer is what a staff console needs for transfers: the
// colleagues (staff accounts, the caller included) with their display
// names, and the open offers made to or by the caller, oldest first.
type TransfersAnswer struct {
	Colleagues []StaffMember  `json:"colleagues"`
	Offers     []TransferView `json:"offers"`
}

// ReadersRequest asks who of a group has read message Seq.
type ReadersRequest struct {
	Conversation string `json:"conversation"`
	Seq          uint64 `json:"seq"`
}

// Reader is one member and whether she has read the message (her read
// pointer is at or past it). Name is a staff member's display name.
type Reader struct {
	Member string `json:"member"`
	Name   string `json:"name,omitempty"`
	Read   bool   `json:"read"`
}

// ReadersAnswer lists the members other than the message's sender who
// have read it and who have not.
type ReadersAnswer struct {
	Conversation string   `json:"conversation"`
	Seq          uint64   `json:"seq"`
	From         string   `json:"from"`
	ReadBy       []Reader `json:"read_by"`
	NotReadBy    []Reader `json:"not_read_by"`
}

// ChatTypingTopic is where members say they are typing (QoS 0, never
// retained, never queued, never sent to HQ).
func ChatTypingTopic(convID string) string { return "chat/" + convID + "/typing" }

// ChatTyping is the payload on chat/{conversation}/typing. The broker sets
// From to the publisher's member id.
type ChatTyping struct {
	V      int    `json:"v"`
	From   string `json:"from"`
	Typing bool   `json:"typing"`
}
