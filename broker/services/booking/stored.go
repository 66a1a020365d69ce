package booking

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/broker/services/chat"
	"github.com/storeedge/storeedge/broker/svc"
)

// How the ops read and change a stored booking: loading it with the
// caller's rights, changing it in one transaction that files the change,
// and storing it with its indexes.

// store writes r and its indexes; old is r before this change (nil for a
// new booking), whose index entries are removed first.
func (d *Desk) store(w *wtx, r, old *record) error {
	if old != nil {
		if err := d.unindex(w, old); err != nil {
			return err
		}
	}
	if err := d.putBooking(w.bookings, r); err != nil {
		return err
	}
	loc := d.cat().Location()
	day := DateOf(r.Start, loc)
	if err := w.byday.Put(byDayKey(day, r.Start, r.ID), nil); err != nil {
		return fmt.Errorf("booking: index day: %w", err)
	}
	if err := w.bycust.Put(byCustKey(r.Customer, r.Start, r.ID), nil); err != nil {
		return fmt.Errorf("booking: index customer: %w", err)
	}
	if !holds(r.Status) {
		return nil
	}
	buffer := time.Duration(0)
	if s, ok := d.cat().Service(r.Service); ok {
		buffer = s.Buffer
	}
	v := append(ms(r.Start), ms(r.End.Add(buffer))...)
	for _, res := range r.Resources {
		if err := w.busy.Put(busyKey(day, r.ID, res), v); err != nil {
			return fmt.Errorf("booking: index busy: %w", err)
		}
	}
	return nil
}

func (d *Desk) unindex(w *wtx, r *record) error {
	day := DateOf(r.Start, d.cat().Location())
	for _, res := range r.Resources {
		if err := w.busy.Delete(busyKey(day, r.ID, res)); err != nil {
			return fmt.Errorf("booking: unindex: %w", err)
		}
	}
	if err := w.byday.Delete(byDayKey(day, r.Start, r.ID)); err != nil {
		return fmt.Errorf("booking: unindex: %w", err)
	}
	if err := w.bycust.Delete(byCustKey(r.Customer, r.Start, r.ID)); err != nil {
		return fmt.Errorf("booking: unindex: %w", err)
	}
	return nil
}

func (d *Desk) byRequest(key []byte) (*record, error) {
	var rec *record
	err := d.o.DB.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bIDs)
		if b == nil {
			return nil
		}
		if id := b.Get(key); id != nil {
			var err error
			rec, err = getBooking(tx, string(id))
			return err
		}
		return nil
	})
	return rec, err
}

// loadBooking reads a booking for an op by who, refusing others' bookings.
// change is true for ops that change it.
func (d *Desk) loadBooking(id string, who auth.Identity, change bool) (*record, error) {
	if err := checkID("booking", id); err != nil {
		return nil, err
	}
	var r *record
	if err := d.o.DB.View(func(tx *bolt.Tx) error {
		var err error
		r, err = getBooking(tx, id)
		return err
	}); err != nil {
		return nil, err
	}
	if r == nil {
		return nil, failf(svc.CodeNotFound, ReasonUnknownBooking, "no booking %s", id)
	}
	if !d.mayTouch(who, r, change) {
		return nil, failf(svc.CodeForbidden, ReasonNotYours, "booking %s is not yours", id)
	}
	return r, nil
}

// mayTouch: staff any booking; a customer their own; a kiosk changes what
// it made for the customer at it now (and reads any, to check customers
// in, without its notes: see private and redact).
func (d *Desk) mayTouch(who auth.Identity, r *record, change bool) bool {
	switch {
	case d.staff(who.Role):
		return true
	case who.Customer:
		return who.Device == r.Customer
	case d.desk(who.Role):
		return !change || (who.Device == r.By && d.deskPresent(who, r.Customer))
	}
	return contains(d.o.ProgressRoles, who.Role) && !change
}

// mutate applies fn to booking id in a transaction and files the change.
// fn returns the change to file, or nil for nothing to do (a repeat); it
// may return an *svc.Error only when the state moved since the check before
// the transaction (rare: two staff at once).
type mutation func(r *record, now time.Time) (*Change, error)

// keep, when not nil, keeps the op's answer for the booking as it is after
// the change (or as it was, for a repeat) in the same transaction.
func (d *Desk) mutate(ctx context.Context, id string, now time.Time, fn mutation, extra func(w *wtx, r, old *record) error, keep keepFunc) (*record, error) {
	return d.mutateWith(ctx, id, now, nil, fn, extra, keep)
}

// mutateWith is mutate with a photo for the chat card (PrepareImage).
func (d *Desk) mutateWith(ctx context.Context, id string, now time.Time, photo *chat.MediaInfo, fn mutation, extra func(w *wtx, r, old *record) error, keep keepFunc) (*record, error) {
	var out *record
	var emit func()
	var refused error
	err := d.update(ctx, func(tx *bolt.Tx) error {
		out, emit, refused = nil, nil, nil
		w, err := writable(tx)
		if err != nil {
			return err
		}
		old, err := getBooking(tx, id)
		if err != nil {
			return err
		}
		if old == nil {
			refused = failf(svc.CodeNotFound, ReasonUnknownBooking, "no booking %s", id)
			return nil
		}
		r := *old
		r.Progress = slices.Clone(old.Progress)
		r.Reminded = slices.Clone(old.Reminded)
		ch, err := fn(&r, now)
		var se *svc.Error
		if errors.As(err, &se) {
			refused = err
			return nil
		}
		if err != nil {
			return err
		}
		out = &r
		if ch == nil {
			out = old
			if keep != nil {
				return keep(tx, old)
			}
			return nil
		}
		r.Rev++
		r.Updated = now
		ch.Rev = r.Rev
		if extra != nil {
			if err := extra(w, &r, old); err != nil {
				return err
			}
		}
		if err := d.store(w, &r, old); err != nil {
			return err
		}
		ch.Start, ch.End, ch.Status, ch.Stage, ch.Resources = d.wireTime(r.Start), d.wireTime(r.End), r.Status, r.Stage, r.Resources
		if emit, err = d.commit(w, ch, photo); err != nil {
			return err
		}
		if keep != nil {
			return keep(tx, &r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if refused != nil {
		return nil, refused
	}
	if emit != nil {
		emit()
		d.kick()
	}
	return out, nil
}

// keepFunc keeps, in a write transaction, an op's answer for booking r
// (svc.Request.Keep).
type keepFunc func(tx *bolt.Tx, r *record) error

// keepView keeps the answer {"booking": view} that req's op gives for the
// booking it changed: the one d.answer makes, with private decided before
// the transaction (deciding reads a desk's presence, which is not read
// inside a write). When the view cannot be made nothing is kept: the
// handler answers the error after the commit.
func (d *Desk) keepView(req *svc.Request, private bool) keepFunc {
	return func(tx *bolt.Tx, r *record) error {
		v, err := d.view(r, private)
		if err != nil {
			return nil
		}
		d.redact(req.From, &v, private)
		return req.Keep(tx, map[string]any{"booking": v})
	}
}
