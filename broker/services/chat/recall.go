package chat

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/svc"
)

// recall erases a message's body, keeping a tombstone, when the caller sent
// it less than RecallWindow ago. Recalling a recalled message answers the
// first recall.
func (s *Service) recall(ctx context.Context, req *svc.Request) (any, error) {
	dev, err := caller(req)
	if err != nil {
		return nil, err
	}
	r, err := decodeRecall(req.Body)
	if err != nil {
		return nil, svc.BadInput(err)
	}
	return s.recallChecked(ctx, req, dev, r.Conversation, r.Seq, true)
}

// recallChecked recalls message seq of conversation id for its sender dev;
// window: only within RecallWindow (HQ checked its own window for a
// message from home, which may reach the store much later).
func (s *Service) recallChecked(ctx context.Context, req *svc.Request, dev, id string, seq uint64, window bool) (any, error) {
	r := struct{ Seq uint64 }{seq}
	now := s.now()
	// check returns the message to recall, or the answer when it already is.
	check := func(tx *bolt.Tx) (*msg, *recallAns, error) {
		if _, err := s.findConv(tx, id); err != nil {
			return nil, nil, err
		}
		m, err := getMsg(tx, id, r.Seq)
		if err != nil {
			return nil, nil, err
		}
		if m == nil {
			return nil, nil, svc.Errorf(svc.CodeNotFound, "no message %d in conversation %q", r.Seq, id)
		}
		if m.From != dev {
			return nil, nil, svc.Errorf(svc.CodeForbidden, "only the sender may recall message %d", r.Seq)
		}
		if m.Kind == KindSystem {
			return nil, nil, svc.Errorf(svc.CodeForbidden, "message %d records a change (a closing, a rating, members); it is not recalled", r.Seq)
		}
		if m.Recalled != nil {
			return nil, &recallAns{Conversation: id, Seq: r.Seq, Recalled: *m.Recalled}, nil
		}
		if window && now.Sub(m.TS) > s.o.RecallWindow {
			return nil, nil, svc.Errorf(svc.CodeConflict, "message %d is older than the recall window (%s)", r.Seq, s.o.RecallWindow)
		}
		return m, nil, nil
	}
	var ans *recallAns
	var unref string
	if err := s.view(func(tx *bolt.Tx) error {
		var err error
		_, ans, err = check(tx)
		return err
	}); err != nil {
		return nil, err
	}
	if ans == nil {
		err := s.update(ctx, func(tx *bolt.Tx) error {
			ans = nil
			unref = ""
			w, err := allWrite(tx)
			if err != nil {
				return err
			}
			m, done, err := check(tx)
			if err != nil {
				return err
			}
			if done != nil {
				ans = done
				return req.Keep(tx, ans)
			}
			if m.Media != "" {
				// The message no longer points at its blob: its reference
				// is dropped after the commit.
				for _, h := range []string{m.Media, m.Thumb} {
					if h == "" {
						continue
					}
					if err := w.media.Delete(mediaKey(h, id, r.Seq)); err != nil {
						return fmt.Errorf("chat: unindex media: %w", err)
					}
				}
				unref = m.Media
			}
			m.Body, m.Recalled, m.Media, m.Thumb = nil, &now, "", ""
			if err := putMsg(w.msgs, id, r.Seq, m); err != nil {
				return err
			}
			if c, err := s.getConv(tx, id); err != nil {
				return err
			} else if s.o.Outbox != nil && c != nil {
				if err := s.putHQ(tx, HQEntry{Type: "recall", Origin: fmt.Sprintf("%s/%d/recall", id, r.Seq),
					Conversation: id, Customer: c.customer(), Seq: r.Seq, From: dev, TS: now}); err != nil {
					return err
				}
			}
			ans = &recallAns{Conversation: id, Seq: r.Seq, Recalled: now}
			return req.Keep(tx, ans)
		})
		if err != nil {
			return nil, err
		}
		if unref != "" && s.o.Media != nil {
			s.unref(unref)
		}
	}
	s.emit(Event{Type: EventRecall, Conversation: id, Seq: r.Seq, By: dev, TS: ans.Recalled})
	return ans, nil
}
