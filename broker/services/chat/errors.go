package chat

import (
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/svc"
)

// caller returns the requester's device id; anonymous and unidentified
// clients may not chat.
func caller(req *svc.Request) (string, error) {
	if req.From.Device == "" {
		return "", svc.Errorf(svc.CodeForbidden, "chat needs a registered device")
	}
	return req.From.Device, nil
}

// update runs fn in a durable write transaction. An *svc.Error from fn is
// the answer (the transaction is rolled back, nothing is stored); a full
// database is quota_exceeded; anything else is wrapped (unavailable).
func (s *Service) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	return svc.FromCommit("chat", s.o.DB.Update(ctx, fn))
}

// view runs fn in a read transaction, passing *svc.Error through.
func (s *Service) view(fn func(*bolt.Tx) error) error {
	err := s.o.DB.View(fn)
	if err == nil {
		return nil
	}
	var se *svc.Error
	if errors.As(err, &se) {
		return se
	}
	return fmt.Errorf("chat: read: %w", err)
}

func notFound(convID string) error {
	return svc.Errorf(svc.CodeNotFound, "no conversation %q", convID)
}

func notMember(convID string) error {
	return svc.Errorf(svc.CodeForbidden, "not a member of conversation %q", convID)
}

// findConv loads a conversation that must exist (not_found otherwise).
func (s *Service) findConv(tx *bolt.Tx, id string) (*conv, error) {
	c, err := s.getConv(tx, id)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, notFound(id)
	}
	return c, nil
}

// memberConv loads a conversation dev is a member of (not_found, forbidden).
func (s *Service) memberConv(tx *bolt.Tx, id, dev string) (*conv, error) {
	c, err := s.findConv(tx, id)
	if err != nil {
		return nil, err
	}
	if !c.member(dev) {
		return nil, notMember(id)
	}
	return c, nil
}
