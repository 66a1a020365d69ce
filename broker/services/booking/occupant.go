package booking

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Occupant is the booking that holds a resource at one moment: who may
// watch that room's camera, and until when.
type Occupant struct {
	Booking  string
	Customer string
	Status   string
	Start    time.Time
	End      time.Time // the slot's end; the grant ends then at the latest
}

// Occupant returns the booking in resource at time at: checked in, with at
// inside its slot [Start, End). A booking not yet checked in is not in the
// room (the pet has not arrived, and the camera would show the previous
// one); the buffer after a slot is the staff's time; a pet checked out
// (completed), a cancelled booking or a no-show is gone.
func (d *Desk) Occupant(resource string, at time.Time) (Occupant, bool, error) {
	var out Occupant
	found := false
	err := d.o.DB.View(func(tx *bolt.Tx) error {
		busy, err := busyOn(tx, DateOf(at, d.cat().Location()))
		if err != nil {
			return err
		}
		for _, b := range busy {
			if b.Resource != resource || at.Before(b.From) || !at.Before(b.To) {
				continue
			}
			r, err := getBooking(tx, b.Booking)
			if err != nil {
				return err
			}
			if r == nil || r.Status != StatusCheckedIn ||
				at.Before(r.Start) || !at.Before(r.End) {
				continue
			}
			out = Occupant{Booking: r.ID, Customer: r.Customer, Status: r.Status, Start: r.Start, End: r.End}
			found = true
			return nil
		}
		return nil
	})
	if err != nil {
		return Occupant{}, false, fmt.Errorf("booking: occupant of %s: %w", resource, err)
	}
	return out, found, nil
}
