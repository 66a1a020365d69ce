package booking

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/proto"
)

// Online bookings made at HQ arrive as requests: the store is the system of
// record for its slots, so it confirms or rejects each one when it arrives —
// possibly days late, after a walk-in took the slot — and files the outcome
// for HQ. The outcome is stored under HQ's request id: a request replayed
// after an outage gets the same outcome and books nothing twice.
const (
	// HQRequestTopic carries an online booking request (HQ → store).
	HQRequestTopic = proto.HQBookingRequestTopic
	// HQCancelTopic carries an online customer's cancellation (HQ → store).
	HQCancelTopic = proto.HQBookingCancelTopic
	// HQMoveTopic carries a customer's move of her booking to a new start
	// (HQ → store), answered with an Outcome like a request.
	HQMoveTopic = proto.HQBookingMoveTopic
	// HQAvailabilityTopic asks for a service's free starts, live (HQ →
	// store); the answer goes up on HQAvailabilityAnswerTopic.
	HQAvailabilityTopic = proto.HQBookingAvailabilityTopic
	// HQAvailabilityAnswerTopic carries the store's live answer (store → HQ,
	// through the Outbox only).
	HQAvailabilityAnswerTopic = proto.TopicAvailabilityAnswer
	// MaxHQAvailabilityDays bounds one live availability request from HQ.
	MaxHQAvailabilityDays = 7
	// RemotePrefix starts the id of a customer who books through HQ.
	RemotePrefix = "hq-"
	// hqDevice is HQ as a requester: "@" cannot start a device id, so no
	// device shares HQ's request ids or derived booking ids.
	hqDevice = "@hq"
)

// ErrHQInput marks an HQ message that cannot be answered (no valid id);
// HandleHQ drops it and the bridge logs it.
var ErrHQInput = errors.New("booking: invalid message from HQ")

type (
	hqRequest = proto.HQBookingRequest
	hqCancel  = proto.HQBookingCancel
	hqMove    = proto.HQBookingMove
)

// hqCustomer reports whether id names a customer HQ may act for: one who
// books only through HQ (hq-…) or the store's own customer at home
// (cust-…, vouched for by the store).
func hqCustomer(id string) bool {
	return idPattern.MatchString(id) && (strings.HasPrefix(id, RemotePrefix) || strings.HasPrefix(id, auth.CustomerPrefix))
}

// Outcome is the store's answer to an HQ request (proto.HQBookingOutcome).
type Outcome = proto.HQBookingOutcome

// HandleHQ handles what HQ sent on topic and returns the outcome (also
// filed in the Outbox and published on HQOutcomeTopic). Safe to call again
// with the same payload. A live availability request has no outcome: it
// returns nil, nil once the answer is filed (or the request dropped).
func (d *Desk) HandleHQ(ctx context.Context, topic string, payload []byte) (*Outcome, error) {
	var id, customer string
	var handle func() (*Outcome, error)
	switch topic {
	case HQRequestTopic:
		var q hqRequest
		if err := decodeHQ(payload, &q); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrHQInput, err)
		}
		id, customer = q.ID, q.Customer
		handle = func() (*Outcome, error) { return d.hqBook(ctx, &q) }
	case HQCancelTopic:
		var q hqCancel
		if err := decodeHQ(payload, &q); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrHQInput, err)
		}
		id, customer = q.ID, q.Customer
		handle = func() (*Outcome, error) { return d.hqCancel(ctx, &q) }
	case HQMoveTopic:
		var q hqMove
		if err := decodeHQ(payload, &q); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrHQInput, err)
		}
		id, customer = q.ID, q.Customer
		handle = func() (*Outcome, error) { return d.hqMove(ctx, &q) }
	case HQAvailabilityTopic:
		// Answered (or dropped) without an Outcome: nothing is stored.
		return nil, d.hqAvailability(ctx, payload)
	default:
		return nil, fmt.Errorf("%w: unknown topic %q", ErrHQInput, topic)
	}
	if !idPattern.MatchString(id) || !hqCustomer(customer) {
		return nil, fmt.Errorf("%w: want v 1, an id and a customer id starting with %q or %q", ErrHQInput, RemotePrefix, auth.CustomerPrefix)
	}
	if o, err := d.storedOutcome(id); err != nil || o != nil {
		if err != nil {
			return nil, err
		}
		// A replay: the same outcome again, for HQ and the consoles.
		if err := d.update(ctx, func(tx *bolt.Tx) error { return d.fileOutcome(tx, o, false) }); err != nil {
			return nil, err
		}
		d.emitOutcome(o)
		return o, nil
	}
	o, err := handle()
	if err != nil {
		return nil, err
	}
	d.emitOutcome(o)
	return o, nil
}

