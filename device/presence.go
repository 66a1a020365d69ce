package device

import (
	"context"

	"github.com/storeedge/storeedge/proto"
)

// A kiosk or chat tablet is a shared device: it reaches a customer's
// profiles, booking notes or chat only after she proves she is at it. The
// device shows a presence code (its URL as a QR code); the customer scans
// it with her phone, which is logged in as her, and the page confirms
// (PresenceConfirm). She then counts as at the device for the store's
// chat.presence_ttl (10 minutes by default), until the device shows a new
// code or ends it. Without her confirmation a kiosk's profile and list
// calls, and a chat tablet's ChatSession for her id, fail with
// ErrForbidden and Reason "not_present".

// PresenceCode is a code for the customer in front of the device to scan;
// Presence is who is at a device (package proto has their documentation).
type (
	PresenceCode = proto.PresenceCode
	Presence     = proto.Presence
)

// KioskPresenceStart shows a new presence code at a kiosk; whoever was at
// the kiosk is not any more.
func (c *Client) KioskPresenceStart(ctx context.Context, opts ...CallOption) (PresenceCode, error) {
	return call[PresenceCode](ctx, c, "booking", "presence_start", nil, opts...)
}

// KioskPresence answers who is at the kiosk now.
func (c *Client) KioskPresence(ctx context.Context, opts ...CallOption) (Presence, error) {
	return call[Presence](ctx, c, "booking", "presence_get", nil, opts...)
}

// KioskPresenceEnd: the customer is done at the kiosk; false when nobody
// was there.
func (c *Client) KioskPresenceEnd(ctx context.Context, opts ...CallOption) (bool, error) {
	a, err := call[proto.PresenceEndAnswer](ctx, c, "booking", "presence_end", nil, opts...)
	return a.Ended, err
}

// ChatPresenceStart shows a new presence code at a chat tablet (to resume a
// returning customer: ChatSession with her id once she confirmed).
func (c *Client) ChatPresenceStart(ctx context.Context, opts ...CallOption) (PresenceCode, error) {
	return call[PresenceCode](ctx, c, "chat", "presence_start", nil, opts...)
}

// ChatPresence answers who is at the chat tablet now.
func (c *Client) ChatPresence(ctx context.Context, opts ...CallOption) (Presence, error) {
	return call[Presence](ctx, c, "chat", "presence_get", nil, opts...)
}

// ChatPresenceEnd ends the customer at the chat tablet.
func (c *Client) ChatPresenceEnd(ctx context.Context, opts ...CallOption) (bool, error) {
	a, err := call[proto.PresenceEndAnswer](ctx, c, "chat", "presence_end", nil, opts...)
	return a.Ended, err
}

// PresenceConfirm is the customer's side (her own login): she is at the
// device that shows code (the "present" parameter of its URL).
func (c *Client) PresenceConfirm(ctx context.Context, code string, opts ...CallOption) (Presence, error) {
	return call[Presence](ctx, c, "chat", "presence_confirm", proto.PresenceConfirmRequest{Code: code}, opts...)
}
