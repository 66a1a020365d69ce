package chat

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/internal/safetext"
	"github.com/storeedge/storeedge/internal/strictjson"
	"github.com/storeedge/storeedge/proto"
)

// The consultants' desk: transferring a conversation to a colleague, who
// answers the offer, and who of a group has read a message.

// DefaultTransferTimeout is how long a transfer offer waits for the
// colleague's answer (Options.TransferTimeout).
const DefaultTransferTimeout = 2 * time.Minute

// bucketTransfers holds each conversation's last transfer offer.
var bucketTransfers = []byte("chat_transfers")

// Colleagues lists the store's staff accounts (broker/accounts.Registry):
// who a conversation may be transferred to, and their display names. It
// runs inside the chat service's transaction.
type Colleagues interface {
	StaffIn(tx *bolt.Tx) ([]proto.StaffMember, error)
}

// transferRec is a conversation's last transfer offer. The note is for
// staff only: sealed at rest, never in an event, never to a customer.
type transferRec struct {
	V          int        `json:"v"`
	From       string     `json:"from"`
	To         string     `json:"to"`
	SealedNote []byte     `json:"sealed_note,omitempty"`
	State      string     `json:"state"`
	Offered    time.Time  `json:"offered"`
	Expires    time.Time  `json:"expires"`
	Answered   *time.Time `json:"answered,omitempty"`
}

func transferNoteAD(convID string) []byte { return []byte("chat_transfers\x00" + convID + "\x00note") }

func getTransfer(tx *bolt.Tx, convID string) (*transferRec, error) {
	b := tx.Bucket(bucketTransfers)
	if b == nil {
		return nil, nil
	}
	v := b.Get([]byte(convID))
	if v == nil {
		return nil, nil
	}
	var r transferRec
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("%w: transfer: %w", errCorrupt, err)
	}
	return &r, nil
}

func putTransfer(tx *bolt.Tx, convID string, r *transferRec) error {
	b, err := tx.CreateBucketIfNotExists(bucketTransfers)
	if err != nil {
		return fmt.Errorf("chat: bucket %s: %w", bucketTransfers, err)
	}
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("chat: encode transfer: %w", err)
	}
	if err := b.Put([]byte(convID), v); err != nil {
		return fmt.Errorf("chat: put transfer: %w", err)
	}
	return nil
}

// staffNames maps the staff accounts' ids to their display names (the id
// when an account has no name).
func (s *Service) staffNames(tx *bolt.Tx) (map[string]string, error) {
	out := map[string]string{}
	if s.o.Colleagues == nil {
		return out, nil
	}
	staff, err := s.o.Colleagues.StaffIn(tx)
	if err != nil {
		return nil, fmt.Errorf("chat: staff accounts: %w", err)
	}
	for _, m := range staff {
		out[m.ID] = m.Name
		if m.Name == "" {
			out[m.ID] = m.ID
		}
	}
	return out, nil
}

// transferView is what staff see of a transfer record.
func (s *Service) transferView(convID string, r *transferRec, names map[string]string) (*proto.TransferView, error) {
	v := &proto.TransferView{From: r.From, FromName: names[r.From], To: r.To, ToName: names[r.To], State: r.State,
		Offered: r.Offered, Expires: r.Expires, Answered: r.Answered}
	if len(r.SealedNote) > 0 {
		note, err := s.o.Seal.Open(r.SealedNote, transferNoteAD(convID))
		if err != nil {
			return nil, fmt.Errorf("chat: open transfer note: %w", err)
		}
		v.Note = string(note)
	}
	return v, nil
}

// staffConvView is a conversation as staff see it: with the agent's name
// and the last transfer offer.
func (s *Service) staffConvView(tx *bolt.Tx, c *conv, dev string) (convView, error) {
	v := view(tx, c, dev)
	names, err := s.staffNames(tx)
	if err != nil {
		return v, err
	}
	if c.Agent != "" {
		v.AgentName = cmp.Or(names[c.Agent], c.Agent)
	}
	r, err := getTransfer(tx, c.ID)
	if err != nil || r == nil {
		return v, err
	}
	v.Transfer, err = s.transferView(c.ID, r, names)
	return v, err
}

// deskView adds to open's answer the agent's name, and for staff the last
// transfer offer (never for a customer: its note is for staff).
func (s *Service) deskView(tx *bolt.Tx, c *conv, v *convView, role string) error {
	if c.Agent == "" && !s.staff(role) {
		return nil
	}
	sv, err := s.staffConvView(tx, c, "")
	if err != nil {
		return err
	}
	v.AgentName = sv.AgentName
	if s.staff(role) {
		v.Transfer = sv.Transfer
	}
	return nil
}

