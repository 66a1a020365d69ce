package proto

import (
	"encoding/json"
	"time"
)

// What the store and HQ send each other through cloudsync (PROTOCOL.md,
// "Chat with HQ" and "Bookings from HQ"): HQ's requests arrive on local
// hq/… topics, the store's entries go up through the outbox.

// HQChatEntry is one outbox entry of a conversation with a remote member:
// a message with its body (HQ holds the conversation's replica and shows it
// to the customer at home), a recall, or a read receipt by store staff.
// Origin is unique per entry, for HQ's deduplication: conversation/seq,
// conversation/seq/recall or conversation/read/member/up_to.
type HQChatEntry struct {
	V            int    `json:"v"`
	Type         string `json:"type"` // message, recall, read
	Origin       string `json:"origin"`
	Conversation string `json:"conversation"`
	// Customer is the conversation's customer.
	Customer string          `json:"customer,omitempty"`
	Seq      uint64          `json:"seq,omitempty"`
	ID       string          `json:"id,omitempty"`
	From     string          `json:"from,omitempty"`
	Kind     string          `json:"kind,omitempty"`
	TS       time.Time       `json:"ts"`
	Text     string          `json:"text,omitempty"`
	Card     json.RawMessage `json:"card,omitempty"`
	Media    *MediaInfo      `json:"media,omitempty"`
	Auto     bool            `json:"auto,omitempty"`
	Member   string          `json:"member,omitempty"`
	UpTo     uint64          `json:"up_to,omitempty"`
}

// HQChatMessage is a remote customer's message as HQ sends it (hq/chat/message).
// ID is HQ's message id: a replay after an outage finds the stored message
// and stores nothing.
type HQChatMessage struct {
	V        int             `json:"v"`
	ID       string          `json:"id"`
	Customer string          `json:"customer"`
	Kind     string          `json:"kind"`
	Text     *string         `json:"text,omitempty"`
	Card     json.RawMessage `json:"card,omitempty"`
	Lang     string          `json:"lang,omitempty"`
	// Media is the blob of a photo or voice message (kind "image" or
	// "voice"), sent before on hq/media/put.
	Media *MediaInfo `json:"media,omitempty"`
	// Sent is when she sent it at home (HQ's clock).
	Sent *time.Time `json:"sent,omitempty"`
	// AutoReply is what HQ answered her while the store was offline.
	AutoReply *HomeAutoReply `json:"auto_reply,omitempty"`
}

// HQChatRead is a remote customer's read receipt (hq/chat/read).
type HQChatRead struct {
	V        int    `json:"v"`
	ID       string `json:"id"`
	Customer string `json:"customer"`
	UpTo     uint64 `json:"up_to"`
}

// HQBookingRequest is a booking asked for by a customer at home
// (hq/booking/request).
type HQBookingRequest struct {
	V        int      `json:"v"`
	ID       string   `json:"id"`
	Customer string   `json:"customer"`
	Service  string   `json:"service"`
	Start    string   `json:"start"`
	Profile  *Profile `json:"profile,omitempty"`
	Notes    string   `json:"notes,omitempty"`
	Contact  *Contact `json:"contact,omitempty"`
}

// HQBookingCancel cancels a booking of a customer at home (hq/booking/cancel).
type HQBookingCancel struct {
	V        int    `json:"v"`
	ID       string `json:"id"`
	Customer string `json:"customer"`
	Booking  string `json:"booking"`
	Reason   string `json:"reason,omitempty"`
}

// HQBookingOutcome is the store's answer to an HQ booking request or cancel.
type HQBookingOutcome struct {
	V            int       `json:"v"`
	Request      string    `json:"request"`
	Customer     string    `json:"customer"`
	OK           bool      `json:"ok"`
	Booking      *Booking  `json:"booking,omitempty"`
	Code         string    `json:"code,omitempty"`
	Reason       string    `json:"reason,omitempty"`
	Message      string    `json:"message,omitempty"`
	Alternatives []Slot    `json:"alternatives,omitempty"`
	TS           time.Time `json:"ts"`
}
