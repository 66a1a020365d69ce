package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/internal/chatreport"
	"github.com/storeedge/storeedge/internal/safetext"
	"github.com/storeedge/storeedge/internal/strictjson"
	"github.com/storeedge/storeedge/proto"
)

// Close and rate. A customer's conversation runs in closing periods: the
// period starts with her first message since it was (re)opened (conv.Opened),
// its first response is the first staff message after that (the assistant's
// and the store services' do not count), and staff end it with close. A
// closing is stored in chat_closings with its times and the staff member it
// counts for (who wrote last in the period; the closer when nobody did), a
// system message with a ClosedCard tells both sides, and the customer may
// rate that closing once (chat_ratings, and a RatedCard message). Her next
// message reopens the conversation: a new period. Closings and ratings go
// to HQ through the outbox (proto.TopicChatClosing, proto.TopicChatRating).

var (
	bucketClosings = []byte("chat_closings")
	bucketRatings  = []byte("chat_ratings")
)

// EventClosed and EventRated are the events of close and rate.
const (
	EventClosed = proto.ChatEventClosed
	EventRated  = proto.ChatEventRated
)

// closing is a record of chat_closings (proto.ChatClosing with the id of the
// request that made it).
type closing struct {
	proto.ChatClosing
	ID string `json:"id"`
}

// rating is a record of chat_ratings. The comment is not kept here: it is
// in the RatedCard message (Seq), sealed like every body.
type rating struct {
	ID    string    `json:"id"`
	Stars int       `json:"stars"`
	TS    time.Time `json:"ts"`
	Seq   uint64    `json:"seq"`
	Staff string    `json:"staff"`
}

func closingKey(convID string, n uint64) []byte { return msgKey(convID, n) }

// trackPeriod moves conversation c's closing period on for a message from
// dev (staff or not) stored at now.
func (s *Service) trackPeriod(c *conv, dev string, staff bool, now time.Time) {
	cust := c.customer()
	switch {
	case cust == "":
	case dev == cust:
		if c.Closed != nil {
			c.Closed, c.Opened, c.FirstResponse, c.Answering = nil, nil, nil, ""
		}
		if c.Opened == nil {
			t := now
			c.Opened = &t
		}
	case staff:
		c.Answering = dev
		if c.Opened != nil && c.FirstResponse == nil {
			t := now
			c.FirstResponse = &t
		}
	}
}

type rateReq struct {
	proto.Envelope
	proto.ChatRateRequest
}

type reportReq struct {
	proto.Envelope
	proto.ChatReportRequest
}