// decodeHQ decodes an HQ message. Unlike a device's request it accepts
// fields it does not know: HQ may be a version ahead of the store, and a
// request must not be dropped unanswered for a field the store ignores.
func decodeHQ(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return svc.Errorf(svc.CodeBadRequest, "%v", err)
	}
	return nil
}

func (d *Desk) storedOutcome(id string) (*Outcome, error) {
	var o *Outcome
	err := d.o.DB.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bHQ)
		if b == nil {
			return nil
		}
		v := b.Get([]byte(id))
		if v == nil {
			return nil
		}
		o = &Outcome{}
		if err := json.Unmarshal(v, o); err != nil {
			return fmt.Errorf("%w: outcome %s: %w", errCorrupt, id, err)
		}
		return nil
	})
	return o, err
}

// fileOutcome stores o (first time) and puts it in the Outbox.
func (d *Desk) fileOutcome(tx *bolt.Tx, o *Outcome, store bool) error {
	o.V = 1
	p, err := json.Marshal(o)
	if err != nil {
		return fmt.Errorf("booking: encode outcome: %w", err)
	}
	if store {
		w, err := writable(tx)
		if err != nil {
			return err
		}
		if err := w.hq.Put([]byte(o.Request), p); err != nil {
			return fmt.Errorf("booking: put outcome: %w", err)
		}
	}
	if d.o.Outbox != nil {
		if err := d.o.Outbox.Put(tx, HQOutcomeTopic, p); err != nil {
			return fmt.Errorf("booking: outbox: %w", err)
		}
	}
	return nil
}

func (d *Desk) emitOutcome(o *Outcome) {
	if err := d.o.Router.Emit(HQOutcomeTopic, o); err != nil {
		d.log.Warn("booking: outcome not published", "request", o.Request, "err", err)
	}
}

// hqIdentity is an online customer as a caller.
func hqIdentity(customer string) auth.Identity {
	return auth.Identity{Device: customer, Role: "customer", ClientID: customer, Customer: true}
}

