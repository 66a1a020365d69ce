package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/blob"
	"github.com/storeedge/storeedge/broker/services/chat/faq"
	"github.com/storeedge/storeedge/broker/svc"
)

// AssistantID is the sender of the FAQ assistant's messages. It is not a
// member of any conversation and not a valid device id in a send.
const AssistantID = "assistant"

// stored is one message a transaction wrote, for its event afterwards.
type stored struct {
	seq uint64
	m   *msg
}

// send stores a message under the conversation's next seq and answers after
// the commit. The message id is the request id; a repeat finds its first seq.
// A customer's message may be followed, in the same transaction, by the FAQ
// assistant's answer (see assistant.go).
func (s *Service) send(ctx context.Context, req *svc.Request) (any, error) {
	if _, err := caller(req); err != nil {
		return nil, err
	}
	r, b, err := decodeSend(req.Body, s.o.MaxBodyBytes)
	if err != nil {
		return nil, svc.BadInput(err)
	}
	return s.sendChecked(ctx, req, r, b)
}

// sendChecked is send once the message is decoded and checked (r.check): a
// device's request, or a remote customer's message from HQ (hq.go). req
// gives the caller and the message id; its Body is not read.
func (s *Service) sendChecked(ctx context.Context, req *svc.Request, r sendReq, b body) (any, error) {
	dev, err := caller(req)
	if err != nil {
		return nil, err
	}
	id := r.Conversation
	staff := s.staff(req.From.Role)
	if r.Announcement && !staff {
		return nil, svc.Errorf(svc.CodeForbidden, "only staff post announcements")
	}
	if t := cardType(b.Card); b.Card != nil && !staff && !slices.Contains(CustomerCardTypes, t) {
		return nil, svc.Errorf(svc.CodeForbidden, "only staff and the store's services send %s cards; you may send %v", t, CustomerCardTypes)
	}

	// Checks and repeats without a write (an error inside the write would
	// roll back everyone else's writes of the same group commit).
	var ans *sendAns
	var first *msg
	var kind string
	if err := s.view(func(tx *bolt.Tx) error {
		var err error
		var c *conv
		ans, first, c, err = s.checkSend(tx, id, dev, req.ID)
		if c != nil {
			kind = c.kind()
		}
		return err
	}); err != nil {
		return nil, err
	}
	if ans != nil {
		// Also on a repeat: the first attempt may have crashed before its event.
		s.emit(messageEvent(id, ans.Seq, first))
		return ans, nil
	}
	if r.Announcement && kind != ConvGroup {
		return nil, svc.Errorf(svc.CodeBadRequest, "announcements are posted in groups")
	}
	// A customer's budget is spent on new messages only (not on repeats,
	// answered above) and given back when the message is not stored. A
	// message from home is not counted: HQ accepted it under its own
	// limit and answered her, and a refusal here would only hold it (and
	// everything HQ sends behind it) in cloudsync's retries.
	spent := int64(len(b.Text) + len(b.Card))
	refund := func() {}
	if req.From.Customer && !r.fromHQ {
		if err := s.o.CustomerMessages.Take(dev, 1); err != nil {
			return nil, err
		}
		if err := s.o.CustomerBytes.Take(dev, spent); err != nil {
			s.o.CustomerMessages.Give(dev, 1)
			return nil, err
		}
		refund = func() { s.o.CustomerMessages.Give(dev, 1); s.o.CustomerBytes.Give(dev, spent) }
	}
	release := func() {}
	if b.Media != nil {
		if release, err = s.refMedia(ctx, r.Kind, b.Media); err != nil {
			refund()
			return nil, err
		}
	}
	plain, err := json.Marshal(b)
	if err != nil {
		release()
		refund()
		return nil, fmt.Errorf("chat: encode body: %w", err)
	}
	now := s.now()
	var plan *assistPlan
	if a := s.assistant(); r.hqAuto == nil && !staff && r.Kind == KindText && kind == ConvDirect && a != nil {
		plan = s.planAssist(a, b.Text, r.Lang, now)
	}
	var wrote []stored
	var flagged bool
	err = s.update(ctx, func(tx *bolt.Tx) error {
		ans, first, wrote, flagged = nil, nil, nil, false
		w, err := allWrite(tx)
		if err != nil {
			return err
		}
		a, m, c, err := s.checkSend(tx, id, dev, req.ID)
		if err != nil {
			return err
		}
		if a != nil {
			ans, first = a, m
			return req.Keep(tx, ans)
		}
		m = &msg{ID: req.ID, From: dev, Kind: r.Kind, TS: now, Announcement: r.Announcement}
		if b.Media != nil {
			m.Media, m.Thumb = b.Media.Hash, b.Media.Thumbnail
		}
		seq, err := s.putMessage(w, c, m, plain)
		if err != nil {
			return err
		}
		wrote = append(wrote, stored{seq, m})
		// Writing is reading: the sender has seen up to its own message.
		if up, _ := readUpTo(tx, dev, id); up < seq {
			if err := putRead(w.reads, dev, id, seq); err != nil {
				return err
			}
		}
		s.trackPeriod(c, dev, staff, now)
		switch {
		case staff && c.Waiting != nil:
			// A person answered: the conversation no longer waits.
			c.Waiting = nil
			if err := w.waits.Delete([]byte(id)); err != nil {
				return fmt.Errorf("chat: clear waiting: %w", err)
			}
		case r.hqAuto != nil:
			more, f, err := s.fileHQAuto(w, c, req.ID, r.hqAuto, now)
			if err != nil {
				return err
			}
			wrote, flagged = append(wrote, more...), f
		case plan != nil:
			more, f, err := s.assist(w, c, req.ID, plan, now)
			if err != nil {
				return err
			}
			wrote, flagged = append(wrote, more...), f
		}
		if err := s.putConv(w.convs, c); err != nil {
			return err
		}
		ans, first = &sendAns{Conversation: id, Seq: seq, TS: now}, m
		return req.Keep(tx, ans)
	})
	if err != nil || len(wrote) == 0 {
		release() // not stored, or stored by an earlier attempt that holds its own reference
		refund()
	}
	if err != nil {
		return nil, err
	}
	if len(wrote) == 0 {
		s.emit(messageEvent(id, ans.Seq, first))
	}
	for _, st := range wrote {
		s.emit(messageEvent(id, st.seq, st.m))
	}
	if flagged {
		s.emit(Event{Type: EventWaiting, Conversation: id, TS: now})
	}
	return ans, nil
}