// close ends a customer's conversation's period (staff).
func (s *Service) close(ctx context.Context, req *svc.Request) (any, error) {
	dev, err := caller(req)
	if err != nil {
		return nil, err
	}
	if !s.staff(req.From.Role) {
		return nil, svc.Errorf(svc.CodeForbidden, "only staff close conversations")
	}
	r, err := decodeConv(req.Body)
	if err != nil {
		return nil, svc.BadInput(err)
	}
	id, all := r.Conversation, s.seesAll(req.From.Role)
	now := s.now()
	var ans *proto.ChatClosing
	var st *stored
	err = s.update(ctx, func(tx *bolt.Tx) error {
		ans, st = nil, nil
		w, err := allWrite(tx)
		if err != nil {
			return err
		}
		cb, err := tx.CreateBucketIfNotExists(bucketClosings)
		if err != nil {
			return fmt.Errorf("chat: bucket %s: %w", bucketClosings, err)
		}
		c, err := s.findConv(tx, id)
		if err != nil {
			return err
		}
		if !all && !c.member(dev) && !c.assigned(dev) {
			return notMember(id)
		}
		if c.customer() == "" {
			return svc.Errorf(svc.CodeBadRequest, "only a customer's conversation is closed; %q is not one", id)
		}
		if c.Closed != nil {
			return svc.Errorf(svc.CodeConflict, "conversation %q is already closed (since %s); it opens again when the customer writes", id, c.Closed.Format(time.RFC3339))
		}
		staffer := c.Answering
		if staffer == "" {
			staffer = dev
		}
		cl := closing{ID: req.ID, ChatClosing: proto.ChatClosing{V: 1, Conversation: id, Closing: c.Closings + 1,
			Customer: c.customer(), Staff: staffer, By: dev, Opened: c.Opened, FirstResponse: c.FirstResponse, Closed: now}}
		card, err := json.Marshal(proto.ClosedCard{Type: proto.CardClosed, Closing: cl.Closing, By: dev, Staff: staffer})
		if err != nil {
			return fmt.Errorf("chat: encode closed card: %w", err)
		}
		if st, err = s.cardMessage(w, c, "close-"+req.ID, dev, card, now); err != nil {
			return err
		}
		cl.Seq = st.seq
		rec, err := json.Marshal(cl)
		if err != nil {
			return fmt.Errorf("chat: encode closing: %w", err)
		}
		if err := cb.Put(closingKey(id, cl.Closing), rec); err != nil {
			return fmt.Errorf("chat: put closing: %w", err)
		}
		if err := s.outbox(tx, proto.TopicChatClosing, cl.ChatClosing); err != nil {
			return err
		}
		c.Closings, c.Closed = cl.Closing, &now
		c.Opened, c.FirstResponse, c.Answering = nil, nil, ""
		if c.Waiting != nil {
			c.Waiting = nil
			if err := w.waits.Delete([]byte(id)); err != nil {
				return fmt.Errorf("chat: clear waiting: %w", err)
			}
		}
		if err := s.putConv(w.convs, c); err != nil {
			return err
		}
		a := cl.ChatClosing
		a.V = 0
		ans = &a
		return req.Keep(tx, ans)
	})
	if err != nil {
		return nil, err
	}
	s.emit(messageEvent(id, st.seq, st.m))
	s.emit(Event{Type: EventClosed, Conversation: id, Closing: ans.Closing, By: dev, Seq: st.seq, TS: now})
	return ans, nil
}

// cardMessage stores a system message with a card from "from".
func (s *Service) cardMessage(w *wbuckets, c *conv, msgID, from string, card []byte, now time.Time) (*stored, error) {
	plain, err := json.Marshal(body{Card: card})
	if err != nil {
		return nil, fmt.Errorf("chat: encode system message: %w", err)
	}
	m := &msg{ID: msgID, From: from, Kind: KindSystem, TS: now}
	seq, err := s.putMessage(w, c, m, plain)
	if err != nil {
		return nil, err
	}
	return &stored{seq, m}, nil
}

// outbox files v for HQ on a local topic (nothing without an Outbox).
func (s *Service) outbox(tx *bolt.Tx, topic string, v any) error {
	if s.o.Outbox == nil {
		return nil
	}
	p, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("chat: encode %s: %w", topic, err)
	}
	if err := s.o.Outbox.Put(tx, topic, p); err != nil {
		return fmt.Errorf("chat: outbox %s: %w", topic, err)
	}
	return nil
}

func (s *Service) decodeRate(b []byte) (rateReq, error) {
	var r rateReq
	if err := strictjson.Decode(b, &r); err != nil {
		return r, err
	}
	if err := checkConv(r.Conversation); err != nil {
		return r, err
	}
	if r.Closing == 0 {
		return r, errors.New(`"closing" must be the number of the closing you rate (1 or more)`)
	}
	if r.Stars < 1 || r.Stars > 5 {
		return r, errors.New(`"stars" must be 1 to 5`)
	}
	if !utf8.ValidString(r.Comment) {
		return r, errors.New(`"comment" must be UTF-8`)
	}
	if n := utf8.RuneCountInString(r.Comment); n > s.o.MaxRatingComment {
		return r, fmt.Errorf("%w: a comment of %d characters, at most %d", svc.ErrTooLarge, n, s.o.MaxRatingComment)
	}
	if err := safetext.Check("comment", r.Comment, true); err != nil {
		return r, err
	}
	return r, nil
}

