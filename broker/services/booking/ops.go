package booking

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/proto"
)

// Sources of a booking.
var sources = []string{"kiosk", "chat", "staff", "phone", "walk_in", "hq"}

// MaxAvailabilityDays bounds one availability request (a month).
const MaxAvailabilityDays = 31

func contains(list []string, v string) bool { return slices.Contains(list, v) }

// update runs fn in a durable write transaction. An *svc.Error from fn is
// the answer; a full database is quota_exceeded; anything else unavailable.
// fn should not fail on bad input: an error rolls back the whole group
// commit and makes every write in it run again alone. Check before, and
// inside fn set a flag and write nothing.
func (d *Desk) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	return svc.FromCommit("booking", d.o.DB.Update(ctx, fn))
}

func (d *Desk) service(id string) (*Service, error) {
	if err := checkID("service", id); err != nil {
		return nil, err
	}
	s, ok := d.cat().Service(id)
	if !ok {
		return nil, failf(svc.CodeNotFound, ReasonUnknownService, "no service %q; the services op lists them", id)
	}
	return s, nil
}

// services answers the catalogue, for kiosks and phones.
func (d *Desk) services(_ context.Context, req *svc.Request) (any, error) {
	var r servicesReq
	if err := decode(req.Body, &r); err != nil {
		return nil, err
	}
	out := make([]proto.Service, 0, len(d.cat().Services))
	for _, s := range d.cat().Services {
		it := proto.Service{ID: s.ID, Name: proto.Text(s.Name), Category: s.Category, Minutes: int(s.Duration / time.Minute),
			Price: s.Price, Currency: s.Currency, Needs: []proto.Need{}, Species: s.Fits.Species, Sizes: s.Fits.Sizes}
		for _, n := range s.Needs {
			it.Needs = append(it.Needs, proto.Need(n))
		}
		if s.Fits.HasAge {
			it.BabyAgeMonths = []int{s.Fits.MinAgeMonths, s.Fits.MaxAgeMonths}
		}
		out = append(out, it)
	}
	return proto.Catalogue{Services: out, TimeZone: d.cat().Location().String(),
		Stages: d.cat().Stages, HorizonDays: d.cat().HorizonDays, Week: d.week()}, nil
}

