package booking

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/proto"
)

// get answers one booking: its customer, staff, the device that made it,
// and progress roles (cameras) may read it.
func (d *Desk) get(_ context.Context, req *svc.Request) (any, error) {
	var q bookingReq
	if err := decode(req.Body, &q); err != nil {
		return nil, err
	}
	r, err := d.loadBooking(q.Booking, req.From, false)
	if err != nil {
		return nil, err
	}
	v, err := d.viewFor(req.From, r)
	if err != nil {
		return nil, err
	}
	ans := proto.BookingDetail{Booking: v}
	if d.staff(req.From.Role) {
		if r.Profile != "" {
			if p, err := d.profileOf(r); err == nil && p != nil {
				ans.Profile = p
			}
		}
		if s, err := d.SurveyOf(r.ID); err == nil && s != nil {
			ans.Survey = s
		}
	}
	return ans, nil
}

// profileOf reads a booking's profile (nil when it was deleted).
func (d *Desk) profileOf(r *record) (*Profile, error) {
	var rec *profileRecord
	if err := d.o.DB.View(func(tx *bolt.Tx) error {
		var err error
		rec, err = getProfile(tx, r.Profile)
		return err
	}); err != nil || rec == nil || rec.Customer != r.Customer {
		return nil, err
	}
	p, err := d.openProfile(r.Profile, rec)
	if err != nil {
		return nil, err
	}
	return &p.Profile, nil
}

// list answers a customer's bookings from a date on (default today),
// soonest first; staff and kiosks name the customer.
func (d *Desk) list(_ context.Context, req *svc.Request) (any, error) {
	var q listReq
	if err := decode(req.Body, &q); err != nil {
		return nil, err
	}
	customer, err := d.customerFor(req.From, q.Customer)
	if err != nil {
		return nil, err
	}
	from := DateOf(d.now(), d.cat().Location())
	if q.From != "" {
		if from, err = ParseDate(q.From); err != nil {
			return nil, failf(svc.CodeBadRequest, ReasonBadTime, `"from" must be a date like 2026-11-24`)
		}
	}
	y, m, dd := from.YMD()
	start := timeIn(y, m, dd, d.cat().Location())
	var recs []*record
	var more bool
	prefix := append([]byte(customer), 0)
	err = d.o.DB.View(func(tx *bolt.Tx) error {
		var err error
		recs, more, err = bookingsUnder(tx, bByCust, prefix, append(prefix, ms(start)...), d.o.PageSize)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("booking: list: %w", err)
	}
	out := make([]View, 0, len(recs))
	for _, r := range recs {
		if !d.mayTouch(req.From, r, false) {
			continue
		}
		v, err := d.viewFor(req.From, r)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return proto.BookingList{Customer: customer, Bookings: out, More: more}, nil
}

// BoardEntry is one booking on the staff's board, with what staff must
// know before the pet or baby arrives.
type BoardEntry = proto.BoardEntry

// board answers one day's bookings for staff, in start order.
func (d *Desk) board(_ context.Context, req *svc.Request) (any, error) {
	var q boardReq
	if err := decode(req.Body, &q); err != nil {
		return nil, err
	}
	if !d.staff(req.From.Role) {
		return nil, svc.Errorf(svc.CodeForbidden, "the board is for staff")
	}
	day := DateOf(d.now(), d.cat().Location())
	if q.Date != "" {
		var err error
		if day, err = ParseDate(q.Date); err != nil {
			return nil, failf(svc.CodeBadRequest, ReasonBadTime, `"date" must be a date like 2026-11-24`)
		}
	}
	var recs []*record
	err := d.o.DB.View(func(tx *bolt.Tx) error {
		var err error
		recs, _, err = bookingsUnder(tx, bByDay, dayKey(day), dayKey(day), 0)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("booking: board: %w", err)
	}
	out := make([]BoardEntry, 0, len(recs))
	for _, r := range recs {
		v, err := d.view(r, true)
		if err != nil {
			return nil, err
		}
		e := BoardEntry{Booking: v}
		if r.Profile != "" {
			if e.Profile, err = d.profileOf(r); err != nil {
				return nil, err
			}
		}
		out = append(out, e)
	}
	return proto.Board{Date: day.String(), Bookings: out}, nil
}

// timeIn is local midnight starting the date.
func timeIn(y int, m time.Month, d int, loc *time.Location) time.Time {
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

// bookingsUnder reads the bookings an index (booking_byday or booking_bycust:
// prefix, start ms, booking id) holds under prefix, from key seek on, at most
// limit (0 = all); more says whether there are more.
func bookingsUnder(tx *bolt.Tx, bucket, prefix, seek []byte, limit int) (recs []*record, more bool, err error) {
	b := tx.Bucket(bucket)
	if b == nil {
		return nil, false, nil
	}
	c := b.Cursor()
	for k, _ := c.Seek(seek); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if limit > 0 && len(recs) == limit {
			return recs, true, nil
		}
		r, err := getBooking(tx, string(k[len(prefix)+8:]))
		if err != nil {
			return nil, false, err
		}
		if r != nil {
			recs = append(recs, r)
		}
	}
	return recs, false, nil
}
