package chat

import (
	"context"
	"errors"
	"fmt"
	"github.com/storeedge/storeedge/internal/strictjson"
	"slices"
	"time"

	"github.com/storeedge/storeedge/broker/mqtt/auth/customer"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/proto"
)

type sessionAns = proto.ChatSession

// session: a chat tablet (or staff) asks for a scan-to-chat session. The
// answer is a one-time URL, also as a QR code PNG, that logs the customer's
// phone in; the customer's conversation is their customer id, so a session
// issued for a known customer resumes their conversation.
//
// Whoever holds the URL logs in as that customer, the device that asked
// included, so a known customer is resumed only on proof that she is there:
// a ResumeRoles caller (staff, who see her) names her; any other device
// needs her confirmation of its presence code (presence_start, then
// presence_confirm from her phone), and one confirmation resumes her once.
func (s *Service) session(ctx context.Context, req *svc.Request) (any, error) {
	dev, err := caller(req)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(s.o.SessionRoles, req.From.Role) {
		return nil, svc.Errorf(svc.CodeForbidden, "role %q may not start scan-to-chat sessions", req.From.Role)
	}
	r, err := decodeSession(req.Body)
	if err != nil {
		return nil, svc.BadInput(err)
	}
	if s.o.Tokens == nil {
		return nil, svc.Errorf(svc.CodeUnavailable, "scan-to-chat is not configured on this store")
	}
	if r.Customer != "" && !customer.ValidCustomerID(r.Customer) {
		return nil, svc.Errorf(svc.CodeBadRequest, "customer id %q (want %s and 4 to 40 of a-z, 0-9)", r.Customer, customer.CustomerPrefix)
	}
	if r.Customer != "" && !slices.Contains(s.o.ResumeRoles, req.From.Role) {
		took, err := s.o.Tokens.TakePresence(ctx, dev, r.Customer)
		if err != nil {
			return nil, fmt.Errorf("chat: presence: %w", err)
		}
		if !took {
			return nil, svc.WithDetails(svc.Errorf(svc.CodeForbidden,
				"to continue a customer's chat here, she confirms on her own phone first: show the presence code (presence_start) for her to scan, or ask staff"),
				map[string]string{"reason": ReasonNotPresent})
		}
	}
	t, err := s.o.Tokens.Issue(ctx, r.Customer, dev)
	switch {
	case errors.Is(err, customer.ErrInvalid):
		return nil, svc.Errorf(svc.CodeBadRequest, "%v", err)
	case errors.Is(err, customer.ErrQuota):
		return nil, svc.Errorf(svc.CodeQuotaExceeded, "too many unused scan-to-chat codes; try again in a few minutes")
	case err != nil:
		return nil, fmt.Errorf("chat: issue token: %w", err)
	}
	png, err := customer.QRPNG(t.URL, s.o.QRSize)
	if err != nil {
		return nil, fmt.Errorf("chat: QR code: %w", err)
	}
	return &sessionAns{Customer: t.Customer, Conversation: t.Customer, URL: t.URL, Expires: t.Expires, QRPNG: png}, nil
}

// ReasonNotPresent is the details reason of a session for a customer who
// has not confirmed the device's presence code.
const ReasonNotPresent = proto.ReasonNotPresent

type (
	presenceCodeAns = proto.PresenceCode
	presenceAns     = proto.Presence
)

// presenceDevice checks that the caller is a device that may show presence
// codes (SessionRoles) and that the store has them.
func (s *Service) presenceDevice(req *svc.Request) (string, error) {
	dev, err := caller(req)
	if err != nil {
		return "", err
	}
	if req.From.Customer || !slices.Contains(s.o.SessionRoles, req.From.Role) {
		return "", svc.Errorf(svc.CodeForbidden, "role %q does not show presence codes", req.From.Role)
	}
	if err := decodeEmpty(req.Body); err != nil {
		return "", svc.BadInput(err)
	}
	if s.o.Tokens == nil {
		return "", svc.Errorf(svc.CodeUnavailable, "scan-to-chat is not configured on this store")
	}
	return dev, nil
}

// presenceStart: the device shows a new one-time code (URL and QR code) for
// the customer in front of it to scan; it ends the customer it had.
func (s *Service) presenceStart(ctx context.Context, req *svc.Request) (any, error) {
	dev, err := s.presenceDevice(req)
	if err != nil {
		return nil, err
	}
	return StartPresence(ctx, s.o.Tokens, dev, s.o.QRSize)
}

