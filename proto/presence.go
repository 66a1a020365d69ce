package proto

import "time"

// Presence: a kiosk or chat tablet shows a code, the customer's phone
// confirms it (chat presence_confirm), and she counts as at the device
// until the store's presence ttl ends, the device shows a new code or ends
// it (PROTOCOL.md, "Presence"). The same ops exist in svc/chat (chat
// tablets) and svc/booking (kiosks).

// PresenceCode is a code for the customer in front of the device to scan:
// show QRPNG (a PNG of URL). It works once, until Expires.
type PresenceCode struct {
	Code    string    `json:"code"`
	URL     string    `json:"url"`
	Expires time.Time `json:"expires"`
	QRPNG   []byte    `json:"qr_png"`
}

// Presence is who is at a device: Customer is "" for nobody; Until is when
// her time there ends. A confirmation also names the Device.
type Presence struct {
	Device   string     `json:"device,omitempty"`
	Customer string     `json:"customer"`
	Until    *time.Time `json:"until,omitempty"`
}

// PresenceConfirmRequest is the customer's side: she is at the device that
// shows Code.
type PresenceConfirmRequest struct {
	Code string `json:"code"`
}

// PresenceEndAnswer says whether someone was at the device.
type PresenceEndAnswer struct {
	Ended bool `json:"ended"`
}