type (
	transferReq struct {
		proto.Envelope
		proto.TransferRequest
	}
	transferAnswerReq struct {
		proto.Envelope
		proto.TransferAnswerRequest
	}
	readersReq struct {
		proto.Envelope
		proto.ReadersRequest
	}
)

func decodeTransfer(b []byte, maxNote int) (transferReq, error) {
	var r transferReq
	if err := strictjson.Decode(b, &r); err != nil {
		return r, err
	}
	if err := checkConv(r.Conversation); err != nil {
		return r, err
	}
	if !idPattern.MatchString(r.To) {
		return r, errors.New(`"to" must be a colleague's account id`)
	}
	if !utf8.ValidString(r.Note) {
		return r, errors.New(`"note" must be UTF-8`)
	}
	if len(r.Note) > maxNote {
		return r, fmt.Errorf("%w: note of %d bytes, at most %d", svc.ErrTooLarge, len(r.Note), maxNote)
	}
	return r, safetext.Check("note", r.Note, true)
}

func decodeTransferAnswer(b []byte) (transferAnswerReq, error) {
	var r transferAnswerReq
	if err := strictjson.Decode(b, &r); err != nil {
		return r, err
	}
	if err := checkConv(r.Conversation); err != nil {
		return r, err
	}
	if r.Accept == nil {
		return r, errors.New(`"accept" is required: true to take the conversation, false to decline`)
	}
	return r, nil
}

func decodeReaders(b []byte) (readersReq, error) {
	var r readersReq
	if err := strictjson.Decode(b, &r); err != nil {
		return r, err
	}
	if err := checkConv(r.Conversation); err != nil {
		return r, err
	}
	if r.Seq == 0 {
		return r, errors.New(`"seq" must be at least 1`)
	}
	return r, nil
}

// transfer offers a conversation to a colleague. The offering staff
// member keeps it until the colleague accepts; an offer not answered
// within Options.TransferTimeout expires (ExpireTransfers). Offering the
// same conversation to the same colleague again while the offer is open
// answers that offer; offering it to someone else meanwhile is a conflict.
func (s *Service) transfer(ctx context.Context, req *svc.Request) (any, error) {
	dev, err := caller(req)
	if err != nil {
		return nil, err
	}
	if !s.staff(req.From.Role) {
		return nil, svc.Errorf(svc.CodeForbidden, "only staff transfer conversations")
	}
	r, err := decodeTransfer(req.Body, s.o.MaxBodyBytes)
	if err != nil {
		return nil, svc.BadInput(err)
	}
	if r.To == dev {
		return nil, svc.Errorf(svc.CodeBadRequest, "you cannot transfer a conversation to yourself")
	}
	id := r.Conversation
	if _, err := s.expireTransfers(ctx, id); err != nil {
		return nil, err
	}
	now := s.now()
	var ans *convView
	var offered bool
	err = s.update(ctx, func(tx *bolt.Tx) error {
		ans, offered = nil, false
		c, err := s.memberConv(tx, id, dev)
		if err != nil {
			return err
		}
		if len(c.Assigned) > 0 && !c.assigned(dev) {
			return svc.Errorf(svc.CodeForbidden, "conversation %q is assigned to %v: only they transfer it", id, c.Assigned)
		}
		names, err := s.staffNames(tx)
		if err != nil {
			return err
		}
		if _, ok := names[r.To]; !ok {
			return svc.Errorf(svc.CodeBadRequest, "%q is not a colleague: transfer to a staff account of this store", r.To)
		}
		cur, err := getTransfer(tx, id)
		if err != nil {
			return err
		}
		if cur == nil || cur.State != proto.TransferOffered || cur.To != r.To || cur.From != dev {
			if cur != nil && cur.State == proto.TransferOffered {
				return svc.Errorf(svc.CodeConflict, "conversation %q is already offered to %s, who has until %s to answer",
					id, names[cur.To], cur.Expires.Format(time.RFC3339))
			}
			rec := &transferRec{V: 1, From: dev, To: r.To, State: proto.TransferOffered, Offered: now, Expires: now.Add(s.o.TransferTimeout)}
			if r.Note != "" {
				if rec.SealedNote, err = s.o.Seal.Seal([]byte(r.Note), transferNoteAD(id)); err != nil {
					return fmt.Errorf("chat: seal transfer note: %w", err)
				}
			}
			if err := putTransfer(tx, id, rec); err != nil {
				return err
			}
			offered = true
		}
		v, err := s.staffConvView(tx, c, dev)
		if err != nil {
			return err
		}
		ans = &v
		return req.Keep(tx, ans)
	})
	if err != nil {
		return nil, err
	}
	if offered {
		s.emit(Event{Type: EventTransfer, Conversation: id, State: proto.TransferOffered, Member: r.To, By: dev, TS: now})
	}
	return ans, nil
}

