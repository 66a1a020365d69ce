package chat

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/svc"
)

// history answers one page of the messages after seq "after", oldest first.
func (s *Service) history(_ context.Context, req *svc.Request) (any, error) {
	dev, err := caller(req)
	if err != nil {
		return nil, err
	}
	r, err := decodeHistory(req.Body, s.o.PageSize)
	if err != nil {
		return nil, svc.BadInput(err)
	}
	id := r.Conversation
	ans := &historyAns{Conversation: id, Messages: []Message{}, Next: r.After}
	err = s.view(func(tx *bolt.Tx) error {
		c, err := s.findConv(tx, id)
		if err != nil {
			return err
		}
		if !c.member(dev) && !s.seesAll(req.From.Role) {
			return notMember(id)
		}
		cv := view(tx, c, dev)
		ans.LastSeq, ans.ReadUpTo, ans.Unread, ans.Receipts = cv.LastSeq, cv.ReadUpTo, cv.Unread, cv.Receipts
		b := tx.Bucket(bucketMsgs)
		if b == nil || r.After >= c.LastSeq {
			return nil
		}
		prefix := []byte(id + "\x00")
		cur := b.Cursor()
		for k, v := cur.Seek(msgKey(id, r.After+1)); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
			if len(ans.Messages) == r.Limit {
				ans.More = true
				return nil
			}
			if len(k) != len(prefix)+8 {
				return fmt.Errorf("%w: message key %q", errCorrupt, k)
			}
			seq := binary.BigEndian.Uint64(k[len(prefix):])
			m, err := decodeMsg(v)
			if err != nil {
				return err
			}
			out, err := s.openMsg(id, seq, m)
			if err != nil {
				return err
			}
			ans.Messages = append(ans.Messages, out)
			ans.Next = seq
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ans, nil
}

// openMsg decrypts a stored message for an answer.
func (s *Service) openMsg(convID string, seq uint64, m *msg) (Message, error) {
	out := Message{Seq: seq, ID: m.ID, From: m.From, Kind: m.Kind, TS: m.TS, Recalled: m.Recalled,
		Auto: m.Auto, Intent: m.Intent, Announcement: m.Announcement}
	if m.Recalled != nil {
		return out, nil
	}
	plain, err := s.o.Seal.Open(m.Body, sealAD(convID, seq))
	if err != nil {
		return out, fmt.Errorf("chat: open %s#%d: %w", convID, seq, err)
	}
	var b body
	if err := json.Unmarshal(plain, &b); err != nil {
		return out, fmt.Errorf("%w: body of %s#%d: %w", errCorrupt, convID, seq, err)
	}
	out.Text, out.Card, out.Media = b.Text, b.Card, b.Media
	return out, nil
}