// getClosing reads closing n of a conversation; nil when there is none.
func getClosing(tx *bolt.Tx, convID string, n uint64) (*closing, error) {
	b := tx.Bucket(bucketClosings)
	if b == nil {
		return nil, nil
	}
	v := b.Get(closingKey(convID, n))
	if v == nil {
		return nil, nil
	}
	var cl closing
	if err := json.Unmarshal(v, &cl); err != nil {
		return nil, fmt.Errorf("%w: closing %s/%d: %w", errCorrupt, convID, n, err)
	}
	return &cl, nil
}

func getRating(tx *bolt.Tx, convID string, n uint64) (*rating, error) {
	b := tx.Bucket(bucketRatings)
	if b == nil {
		return nil, nil
	}
	v := b.Get(closingKey(convID, n))
	if v == nil {
		return nil, nil
	}
	var rt rating
	if err := json.Unmarshal(v, &rt); err != nil {
		return nil, fmt.Errorf("%w: rating %s/%d: %w", errCorrupt, convID, n, err)
	}
	return &rt, nil
}

// rate stores the customer's rating of a closing: once per closing.
func (s *Service) rate(ctx context.Context, req *svc.Request) (any, error) {
	dev, err := caller(req)
	if err != nil {
		return nil, err
	}
	r, err := s.decodeRate(req.Body)
	if err != nil {
		return nil, svc.BadInput(err)
	}
	id := r.Conversation
	now := s.now()
	var ans *proto.ChatRating
	var st *stored
	check := func(tx *bolt.Tx) (*conv, *closing, *proto.ChatRating, error) {
		c, err := s.memberConv(tx, id, dev)
		if err != nil {
			return nil, nil, nil, err
		}
		if c.customer() != dev {
			return nil, nil, nil, svc.Errorf(svc.CodeForbidden, "only the customer of conversation %q rates it", id)
		}
		cl, err := getClosing(tx, id, r.Closing)
		if err != nil {
			return nil, nil, nil, err
		}
		if cl == nil {
			return nil, nil, nil, svc.Errorf(svc.CodeNotFound, "conversation %q has no closing %d", id, r.Closing)
		}
		rt, err := getRating(tx, id, r.Closing)
		if err != nil || rt == nil {
			return c, cl, nil, err
		}
		if rt.ID != req.ID {
			return nil, nil, nil, svc.Errorf(svc.CodeConflict, "closing %d of %q is already rated (%d stars); each closing is rated once", r.Closing, id, rt.Stars)
		}
		return c, cl, &proto.ChatRating{Conversation: id, Closing: r.Closing, Staff: rt.Staff, Stars: rt.Stars, TS: rt.TS, Seq: rt.Seq}, nil
	}
	var first *proto.ChatRating
	if err := s.view(func(tx *bolt.Tx) error {
		_, _, first, err = check(tx)
		return err
	}); err != nil {
		return nil, err
	}
	if first != nil {
		return first, nil
	}
	err = s.update(ctx, func(tx *bolt.Tx) error {
		ans, st = nil, nil
		w, err := allWrite(tx)
		if err != nil {
			return err
		}
		rb, err := tx.CreateBucketIfNotExists(bucketRatings)
		if err != nil {
			return fmt.Errorf("chat: bucket %s: %w", bucketRatings, err)
		}
		c, cl, again, err := check(tx)
		if err != nil {
			return err
		}
		if again != nil {
			ans = again
			return req.Keep(tx, ans)
		}
		card, err := json.Marshal(proto.RatedCard{Type: proto.CardRated, Closing: r.Closing, Stars: r.Stars, Comment: r.Comment})
		if err != nil {
			return fmt.Errorf("chat: encode rated card: %w", err)
		}
		if st, err = s.cardMessage(w, c, "rate-"+req.ID, dev, card, now); err != nil {
			return err
		}
		rec, err := json.Marshal(rating{ID: req.ID, Stars: r.Stars, TS: now, Seq: st.seq, Staff: cl.Staff})
		if err != nil {
			return fmt.Errorf("chat: encode rating: %w", err)
		}
		if err := rb.Put(closingKey(id, r.Closing), rec); err != nil {
			return fmt.Errorf("chat: put rating: %w", err)
		}
		rt := proto.ChatRating{V: 1, Conversation: id, Closing: r.Closing, Staff: cl.Staff, Stars: r.Stars, TS: now, Seq: st.seq}
		if err := s.outbox(tx, proto.TopicChatRating, rt); err != nil {
			return err
		}
		if err := s.putConv(w.convs, c); err != nil {
			return err
		}
		rt.V = 0
		ans = &rt
		return req.Keep(tx, ans)
	})
	if err != nil {
		return nil, err
	}
	if st != nil {
		s.emit(messageEvent(id, st.seq, st.m))
		s.emit(Event{Type: EventRated, Conversation: id, Closing: r.Closing, Seq: st.seq, TS: now})
	}
	return ans, nil
}