// transferAnswer is the offered colleague's answer. Accepting assigns the
// conversation to her (she joins it; the offering staff member stays a
// member but is no longer assigned) and makes her the agent the customer
// sees; declining leaves it with the offering staff member. The same
// answer again answers the same; the other answer, or any answer after
// the offer expired, is a conflict.
func (s *Service) transferAnswer(ctx context.Context, req *svc.Request) (any, error) {
	dev, err := caller(req)
	if err != nil {
		return nil, err
	}
	if !s.staff(req.From.Role) {
		return nil, svc.Errorf(svc.CodeForbidden, "only staff answer transfers")
	}
	r, err := decodeTransferAnswer(req.Body)
	if err != nil {
		return nil, svc.BadInput(err)
	}
	id, accept := r.Conversation, *r.Accept
	if _, err := s.expireTransfers(ctx, id); err != nil {
		return nil, err
	}
	now := s.now()
	var ans *convView
	var rec *transferRec
	var answered bool
	var agentName string
	err = s.update(ctx, func(tx *bolt.Tx) error {
		ans, answered, rec, agentName = nil, false, nil, ""
		w, err := allWrite(tx)
		if err != nil {
			return err
		}
		c, err := s.findConv(tx, id)
		if err != nil {
			return err
		}
		if rec, err = getTransfer(tx, id); err != nil {
			return err
		}
		if rec == nil || rec.To != dev {
			return svc.Errorf(svc.CodeNotFound, "conversation %q was not offered to you", id)
		}
		want := proto.TransferDeclined
		if accept {
			want = proto.TransferAccepted
		}
		switch rec.State {
		case proto.TransferOffered:
		case want:
			// The same answer again: answered as the first time.
		case proto.TransferExpired:
			return svc.Errorf(svc.CodeConflict, "the offer expired at %s: the conversation stayed with %s",
				rec.Expires.Format(time.RFC3339), rec.From)
		default:
			return svc.Errorf(svc.CodeConflict, "you already %s this conversation", rec.State)
		}
		if rec.State == proto.TransferOffered {
			rec.State, rec.Answered, answered = want, &now, true
			if accept {
				if !c.member(dev) {
					if len(c.Members)+1 > s.o.MaxMembers {
						return svc.Errorf(svc.CodeTooLarge, "conversation %q has %d members, at most %d", id, len(c.Members), s.o.MaxMembers)
					}
					c.Members = slices.Insert(c.Members, insertAt(c.Members, dev), dev)
					if err := putRead(w.reads, dev, id, 0); err != nil {
						return err
					}
				}
				c.Assigned = slices.DeleteFunc(c.Assigned, func(m string) bool { return m == rec.From })
				if !c.assigned(dev) {
					c.Assigned = append(c.Assigned, dev)
					slices.Sort(c.Assigned)
				}
				c.Agent = dev
				if err := s.putConv(w.convs, c); err != nil {
					return err
				}
			}
			if err := putTransfer(tx, id, rec); err != nil {
				return err
			}
		}
		v, err := s.staffConvView(tx, c, dev)
		if err != nil {
			return err
		}
		agentName = v.AgentName
		ans = &v
		return req.Keep(tx, ans)
	})
	if err != nil {
		return nil, err
	}
	if answered {
		s.emit(Event{Type: EventTransfer, Conversation: id, State: rec.State, Member: dev, By: rec.From, TS: now})
		if accept {
			s.emit(Event{Type: EventAssigned, Conversation: id, Member: dev, By: rec.From, TS: now})
			s.emit(Event{Type: EventAgent, Conversation: id, Member: dev, Name: agentName, TS: now})
		}
	}
	return ans, nil
}

// ExpireTransfers ends the offers not answered in time: the offering staff
// member keeps the conversation and is told (a transfer event, state
// expired). The broker calls it every few seconds; it answers how many
// offers expired.
func (s *Service) ExpireTransfers(ctx context.Context) (int, error) {
	return s.expireTransfers(ctx, "")
}

