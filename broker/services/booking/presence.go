package booking

import (
	"context"
	"time"

	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/broker/mqtt/auth/customer"
	"github.com/storeedge/storeedge/broker/services/chat"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/proto"
)

// Presence keeps which customer is at which kiosk
// (broker/mqtt/auth/customer.Store): the customer scans the code the kiosk shows
// with her phone, which is logged in as her, and confirms
// (svc/chat/presence_confirm); for a short time the kiosk then acts for her
// and only her.
type Presence interface {
	StartPresence(ctx context.Context, device string) (customer.PresenceCode, error)
	PresentAt(device string) (string, time.Time, error)
	EndPresence(ctx context.Context, device string) (bool, error)
}

// ReasonNotPresent: a kiosk asked about a customer who has not confirmed
// that she is at it (she scans the kiosk's presence code with her phone).
const ReasonNotPresent = proto.ReasonNotPresent

// present names the customer at desk device who now ("" for none, or when
// the store keeps no presence).
func (d *Desk) present(who auth.Identity) (string, error) {
	if d.o.Presence == nil || who.Device == "" {
		return "", nil
	}
	c, _, err := d.o.Presence.PresentAt(who.Device)
	return c, err
}

// deskFor checks that customer is the one at the kiosk who; an empty
// customer means her. It answers forbidden (not_present) otherwise.
func (d *Desk) deskFor(who auth.Identity, customer string) (string, error) {
	c, err := d.present(who)
	if err != nil {
		return "", err
	}
	switch {
	case c == "":
		return "", failf(svc.CodeForbidden, ReasonNotPresent,
			"no customer has confirmed she is at this kiosk: show the presence code (presence_start) for her to scan with her phone")
	case customer != "" && customer != c:
		return "", failf(svc.CodeForbidden, ReasonNotPresent,
			"only the customer at this kiosk, who confirmed from her phone, can be looked up here")
	}
	return c, nil
}

// deskPresent reports whether customer is the one at the kiosk who; when
// that cannot be read it is false (the kiosk is refused, nothing shown).
func (d *Desk) deskPresent(who auth.Identity, customer string) bool {
	c, err := d.present(who)
	return err == nil && c != "" && c == customer
}

// presenceDesk checks the caller of a kiosk presence op.
func (d *Desk) presenceDesk(req *svc.Request) error {
	var q servicesReq
	if err := decode(req.Body, &q); err != nil {
		return err
	}
	if req.From.Customer || !d.desk(req.From.Role) || req.From.Device == "" {
		return svc.Errorf(svc.CodeForbidden, "presence codes are shown by kiosks")
	}
	if d.o.Presence == nil {
		return svc.Errorf(svc.CodeUnavailable, "this store does not keep who is at a kiosk")
	}
	return nil
}

// presenceStart: the kiosk shows a new code for the customer in front of
// it; whoever was at the kiosk before is not any more.
func (d *Desk) presenceStart(ctx context.Context, req *svc.Request) (any, error) {
	if err := d.presenceDesk(req); err != nil {
		return nil, err
	}
	return chat.StartPresence(ctx, d.o.Presence, req.From.Device, 320)
}

// presenceGet: who is at the kiosk now.
func (d *Desk) presenceGet(_ context.Context, req *svc.Request) (any, error) {
	if err := d.presenceDesk(req); err != nil {
		return nil, err
	}
	return chat.PresenceOf(d.o.Presence, req.From.Device)
}

// presenceEnd: the customer is done at the kiosk.
func (d *Desk) presenceEnd(ctx context.Context, req *svc.Request) (any, error) {
	if err := d.presenceDesk(req); err != nil {
		return nil, err
	}
	return chat.EndPresence(ctx, d.o.Presence, req.From.Device)
}

// redact drops what only the customer, staff and the kiosk she is at may
// read from a view answered to who: progress notes and photos.
func (d *Desk) redact(who auth.Identity, v *View, private bool) {
	if private || !d.desk(who.Role) {
		return
	}
	for i := range v.Progress {
		v.Progress[i].Note, v.Progress[i].Photo = "", ""
	}
}
