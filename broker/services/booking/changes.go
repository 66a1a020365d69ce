package booking

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/services/chat"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/proto"
)

// Change types: every change to a booking is one entry in the store's
// change feed, numbered by a gap-free per-store sequence.
const (
	ChangeCreated        = proto.ChangeCreated
	ChangeRescheduled    = proto.ChangeRescheduled
	ChangeCancelled      = proto.ChangeCancelled
	ChangeNoShow         = proto.ChangeNoShow
	ChangeCheckedIn      = proto.ChangeCheckedIn
	ChangeProgress       = proto.ChangeProgress
	ChangeCompleted      = proto.ChangeCompleted
	ChangeReminder       = proto.ChangeReminder
	ChangeSurveyInvite   = proto.ChangeSurveyInvite
	ChangeSurveyAnswered = proto.ChangeSurveyAnswered
	ChangeHQRejected     = proto.ChangeHQRejected
)

// Topics.
const (
	// StaffTopic carries every change, for the bookings board.
	StaffTopic = proto.BookingStaffTopic
	// HQChangesTopic is the local topic the change feed is filed under in
	// the Outbox (cloudsync sends it to stores/{store}/up/booking/changes).
	HQChangesTopic = "booking/changes"
	// HQOutcomeTopic carries the outcome of every HQ request: in the Outbox
	// for HQ, and published locally for the store's consoles.
	HQOutcomeTopic = "booking/hq/outcome"
	// ChatSender is the sender id of booking cards in a conversation.
	ChatSender = "booking"
)

// CustomerTopic carries the changes of one customer's bookings.
func CustomerTopic(customer string) string { return proto.BookingCustomerTopic(customer) }

// Change is one entry of the change feed, the staff and customer events and
// HQ's replica. It holds no personal data: notes, contacts, profiles and
// survey comments stay in the store.
type Change = proto.Change

// change starts a Change describing r as it is now.
func (d *Desk) change(typ string, r *record, by string, now time.Time) *Change {
	return &Change{Type: typ, Booking: r.ID, Customer: r.Customer, Service: r.Service,
		Start: d.wireTime(r.Start), End: d.wireTime(r.End), Status: r.Status, Stage: r.Stage,
		Resources: r.Resources, Source: r.Source, By: by, Rev: r.Rev, HQRequest: r.HQRequest, TS: now}
}

// commit files ch in the change feed (next seq), in the Outbox for HQ, and —
// when Chat is set and the change concerns a customer — as a card in the
// customer's conversation, all in w's transaction. emit publishes the card's
// chat events; call it after the commit.
func (d *Desk) commit(w *wtx, ch *Change, photo *chat.MediaInfo) (emit func(), err error) {
	seq := uint64(1)
	if v := w.meta.Get(metaSeq); len(v) == 8 {
		seq = binary.BigEndian.Uint64(v) + 1
	}
	ch.V, ch.Seq = 1, seq
	p, err := json.Marshal(ch)
	if err != nil {
		return nil, fmt.Errorf("booking: encode change: %w", err)
	}
	if err := w.changes.Put(u64(seq), p); err != nil {
		return nil, fmt.Errorf("booking: put change: %w", err)
	}
	if err := w.meta.Put(metaSeq, u64(seq)); err != nil {
		return nil, fmt.Errorf("booking: put seq: %w", err)
	}
	if d.o.Outbox != nil {
		if err := d.o.Outbox.Put(w.tx, HQChangesTopic, p); err != nil {
			return nil, fmt.Errorf("booking: outbox: %w", err)
		}
	}
	emit = func() {}
	if d.o.Chat == nil || ch.Customer == "" || ch.Type == ChangeSurveyAnswered || strings.HasPrefix(ch.Customer, WalkInPrefix) {
		return emit, nil
	}
	card, err := d.card(ch)
	if err != nil {
		return nil, err
	}
	// The change's seq is unique in the store: one card per change.
	_, _, e, err := d.o.Chat.PostTx(w.tx, chat.Post{Customer: ch.Customer, From: ChatSender,
		ID: fmt.Sprintf("change.%d", seq), Card: card, Image: photo})
	switch {
	case errors.Is(err, chat.ErrPostInput):
		// The customer has no conversation a card can go to (their id
		// names a group, say). The booking stands; staff see the change.
		d.log.Warn("booking: no chat card for this change", "customer", ch.Customer, "seq", seq, "err", err)
		return emit, nil
	case err != nil:
		return nil, fmt.Errorf("booking: chat card: %w", err)
	}
	return e, nil
}