func (d *Desk) hqBook(ctx context.Context, q *hqRequest) (*Outcome, error) {
	now := d.now()
	o := &Outcome{Request: q.ID, Customer: q.Customer, TS: now}
	reject := func(err error, alts []SlotView) (*Outcome, error) {
		var se *svc.Error
		if !errors.As(err, &se) {
			return nil, err
		}
		o.Code, o.Message, o.Alternatives = se.Code, se.Message, alts
		if m, ok := se.Details.(map[string]any); ok {
			o.Reason, _ = m["reason"].(string)
			if a, ok := m["alternatives"].([]SlotView); ok && o.Alternatives == nil {
				o.Alternatives = a
			}
		}
		return d.hqRejectTx(ctx, o, q)
	}
	if q.V != 1 {
		return reject(svc.Errorf(svc.CodeBadRequest, `"v" must be 1`), nil)
	}
	s, err := d.service(q.Service)
	if err != nil {
		return reject(err, nil)
	}
	start, err := parseTime("start", q.Start)
	if err != nil {
		return reject(err, nil)
	}
	if err := checkText("notes", q.Notes, d.o.MaxNotesBytes); err != nil {
		return reject(err, nil)
	}
	if err := checkContact(q.Contact); err != nil {
		return reject(err, nil)
	}
	var prof *storedProfile
	if q.Profile != nil {
		p := *q.Profile
		if err := d.checkProfile(&p); err != nil {
			return reject(err, nil)
		}
		// HQ's profile id names the pet at HQ; the store's id is made from
		// it and the customer, so HQ can neither pick nor overwrite another
		// customer's profile, and the same pet sent again is one profile.
		hqID := p.ID
		if hqID == "" {
			hqID = q.ID
		} else if err := checkID("profile.id", hqID); err != nil {
			return reject(err, nil)
		}
		p.ID = derivedID("pf-", hqDevice, q.Customer, hqID)
		prof = &storedProfile{Profile: p, Customer: q.Customer}
		if err := fits(s, prof, start, d.cat().Location()); err != nil {
			return reject(err, nil)
		}
	}
	if err := d.checkWhen(start, now); err != nil {
		alts, aerr := d.alternatives(s, start, "")
		if aerr != nil {
			return nil, aerr
		}
		return reject(err, alts)
	}
	if _, err := d.cat().Place(s, start, nil, ""); err != nil {
		if !errors.Is(err, ErrTaken) {
			alts, aerr := d.alternatives(s, start, "")
			if aerr != nil {
				return nil, aerr
			}
			return reject(d.placeErr(ctx, err, s, start, ""), alts)
		}
	}
	nb := &newBooking{id: derivedID("bk-", hqDevice, q.ID), customer: q.Customer, source: "hq", by: hqDevice,
		hqRequest: q.ID, svc: s, start: start, profile: prof, personal: personal{Notes: q.Notes, Contact: q.Contact},
		reqKey: requestKey(hqDevice, q.ID), allowOverlap: true}
	var rejEmit func()
	p, err := d.place(ctx, nb, now, func(w *wtx, p *placed) error {
		rejEmit = nil
		if p.taken != nil {
			// The slot went to someone else first (a walk-in while the
			// link was down): reject with the nearest free slots.
			alts, err := d.nearest(s, start, "", func(day Date) ([]Busy, error) { return busyOn(w.tx, day) })
			if err != nil {
				return err
			}
			o.OK, o.Booking, o.Code, o.Reason = false, nil, svc.CodeConflict, ReasonTaken
			o.Message = fmt.Sprintf("%s at %s was taken before this request reached the store", s.ID, d.fmtTime(start))
			o.Alternatives = d.slotViews(alts)
			rejEmit, err = d.rejectIn(w, o, q)
			return err
		}
		if prof != nil {
			if err := d.putProfileTx(w, prof); err != nil {
				return err
			}
		}
		v, err := d.view(p.rec, false)
		if err != nil {
			return err
		}
		o.OK, o.Booking, o.Code, o.Reason, o.Message, o.Alternatives = true, &v, "", "", "", nil
		return d.fileOutcome(w.tx, o, true)
	}, nil)
	if err != nil {
		return nil, err
	}
	if p.emit != nil {
		p.emit()
	}
	if rejEmit != nil {
		rejEmit()
	}
	d.kick()
	if p.repeated && p.rec != nil {
		return d.storedOrRebuilt(q.ID, p.rec)
	}
	return o, nil
}

// storedOrRebuilt answers a request whose booking exists (an HQ replay
// racing its own first handling).
func (d *Desk) storedOrRebuilt(id string, r *record) (*Outcome, error) {
	if o, err := d.storedOutcome(id); err != nil || o != nil {
		return o, err
	}
	v, err := d.view(r, false)
	if err != nil {
		return nil, err
	}
	return &Outcome{V: 1, Request: id, Customer: r.Customer, OK: true, Booking: &v, TS: r.Created}, nil
}

// hqRejectTx files a rejection in its own transaction.
func (d *Desk) hqRejectTx(ctx context.Context, o *Outcome, q *hqRequest) (*Outcome, error) {
	var emit func()
	err := d.update(ctx, func(tx *bolt.Tx) error {
		w, err := writable(tx)
		if err != nil {
			return err
		}
		if w.hq.Get([]byte(o.Request)) != nil {
			return nil // filed meanwhile
		}
		emit, err = d.rejectIn(w, o, q)
		return err
	})
	if err != nil {
		return nil, err
	}
	if emit != nil {
		emit()
		d.kick()
	}
	return o, nil
}

