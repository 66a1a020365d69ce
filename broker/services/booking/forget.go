package booking

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// CustomerProfiles are customer's pet and baby profiles (for her card).
func (d *Desk) CustomerProfiles(customer string) ([]Profile, error) {
	return d.profiles(customer)
}

// ForgetCustomer erases what the store keeps of customer as a person: her
// profiles are deleted; her bookings keep their service, time, status and
// stages (the counts and the store's day stay true) but lose their sealed
// notes, contact, cancel reason, progress notes and survey comment. It
// answers how many bookings she had and how many profiles it deleted.
// Forgetting again erases nothing more. Durable when it returns.
func (d *Desk) ForgetCustomer(ctx context.Context, customer string) (bookings, profiles int, err error) {
	if err := checkID("customer", customer); err != nil {
		return 0, 0, err
	}
	err = d.update(ctx, func(tx *bolt.Tx) error {
		bookings, profiles = 0, 0
		w, err := writable(tx)
		if err != nil {
			return err
		}
		prefix := append([]byte(customer), 0)
		var ids []string
		c := w.bycust.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if rest := k[len(prefix):]; len(rest) > 8 {
				ids = append(ids, string(rest[8:]))
			}
		}
		for _, id := range ids {
			r, err := getBooking(tx, id)
			if err != nil {
				return err
			}
			if r == nil || r.Customer != customer {
				continue
			}
			bookings++
			r.Sealed = nil
			for i := range r.Progress {
				r.Progress[i].Note, r.Progress[i].SealedNote = "", nil
			}
			if err := putJSON(w.bookings, []byte(r.ID), r); err != nil {
				return err
			}
			if v := w.surveys.Get([]byte(r.ID)); v != nil {
				var s surveyRecord
				if err := json.Unmarshal(v, &s); err != nil {
					return fmt.Errorf("%w: survey %s: %w", errCorrupt, r.ID, err)
				}
				s.Sealed = nil
				if err := putJSON(w.surveys, []byte(r.ID), s); err != nil {
					return err
				}
			}
		}
		pp := profileIndex(customer, "")
		var keys [][]byte
		pc := w.ids.Cursor()
		for k, _ := pc.Seek(pp); k != nil && bytes.HasPrefix(k, pp); k, _ = pc.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			if err := w.profiles.Delete(k[len(pp):]); err != nil {
				return fmt.Errorf("booking: delete profile: %w", err)
			}
			if err := w.ids.Delete(k); err != nil {
				return err
			}
			profiles++
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	return bookings, profiles, nil
}

// MoveProfiles gives the profiles of customer from to customer into (staff
// merged two ids of one person): her pets and babies follow her to the id
// she keeps. Bookings keep the id they were made with. Moving again moves
// nothing more. Durable when it returns.
func (d *Desk) MoveProfiles(ctx context.Context, from, into string) (int, error) {
	if err := checkID("from", from); err != nil {
		return 0, err
	}
	if err := checkID("into", into); err != nil {
		return 0, err
	}
	n := 0
	err := d.update(ctx, func(tx *bolt.Tx) error {
		n = 0
		w, err := writable(tx)
		if err != nil {
			return err
		}
		pp := profileIndex(from, "")
		var ids []string
		c := w.ids.Cursor()
		for k, _ := c.Seek(pp); k != nil && bytes.HasPrefix(k, pp); k, _ = c.Next() {
			ids = append(ids, string(k[len(pp):]))
		}
		for _, id := range ids {
			rec, err := getProfile(tx, id)
			if err != nil {
				return err
			}
			if err := w.ids.Delete(profileIndex(from, id)); err != nil {
				return err
			}
			if rec == nil {
				continue
			}
			rec.Customer = into
			if err := putJSON(w.profiles, []byte(id), rec); err != nil {
				return err
			}
			if err := w.ids.Put(profileIndex(into, id), nil); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}
