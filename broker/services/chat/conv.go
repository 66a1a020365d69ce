package chat

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/svc"
)

// derivedConvID names a conversation opened without an id after its opener
// and request, so a repeated open finds the one it created.
func derivedConvID(dev, reqID string) string {
	h := sha256.Sum256([]byte(dev + "\x00" + reqID))
	return "c-" + hex.EncodeToString(h[:13])
}

// open opens a conversation, or resumes (or, for staff, joins) an existing one.
func (s *Service) open(ctx context.Context, req *svc.Request) (any, error) {
	if _, err := caller(req); err != nil {
		return nil, err
	}
	r, err := decodeOpen(req.Body, s.o.MaxMembers)
	if err != nil {
		return nil, svc.BadInput(err)
	}
	return s.openChecked(ctx, req, r)
}

// openChecked is open once the request is decoded and checked; req's Body
// is not read.
func (s *Service) openChecked(ctx context.Context, req *svc.Request, r openReq) (any, error) {
	dev, err := caller(req)
	if err != nil {
		return nil, err
	}
	id := r.Conversation
	if req.From.Customer {
		// A customer has one conversation with the store, named after
		// them; they cannot pull anyone in (staff join it).
		if id == "" {
			id = dev
		}
		if len(r.Members) > 0 && !(len(r.Members) == 1 && r.Members[0] == dev) {
			return nil, svc.Errorf(svc.CodeForbidden, "customers do not choose members; staff join the conversation")
		}
	}
	if id == "" {
		id = derivedConvID(dev, req.ID)
	}
	staff := s.seesAll(req.From.Role)

	// Resuming needs no write.
	var ans *openAns
	if err := s.view(func(tx *bolt.Tx) error {
		c, err := s.getConv(tx, id)
		if err != nil || c == nil {
			return err
		}
		if !c.member(dev) {
			if !staff {
				return notMember(id)
			}
			return nil // staff join: a write
		}
		if err := checkResume(c, dev, r.Members); err != nil {
			return err
		}
		ans = &openAns{ConversationView: view(tx, c, dev)}
		if err := s.deskView(tx, c, &ans.ConversationView, req.From.Role); err != nil {
			return err
		}
		return nil
	}); err != nil || ans != nil {
		return ans, err
	}

	now := s.now()
	err = s.update(ctx, func(tx *bolt.Tx) error {
		ans = nil
		w, err := allWrite(tx)
		if err != nil {
			return err
		}
		c, err := s.getConv(tx, id)
		if err != nil {
			return err
		}
		created := c == nil
		switch {
		case created:
			if req.From.Customer && id != dev {
				return svc.Errorf(svc.CodeForbidden, "a customer's conversation is named after them (%q)", dev)
			}
			if c, err = s.createDirect(w, id, dev, r.Members, s.staff(req.From.Role), now); err != nil {
				return err
			}
		case c.member(dev):
			// A concurrent open made us a member meanwhile.
		case staff:
			if len(c.Members)+1 > s.o.MaxMembers {
				return svc.Errorf(svc.CodeTooLarge, "conversation %q has %d members, at most %d", id, len(c.Members), s.o.MaxMembers)
			}
			c.Members = slices.Insert(c.Members, insertAt(c.Members, dev), dev)
			if err := putRead(w.reads, dev, id, 0); err != nil {
				return err
			}
		default:
			// Say forbidden, not not_found, only to a caller who could
			// have named it: the id space is shared, so this leaks only
			// that the id is taken.
			return notMember(id)
		}
		if err := checkResume(c, dev, r.Members); err != nil {
			return err
		}
		if err := s.putConv(w.convs, c); err != nil {
			return err
		}
		ans = &openAns{ConversationView: view(tx, c, dev), New: created}
		if err := s.deskView(tx, c, &ans.ConversationView, req.From.Role); err != nil {
			return err
		}
		return req.Keep(tx, ans)
	})
	if err != nil {
		return nil, err
	}
	return ans, nil
}

