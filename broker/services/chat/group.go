package chat

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/proto"
)

// Groups: a staff member creates a group (parents of babies born the same
// month, owners of one breed), adds and removes members and posts
// announcements; members chat as in any conversation. Every membership
// change is a system message in the group's sequence (so history and every
// device agree on who was in when) and a members event. A removed member's
// read pointer — the membership index — is deleted: from the commit on, the
// service refuses them history and sends, and the ACL (%m) stops delivering
// the group's events to them.

// membersCard is the body of a system message about membership; groupAns
// the answer of the group ops.
type (
	membersCard = proto.MembersCard
	groupAns    = proto.GroupAnswer
)

func (s *Service) groupCreate(ctx context.Context, req *svc.Request) (any, error) {
	dev, err := caller(req)
	if err != nil {
		return nil, err
	}
	if !s.staff(req.From.Role) {
		return nil, svc.Errorf(svc.CodeForbidden, "only staff create groups")
	}
	r, err := decodeGroupCreate(req.Body, s.o.MaxMembers)
	if err != nil {
		return nil, svc.BadInput(err)
	}
	members := r.Members
	if _, ok := slices.BinarySearch(members, dev); !ok {
		members = slices.Insert(members, insertAt(members, dev), dev)
	}
	if len(members) > s.o.MaxMembers {
		return nil, svc.Errorf(svc.CodeTooLarge, "%d members, at most %d", len(members), s.o.MaxMembers)
	}
	id := "g-" + derivedConvID(dev, req.ID)[2:]
	now := s.now()
	var ans *groupAns
	var sys *stored
	err = s.update(ctx, func(tx *bolt.Tx) error {
		ans, sys = nil, nil
		w, err := allWrite(tx)
		if err != nil {
			return err
		}
		c, err := s.getConv(tx, id)
		if err != nil {
			return err
		}
		if c != nil { // this request created it before
			ans = &groupAns{ConversationView: view(tx, c, dev), Added: []string{}, Removed: []string{}}
			return req.Keep(tx, ans)
		}
		c = &conv{V: 1, ID: id, Kind: ConvGroup, Title: r.Title, Members: members, Created: now, By: dev}
		for _, m := range members {
			if err := putRead(w.reads, m, id, 0); err != nil {
				return err
			}
		}
		if sys, err = s.systemMessage(w, c, req.ID, now, membersCard{Type: "members", Added: members, By: dev, Title: r.Title}); err != nil {
			return err
		}
		if err := s.putConv(w.convs, c); err != nil {
			return err
		}
		ans = &groupAns{ConversationView: view(tx, c, dev), Added: members, Removed: []string{}}
		return req.Keep(tx, ans)
	})
	if err != nil {
		return nil, err
	}
	if sys != nil {
		s.emit(messageEvent(id, sys.seq, sys.m))
		s.emit(Event{Type: EventMembers, Conversation: id, Seq: sys.seq, Added: ans.Added, By: dev, TS: now})
	}
	return ans, nil
}

func (s *Service) groupAdd(ctx context.Context, req *svc.Request) (any, error) {
	return s.changeMembers(ctx, req, true)
}

func (s *Service) groupRemove(ctx context.Context, req *svc.Request) (any, error) {
	return s.changeMembers(ctx, req, false)
}

// changeMembers adds or removes group members. Staff who are members of the
// group (or see all conversations) may do both; any member may remove
// themselves (leave). Members already in (or already out) are skipped, so a
// repeated request changes nothing.
func (s *Service) changeMembers(ctx context.Context, req *svc.Request, add bool) (any, error) {
	dev, err := caller(req)
	if err != nil {
		return nil, err
	}
	r, err := decodeGroupMembers(req.Body, s.o.MaxMembers)
	if err != nil {
		return nil, svc.BadInput(err)
	}
	id := r.Conversation
	now := s.now()
	var ans *groupAns
	var sys *stored
	err = s.update(ctx, func(tx *bolt.Tx) error {
		ans, sys = nil, nil
		w, err := allWrite(tx)
		if err != nil {
			return err
		}
		c, err := s.findConv(tx, id)
		if err != nil {
			return err
		}
		if c.kind() != ConvGroup {
			return svc.Errorf(svc.CodeBadRequest, "conversation %q is not a group", id)
		}
		leaving := !add && len(r.Members) == 1 && r.Members[0] == dev && c.member(dev)
		manager := s.staff(req.From.Role) && (c.member(dev) || s.seesAll(req.From.Role))
		if !manager && !leaving {
			return svc.Errorf(svc.CodeForbidden, "only the group's staff change its members (a member may remove only themselves)")
		}
		var changed []string
		for _, m := range r.Members {
			if c.member(m) == add {
				continue
			}
			changed = append(changed, m)
			if add {
				c.Members = slices.Insert(c.Members, insertAt(c.Members, m), m)
				if err := putRead(w.reads, m, id, 0); err != nil {
					return err
				}
				continue
			}
			c.Members = slices.DeleteFunc(c.Members, func(x string) bool { return x == m })
			for _, b := range []*bolt.Bucket{w.reads, w.delivered} {
				if err := b.Delete(readKey(m, id)); err != nil {
					return fmt.Errorf("chat: remove member: %w", err)
				}
			}
		}
		if len(c.Members) > s.o.MaxMembers {
			return svc.Errorf(svc.CodeTooLarge, "group %q would have %d members, at most %d", id, len(c.Members), s.o.MaxMembers)
		}
		ans = &groupAns{Added: []string{}, Removed: []string{}}
		if len(changed) > 0 {
			card := membersCard{Type: "members", By: dev}
			if add {
				card.Added, ans.Added = changed, changed
			} else {
				card.Removed, ans.Removed = changed, changed
			}
			if sys, err = s.systemMessage(w, c, req.ID, now, card); err != nil {
				return err
			}
			if err := s.putConv(w.convs, c); err != nil {
				return err
			}
		}
		ans.ConversationView = view(tx, c, dev)
		return req.Keep(tx, ans)
	})
	if err != nil {
		return nil, err
	}
	if sys != nil {
		s.emit(messageEvent(id, sys.seq, sys.m))
		s.emit(Event{Type: EventMembers, Conversation: id, Seq: sys.seq, Added: ans.Added, Removed: ans.Removed, By: dev, TS: now})
	}
	return ans, nil
}

// systemMessage stores a membership change as the conversation's next
// message, from the member who made it.
func (s *Service) systemMessage(w *wbuckets, c *conv, reqID string, now time.Time, card membersCard) (*stored, error) {
	cb, err := json.Marshal(card)
	if err != nil {
		return nil, fmt.Errorf("chat: encode system message: %w", err)
	}
	plain, err := json.Marshal(body{Card: cb})
	if err != nil {
		return nil, fmt.Errorf("chat: encode system message: %w", err)
	}
	m := &msg{ID: "sys-" + reqID, From: card.By, Kind: KindSystem, TS: now}
	seq, err := s.putMessage(w, c, m, plain)
	if err != nil {
		return nil, err
	}
	return &stored{seq, m}, nil
}