func messageEvent(convID string, seq uint64, m *msg) Event {
	return Event{Type: EventMessage, Conversation: convID, Seq: seq, ID: m.ID, From: m.From, Kind: m.Kind, TS: m.TS, Auto: m.Auto}
}

// putMessage stores m (its body sealed) as conversation c's next message,
// indexes its id and blob, hands it to the outbox when HQ takes part, and
// advances c.LastSeq (the caller stores c).
func (s *Service) putMessage(w *wbuckets, c *conv, m *msg, plain []byte) (uint64, error) {
	seq := c.LastSeq + 1
	sealed, err := s.o.Seal.Seal(plain, sealAD(c.ID, seq))
	if err != nil {
		return 0, fmt.Errorf("chat: seal: %w", err)
	}
	m.Body = sealed
	if err := putMsg(w.msgs, c.ID, seq, m); err != nil {
		return 0, err
	}
	if err := w.ids.Put(idKey(c.ID, m.From, m.ID), u64(seq)); err != nil {
		return 0, fmt.Errorf("chat: put message id: %w", err)
	}
	for _, h := range []string{m.Media, m.Thumb} {
		if h == "" {
			continue
		}
		if err := w.media.Put(mediaKey(h, c.ID, seq), nil); err != nil {
			return 0, fmt.Errorf("chat: index media: %w", err)
		}
	}
	c.LastSeq = seq
	if err := s.toHQ(w.tx, c, seq, m, plain); err != nil {
		return 0, err
	}
	return seq, nil
}