// createDirect creates direct conversation id as opener's open does: the
// opener and members (sorted, unique), each with a read pointer at 0 (the
// membership index), and the FAQ assistant on unless a staff member opened
// it. The caller stores c. It is the one place such a conversation is made,
// so a conversation created on a customer's behalf (PostTx) is the one their
// own first open would have made, and their open resumes it.
func (s *Service) createDirect(w *wbuckets, id, opener string, members []string, staff bool, now time.Time) (*conv, error) {
	members = slices.Clone(members)
	if _, ok := slices.BinarySearch(members, opener); !ok {
		members = slices.Insert(members, insertAt(members, opener), opener)
	}
	if len(members) > s.o.MaxMembers {
		return nil, svc.Errorf(svc.CodeTooLarge, "%d members, at most %d", len(members), s.o.MaxMembers)
	}
	c := &conv{V: 1, ID: id, Kind: ConvDirect, Members: members, Created: now, By: opener,
		Assistant: s.assistant() != nil && !staff}
	for _, m := range members {
		if err := putRead(w.reads, m, id, 0); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func insertAt(sorted []string, v string) int {
	i, _ := slices.BinarySearch(sorted, v)
	return i
}

// checkResume: members named when resuming must already be members (adding
// members is the groups feature's job).
func checkResume(c *conv, dev string, want []string) error {
	for _, m := range want {
		if m != dev && !c.member(m) {
			return svc.Errorf(svc.CodeConflict, "conversation %q exists without member %q", c.ID, m)
		}
	}
	return nil
}

// list pages through the caller's conversations in id order.
func (s *Service) list(_ context.Context, req *svc.Request) (any, error) {
	dev, err := caller(req)
	if err != nil {
		return nil, err
	}
	r, err := decodeList(req.Body, s.o.PageSize)
	if err != nil {
		return nil, svc.BadInput(err)
	}
	ans := &listAns{Conversations: []convView{}, Next: r.After}
	if r.Remote {
		return s.listRemote(req, dev, r, ans)
	}
	err = s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketReads)
		if b == nil {
			return nil
		}
		prefix := []byte(dev + "\x00")
		cur := b.Cursor()
		k, _ := cur.Seek(append(bytes.Clone(prefix), r.After...))
		if r.After != "" && k != nil && string(k[len(prefix):]) == r.After {
			k, _ = cur.Next()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = cur.Next() {
			if len(ans.Conversations) == r.Limit {
				ans.More = true
				return nil
			}
			id := string(k[len(prefix):])
			c, err := s.getConv(tx, id)
			if err != nil {
				return err
			}
			if c == nil {
				continue
			}
			ans.Conversations = append(ans.Conversations, s.staffView(tx, c, req))
			ans.Next = id
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ans, nil
}

// listRemote pages through the conversations of customers at home (their
// ids start with RemotePrefix), in id order, for staff: nobody at the
// store is a member of one until someone answers, and the assistant may
// answer without asking for a person. A role that sees assigned
// conversations only does not see one assigned to someone else.
func (s *Service) listRemote(req *svc.Request, dev string, r listReq, ans *listAns) (any, error) {
	if !s.staff(req.From.Role) {
		return nil, svc.Errorf(svc.CodeForbidden, "only staff list the conversations of customers at home")
	}
	all := s.seesAll(req.From.Role)
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketConvs)
		if b == nil {
			return nil
		}
		prefix := []byte(RemotePrefix)
		cur := b.Cursor()
		k, v := cur.Seek(prefix)
		if r.After > RemotePrefix {
			k, v = cur.Seek([]byte(r.After))
			if k != nil && string(k) == r.After {
				k, v = cur.Next()
			}
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
			c, err := s.decodeConv(string(k), v)
			if err != nil {
				return err
			}
			if c.customer() != c.ID || (!all && len(c.Assigned) > 0 && !c.assigned(dev)) {
				continue
			}
			if len(ans.Conversations) == r.Limit {
				ans.More = true
				return nil
			}
			ans.Conversations = append(ans.Conversations, s.staffView(tx, c, req))
			ans.Next = c.ID
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ans, nil
}
