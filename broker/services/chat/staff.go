package chat

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/proto"
)

// handoff: the customer pressed "talk to a person". Like a handoff phrase:
// the conversation is flagged for staff and the assistant stops answering.
func (s *Service) handoff(ctx context.Context, req *svc.Request) (any, error) {
	dev, err := caller(req)
	if err != nil {
		return nil, err
	}
	r, err := decodeConv(req.Body)
	if err != nil {
		return nil, svc.BadInput(err)
	}
	id := r.Conversation
	now := s.now()
	var ans *convView
	var flagged bool
	err = s.update(ctx, func(tx *bolt.Tx) error {
		ans, flagged = nil, false
		w, err := allWrite(tx)
		if err != nil {
			return err
		}
		c, err := s.memberConv(tx, id, dev)
		if err != nil {
			return err
		}
		if c.Assistant || c.Waiting == nil {
			c.Assistant = false
			if c.Waiting == nil {
				c.Waiting, flagged = &now, true
				if err := w.waits.Put([]byte(id), u64(uint64(now.UnixMilli()))); err != nil {
					return fmt.Errorf("chat: flag waiting: %w", err)
				}
			}
			if err := s.putConv(w.convs, c); err != nil {
				return err
			}
		}
		v := view(tx, c, dev)
		ans = &v
		return req.Keep(tx, ans)
	})
	if err != nil {
		return nil, err
	}
	if flagged {
		s.emit(Event{Type: EventWaiting, Conversation: id, TS: now})
	}
	return ans, nil
}

type waitingAns = proto.WaitingAnswer

// waiting lists the conversations that wait for a person, longest waiting
// first: all of them for staff who see all; for assigned-only staff their
// own and the unassigned ones (which they may claim).
func (s *Service) waiting(_ context.Context, req *svc.Request) (any, error) {
	dev, err := caller(req)
	if err != nil {
		return nil, err
	}
	if !s.staff(req.From.Role) {
		return nil, svc.Errorf(svc.CodeForbidden, "only staff see the waiting queue")
	}
	if err := decodeEmpty(req.Body); err != nil {
		return nil, svc.BadInput(err)
	}
	all := s.seesAll(req.From.Role)
	type item struct {
		since uint64
		v     convView
	}
	var items []item
	err = s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketWaiting)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			c, err := s.getConv(tx, string(k))
			if err != nil || c == nil || len(v) != 8 {
				return err
			}
			if !all && len(c.Assigned) > 0 && !c.assigned(dev) {
				return nil
			}
			items = append(items, item{binary.BigEndian.Uint64(v), s.staffView(tx, c, req)})
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(items, func(a, b item) int {
		if a.since != b.since {
			return cmpU64(a.since, b.since)
		}
		return bytes.Compare([]byte(a.v.Conversation), []byte(b.v.Conversation))
	})
	ans := &waitingAns{Conversations: make([]convView, 0, min(len(items), s.o.PageSize))}
	for _, it := range items[:min(len(items), s.o.PageSize)] {
		ans.Conversations = append(ans.Conversations, it.v)
	}
	return ans, nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// assign gives a conversation to a staff member, who becomes a member.
// Staff who see all may assign anyone; assigned-only staff may assign
// themselves to a conversation nobody has yet (claim it).
func (s *Service) assign(ctx context.Context, req *svc.Request) (any, error) {
	dev, err := caller(req)
	if err != nil {
		return nil, err
	}
	if !s.staff(req.From.Role) {
		return nil, svc.Errorf(svc.CodeForbidden, "only staff assign conversations")
	}
	r, err := decodeAssign(req.Body)
	if err != nil {
		return nil, svc.BadInput(err)
	}
	id, all := r.Conversation, s.seesAll(req.From.Role)
	if !all && r.Staff != dev {
		return nil, svc.Errorf(svc.CodeForbidden, "your role may only assign conversations to yourself")
	}
	now := s.now()
	var ans *convView
	var changed bool
	var agentName string
	err = s.update(ctx, func(tx *bolt.Tx) error {
		ans, changed, agentName = nil, false, ""
		w, err := allWrite(tx)
		if err != nil {
			return err
		}
		c, err := s.findConv(tx, id)
		if err != nil {
			return err
		}
		if !all && len(c.Assigned) > 0 && !c.assigned(dev) {
			return svc.Errorf(svc.CodeConflict, "conversation %q is already assigned to %v", id, c.Assigned)
		}
		if !c.assigned(r.Staff) {
			if !c.member(r.Staff) && len(c.Members)+1 > s.o.MaxMembers {
				return svc.Errorf(svc.CodeTooLarge, "conversation %q has %d members, at most %d", id, len(c.Members), s.o.MaxMembers)
			}
			c.Assigned = append(c.Assigned, r.Staff)
			slices.Sort(c.Assigned)
			c.Agent = r.Staff
			if !c.member(r.Staff) {
				c.Members = slices.Insert(c.Members, insertAt(c.Members, r.Staff), r.Staff)
				if err := putRead(w.reads, r.Staff, id, 0); err != nil {
					return err
				}
			}
			if err := s.putConv(w.convs, c); err != nil {
				return err
			}
			changed = true
		}
		v, err := s.staffConvView(tx, c, dev)
		if err != nil {
			return err
		}
		v.Labels = s.staffView(tx, c, req).Labels
		agentName = v.AgentName
		ans = &v
		return req.Keep(tx, ans)
	})
	if err != nil {
		return nil, err
	}
	if changed {
		s.emit(Event{Type: EventAssigned, Conversation: id, Member: r.Staff, By: dev, TS: now})
		s.emit(Event{Type: EventAgent, Conversation: id, Member: r.Staff, Name: agentName, TS: now})
	}
	return ans, nil
}

type (
	quickReply      = proto.QuickReply
	quickRepliesAns = proto.QuickReplies
)

// quickReplies answers the store's saved snippets (faq.yaml quick_replies)
// and whether the store is open.
func (s *Service) quickReplies(_ context.Context, req *svc.Request) (any, error) {
	if _, err := caller(req); err != nil {
		return nil, err
	}
	if !s.staff(req.From.Role) {
		return nil, svc.Errorf(svc.CodeForbidden, "quick replies are for staff")
	}
	if err := decodeEmpty(req.Body); err != nil {
		return nil, svc.BadInput(err)
	}
	ans := &quickRepliesAns{QuickReplies: []quickReply{}, Open: true}
	a := s.assistant()
	if a == nil {
		return ans, nil
	}
	for _, q := range a.QuickReplies() {
		ans.QuickReplies = append(ans.QuickReplies, quickReply{ID: q.ID, Title: q.Title, ZH: q.Text.ZH, EN: q.Text.EN})
	}
	now := s.now()
	if h := a.Hours(); !h.Open(now) {
		ans.Open = false
		if next := h.NextOpen(now); !next.IsZero() {
			ans.NextOpen = &next
		}
	}
	return ans, nil
}
