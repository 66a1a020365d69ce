package booking

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/proto"
)

// What the front desk needs beyond booking a known customer: a walk-in or
// a phone call booked for a new customer, the customers staff booked by
// name and phone, a customer's visits that overlap, and the week's counts.

// WalkInPrefix starts the id of a customer staff booked by name and phone
// (a walk-in or a phone call) without a scan-to-chat login. Such a
// customer has no phone to read chat cards: their bookings post none.
const WalkInPrefix = "walkin-"

// MaxBoardDays bounds one board_days request.
const MaxBoardDays = 31

// customersPage bounds a customers answer.
const customersPage = 20

// maxVisit is how long before a new visit's start an earlier visit of the
// same customer is looked at for an overlap: longer than any service.
const maxVisit = 24 * time.Hour

// Auditor records an admin action once it is durable (broker/audit).
type Auditor interface {
	Audit(ctx context.Context, actor, action, target string, before, after any) error
}

// bContacts is the customers staff booked with a name or a phone:
// customer → contactEntry (JSON), the contact sealed.
var bContacts = []byte("booking_contacts")

type contactEntry struct {
	Sealed  []byte `json:"sealed"`
	Updated int64  `json:"updated"` // Unix ms
}

// phonePattern is what a walk-in's phone must look like.
var phonePattern = regexp.MustCompile(`^\+?[0-9][0-9 ()-]{4,30}$`)

func digits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

// newWalkIn checks the contact of a booking for a new customer and gives
// the customer's id, derived from the request so that a repeat lands on
// the same customer.
func newWalkIn(c *Contact, device, reqID string) (string, error) {
	if c == nil || strings.TrimSpace(c.Name) == "" || strings.TrimSpace(c.Phone) == "" {
		return "", svc.Errorf(svc.CodeBadRequest, `a new customer needs "contact" with a name and a phone`)
	}
	if !phonePattern.MatchString(c.Phone) || len(digits(c.Phone)) < 5 {
		return "", svc.Errorf(svc.CodeBadRequest, `"contact.phone" must be a phone number: digits, spaces, '-', '(' ')', an optional leading '+'`)
	}
	return derivedID(WalkInPrefix, device, reqID), nil
}

// overlapping returns an active visit (booked or checked in) of customer
// that overlaps [start, end), other than exclude; nil when none does.
func overlapping(tx *bolt.Tx, customer string, start, end time.Time, exclude string) (*record, error) {
	b := tx.Bucket(bByCust)
	if b == nil {
		return nil, nil
	}
	prefix := append([]byte(customer), 0)
	c := b.Cursor()
	for k, _ := c.Seek(append(slices.Clone(prefix), ms(start.Add(-maxVisit))...)); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if len(k) < len(prefix)+8 {
			continue
		}
		if from := time.UnixMilli(int64(binary.BigEndian.Uint64(k[len(prefix):]))); !from.Before(end) {
			break
		}
		id := string(k[len(prefix)+8:])
		if id == exclude {
			continue
		}
		r, err := getBooking(tx, id)
		if err != nil {
			return nil, err
		}
		if r != nil && (r.Status == StatusBooked || r.Status == StatusCheckedIn) && r.End.After(start) {
			return r, nil
		}
	}
	return nil, nil
}

// overlapErr answers a visit that overlaps other: conflict, reason
// overlap, the other visit in details as who may see it.
func (d *Desk) overlapErr(who auth.Identity, other *record) error {
	v, err := d.viewFor(who, other)
	if err != nil {
		return err
	}
	return svc.WithDetails(svc.Errorf(svc.CodeConflict, "customer %s already has a visit %s-%s (booking %s); repeat with confirm_overlap to book anyway",
		other.Customer, d.fmtTime(other.Start), d.fmtTime(other.End), other.ID),
		map[string]any{"reason": ReasonOverlap, "booking": v})
}

// checkOverlap answers without a write when customer has a visit over
// [start, end) besides exclude.
func (d *Desk) checkOverlap(who auth.Identity, customer string, start, end time.Time, exclude string) error {
	var other *record
	if err := d.o.DB.View(func(tx *bolt.Tx) error {
		var err error
		other, err = overlapping(tx, customer, start, end, exclude)
		return err
	}); err != nil {
		return fmt.Errorf("booking: overlap: %w", err)
	}
	if other != nil {
		return d.overlapErr(who, other)
	}
	return nil
}

// putContact remembers the name and phone a booking named its customer by.
func (d *Desk) putContact(tx *bolt.Tx, customer string, c *Contact, now time.Time) error {
	if c == nil || (c.Name == "" && c.Phone == "") {
		return nil
	}
	b, err := tx.CreateBucketIfNotExists(bContacts)
	if err != nil {
		return fmt.Errorf("booking: bucket %s: %w", bContacts, err)
	}
	plain, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("booking: encode contact: %w", err)
	}
	sealed, err := d.o.Seal.Seal(plain, sealAD("contact", customer))
	if err != nil {
		return fmt.Errorf("booking: seal contact: %w", err)
	}
	return putJSON(b, []byte(customer), contactEntry{Sealed: sealed, Updated: now.UnixMilli()})
}