// rejectIn files a rejected HQ request: the outcome, a change for the
// board, and a card telling the online customer, with the alternatives.
func (d *Desk) rejectIn(w *wtx, o *Outcome, q *hqRequest) (func(), error) {
	if err := d.fileOutcome(w.tx, o, true); err != nil {
		return nil, err
	}
	ch := &Change{Type: ChangeHQRejected, Customer: q.Customer, Source: "hq", By: hqDevice, HQRequest: q.ID,
		Reason: o.Reason, Alternatives: o.Alternatives, TS: o.TS}
	if _, ok := d.cat().Service(q.Service); ok {
		ch.Service = q.Service
	}
	if t, err := time.Parse(time.RFC3339, q.Start); err == nil {
		ch.Start = d.wireTime(t)
	}
	return d.commit(w, ch, nil)
}

func (d *Desk) putProfileTx(w *wtx, p *storedProfile) error {
	plain, err := json.Marshal(p.Profile)
	if err != nil {
		return fmt.Errorf("booking: encode profile: %w", err)
	}
	sealed, err := d.o.Seal.Seal(plain, sealAD("profile", p.ID))
	if err != nil {
		return fmt.Errorf("booking: seal profile: %w", err)
	}
	if err := putJSON(w.profiles, []byte(p.ID), profileRecord{Customer: p.Customer, Sealed: sealed}); err != nil {
		return err
	}
	return w.ids.Put(profileIndex(p.Customer, p.ID), nil)
}

