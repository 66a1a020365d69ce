package chat

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/storeedge/storeedge/broker/auth/customer"
	"github.com/storeedge/storeedge/broker/svc"
)

type sessionAns struct {
	Customer     string    `json:"customer"`
	Conversation string    `json:"conversation"`
	URL          string    `json:"url"`
	Expires      time.Time `json:"expires"`
	// QRPNG is the URL as a QR code: a PNG image, base64 (encoding/json).
	QRPNG []byte `json:"qr_png"`
}

// session: a chat tablet (or staff) asks for a scan-to-chat session. The
// answer is a one-time URL, also as a QR code PNG, that logs the customer's
// phone in; the customer's conversation is their customer id, so a session
// issued for a known customer resumes their conversation.
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
		return nil, badRequest(err)
	}
	if s.o.Tokens == nil {
		return nil, svc.Errorf(svc.CodeUnavailable, "scan-to-chat is not configured on this store")
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