// StartPresence makes a presence code for dev and its answer (shared with
// the booking service's kiosk op).
func StartPresence(ctx context.Context, p interface {
	StartPresence(ctx context.Context, device string) (customer.PresenceCode, error)
}, dev string, qrSize int) (any, error) {
	c, err := p.StartPresence(ctx, dev)
	if errors.Is(err, customer.ErrInvalid) {
		return nil, svc.Errorf(svc.CodeBadRequest, "%v", err)
	}
	if err != nil {
		return nil, fmt.Errorf("presence: start: %w", err)
	}
	png, err := customer.QRPNG(c.URL, qrSize)
	if err != nil {
		return nil, fmt.Errorf("presence: QR code: %w", err)
	}
	return &presenceCodeAns{Code: c.Code, URL: c.URL, Expires: c.Expires, QRPNG: png}, nil
}

// presenceGet: which customer is at the device now ("" for none).
func (s *Service) presenceGet(_ context.Context, req *svc.Request) (any, error) {
	dev, err := s.presenceDevice(req)
	if err != nil {
		return nil, err
	}
	return PresenceOf(s.o.Tokens, dev)
}

// PresenceOf answers who is at dev (shared with the booking service).
func PresenceOf(p interface {
	PresentAt(device string) (string, time.Time, error)
}, dev string) (any, error) {
	c, until, err := p.PresentAt(dev)
	if err != nil {
		return nil, fmt.Errorf("presence: %w", err)
	}
	a := &presenceAns{Customer: c}
	if c != "" {
		a.Until = &until
	}
	return a, nil
}

// presenceEnd: the customer is done at the device.
func (s *Service) presenceEnd(ctx context.Context, req *svc.Request) (any, error) {
	dev, err := s.presenceDevice(req)
	if err != nil {
		return nil, err
	}
	return EndPresence(ctx, s.o.Tokens, dev)
}

// EndPresence ends dev's customer and answers (shared with booking).
func EndPresence(ctx context.Context, p interface {
	EndPresence(ctx context.Context, device string) (bool, error)
}, dev string) (any, error) {
	had, err := p.EndPresence(ctx, dev)
	if err != nil {
		return nil, fmt.Errorf("presence: end: %w", err)
	}
	return &proto.PresenceEndAnswer{Ended: had}, nil
}

// presenceConfirm: the customer's phone, logged in as her, confirms the
// code a device shows; she is at that device until the answer's until.
func (s *Service) presenceConfirm(ctx context.Context, req *svc.Request) (any, error) {
	if !req.From.Customer {
		return nil, svc.Errorf(svc.CodeForbidden, "only the customer herself confirms that she is at a device, from her own phone")
	}
	var r presenceConfirmReq
	if err := strictjson.Decode(req.Body, &r); err != nil {
		return nil, svc.BadInput(err)
	}
	if r.Code == "" || len(r.Code) > 256 {
		return nil, svc.Errorf(svc.CodeBadRequest, `"code" is required: the code in the address the device's QR code shows`)
	}
	if s.o.Tokens == nil {
		return nil, svc.Errorf(svc.CodeUnavailable, "scan-to-chat is not configured on this store")
	}
	p, err := s.o.Tokens.ConfirmPresence(ctx, r.Code, req.From.Device)
	switch {
	case errors.Is(err, customer.ErrNotFound):
		return nil, svc.Errorf(svc.CodeNotFound, "this code is not shown by any device any more; scan the code on the screen again")
	case errors.Is(err, customer.ErrExpired):
		return nil, svc.Errorf(svc.CodeConflict, "this code has expired; ask the device for a new one")
	case errors.Is(err, customer.ErrMismatch):
		return nil, svc.Errorf(svc.CodeConflict, "someone else confirmed this code; ask the device for a new one")
	case errors.Is(err, customer.ErrInvalid):
		return nil, svc.Errorf(svc.CodeBadRequest, "%v", err)
	case err != nil:
		return nil, fmt.Errorf("chat: confirm presence: %w", err)
	}
	return &presenceAns{Device: p.Device, Customer: p.Customer, Until: &p.Until}, nil
}

type presenceConfirmReq struct {
	proto.Envelope
	proto.PresenceConfirmRequest
}