// customers finds, for staff, the customers booked with a name or a phone.
func (d *Desk) customers(_ context.Context, req *svc.Request) (any, error) {
	var q customersReq
	if err := decode(req.Body, &q); err != nil {
		return nil, err
	}
	if !d.staff(req.From.Role) {
		return nil, svc.Errorf(svc.CodeForbidden, "finding customers is for staff")
	}
	query := strings.ToLower(strings.TrimSpace(q.Query))
	num := digits(query)
	if err := checkText("query", query, 64); err != nil {
		return nil, err
	}
	if len([]rune(query)) < 2 && len(num) < 3 {
		return nil, svc.Errorf(svc.CodeBadRequest, `"query" must be at least 2 letters of a name or 3 digits of a phone`)
	}
	onlyDigits := strings.IndexFunc(query, func(r rune) bool { return !unicode.IsDigit(r) && r != ' ' && r != '-' && r != '+' }) < 0
	var out []proto.CustomerContact
	err := d.o.DB.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bContacts)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var e contactEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("%w: contact of %s: %w", errCorrupt, k, err)
			}
			plain, err := d.o.Seal.Open(e.Sealed, sealAD("contact", string(k)))
			if err != nil {
				return fmt.Errorf("booking: open contact of %s: %w", k, err)
			}
			var c Contact
			if err := json.Unmarshal(plain, &c); err != nil {
				return fmt.Errorf("%w: contact of %s: %w", errCorrupt, k, err)
			}
			match := (!onlyDigits && strings.Contains(strings.ToLower(c.Name), query)) ||
				(len(num) >= 3 && strings.Contains(digits(c.Phone), num)) ||
				(len(query) >= 4 && strings.HasPrefix(string(k), query))
			if match {
				out = append(out, proto.CustomerContact{Customer: string(k), Name: c.Name, Phone: c.Phone,
					Updated: d.wireTime(time.UnixMilli(e.Updated))})
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("booking: customers: %w", err)
	}
	slices.SortFunc(out, func(a, b proto.CustomerContact) int {
		if c := strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)); c != 0 {
			return c
		}
		return strings.Compare(a.Customer, b.Customer)
	})
	more := len(out) > customersPage
	if more {
		out = out[:customersPage]
	}
	if out == nil {
		out = []proto.CustomerContact{}
	}
	return proto.Customers{Customers: out, More: more}, nil
}

// boardDays counts, for staff, the bookings of each day from a date on:
// the board's week view.
func (d *Desk) boardDays(_ context.Context, req *svc.Request) (any, error) {
	var q boardDaysReq
	if err := decode(req.Body, &q); err != nil {
		return nil, err
	}
	if !d.staff(req.From.Role) {
		return nil, svc.Errorf(svc.CodeForbidden, "the board is for staff")
	}
	from := DateOf(d.now(), d.cat().Location())
	if q.From != "" {
		var err error
		if from, err = ParseDate(q.From); err != nil {
			return nil, failf(svc.CodeBadRequest, ReasonBadTime, `"from" must be a date like 2026-11-24`)
		}
	}
	switch {
	case q.Days < 0 || q.Days > MaxBoardDays:
		return nil, svc.Errorf(svc.CodeBadRequest, `"days" must be 1-%d (0 = 7)`, MaxBoardDays)
	case q.Days == 0:
		q.Days = 7
	}
	out := make([]proto.BoardDay, 0, q.Days)
	err := d.o.DB.View(func(tx *bolt.Tx) error {
		for i := range q.Days {
			day := from.AddDays(i)
			recs, _, err := bookingsUnder(tx, bByDay, dayKey(day), dayKey(day), 0)
			if err != nil {
				return err
			}
			e := proto.BoardDay{Date: day.String()}
			for _, r := range recs {
				if holds(r.Status) {
					e.Bookings++
				} else {
					e.Cancelled++
				}
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("booking: board_days: %w", err)
	}
	return proto.BoardDays{Days: out}, nil
}

// audit records a booking change staff made, once it is durable.
func (d *Desk) audit(ctx context.Context, who auth.Identity, action string, before, after *record) error {
	if d.o.Auditor == nil || !d.staff(who.Role) {
		return nil
	}
	var b, a any
	if before != nil {
		v, err := d.view(before, true)
		if err != nil {
			return err
		}
		b = v
	}
	if after != nil {
		v, err := d.view(after, true)
		if err != nil {
			return err
		}
		a = v
	}
	target := ""
	if after != nil {
		target = after.ID
	} else if before != nil {
		target = before.ID
	}
	if err := d.o.Auditor.Audit(ctx, who.Device, action, target, b, a); err != nil {
		return fmt.Errorf("booking: the change is made but the activity log did not record it: %w", err)
	}
	return nil
}