// hqCancel cancels an online customer's booking.
func (d *Desk) hqCancel(ctx context.Context, q *hqCancel) (*Outcome, error) {
	now := d.now()
	o := &Outcome{Request: q.ID, Customer: q.Customer, TS: now}
	fail := func(err error) (*Outcome, error) { return d.hqFail(ctx, o, err) }
	if q.V != 1 {
		return fail(svc.Errorf(svc.CodeBadRequest, `"v" must be 1`))
	}
	if err := checkText("reason", q.Reason, d.o.MaxNotesBytes); err != nil {
		return fail(err)
	}
	who := hqIdentity(q.Customer)
	r, err := d.loadBooking(q.Booking, who, true)
	if err != nil {
		return fail(err)
	}
	if r.Status != StatusBooked && r.Status != StatusCancelled {
		return fail(wrongState(r, StatusBooked))
	}
	var filed bool
	out, err := d.mutate(ctx, r.ID, now, func(r *record, now time.Time) (*Change, error) {
		filed = false
		if r.Status == StatusCancelled {
			return nil, nil
		}
		if r.Status != StatusBooked {
			return nil, wrongState(r, StatusBooked)
		}
		r.Status = StatusCancelled
		filed = true
		if err := d.withReason(r, q.Reason); err != nil {
			return nil, err
		}
		return &Change{Type: ChangeCancelled, Booking: r.ID, Customer: r.Customer, Service: r.Service, Source: r.Source,
			By: hqDevice, HQRequest: r.HQRequest, TS: now}, nil
	}, func(w *wtx, r, old *record) error {
		if err := d.unschedule(w, old); err != nil {
			return err
		}
		v, err := d.view(r, false)
		if err != nil {
			return err
		}
		o.OK, o.Booking = true, &v
		return d.fileOutcome(w.tx, o, true)
	}, nil)
	if err != nil {
		return fail(err)
	}
	if !filed { // cancelled before: still answer HQ, once
		v, err := d.view(out, false)
		if err != nil {
			return nil, err
		}
		o.OK, o.Booking = true, &v
		if err := d.update(ctx, func(tx *bolt.Tx) error { return d.fileOutcome(tx, o, true) }); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// hqFail files the refusal err (an *svc.Error: its code, message, reason
// and alternatives) as o, in its own transaction, unless an outcome for
// the request was filed meanwhile. Any other error is returned as is.
func (d *Desk) hqFail(ctx context.Context, o *Outcome, err error) (*Outcome, error) {
	var se *svc.Error
	if !errors.As(err, &se) {
		return nil, err
	}
	o.OK, o.Booking = false, nil
	o.Code, o.Message = se.Code, se.Message
	if m, ok := se.Details.(map[string]any); ok {
		o.Reason, _ = m["reason"].(string)
		if a, ok := m["alternatives"].([]SlotView); ok {
			o.Alternatives = a
		}
	}
	err = d.update(ctx, func(tx *bolt.Tx) error {
		w, err := writable(tx)
		if err != nil {
			return err
		}
		if w.hq.Get([]byte(o.Request)) != nil {
			return nil
		}
		return d.fileOutcome(tx, o, true)
	})
	if err != nil {
		return nil, err
	}
	return o, nil
}

// hqMove moves a customer's booking to a new start with the rules of the
// reschedule op: hers, still booked, a start she could book, the slot
// free (else conflict "taken" with the nearest free ones), no other visit
// of hers at the new time. The outcome is filed with the move.
func (d *Desk) hqMove(ctx context.Context, q *hqMove) (*Outcome, error) {
	now := d.now()
	o := &Outcome{Request: q.ID, Customer: q.Customer, TS: now}
	fail := func(err error) (*Outcome, error) { return d.hqFail(ctx, o, err) }
	if q.V != 1 {
		return fail(svc.Errorf(svc.CodeBadRequest, `"v" must be 1`))
	}
	start, err := parseTime("start", q.Start)
	if err != nil {
		return fail(err)
	}
	who := hqIdentity(q.Customer)
	r, err := d.loadBooking(q.Booking, who, true)
	if err != nil {
		return fail(err)
	}
	s, err := d.service(r.Service)
	if err != nil {
		return fail(err)
	}
	if r.Status != StatusBooked {
		return fail(wrongState(r, StatusBooked))
	}
	fileOK := func(w *wtx, r *record) error {
		v, err := d.view(r, false)
		if err != nil {
			return err
		}
		o.OK, o.Booking, o.Code, o.Reason, o.Message, o.Alternatives = true, &v, "", "", "", nil
		return d.fileOutcome(w.tx, o, true)
	}
	if !start.Equal(r.Start) {
		if err := d.checkWhen(start, now); err != nil {
			alts, aerr := d.alternatives(s, start, r.ID)
			if aerr != nil {
				return nil, aerr
			}
			o.Alternatives = alts
			return fail(err)
		}
		if r.Profile != "" {
			if p, err := d.loadProfile(r.Profile, r.Customer, auth.Identity{Role: d.o.StaffRoles[0]}); err == nil {
				if err := fits(s, p, start, d.cat().Location()); err != nil {
					return fail(err)
				}
			}
		}
		if _, err := d.cat().Place(s, start, nil, ""); err != nil {
			return fail(d.placeErr(ctx, err, s, start, r.ID))
		}
		if err := d.checkOverlap(who, r.Customer, start, start.Add(s.Duration), r.ID); err != nil {
			return fail(err)
		}
	}
	var taken error
	var overlap *record
	var moved bool
	out, err := d.mutate(ctx, r.ID, now, func(r *record, now time.Time) (*Change, error) {
		taken, overlap, moved = nil, nil, false
		if r.Status != StatusBooked {
			return nil, wrongState(r, StatusBooked)
		}
		if start.Equal(r.Start) {
			return nil, nil
		}
		moved = true
		return &Change{Type: ChangeRescheduled, Booking: r.ID, Customer: r.Customer, Service: r.Service,
			Source: r.Source, By: hqDevice, HQRequest: r.HQRequest, TS: now}, nil
	}, func(w *wtx, r, old *record) error {
		var err error
		if overlap, taken, err = d.moveIn(w, r, old, s, start, now, false); err != nil {
			return err
		}
		return fileOK(w, r)
	}, nil)
	switch {
	case errors.Is(err, errTaken) && overlap != nil:
		return fail(d.overlapErr(who, overlap))
	case errors.Is(err, errTaken):
		return fail(d.placeErr(ctx, taken, s, start, r.ID))
	case err != nil:
		return fail(err)
	}
	if !moved { // already there: still answer HQ, once
		err := d.update(ctx, func(tx *bolt.Tx) error {
			w, err := writable(tx)
			if err != nil {
				return err
			}
			if w.hq.Get([]byte(o.Request)) != nil {
				return nil
			}
			return fileOK(w, out)
		})
		if err != nil {
			return nil, err
		}
		if o.Booking == nil {
			return d.storedOrRebuilt(q.ID, out)
		}
	}
	return o, nil
}

// hqAvailability answers HQ's live question for a service's free starts
// in the Outbox (booking/hq/availability): nothing else is stored. A
// request past its expiry is dropped unanswered (HQ stopped waiting) and
// counted.
func (d *Desk) hqAvailability(ctx context.Context, payload []byte) error {
	var q proto.HQAvailabilityRequest
	if err := decodeHQ(payload, &q); err != nil {
		return fmt.Errorf("%w: %w", ErrHQInput, err)
	}
	if !idPattern.MatchString(q.ID) {
		return fmt.Errorf("%w: want an id", ErrHQInput)
	}
	now := d.now()
	if !q.Expires.IsZero() && now.After(q.Expires) {
		d.availDropped.Add(1)
		d.log.Info("booking: a live availability request from HQ arrived after HQ stopped waiting; dropped",
			"request", q.ID, "expired", q.Expires)
		return nil
	}
	a := proto.HQAvailabilityAnswer{V: 1, Request: q.ID, Service: q.Service, TS: now}
	if err := d.availabilityFor(&q, now, &a); err != nil {
		var se *svc.Error
		if !errors.As(err, &se) {
			return err
		}
		a.OK, a.Slots, a.Code, a.Message = false, nil, se.Code, se.Message
	}
	p, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("booking: encode availability answer: %w", err)
	}
	if d.o.Outbox == nil {
		return nil
	}
	return d.update(ctx, func(tx *bolt.Tx) error {
		if err := d.o.Outbox.Put(tx, HQAvailabilityAnswerTopic, p); err != nil {
			return fmt.Errorf("booking: outbox: %w", err)
		}
		return nil
	})
}

// availabilityFor fills a with the free starts q asks for, or returns the
// refusal (*svc.Error).
func (d *Desk) availabilityFor(q *proto.HQAvailabilityRequest, now time.Time, a *proto.HQAvailabilityAnswer) error {
	if q.V != 1 {
		return svc.Errorf(svc.CodeBadRequest, `"v" must be 1`)
	}
	s, err := d.service(q.Service)
	if err != nil {
		return err
	}
	from, err := ParseDate(q.Day)
	if err != nil {
		return failf(svc.CodeBadRequest, ReasonBadTime, `"day" must be a date like 2026-11-24: %v`, err)
	}
	switch {
	case q.Days < 0 || q.Days > MaxHQAvailabilityDays:
		return svc.Errorf(svc.CodeBadRequest, `"days" must be 1-%d (0 = 1)`, MaxHQAvailabilityDays)
	case q.Days == 0:
		q.Days = 1
	}
	cat := d.cat()
	last := DateOf(now, cat.Location()).AddDays(cat.HorizonDays)
	slots := []proto.Slot{}
	err = d.o.DB.View(func(tx *bolt.Tx) error {
		for i := range q.Days {
			date := from.AddDays(i)
			if date > last {
				break
			}
			busy, err := busyOn(tx, date)
			if err != nil {
				return err
			}
			slots = append(slots, d.slotViews(cat.Slots(s, date, busy, now, ""))...)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("booking: availability: %w", err)
	}
	a.OK, a.Service, a.Slots = true, s.ID, slots
	return nil
}

// HQAvailabilityDropped is how many live availability requests from HQ
// arrived after they expired and were dropped unanswered.
func (d *Desk) HQAvailabilityDropped() uint64 { return d.availDropped.Load() }