// expireTransfers expires the open offers past their time: only
// conversation only's, or all of them when only is "".
func (s *Service) expireTransfers(ctx context.Context, only string) (int, error) {
	now := s.now()
	due := func(tx *bolt.Tx) ([]string, error) {
		b := tx.Bucket(bucketTransfers)
		if b == nil {
			return nil, nil
		}
		var ids []string
		check := func(k, v []byte) error {
			var r transferRec
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("%w: transfer: %w", errCorrupt, err)
			}
			if r.State == proto.TransferOffered && !now.Before(r.Expires) {
				ids = append(ids, string(k))
			}
			return nil
		}
		if only != "" {
			if v := b.Get([]byte(only)); v != nil {
				return ids, check([]byte(only), v)
			}
			return nil, nil
		}
		return ids, b.ForEach(check)
	}
	var ids []string
	if err := s.view(func(tx *bolt.Tx) error {
		var err error
		ids, err = due(tx)
		return err
	}); err != nil || len(ids) == 0 {
		return 0, err
	}
	type expired struct{ conv, from, to string }
	var done []expired
	err := s.update(ctx, func(tx *bolt.Tx) error {
		done = nil
		ids, err := due(tx)
		if err != nil {
			return err
		}
		for _, id := range ids {
			r, err := getTransfer(tx, id)
			if err != nil {
				return err
			}
			r.State, r.Answered = proto.TransferExpired, &now
			if err := putTransfer(tx, id, r); err != nil {
				return err
			}
			done = append(done, expired{id, r.From, r.To})
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, e := range done {
		s.emit(Event{Type: EventTransfer, Conversation: e.conv, State: proto.TransferExpired, Member: e.to, By: e.from, TS: now})
	}
	return len(done), nil
}

// RunTransfers expires unanswered transfer offers until ctx ends, checking
// every second.
func (s *Service) RunTransfers(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.ExpireTransfers(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("chat: expiring transfer offers failed", "err", err)
			}
		}
	}
}

// transfers answers a staff console the colleagues it may transfer to and
// the open offers made to or by the caller (with their notes), so an offer
// is seen without joining the conversation and after a reload.
func (s *Service) transfers(_ context.Context, req *svc.Request) (any, error) {
	dev, err := caller(req)
	if err != nil {
		return nil, err
	}
	if !s.staff(req.From.Role) {
		return nil, svc.Errorf(svc.CodeForbidden, "only staff transfer conversations")
	}
	if err := decodeEmpty(req.Body); err != nil {
		return nil, svc.BadInput(err)
	}
	now := s.now()
	ans := &proto.TransfersAnswer{Colleagues: []proto.StaffMember{}, Offers: []proto.TransferView{}}
	err = s.view(func(tx *bolt.Tx) error {
		if s.o.Colleagues != nil {
			staff, err := s.o.Colleagues.StaffIn(tx)
			if err != nil {
				return fmt.Errorf("chat: staff accounts: %w", err)
			}
			ans.Colleagues = append(ans.Colleagues, staff...)
		}
		names := map[string]string{}
		for _, m := range ans.Colleagues {
			names[m.ID] = cmp.Or(m.Name, m.ID)
		}
		b := tx.Bucket(bucketTransfers)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var r transferRec
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("%w: transfer: %w", errCorrupt, err)
			}
			if r.State != proto.TransferOffered || !now.Before(r.Expires) || (r.To != dev && r.From != dev) {
				return nil
			}
			tv, err := s.transferView(string(k), &r, names)
			if err != nil {
				return err
			}
			tv.Conversation = string(k)
			ans.Offers = append(ans.Offers, *tv)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(ans.Offers, func(a, b proto.TransferView) int { return a.Offered.Compare(b.Offered) })
	return ans, nil
}

type readersAns = proto.ReadersAnswer

// readers answers who of a conversation's members (the message's sender
// left out) has read message seq, from their read pointers (chat_reads),
// and who has not. Members only.
func (s *Service) readers(_ context.Context, req *svc.Request) (any, error) {
	dev, err := caller(req)
	if err != nil {
		return nil, err
	}
	r, err := decodeReaders(req.Body)
	if err != nil {
		return nil, svc.BadInput(err)
	}
	var ans *readersAns
	err = s.view(func(tx *bolt.Tx) error {
		c, err := s.memberConv(tx, r.Conversation, dev)
		if err != nil {
			return err
		}
		m, err := getMsg(tx, c.ID, r.Seq)
		if err != nil {
			return err
		}
		if m == nil || r.Seq > c.LastSeq {
			return svc.Errorf(svc.CodeNotFound, "conversation %q has no message %d", c.ID, r.Seq)
		}
		names, err := s.staffNames(tx)
		if err != nil {
			return err
		}
		ans = &readersAns{Conversation: c.ID, Seq: r.Seq, From: m.From, ReadBy: []proto.Reader{}, NotReadBy: []proto.Reader{}}
		for _, mem := range c.Members {
			if mem == m.From {
				continue
			}
			up, _ := readUpTo(tx, mem, c.ID)
			rd := proto.Reader{Member: mem, Name: names[mem], Read: up >= r.Seq}
			if rd.Read {
				ans.ReadBy = append(ans.ReadBy, rd)
			} else {
				ans.NotReadBy = append(ans.NotReadBy, rd)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ans, nil
}