// availability answers the free starts of a service on one or more days.
func (d *Desk) availability(_ context.Context, req *svc.Request) (any, error) {
	var r availabilityReq
	if err := decode(req.Body, &r); err != nil {
		return nil, err
	}
	s, err := d.service(r.Service)
	if err != nil {
		return nil, err
	}
	now := d.now()
	from := DateOf(now, d.cat().Location())
	if r.Date != "" {
		if from, err = ParseDate(r.Date); err != nil {
			return nil, failf(svc.CodeBadRequest, ReasonBadTime, `"date" must be a date like 2026-11-24: %v`, err)
		}
	}
	switch {
	case r.Days < 0 || r.Days > MaxAvailabilityDays:
		return nil, svc.Errorf(svc.CodeBadRequest, `"days" must be 1-%d (0 = 1)`, MaxAvailabilityDays)
	case r.Days == 0:
		r.Days = 1
	}
	if r.Exclude != "" {
		if err := checkID("exclude", r.Exclude); err != nil {
			return nil, err
		}
	}
	days := make([]proto.DaySlots, 0, r.Days)
	last := DateOf(now, d.cat().Location()).AddDays(d.cat().HorizonDays)
	err = d.o.DB.View(func(tx *bolt.Tx) error {
		for i := range r.Days {
			date := from.AddDays(i)
			if date > last {
				break
			}
			busy, err := busyOn(tx, date)
			if err != nil {
				return err
			}
			ds := proto.DaySlots{Date: date.String(), Slots: d.slotViews(d.cat().Slots(s, date, busy, now, r.Exclude))}
			if c, ok := d.shop.Load().closureOn(date); ok {
				ds.Closed = &c.Reason
			}
			days = append(days, ds)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("booking: availability: %w", err)
	}
	return proto.Availability{Service: s.ID, Days: days}, nil
}

// placeErr turns Catalog.Place's refusal into the answer.
func (d *Desk) placeErr(ctx context.Context, err error, s *Service, start time.Time, exclude string) error {
	switch {
	case errors.Is(err, ErrClosed):
		return d.closedErr(s, start, exclude)
	case errors.Is(err, ErrOutsideHours):
		return failf(svc.CodeBadRequest, ReasonOutsideHours, "%s-%s is outside the opening hours",
			d.fmtTime(start), d.fmtTime(start.Add(s.Duration)))
	case errors.Is(err, ErrNotMinute):
		return failf(svc.CodeBadRequest, ReasonBadTime, `"start" must be on a whole minute`)
	case errors.Is(err, ErrTaken):
		return d.conflict(ctx, s, start, exclude)
	}
	return err
}

// conflict answers a taken slot with the nearest free ones.
func (d *Desk) conflict(_ context.Context, s *Service, start time.Time, exclude string) error {
	alts, err := d.alternatives(s, start, exclude)
	if err != nil {
		return err
	}
	return svc.WithDetails(svc.Errorf(svc.CodeConflict, "%s at %s is taken", s.ID, d.fmtTime(start)),
		map[string]any{"reason": ReasonTaken, "alternatives": alts})
}

func (d *Desk) alternatives(s *Service, start time.Time, exclude string) ([]SlotView, error) {
	var alts []Slot
	err := d.o.DB.View(func(tx *bolt.Tx) error {
		var err error
		alts, err = d.nearest(s, start, exclude, func(day Date) ([]Busy, error) { return busyOn(tx, day) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("booking: alternatives: %w", err)
	}
	return d.slotViews(alts), nil
}

// alternativeDays is how many days around a wanted start alternatives come from.
const alternativeDays = 7

// nearest finds the free slots nearest to want that can be booked: not
// before now, not past the horizon (a wish beyond it is moved to its last day).
func (d *Desk) nearest(s *Service, want time.Time, exclude string, busyOn func(Date) ([]Busy, error)) ([]Slot, error) {
	return d.nearestIn(d.cat(), s, want, exclude, busyOn)
}

// nearestIn is nearest under the catalogue cat.
func (d *Desk) nearestIn(cat *Catalog, s *Service, want time.Time, exclude string, busyOn func(Date) ([]Busy, error)) ([]Slot, error) {
	now := d.now()
	loc := cat.Location()
	last := DateOf(now, loc).AddDays(cat.HorizonDays)
	if want.Before(now) {
		want = now
	}
	if DateOf(want, loc) > last {
		y, m, dd := last.YMD()
		want = time.Date(y, m, dd, want.In(loc).Hour(), want.In(loc).Minute(), 0, 0, loc)
	}
	days := 1
	for days < alternativeDays && DateOf(want, loc).AddDays(days) <= last {
		days++
	}
	return cat.Nearest(s, want, d.o.Alternatives, days, now, exclude, busyOn)
}

// checkWhen refuses a start in the past or beyond the horizon.
func (d *Desk) checkWhen(start, now time.Time) error {
	if start.Before(now) {
		return failf(svc.CodeBadRequest, ReasonInPast, "%s has passed", d.fmtTime(start))
	}
	if DateOf(start, d.cat().Location()) > DateOf(now, d.cat().Location()).AddDays(d.cat().HorizonDays) {
		return failf(svc.CodeBadRequest, ReasonBeyondHorizon, "bookings open %d days ahead", d.cat().HorizonDays)
	}
	return nil
}

// bookFor decides whose booking a request makes and its source.
func (d *Desk) bookFor(who auth.Identity, customer, source string) (string, string, error) {
	switch {
	case who.Device == "":
		return "", "", svc.Errorf(svc.CodeForbidden, "booking needs a registered device or a customer login")
	case who.Customer:
		if customer != "" && customer != who.Device {
			return "", "", failf(svc.CodeForbidden, ReasonNotYours, "customers book for themselves")
		}
		if source != "" && source != "chat" {
			return "", "", svc.Errorf(svc.CodeBadRequest, `a customer's booking has source "chat"`)
		}
		return who.Device, "chat", nil
	case d.staff(who.Role), d.desk(who.Role):
		if customer == "" && !d.staff(who.Role) {
			// A kiosk books for the customer at it, when one confirmed.
			var err error
			if customer, err = d.present(who); err != nil {
				return "", "", err
			}
		}
		if customer == "" {
			return "", "", svc.Errorf(svc.CodeBadRequest, `"customer" is required: whose booking is it?`)
		}
		if err := checkID("customer", customer); err != nil {
			return "", "", err
		}
		def := "kiosk"
		if d.staff(who.Role) {
			def = "staff"
		}
		if source == "" {
			source = def
		}
		if !contains(sources, source) || source == "hq" || (!d.staff(who.Role) && source != def) {
			return "", "", svc.Errorf(svc.CodeBadRequest, `"source" must be one of %v (kiosks: kiosk)`, sources[:5])
		}
		return customer, source, nil
	}
	return "", "", svc.Errorf(svc.CodeForbidden, "role %s does not book", who.Role)
}

// newBooking is a booking about to be placed.
type newBooking struct {
	id, customer, source, by, hqRequest string
	svc                                 *Service
	start                               time.Time
	profile                             *storedProfile
	personal                            personal
	reqKey                              []byte // requester+request id → booking id
	allowOverlap                        bool   // the customer may have another visit at that time
}

// placed is what a booking transaction did.
type placed struct {
	rec      *record
	taken    error   // Place's refusal, answered after the transaction
	overlap  *record // the customer's visit at that time, answered after the transaction
	emit     func()
	repeated bool
}

// place stores a new booking when its slot is free. Everything about the
// request was checked before; inside the transaction only the slot and the
// request id are looked at again, so two racing requests for the last slot
// get one booking and one refusal (bbolt runs write transactions one at a
// time, and each sees the ones before).
//
// keep, when not nil, keeps the op's answer for the booking in the same
// transaction (see keepView).
func (d *Desk) place(ctx context.Context, nb *newBooking, now time.Time, extra func(w *wtx, p *placed) error, keep keepFunc) (*placed, error) {
	p := &placed{}
	err := d.update(ctx, func(tx *bolt.Tx) error {
		*p = placed{}
		w, err := writable(tx)
		if err != nil {
			return err
		}
		if id := w.ids.Get(nb.reqKey); id != nil {
			p.rec, err = getBooking(tx, string(id))
			p.repeated = true
			if err != nil || p.rec == nil || keep == nil {
				return err
			}
			return keep(tx, p.rec)
		}
		if !nb.allowOverlap {
			if p.overlap, err = overlapping(tx, nb.customer, nb.start, nb.start.Add(nb.svc.Duration), ""); err != nil || p.overlap != nil {
				return err
			}
		}
		day := DateOf(nb.start, d.cat().Location())
		busy, err := busyOn(tx, day)
		if err != nil {
			return err
		}
		res, err := d.cat().Place(nb.svc, nb.start, busy, "")
		if err != nil {
			p.taken = err
			if extra != nil {
				return extra(w, p)
			}
			return nil
		}
		r := &record{ID: nb.id, Customer: nb.customer, Service: nb.svc.ID, Start: nb.start.UTC(),
			End: nb.start.Add(nb.svc.Duration).UTC(), Resources: res, Status: StatusBooked, Source: nb.source,
			By: nb.by, HQRequest: nb.hqRequest, Created: now, Updated: now, Rev: 1}
		if nb.profile != nil {
			r.Profile = nb.profile.ID
		}
		if r.Sealed, err = d.sealPersonal(r.ID, nb.personal); err != nil {
			return err
		}
		if err := w.ids.Put(nb.reqKey, []byte(r.ID)); err != nil {
			return fmt.Errorf("booking: put request id: %w", err)
		}
		if err := d.putContact(tx, r.Customer, nb.personal.Contact, now); err != nil {
			return err
		}
		if err := d.store(w, r, nil); err != nil {
			return err
		}
		if err := d.schedule(w, r, now); err != nil {
			return err
		}
		if p.emit, err = d.commit(w, d.change(ChangeCreated, r, nb.by, now), nil); err != nil {
			return err
		}
		p.rec = r
		if extra != nil {
			if err := extra(w, p); err != nil {
				return err
			}
		}
		if keep != nil {
			return keep(tx, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (d *Desk) book(ctx context.Context, req *svc.Request) (any, error) {
	var r bookReq
	if err := decode(req.Body, &r); err != nil {
		return nil, err
	}
	s, err := d.service(r.Service)
	if err != nil {
		return nil, err
	}
	start, err := parseTime("start", r.Start)
	if err != nil {
		return nil, err
	}
	if r.Customer == "" && d.staff(req.From.Role) && r.Contact != nil {
		// A walk-in or a phone call: a new customer, known by name and phone.
		if r.Customer, err = newWalkIn(r.Contact, req.From.Device, req.ID); err != nil {
			return nil, err
		}
	}
	customer, source, err := d.bookFor(req.From, r.Customer, r.Source)
	if err != nil {
		return nil, err
	}
	if err := checkText("notes", r.Notes, d.o.MaxNotesBytes); err != nil {
		return nil, err
	}
	if err := checkContact(r.Contact); err != nil {
		return nil, err
	}
	nb := &newBooking{id: derivedID("bk-", req.From.Device, req.ID), customer: customer, source: source,
		by: req.From.Device, svc: s, start: start, personal: personal{Notes: r.Notes, Contact: r.Contact},
		reqKey: requestKey(req.From.Device, req.ID), allowOverlap: r.ConfirmOverlap}
	return d.bookChecked(ctx, nb, r.Profile, req.From, d.keepView(req, true))
}

// bookChecked checks the profile, the time and the slot of a decoded
// booking request, then places it.
func (d *Desk) bookChecked(ctx context.Context, nb *newBooking, profileID string, who auth.Identity, keep keepFunc) (any, error) {
	now := d.now()
	// A repeat of a request that made a booking gets the booking, even
	// when its time has passed since.
	if rec, err := d.byRequest(nb.reqKey); err != nil || rec != nil {
		if err != nil {
			return nil, err
		}
		v, err := d.view(rec, true)
		return proto.BookingAnswer{Booking: v}, err
	}
	if profileID != "" {
		p, err := d.loadProfile(profileID, nb.customer, who)
		if err != nil {
			return nil, err
		}
		if err := fits(nb.svc, p, nb.start, d.cat().Location()); err != nil {
			return nil, err
		}
		nb.profile = p
	}
	if err := d.checkWhen(nb.start, now); err != nil {
		return nil, err
	}
	if !nb.allowOverlap {
		if err := d.checkOverlap(who, nb.customer, nb.start, nb.start.Add(nb.svc.Duration), ""); err != nil {
			return nil, err
		}
	}
	// Closed days and hours answer without a write.
	if err := d.o.DB.View(func(tx *bolt.Tx) error {
		_, err := d.cat().Place(nb.svc, nb.start, nil, "")
		return err
	}); err != nil {
		return nil, d.placeErr(ctx, err, nb.svc, nb.start, "")
	}
	p, err := d.place(ctx, nb, now, nil, keep)
	if err != nil {
		return nil, err
	}
	if p.overlap != nil {
		return nil, d.overlapErr(who, p.overlap)
	}
	if p.taken != nil {
		return nil, d.placeErr(ctx, p.taken, nb.svc, nb.start, "")
	}
	p.emit()
	d.kick()
	if !p.repeated {
		if err := d.audit(ctx, who, "booking.book", nil, p.rec); err != nil {
			return nil, err
		}
	}
	v, err := d.view(p.rec, true)
	return proto.BookingAnswer{Booking: v}, err
}

func checkContact(c *Contact) error {
	if c == nil {
		return nil
	}
	if err := checkText("contact.name", c.Name, 64); err != nil {
		return err
	}
	return checkText("contact.phone", c.Phone, 32)
}

func (d *Desk) answer(r *record, who auth.Identity) (any, error) {
	v, err := d.viewFor(who, r)
	if err != nil {
		return nil, err
	}
	return proto.BookingAnswer{Booking: v}, nil
}

func wrongState(r *record, want string) error {
	return failf(svc.CodeConflict, ReasonWrongState, "booking %s is %s; this needs it %s", r.ID, r.Status, want)
}

func (d *Desk) reschedule(ctx context.Context, req *svc.Request) (any, error) {
	var q rescheduleReq
	if err := decode(req.Body, &q); err != nil {
		return nil, err
	}
	start, err := parseTime("start", q.Start)
	if err != nil {
		return nil, err
	}
	r, err := d.loadBooking(q.Booking, req.From, true)
	if err != nil {
		return nil, err
	}
	s, err := d.service(r.Service)
	if err != nil {
		return nil, err
	}
	if r.Status != StatusBooked {
		return nil, wrongState(r, StatusBooked)
	}
	if start.Equal(r.Start) {
		return d.answer(r, req.From) // a repeat, or nothing to move
	}
	now := d.now()
	if err := d.checkWhen(start, now); err != nil {
		return nil, err
	}
	if r.Profile != "" {
		if p, err := d.loadProfile(r.Profile, r.Customer, auth.Identity{Role: d.o.StaffRoles[0]}); err == nil {
			if err := fits(s, p, start, d.cat().Location()); err != nil {
				return nil, err
			}
		}
	}
	if _, err := d.cat().Place(s, start, nil, ""); err != nil {
		return nil, d.placeErr(ctx, err, s, start, r.ID)
	}
	if !q.ConfirmOverlap {
		if err := d.checkOverlap(req.From, r.Customer, start, start.Add(s.Duration), r.ID); err != nil {
			return nil, err
		}
	}
	var taken error
	var overlap *record
	out, err := d.mutate(ctx, r.ID, now, func(r *record, now time.Time) (*Change, error) {
		taken, overlap = nil, nil
		if r.Status != StatusBooked {
			return nil, wrongState(r, StatusBooked)
		}
		if start.Equal(r.Start) {
			return nil, nil
		}
		return &Change{Type: ChangeRescheduled, Booking: r.ID, Customer: r.Customer, Service: r.Service,
			Source: r.Source, By: req.From.Device, HQRequest: r.HQRequest, TS: now}, nil
	}, func(w *wtx, r, old *record) error {
		var err error
		overlap, taken, err = d.moveIn(w, r, old, s, start, now, q.ConfirmOverlap)
		return err
	}, d.keepView(req, d.private(req.From, r)))
	if errors.Is(err, errTaken) && overlap != nil {
		return nil, d.overlapErr(req.From, overlap)
	}
	if errors.Is(err, errTaken) {
		return nil, d.placeErr(ctx, taken, s, start, r.ID)
	}
	if err != nil {
		return nil, err
	}
	if err := d.audit(ctx, req.From, "booking.reschedule", r, out); err != nil {
		return nil, err
	}
	return d.answer(out, req.From)
}

// errTaken rolls back a reschedule whose new slot was taken meanwhile. It
// is the one error a booking transaction returns on purpose: the slot
// check needs the booking's old entries removed first.
var errTaken = errors.New("booking: slot taken")

// release ends a booking that will not happen: its resources are free again
// and its reminders dropped.
func (d *Desk) release(ctx context.Context, req *svc.Request, typ, status string, staffOnly bool) (any, error) {
	var q bookingReq
	if err := decode(req.Body, &q); err != nil {
		return nil, err
	}
	if err := checkText("reason", q.Reason, d.o.MaxNotesBytes); err != nil {
		return nil, err
	}
	if staffOnly && !d.staff(req.From.Role) {
		return nil, svc.Errorf(svc.CodeForbidden, "only staff mark a %s", typ)
	}
	r, err := d.loadBooking(q.Booking, req.From, true)
	if err != nil {
		return nil, err
	}
	if r.Status == status {
		return d.answer(r, req.From)
	}
	now := d.now()
	if typ == ChangeNoShow && now.Before(r.Start) {
		return nil, failf(svc.CodeConflict, ReasonWrongState, "booking %s starts at %s: not a no-show yet", r.ID, d.fmtTime(r.Start))
	}
	out, err := d.mutate(ctx, r.ID, now, func(r *record, now time.Time) (*Change, error) {
		if r.Status == status {
			return nil, nil
		}
		if r.Status != StatusBooked {
			return nil, wrongState(r, StatusBooked)
		}
		r.Status = status
		if err := d.withReason(r, q.Reason); err != nil {
			return nil, err
		}
		return &Change{Type: typ, Booking: r.ID, Customer: r.Customer, Service: r.Service, Source: r.Source,
			By: req.From.Device, HQRequest: r.HQRequest, TS: now}, nil
	}, func(w *wtx, r, old *record) error { return d.unschedule(w, old) }, d.keepView(req, d.private(req.From, r)))
	if err != nil {
		return nil, err
	}
	action := "booking.cancel"
	if typ == ChangeNoShow {
		action = "booking.no_show"
	}
	if err := d.audit(ctx, req.From, action, r, out); err != nil {
		return nil, err
	}
	return d.answer(out, req.From)
}

func (d *Desk) cancel(ctx context.Context, req *svc.Request) (any, error) {
	return d.release(ctx, req, ChangeCancelled, StatusCancelled, false)
}

func (d *Desk) noShow(ctx context.Context, req *svc.Request) (any, error) {
	return d.release(ctx, req, ChangeNoShow, StatusNoShow, true)
}

func (d *Desk) checkIn(ctx context.Context, req *svc.Request) (any, error) {
	var q bookingReq
	if err := decode(req.Body, &q); err != nil {
		return nil, err
	}
	if !d.staff(req.From.Role) && !d.desk(req.From.Role) {
		return nil, svc.Errorf(svc.CodeForbidden, "check-in is at the kiosk or by staff")
	}
	r, err := d.loadBooking(q.Booking, req.From, false)
	if err != nil {
		return nil, err
	}
	if r.Status == StatusCheckedIn {
		return d.answer(r, req.From)
	}
	now := d.now()
	if DateOf(now, d.cat().Location()) != DateOf(r.Start, d.cat().Location()) {
		return nil, failf(svc.CodeConflict, ReasonWrongState, "booking %s is on %s; check in on the day", r.ID, DateOf(r.Start, d.cat().Location()))
	}
	first := d.cat().Stages[0]
	out, err := d.mutate(ctx, r.ID, now, func(r *record, now time.Time) (*Change, error) {
		if r.Status == StatusCheckedIn {
			return nil, nil
		}
		if r.Status != StatusBooked {
			return nil, wrongState(r, StatusBooked)
		}
		r.Status, r.Stage = StatusCheckedIn, first
		r.Progress = append(r.Progress, progress{Stage: first, TS: now, By: req.From.Device})
		return &Change{Type: ChangeCheckedIn, Booking: r.ID, Customer: r.Customer, Service: r.Service, Source: r.Source,
			By: req.From.Device, HQRequest: r.HQRequest, TS: now}, nil
	}, func(w *wtx, r, old *record) error { return d.unschedule(w, old) }, d.keepView(req, d.private(req.From, r)))
	if err != nil {
		return nil, err
	}
	return d.answer(out, req.From)
}

func (d *Desk) complete(ctx context.Context, req *svc.Request) (any, error) {
	var q bookingReq
	if err := decode(req.Body, &q); err != nil {
		return nil, err
	}
	if !d.staff(req.From.Role) {
		return nil, svc.Errorf(svc.CodeForbidden, "only staff complete a booking")
	}
	r, err := d.loadBooking(q.Booking, req.From, true)
	if err != nil {
		return nil, err
	}
	if r.Status == StatusCompleted {
		return d.answer(r, req.From)
	}
	out, err := d.mutate(ctx, r.ID, d.now(), func(r *record, now time.Time) (*Change, error) {
		if r.Status == StatusCompleted {
			return nil, nil
		}
		if r.Status != StatusCheckedIn {
			return nil, wrongState(r, StatusCheckedIn)
		}
		r.Status = StatusCompleted
		return &Change{Type: ChangeCompleted, Booking: r.ID, Customer: r.Customer, Service: r.Service, Source: r.Source,
			By: req.From.Device, HQRequest: r.HQRequest, TS: now}, nil
	}, func(w *wtx, r, _ *record) error { return d.scheduleSurvey(w, r, r.Updated) }, d.keepView(req, d.private(req.From, r)))
	if err != nil {
		return nil, err
	}
	return d.answer(out, req.From)
}

// moveIn moves r (old: as stored) to start in w, rescheduling its
// reminders. It answers errTaken with overlap set when another booking of
// the customer's overlaps (unless allowOverlap), or with taken set (the
// catalogue's reason) when the service does not fit the slot's resources.
func (d *Desk) moveIn(w *wtx, r, old *record, s *Service, start, now time.Time, allowOverlap bool) (overlap *record, taken error, err error) {
	if !allowOverlap {
		o, err := overlapping(w.tx, r.Customer, start, start.Add(s.Duration), r.ID)
		if err != nil {
			return nil, nil, err
		}
		if o != nil {
			return o, nil, errTaken
		}
	}
	busy, err := busyOn(w.tx, DateOf(start, d.cat().Location()))
	if err != nil {
		return nil, nil, err
	}
	res, err := d.cat().Place(s, start, busy, r.ID)
	if err != nil {
		return nil, err, errTaken
	}
	if err := d.unschedule(w, old); err != nil {
		return nil, nil, err
	}
	r.Start, r.End, r.Resources, r.Reminded = start.UTC(), start.Add(s.Duration).UTC(), res, nil
	return nil, nil, d.schedule(w, r, now)
}
