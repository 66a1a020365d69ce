package booking

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/proto"
)

// View is a booking as answers show it. Notes and Contact are filled only
// for the customer, staff and the device that made the booking;
// ProgressView is one stage of a booking; SlotView is a free slot in an
// answer.
type (
	View         = proto.Booking
	ProgressView = proto.ProgressEntry
	SlotView     = proto.Slot
)

func (d *Desk) slotViews(ss []Slot) []SlotView {
	out := make([]SlotView, 0, len(ss))
	for _, s := range ss {
		out = append(out, SlotView{Start: d.wireTime(s.Start), End: d.wireTime(s.End)})
	}
	return out
}

// private reports whether who may see r's notes and contact: staff, the
// customer, the device that made the booking; a kiosk only while the
// booking's customer is at it.
func (d *Desk) private(who auth.Identity, r *record) bool {
	switch {
	case d.staff(who.Role), who.Device == r.Customer:
		return true
	case d.desk(who.Role):
		return d.deskPresent(who, r.Customer)
	}
	return who.Device == r.By
}

// viewFor renders r for who: private data and progress notes as who may
// see them.
func (d *Desk) viewFor(who auth.Identity, r *record) (View, error) {
	private := d.private(who, r)
	v, err := d.view(r, private)
	if err != nil {
		return View{}, err
	}
	d.redact(who, &v, private)
	return v, nil
}

// view renders r; with private it opens the sealed notes and contact.
func (d *Desk) view(r *record, private bool) (View, error) {
	v := View{ID: r.ID, Customer: r.Customer, Service: r.Service, Start: d.wireTime(r.Start), End: d.wireTime(r.End),
		Resources: r.Resources, Status: r.Status, Stage: r.Stage, Profile: r.Profile, Source: r.Source, By: r.By,
		HQRequest: r.HQRequest, Created: r.Created, Updated: r.Updated, Rev: r.Rev, Surveyed: r.Surveyed}
	if s, ok := d.cat().Service(r.Service); ok {
		v.ServiceName = (*proto.Text)(&s.Name)
	}
	for i, p := range r.Progress {
		note, err := d.progressNote(r.ID, i, p)
		if err != nil {
			return View{}, err
		}
		v.Progress = append(v.Progress, ProgressView{Stage: p.Stage, TS: p.TS, By: p.By, Note: note, Photo: p.Photo})
	}
	if private && len(r.Sealed) > 0 {
		p, err := d.openPersonal(r)
		if err != nil {
			return View{}, err
		}
		v.Notes, v.Contact, v.Reason = p.Notes, p.Contact, p.Reason
	}
	return v, nil
}

// withReason reseals r's personal data with the reason it was cancelled:
// a reason may be personal ("the baby has a fever"), so it is not in the
// change, the events or HQ's feed.
func (d *Desk) withReason(r *record, reason string) error {
	if reason == "" {
		return nil
	}
	var p personal
	if len(r.Sealed) > 0 {
		var err error
		if p, err = d.openPersonal(r); err != nil {
			return err
		}
	}
	p.Reason = reason
	sealed, err := d.sealPersonal(r.ID, p)
	if err != nil {
		return err
	}
	r.Sealed = sealed
	return nil
}

func (d *Desk) sealPersonal(id string, p personal) ([]byte, error) {
	if p.Notes == "" && p.Contact == nil && p.Reason == "" {
		return nil, nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("booking: encode notes: %w", err)
	}
	s, err := d.o.Seal.Seal(b, sealAD("booking", id))
	if err != nil {
		return nil, fmt.Errorf("booking: seal: %w", err)
	}
	return s, nil
}

func (d *Desk) openPersonal(r *record) (personal, error) {
	var p personal
	b, err := d.o.Seal.Open(r.Sealed, sealAD("booking", r.ID))
	if err != nil {
		return p, fmt.Errorf("booking: open notes of %s: %w", r.ID, err)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("%w: notes of %s: %w", errCorrupt, r.ID, err)
	}
	return p, nil
}

// putBooking stores a booking, sealing the notes of its progress stages
// first.
func (d *Desk) putBooking(b *bolt.Bucket, r *record) error {
	if err := d.sealNotes(r); err != nil {
		return err
	}
	return putJSON(b, []byte(r.ID), r)
}

// sealNotes seals every progress note r holds in the clear.
func (d *Desk) sealNotes(r *record) error {
	for i := range r.Progress {
		p := &r.Progress[i]
		if p.Note == "" {
			continue
		}
		s, err := d.o.Seal.Seal([]byte(p.Note), progressAD(r.ID, i))
		if err != nil {
			return fmt.Errorf("booking: seal progress note: %w", err)
		}
		p.SealedNote, p.Note = s, ""
	}
	return nil
}

// progressNote is the note of r's i-th stage, opened.
func (d *Desk) progressNote(booking string, i int, p progress) (string, error) {
	if len(p.SealedNote) == 0 {
		return p.Note, nil
	}
	b, err := d.o.Seal.Open(p.SealedNote, progressAD(booking, i))
	if err != nil {
		return "", fmt.Errorf("booking: open progress note %d of %s: %w", i, booking, err)
	}
	return string(b), nil
}

// SealOldNotes seals the progress notes that bookings stored by older
// versions hold in the clear, and returns how many bookings it rewrote; the
// broker calls it at start. (The old bytes stay in the pages bbolt frees
// until they are written over; compacting the database into a new file
// leaves them behind.)
func (d *Desk) SealOldNotes(ctx context.Context) (int, error) {
	var n int
	err := d.update(ctx, func(tx *bolt.Tx) error {
		n = 0
		b := tx.Bucket(bBookings)
		if b == nil {
			return nil
		}
		var old []*record
		err := b.ForEach(func(k, v []byte) error {
			if !bytes.Contains(v, []byte(`"note":`)) {
				return nil
			}
			var r record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("%w: booking %s: %w", errCorrupt, k, err)
			}
			for _, p := range r.Progress {
				if p.Note != "" {
					old = append(old, &r)
					break
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, r := range old {
			if err := d.putBooking(b, r); err != nil {
				return err
			}
		}
		n = len(old)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("booking: seal old progress notes: %w", err)
	}
	return n, nil
}
