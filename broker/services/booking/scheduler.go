package booking

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The scheduler keeps what is due in bucket booking_due, keyed by the due
// time, written in the transaction that books, moves or completes a booking.
// Firing one deletes its entry and files its change (and chat card) in one
// transaction, so after a crash each reminder is either fired or still due:
// never lost, never sent twice.
//
// The box has no real-time clock, so "now" may jump. The keys are due
// times computed from the booking's own start (the time the customer
// chose) and its completion, so they are right whatever the clock said
// when they were filed. After a jump forward (a box that booted in 1970
// set by NTP, or one that was off for a week) nothing floods: a reminder
// of a booking that has already started is dropped, of one booking's
// reminders now due only the latest is sent, and a survey due longer ago
// than Options.SurveyLate is dropped; each is counted (ScheduleDropped).
// After a jump back nothing fires twice (a fired entry is gone, and the
// booking records the reminders sent) and nothing early (an entry fires
// only when the clock has reached its due time).

const (
	dueSurvey   = "survey"
	remindAhead = "remind/" // + minutes before the start
)

func remindWhat(ahead time.Duration) string {
	return remindAhead + strconv.Itoa(int(ahead/time.Minute))
}

// label renders a reminder's lead time for the change ("24h", "2h", "90m").
func label(ahead time.Duration) string {
	if ahead%time.Hour == 0 {
		return strconv.Itoa(int(ahead/time.Hour)) + "h"
	}
	return strconv.Itoa(int(ahead/time.Minute)) + "m"
}

// schedule files r's reminders that are still ahead of now.
func (d *Desk) schedule(w *wtx, r *record, now time.Time) error {
	for _, ahead := range d.cat().Reminders {
		due := r.Start.Add(-ahead)
		if !due.After(now) {
			continue
		}
		if err := w.due.Put(dueKey(due, r.ID, remindWhat(ahead)), nil); err != nil {
			return fmt.Errorf("booking: schedule: %w", err)
		}
	}
	return nil
}

// unschedule drops r's pending reminders (r as stored before the change).
func (d *Desk) unschedule(w *wtx, r *record) error {
	for _, ahead := range d.cat().Reminders {
		if err := w.due.Delete(dueKey(r.Start.Add(-ahead), r.ID, remindWhat(ahead))); err != nil {
			return fmt.Errorf("booking: unschedule: %w", err)
		}
	}
	return nil
}

func (d *Desk) scheduleSurvey(w *wtx, r *record, completed time.Time) error {
	if err := w.due.Put(dueKey(completed.Add(d.cat().SurveyAfter), r.ID, dueSurvey), nil); err != nil {
		return fmt.Errorf("booking: schedule survey: %w", err)
	}
	return nil
}

// maxFire bounds one firing transaction.
const maxFire = 256