// card is the chat card of a change: the change itself plus what a phone
// shows without asking (the service's name).
func (d *Desk) card(ch *Change) (json.RawMessage, error) {
	typ := "booking"
	switch ch.Type {
	case ChangeProgress:
		typ = "progress"
	case ChangeReminder:
		typ = "reminder"
	case ChangeSurveyInvite:
		typ = "survey"
	}
	c := struct {
		Type        string      `json:"type"`
		Event       string      `json:"event"`
		ServiceName *proto.Text `json:"service_name,omitempty"`
		*Change
	}{Type: typ, Event: ch.Type, Change: ch}
	if s, ok := d.cat().Service(ch.Service); ok {
		c.ServiceName = (*proto.Text)(&s.Name)
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("booking: encode card: %w", err)
	}
	return b, nil
}

// publish sends the changes not yet published to booking/events and the
// customer's topic, oldest first, and records how far it got. After a crash
// it starts again from the recorded point, so an event may go out twice
// (with the same seq) but none is lost.
func (d *Desk) publish(ctx context.Context) error {
	d.pubMu.Lock()
	defer d.pubMu.Unlock()
	for ctx.Err() == nil {
		var batch []Change
		err := d.o.DB.View(func(tx *bolt.Tx) error {
			b := tx.Bucket(bChanges)
			if b == nil {
				return nil
			}
			c := b.Cursor()
			for k, v := c.Seek(u64(d.published + 1)); k != nil && len(batch) < 256; k, v = c.Next() {
				var ch Change
				if err := json.Unmarshal(v, &ch); err != nil {
					return fmt.Errorf("%w: change %x: %w", errCorrupt, k, err)
				}
				batch = append(batch, ch)
			}
			return nil
		})
		if err != nil || len(batch) == 0 {
			return err
		}
		for i := range batch {
			ch := &batch[i]
			if err := d.o.Router.Emit(StaffTopic, ch); err != nil {
				return fmt.Errorf("booking: publish change %d: %w", ch.Seq, err)
			}
			if ch.Customer != "" && idPattern.MatchString(ch.Customer) {
				if err := d.o.Router.Emit(CustomerTopic(ch.Customer), ch); err != nil {
					return fmt.Errorf("booking: publish change %d: %w", ch.Seq, err)
				}
			}
			d.published = ch.Seq
		}
		upTo := d.published
		d.o.DB.UpdateAsync(func(tx *bolt.Tx) error {
			w, err := writable(tx)
			if err != nil {
				return err
			}
			if v := w.meta.Get(metaPublished); len(v) == 8 && binary.BigEndian.Uint64(v) >= upTo {
				return nil
			}
			return w.meta.Put(metaPublished, u64(upTo))
		}, func(err error) { d.log.Warn("booking: recording published changes failed", "err", err) })
	}
	return ctx.Err()
}

// loadPublished reads how far the change feed was published.
func (d *Desk) loadPublished() error {
	return d.o.DB.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bMeta); b != nil {
			if v := b.Get(metaPublished); len(v) == 8 {
				d.published = binary.BigEndian.Uint64(v)
			}
		}
		return nil
	})
}

// changes answers the feed after seq "after" (staff and HQ's bridge).
func (d *Desk) changes(_ context.Context, req *svc.Request) (any, error) {
	var r changesReq
	if err := decode(req.Body, &r); err != nil {
		return nil, err
	}
	if !d.staff(req.From.Role) && !contains(d.o.FeedRoles, req.From.Role) {
		return nil, svc.Errorf(svc.CodeForbidden, "the change feed is for staff and HQ's bridge")
	}
	limit := d.o.PageSize
	if r.Limit < 0 {
		return nil, svc.Errorf(svc.CodeBadRequest, `"limit" must not be negative`)
	}
	if r.Limit > 0 && r.Limit < limit {
		limit = r.Limit
	}
	out := []json.RawMessage{}
	var last uint64
	err := d.o.DB.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bMeta); b != nil {
			if v := b.Get(metaSeq); len(v) == 8 {
				last = binary.BigEndian.Uint64(v)
			}
		}
		b := tx.Bucket(bChanges)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(u64(r.After + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			out = append(out, json.RawMessage(append([]byte(nil), v...)))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("booking: read changes: %w", err)
	}
	return map[string]any{"changes": out, "last": last}, nil // proto.ChangePage, the changes as stored
}

// prune deletes published changes older than ChangesKept.
func (d *Desk) prune(ctx context.Context) error {
	cut := d.now().Add(-d.o.ChangesKept)
	d.pubMu.Lock()
	upTo := d.published
	d.pubMu.Unlock()
	var keys [][]byte
	err := d.o.DB.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bChanges)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil && len(keys) < 1000 && binary.BigEndian.Uint64(k) <= upTo; k, v = c.Next() {
			var ch Change
			if err := json.Unmarshal(v, &ch); err != nil || !ch.TS.Before(cut) {
				break
			}
			keys = append(keys, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil || len(keys) == 0 {
		return err
	}
	return d.o.DB.Update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bChanges)
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return fmt.Errorf("booking: prune changes: %w", err)
			}
		}
		return nil
	})
}
