package chat

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/svc"
)

// read moves the caller's read pointer forward to up_to (never back; an
// up_to past the last seq stops at it) and answers the pointer and unread.
func (s *Service) read(ctx context.Context, req *svc.Request) (any, error) {
	if _, err := caller(req); err != nil {
		return nil, err
	}
	r, err := decodeRead(req.Body)
	if err != nil {
		return nil, svc.BadInput(err)
	}
	return s.readChecked(ctx, req, r)
}

// readChecked is read once the request is decoded and checked; req's Body
// is not read.
func (s *Service) readChecked(ctx context.Context, req *svc.Request, r readReq) (any, error) {
	dev, err := caller(req)
	if err != nil {
		return nil, err
	}
	id := r.Conversation
	var ans *readAns
	var advanced bool
	check := func(tx *bolt.Tx) (*conv, uint64, error) {
		c, err := s.memberConv(tx, id, dev)
		if err != nil {
			return nil, 0, err
		}
		cur, _ := readUpTo(tx, dev, id)
		return c, cur, nil
	}
	want := func(c *conv) uint64 { return min(*r.UpTo, c.LastSeq) }
	if err := s.view(func(tx *bolt.Tx) error {
		c, cur, err := check(tx)
		if err != nil {
			return err
		}
		if want(c) <= cur {
			ans = &readAns{Conversation: id, UpTo: cur, Unread: c.LastSeq - min(cur, c.LastSeq)}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if ans != nil {
		return ans, nil
	}
	err = s.update(ctx, func(tx *bolt.Tx) error {
		ans, advanced = nil, false
		w, err := allWrite(tx)
		if err != nil {
			return err
		}
		c, cur, err := check(tx)
		if err != nil {
			return err
		}
		if up := want(c); up > cur {
			if err := putRead(w.reads, dev, id, up); err != nil {
				return err
			}
			cur, advanced = up, true
			// A remote customer's own receipt came from HQ: not sent back.
			if s.o.Outbox != nil && !isRemote(dev) {
				if err := s.putHQ(tx, HQEntry{Type: "read", Origin: fmt.Sprintf("%s/read/%s/%d", id, dev, up),
					Conversation: id, Customer: c.customer(), Member: dev, UpTo: up, TS: s.now()}); err != nil {
					return err
				}
			}
		}
		ans = &readAns{Conversation: id, UpTo: cur, Unread: c.LastSeq - min(cur, c.LastSeq)}
		return req.Keep(tx, ans)
	})
	if err != nil {
		return nil, err
	}
	if advanced {
		s.emit(Event{Type: EventRead, Conversation: id, Member: dev, UpTo: ans.UpTo, TS: s.now()})
	}
	return ans, nil
}

// delivered records that the caller's devices got the conversation up to
// up_to (monotonic, capped at the last seq) and tells the members; read
// implies delivered, so a pointer behind the read pointer is not stored.
func (s *Service) delivered(ctx context.Context, req *svc.Request) (any, error) {
	dev, err := caller(req)
	if err != nil {
		return nil, err
	}
	r, err := decodeRead(req.Body)
	if err != nil {
		return nil, svc.BadInput(err)
	}
	id := r.Conversation
	var ans *deliveredAns
	var advanced bool
	err = s.update(ctx, func(tx *bolt.Tx) error {
		ans, advanced = nil, false
		w, err := allWrite(tx)
		if err != nil {
			return err
		}
		c, err := s.memberConv(tx, id, dev)
		if err != nil {
			return err
		}
		rd, _ := readUpTo(tx, dev, id)
		cur := max(rd, pointer(tx, bucketDelivered, dev, id))
		if want := min(*r.UpTo, c.LastSeq); want > cur {
			if err := w.delivered.Put(readKey(dev, id), u64(want)); err != nil {
				return fmt.Errorf("chat: put delivered pointer: %w", err)
			}
			cur, advanced = want, true
		}
		ans = &deliveredAns{Conversation: id, UpTo: cur}
		return req.Keep(tx, ans)
	})
	if err != nil {
		return nil, err
	}
	if advanced {
		s.emit(Event{Type: EventDelivered, Conversation: id, Member: dev, UpTo: ans.UpTo, TS: s.now()})
	}
	return ans, nil
}