// FireDue fires every reminder and survey invitation due by the clock and
// returns how many it sent. Run calls it every Tick; tests call it after
// moving the clock.
func (d *Desk) FireDue(ctx context.Context) (int, error) {
	total := 0
	for {
		now := d.now()
		var emits []func()
		var fired, seen int
		var drops Dropped
		err := d.update(ctx, func(tx *bolt.Tx) error {
			emits, fired, seen, drops = nil, 0, 0, Dropped{}
			w, err := writable(tx)
			if err != nil {
				return err
			}
			c := w.due.Cursor()
			limit := ms(now)
			var keys [][]byte
			for k, _ := c.First(); k != nil && bytes.Compare(k[:8], limit) <= 0 && len(keys) < maxFire; k, _ = c.Next() {
				keys = append(keys, append([]byte(nil), k...))
			}
			seen = len(keys)
			for _, k := range keys {
				if err := w.due.Delete(k); err != nil {
					return fmt.Errorf("booking: due: %w", err)
				}
				emit, err := d.fire(w, k, now, &drops)
				if err != nil {
					return err
				}
				if emit != nil {
					emits = append(emits, emit)
					fired++
				}
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		// Counted once committed: the transaction function may run twice.
		d.remindersLate.Add(drops.RemindersLate)
		d.remindersStale.Add(drops.RemindersStale)
		d.surveysLate.Add(drops.SurveysLate)
		for _, e := range emits {
			e()
		}
		total += fired
		if fired > 0 {
			d.kick()
		}
		if seen < maxFire {
			return total, nil
		}
	}
}

// fire handles one due entry; a nil emit means it no longer applied (the
// booking moved, was cancelled, or a later reminder is due as well).
func (d *Desk) fire(w *wtx, key []byte, now time.Time, drops *Dropped) (func(), error) {
	due := time.UnixMilli(int64(binary.BigEndian.Uint64(key[:8])))
	rest := key[8:]
	i := bytes.IndexByte(rest, 0)
	if i < 0 {
		return nil, nil // not ours to understand: drop it
	}
	id, what := string(rest[:i]), string(rest[i+1:])
	old, err := getBooking(w.tx, id)
	if err != nil || old == nil {
		return nil, err
	}
	r := *old
	var ch *Change
	switch {
	case what == dueSurvey:
		if r.Status != StatusCompleted || r.Surveyed {
			return nil, nil
		}
		if now.Sub(due) > d.o.SurveyLate {
			drops.SurveysLate++
			return nil, nil
		}
		ch = d.change(ChangeSurveyInvite, &r, ChatSender, now)
	case strings.HasPrefix(what, remindAhead):
		mins, err := strconv.Atoi(what[len(remindAhead):])
		ahead := time.Duration(mins) * time.Minute
		if err != nil || r.Status != StatusBooked || !r.Start.Add(-ahead).Equal(due) || contains(r.Reminded, label(ahead)) {
			return nil, nil
		}
		if !now.Before(r.Start) {
			drops.RemindersLate++ // the booking has begun: too late to remind
			return nil, nil
		}
		// A shorter reminder already due makes this one stale (the store
		// was down over it): send only the latest.
		for _, other := range d.cat().Reminders {
			if other < ahead && !r.Start.Add(-other).After(now) {
				drops.RemindersStale++
				r.Reminded = append(r.Reminded, label(ahead))
				return nil, d.putBooking(w.bookings, &r)
			}
		}
		r.Reminded = append(r.Reminded, label(ahead))
		ch = d.change(ChangeReminder, &r, ChatSender, now)
		ch.Reminder = label(ahead)
	default:
		return nil, nil
	}
	if err := d.putBooking(w.bookings, &r); err != nil {
		return nil, err
	}
	return d.commit(w, ch, nil)
}

// Dropped counts what the scheduler let go instead of sending, since start.
type Dropped struct {
	// RemindersLate: the booking had already started.
	RemindersLate uint64
	// RemindersStale: a shorter reminder of the same booking was due too;
	// only that one was sent.
	RemindersStale uint64
	// SurveysLate: due longer ago than Options.SurveyLate.
	SurveysLate uint64
}

// ScheduleDropped reads the counts.
func (d *Desk) ScheduleDropped() Dropped {
	return Dropped{RemindersLate: d.remindersLate.Load(), RemindersStale: d.remindersStale.Load(), SurveysLate: d.surveysLate.Load()}
}

// Run publishes the change feed and fires what is due until ctx ends: at
// start (catching up after a restart), after every change, and every Tick.
func (d *Desk) Run(ctx context.Context) error {
	d.runMu.Lock()
	if d.running {
		d.runMu.Unlock()
		return fmt.Errorf("booking: Run called twice")
	}
	d.running = true
	d.runMu.Unlock()
	if err := d.loadPublished(); err != nil {
		return fmt.Errorf("booking: %w", err)
	}
	tick := time.NewTicker(d.o.Tick)
	defer tick.Stop()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	for {
		if _, err := d.FireDue(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("booking: firing reminders failed; retrying at the next tick", "err", err)
		}
		if err := d.publish(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("booking: publishing changes failed; retrying at the next tick", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-d.wake:
		case <-tick.C:
		case <-prune.C:
			if err := d.prune(ctx); err != nil && ctx.Err() == nil {
				d.log.Warn("booking: pruning the change feed failed", "err", err)
			}
		}
	}
}