// zone is the store's time zone: the business hours' (time.Local without
// an assistant).
func (s *Service) zone() *time.Location {
	if a := s.assistant(); a != nil && a.Hours() != nil && a.Hours().Location() != nil {
		return a.Hours().Location()
	}
	return time.Local
}

func (s *Service) decodeReport(b []byte, loc *time.Location) (reportReq, time.Time, time.Time, error) {
	var r reportReq
	if err := strictjson.Decode(b, &r); err != nil {
		return r, time.Time{}, time.Time{}, err
	}
	from, err1 := time.ParseInLocation(time.DateOnly, r.From, loc)
	to, err2 := time.ParseInLocation(time.DateOnly, r.To, loc)
	switch {
	case err1 != nil || err2 != nil:
		return r, from, to, errors.New(`"from" and "to" must be days as YYYY-MM-DD`)
	case to.Before(from):
		return r, from, to, errors.New(`"to" must not be before "from"`)
	case r.By != proto.ReportByDay && r.By != proto.ReportByStaff:
		return r, from, to, errors.New(`"by" must be "day" or "staff"`)
	}
	end := to.AddDate(0, 0, 1)
	if days := int(end.Sub(from).Hours()/24 + 0.5); days > s.o.MaxReportDays {
		return r, from, to, fmt.Errorf("%w: %d days, at most %d in one report", svc.ErrTooLarge, days, s.o.MaxReportDays)
	}
	return r, from, end, nil
}

// report adds up the closings of a date range by day or staff member.
// Roles that see all conversations (managers) see everyone's closings;
// assigned-only roles see their own.
func (s *Service) report(_ context.Context, req *svc.Request) (any, error) {
	dev, err := caller(req)
	if err != nil {
		return nil, err
	}
	if !s.staff(req.From.Role) {
		return nil, svc.Errorf(svc.CodeForbidden, "reports are for staff")
	}
	loc := s.zone()
	r, from, end, err := s.decodeReport(req.Body, loc)
	if err != nil {
		return nil, svc.BadInput(err)
	}
	all := s.seesAll(req.From.Role)
	var cs []chatreport.Closing
	err = s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketClosings)
		if b == nil {
			return nil
		}
		rb := tx.Bucket(bucketRatings)
		return b.ForEach(func(k, v []byte) error {
			var cl closing
			if err := json.Unmarshal(v, &cl); err != nil {
				return fmt.Errorf("%w: closing %q: %w", errCorrupt, k, err)
			}
			if cl.Closed.Before(from) || !cl.Closed.Before(end) || (!all && cl.Staff != dev) {
				return nil
			}
			c := chatreport.Closing{Staff: cl.Staff, Opened: cl.Opened, FirstResponse: cl.FirstResponse, Closed: cl.Closed}
			if rb != nil {
				if rv := rb.Get(k); rv != nil {
					var rt rating
					if err := json.Unmarshal(rv, &rt); err == nil {
						c.Stars = rt.Stars
					}
				}
			}
			cs = append(cs, c)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	key := func(c chatreport.Closing) string { return c.Staff }
	if r.By == proto.ReportByDay {
		key = func(c chatreport.Closing) string { return c.Day(loc) }
	}
	rows, total := chatreport.Rows(cs, key)
	return &proto.ChatReport{From: r.From, To: r.To, By: r.By, TimeZone: loc.String(), Rows: rows, Total: total}, nil
}
