package chat

import (
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/svc"
)

// send stores a message under the conversation's next seq and answers after
// the commit. The message id is the request id; a repeat finds its first seq.
func (s *Service) send(ctx context.Context, req *svc.Request) (any, error) {
	dev, err := caller(req)
	if err != nil {
		return nil, err
	}
	r, b, err := decodeSend(req.Body, s.o.MaxBodyBytes)
	if err != nil {
		return nil, badRequest(err)
	}
	plain, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("chat: encode body: %w", err)
	}
	id := r.Conversation

	// Checks and repeats without a write (an error inside the write would
	// roll back everyone else's writes of the same group commit).
	var ans *sendAns
	var first *msg
	if err := s.view(func(tx *bolt.Tx) error {
		var err error
		ans, first, err = s.checkSend(tx, id, dev, req.ID)
		return err
	}); err != nil {
		return nil, err
	}
	if ans == nil {
		now := s.now()
		err = s.update(ctx, func(tx *bolt.Tx) error {
			ans, first = nil, nil
			convs, msgs, ids, reads, err := writeBuckets(tx)
			if err != nil {
				return err
			}
			if a, m, err := s.checkSend(tx, id, dev, req.ID); err != nil || a != nil {
				ans, first = a, m
				return err
			}
			c, err := getConv(tx, id)
			if err != nil {
				return err
			}
			seq := c.LastSeq + 1
			sealed, err := s.o.Seal.Seal(plain, sealAD(id, seq))
			if err != nil {
				return fmt.Errorf("chat: seal: %w", err)
			}
			m := &msg{ID: req.ID, From: dev, Kind: r.Kind, TS: now, Body: sealed}
			if err := putMsg(msgs, id, seq, m); err != nil {
				return err
			}
			if err := ids.Put(idKey(id, dev, req.ID), u64(seq)); err != nil {
				return fmt.Errorf("chat: put message id: %w", err)
			}
			c.LastSeq = seq
			if err := putConv(convs, c); err != nil {
				return err
			}
			// Writing is reading: the sender has seen up to its own message.
			if up, _ := readUpTo(tx, dev, id); up < seq {
				if err := putRead(reads, dev, id, seq); err != nil {
					return err
				}
			}
			ans, first = &sendAns{Conversation: id, Seq: seq, TS: now}, m
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	// Also on a repeat: the first attempt may have crashed before its event.
	s.emit(Event{Type: EventMessage, Conversation: id, Seq: ans.Seq, ID: first.ID, From: first.From, Kind: first.Kind, TS: first.TS})
	return ans, nil
}

// checkSend refuses a send to an unknown conversation or from a non-member,
// and returns the first answer (and message) when the message id is stored.
func (s *Service) checkSend(tx *bolt.Tx, convID, dev, msgID string) (*sendAns, *msg, error) {
	c, err := getConv(tx, convID)
	if err != nil {
		return nil, nil, err
	}
	if c == nil {
		return nil, nil, notFound(convID)
	}
	if !c.member(dev) {
		return nil, nil, notMember(convID)
	}
	seq := lookupID(tx, convID, dev, msgID)
	if seq == 0 {
		return nil, nil, nil
	}
	m, err := getMsg(tx, convID, seq)
	if err != nil {
		return nil, nil, err
	}
	if m == nil {
		return nil, nil, fmt.Errorf("%w: message id %q points at missing seq %d", errCorrupt, msgID, seq)
	}
	return &sendAns{Conversation: convID, Seq: seq, TS: m.TS}, m, nil
}