// checkSend refuses a send to an unknown conversation or from a non-member,
// and returns the first answer (and message) when the message id is stored.
func (s *Service) checkSend(tx *bolt.Tx, convID, dev, msgID string) (*sendAns, *msg, *conv, error) {
	c, err := s.memberConv(tx, convID, dev)
	if err != nil {
		return nil, nil, nil, err
	}
	seq := lookupID(tx, convID, dev, msgID)
	if seq == 0 {
		return nil, nil, c, nil
	}
	m, err := getMsg(tx, convID, seq)
	if err != nil {
		return nil, nil, nil, err
	}
	if m == nil {
		return nil, nil, nil, fmt.Errorf("%w: message id %q points at missing seq %d", errCorrupt, msgID, seq)
	}
	return &sendAns{Conversation: convID, Seq: seq, TS: m.TS}, m, c, nil
}

// refMedia checks that the blob of a media message exists and fits its
// kind, fills in its meta, and takes a reference on it; release drops the
// reference when the message is not stored after all.
func (s *Service) refMedia(ctx context.Context, kind string, mi *MediaInfo) (release func(), err error) {
	if s.o.Media == nil {
		return nil, svc.Errorf(svc.CodeBadRequest, "this store does not take media messages")
	}
	bl, err := s.o.Media.Stat(ctx, mi.Hash)
	switch {
	case errors.Is(err, blob.ErrNotFound):
		return nil, svc.Errorf(svc.CodeNotFound, "no uploaded blob %s: upload it with svc/media first", mi.Hash)
	case err != nil:
		return nil, fmt.Errorf("chat: media stat: %w", err)
	}
	if want := mediaKinds[kind]; !strings.HasPrefix(bl.Meta.Type, want) {
		return nil, svc.Errorf(svc.CodeBadRequest, "a %s message needs a %s* blob, %s is %s", kind, want, mi.Hash[:12], bl.Meta.Type)
	}
	*mi = MediaInfo{Hash: mi.Hash, Type: bl.Meta.Type, Size: bl.Meta.Size, Name: bl.Meta.Name,
		DurationMs: bl.Meta.DurationMs, Width: bl.Meta.Width, Height: bl.Meta.Height, Thumbnail: bl.Meta.Thumbnail}
	if err := s.o.Media.Ref(ctx, mi.Hash); err != nil {
		if errors.Is(err, blob.ErrNotFound) {
			return nil, svc.Errorf(svc.CodeNotFound, "no uploaded blob %s", mi.Hash)
		}
		return nil, fmt.Errorf("chat: media ref: %w", err)
	}
	return func() { s.unref(mi.Hash) }, nil
}

// unref drops a message's reference on its blob. It runs after the change
// that made the reference unnecessary has committed; a failure leaves the
// blob stored (never a message pointing nowhere) and is logged.
func (s *Service) unref(hash string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.o.Media.Unref(ctx, hash); err != nil && !errors.Is(err, blob.ErrNotFound) {
		s.log.Warn("chat: media reference not released", "hash", hash, "err", err)
	}
}

// assistPlan is what the FAQ assistant would say to one customer message,
// worked out before the transaction (matching takes CPU; the transaction
// holds the group commit).
type assistPlan struct {
	reply     faq.Reply
	closed    string // the after-hours reply; "" while the store is open
	nextOpen  time.Time
	lang      string
	handoff   bool
	answered  bool
	asked     bool
	closedNow bool
	// faq is the assistant the plan was made with (an admin may replace
	// it meanwhile).
	faq *faq.Assistant
}

func (s *Service) planAssist(a *faq.Assistant, text, lang string, now time.Time) *assistPlan {
	p := &assistPlan{faq: a, reply: s.priceReply(a.Answer(text, lang), text, lang), lang: lang}
	if p.lang == "" {
		p.lang = p.reply.Lang
	}
	p.handoff = p.reply.Kind == faq.Handoff
	p.answered = p.reply.Kind == faq.Answer
	p.asked = p.reply.Kind == faq.Ask
	if t, closed := a.AfterHours(now, p.lang); closed {
		p.closed, p.closedNow = t, true
		p.nextOpen = a.Hours().NextOpen(now)
	}
	return p
}
