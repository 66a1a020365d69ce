package chat

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// ForgetCustomer erases the bodies of every message in customer's own
// conversation (hers and the store's replies, text, cards and media), as a
// recall does: each message keeps its seq, sender and time, so the
// conversation's message count stays true. The media they pointed at lose
// their reference. HQ is sent a recall of each, in the same transaction,
// so its replica forgets them too. It answers the message count.
// Forgetting again erases nothing more. Durable when it returns; members
// see recall events.
func (s *Service) ForgetCustomer(ctx context.Context, customer string) (int, error) {
	id := customer
	var count int
	var erased []uint64
	var unref []string
	now := s.now()
	err := s.update(ctx, func(tx *bolt.Tx) error {
		count, erased, unref = 0, nil, nil
		c, err := s.getConv(tx, id)
		if err != nil || c == nil {
			return err
		}
		w, err := allWrite(tx)
		if err != nil {
			return err
		}
		if err := forgetNotes(tx, id); err != nil {
			return err
		}
		count = int(c.LastSeq)
		for seq := uint64(1); seq <= c.LastSeq; seq++ {
			m, err := getMsg(tx, id, seq)
			if err != nil {
				return err
			}
			if m == nil || (m.Body == nil && m.Media == "" && m.Thumb == "") {
				continue
			}
			for _, h := range []string{m.Media, m.Thumb} {
				if h == "" {
					continue
				}
				if err := w.media.Delete(mediaKey(h, id, seq)); err != nil {
					return fmt.Errorf("chat: unindex media: %w", err)
				}
			}
			if m.Media != "" {
				unref = append(unref, m.Media)
			}
			m.Body, m.Media, m.Thumb = nil, "", ""
			if m.Recalled == nil {
				m.Recalled = &now
			}
			if err := putMsg(w.msgs, id, seq, m); err != nil {
				return err
			}
			// HQ's copy is erased the same way.
			if s.o.Outbox != nil {
				if err := s.putHQ(tx, HQEntry{Type: "recall", Origin: fmt.Sprintf("%s/%d/recall", id, seq),
					Conversation: id, Customer: c.customer(), Seq: seq, From: customer, TS: now}); err != nil {
					return err
				}
			}
			erased = append(erased, seq)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if s.o.Media != nil {
		for _, h := range unref {
			s.unref(h)
		}
	}
	for _, seq := range erased {
		s.emit(Event{Type: EventRecall, Conversation: id, Seq: seq, By: customer, TS: now})
	}
	return count, nil
}
