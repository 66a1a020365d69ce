package booking

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/broker/services/chat"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/proto"
)

// Reasons of the shop's ops (proto.Reason*).
const (
	ReasonStaleVersion    = proto.ReasonStaleVersion
	ReasonStrands         = proto.ReasonStrands
	ReasonInvalid         = proto.ReasonInvalid
	ReasonTooManyClosures = proto.ReasonTooManyClosures
	ReasonUnknownClosure  = proto.ReasonUnknownClosure
)

// maxClosureDays is the longest closure, as for closed dates in the hours.
const maxClosureDays = 366

// EventClosed is the event of the card a customer gets when her booking's
// day is closed.
const EventClosed = "closed"

type (
	catalogSetReq struct {
		proto.Envelope
		proto.CatalogSetRequest
	}
	closureAddReq struct {
		proto.Envelope
		proto.ClosureAddRequest
	}
	closureRemoveReq struct {
		proto.Envelope
		proto.ClosureRemoveRequest
	}
)

func (d *Desk) admin(role string) bool { return slices.Contains(d.o.AdminRoles, role) }

// mayBook reports whether who books at all: a customer, a kiosk, staff.
func (d *Desk) mayBook(who auth.Identity) bool {
	return who.Device != "" && (who.Customer || d.staff(who.Role) || d.desk(who.Role) || d.admin(who.Role))
}

// shopState answers "not loaded" for a Desk whose OpenShop was not called.
func (d *Desk) shopState() (*shopState, error) {
	st := d.shop.Load()
	if st == nil {
		return nil, svc.Errorf(svc.CodeUnavailable, "the catalogue is not loaded")
	}
	return st, nil
}

// answer is what catalog_get and catalog_set answer for st.
func (st *shopState) answer() *proto.CatalogAnswer {
	doc := st.doc
	doc.TimeZone = st.zone.String()
	return &proto.CatalogAnswer{Version: st.version, Catalog: doc}
}

func (d *Desk) catalogGet(_ context.Context, req *svc.Request) (any, error) {
	var r servicesReq
	if err := decode(req.Body, &r); err != nil {
		return nil, err
	}
	if !d.mayBook(req.From) {
		return nil, svc.Errorf(svc.CodeForbidden, "the catalogue is for those who book: customers, kiosks and staff")
	}
	st, err := d.shopState()
	if err != nil {
		return nil, err
	}
	ans := st.answer()
	ans.Editable = d.admin(req.From.Role)
	return ans, nil
}

func (d *Desk) catalogSet(ctx context.Context, req *svc.Request) (any, error) {
	var r catalogSetReq
	if err := decode(req.Body, &r); err != nil {
		return nil, err
	}
	if !d.admin(req.From.Role) {
		return nil, svc.Errorf(svc.CodeForbidden, "only an admin edits the catalogue")
	}
	st, err := d.shopState()
	if err != nil {
		return nil, err
	}
	if r.Version == 0 {
		return nil, svc.Errorf(svc.CodeBadRequest, `"version" is required: the version of the catalogue you edited (catalog_get)`)
	}
	if tz := r.Catalog.TimeZone; tz != "" && tz != st.zone.String() {
		return nil, invalid([]error{fmt.Errorf("time_zone: the store's time zone is %s (set in the store's config), not %s", st.zone, tz)})
	}
	r.Catalog.TimeZone = ""
	return d.saveCatalog(ctx, req.From.Device, AuditCatalogSet, r.Catalog, nil, r.Version, &setReq{req: req, confirm: r.Confirm})
}

// setReq is the op behind a catalogue change; nil for ReplaceCatalog.
type setReq struct {
	req     *svc.Request
	confirm bool
}

// invalid answers a catalogue that breaks the rules: every problem in
// details.errors, the first in the message.
func invalid(errs []error) error {
	list := make([]string, len(errs))
	for i, e := range errs {
		list[i] = e.Error()
	}
	msg := list[0]
	if len(list) > 1 {
		msg += fmt.Sprintf(" (and %d more)", len(list)-1)
	}
	return svc.WithDetails(svc.Errorf(svc.CodeBadRequest, "the catalogue is not valid: %s", msg),
		map[string]any{"reason": ReasonInvalid, "errors": list})
}

func stale(have uint64) error {
	return svc.WithDetails(svc.Errorf(svc.CodeConflict,
		"the catalogue was changed by someone else since you opened it (now version %d): reload it and make your change again", have),
		map[string]any{"reason": ReasonStaleVersion, "version": have})
}

// saveCatalog stores doc as the catalogue (with closures, nil = the
// current ones) when version is the one in force (0 = any), and puts it in
// force. With set, a change that strands bookings needs set.confirm.
func (d *Desk) saveCatalog(ctx context.Context, actor, action string, doc proto.ShopCatalog, closures []proto.Closure,
	version uint64, set *setReq) (*proto.CatalogAnswer, error) {
	d.shopMu.Lock()
	defer d.shopMu.Unlock()
	cur := d.shop.Load()
	if version != 0 && version != cur.version {
		return nil, stale(cur.version)
	}
	next := &shopState{version: cur.version + 1, doc: doc, zone: cur.zone, closures: cur.closures}
	if closures != nil {
		next.closures = slices.Clone(closures)
		sortClosures(next.closures)
	}
	cat, errs := next.build()
	if len(errs) > 0 {
		return nil, invalid(errs)
	}
	next.doc = docOf(cat) // the normal form: defaults filled in, hours sorted
	stranded, err := d.stranded(d.cat(), cat, d.now())
	if err != nil {
		return nil, err
	}
	if len(stranded) > 0 && set != nil && !set.confirm {
		return nil, d.strandsErr(stranded)
	}
	ans := next.answer()
	ans.Editable = true
	ans.Stranded = stranded[:min(len(stranded), d.o.PageSize)]
	staleNow := false
	err = d.update(ctx, func(tx *bolt.Tx) error {
		staleNow = false
		b, err := tx.CreateBucketIfNotExists(bShop)
		if err != nil {
			return fmt.Errorf("booking: bucket %s: %w", bShop, err)
		}
		if getU64(b.Get(shopVersion)) != cur.version {
			staleNow = true
			return nil
		}
		if err := putJSON(b, shopCatalog, next.doc); err != nil {
			return err
		}
		if err := b.Put(shopVersion, u64(next.version)); err != nil {
			return fmt.Errorf("booking: put catalogue version: %w", err)
		}
		if closures != nil {
			if err := putClosures(tx, next.closures); err != nil {
				return err
			}
		}
		if err := d.shopChanged(tx); err != nil {
			return err
		}
		if set != nil {
			return set.req.Keep(tx, ans)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if staleNow {
		return nil, stale(cur.version + 1)
	}
	d.shop.Store(next)
	d.catp.Store(cat)
	d.kick()
	d.auditAdmin(ctx, actor, action, "catalog", cur.answer(), ans)
	return ans, nil
}

// putClosures replaces the stored closures with cs.
func putClosures(tx *bolt.Tx, cs []proto.Closure) error {
	if tx.Bucket(bClosures) != nil {
		if err := tx.DeleteBucket(bClosures); err != nil {
			return fmt.Errorf("booking: clear closures: %w", err)
		}
	}
	cb, err := tx.CreateBucket(bClosures)
	if err != nil {
		return fmt.Errorf("booking: bucket %s: %w", bClosures, err)
	}
	for _, c := range cs {
		if err := putJSON(cb, []byte(c.ID), c); err != nil {
			return err
		}
	}
	return nil
}

func (d *Desk) strandsErr(stranded []proto.StrandedRef) error {
	n := len(stranded)
	return svc.WithDetails(svc.Errorf(svc.CodeConflict,
		"this change leaves %d booking(s) without their service, resource or opening hours; nothing was saved. Move or cancel them, or send the change again with confirm to keep them as they are", n),
		map[string]any{"reason": ReasonStrands, "count": n, "stranded": stranded[:min(n, d.o.PageSize)]})
}

// auditAdmin tells the Auditor about an admin change that is durable already.
// The change stands whatever the Auditor answers; a failure is logged.
func (d *Desk) auditAdmin(ctx context.Context, actor, action, target string, before, after any) {
	if d.o.Auditor == nil {
		return
	}
	if err := d.o.Auditor.Audit(ctx, actor, action, target, before, after); err != nil {
		d.log.Error("booking: an admin change is saved but its audit entry is not", "action", action, "target", target, "actor", actor, "err", err)
	}
}

// stranded lists the bookings still to come that cat cannot hold and cur
// (the catalogue in force) can: their service or a resource is gone, or
// their time is outside its hours. A booking cur cannot hold either (on a
// closed day, or stranded by an earlier change) is not this change's doing.
func (d *Desk) stranded(cur, cat *Catalog, now time.Time) ([]proto.StrandedRef, error) {
	today := DateOf(now, cat.Location())
	var out []proto.StrandedRef
	err := d.o.DB.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bByDay)
		if b == nil {
			return nil
		}
		// booking_byday: date (4 bytes), start ms (8), booking id
		c := b.Cursor()
		for k, _ := c.Seek(dayKey(today)); k != nil; k, _ = c.Next() {
			if len(k) <= 12 {
				return fmt.Errorf("%w: byday key %x", errCorrupt, k)
			}
			r, err := getBooking(tx, string(k[12:]))
			if err != nil {
				return err
			}
			if r == nil || (r.Status != StatusBooked && r.Status != StatusCheckedIn) || !r.End.After(now) {
				continue
			}
			if why := strandedWhy(cat, r); why != "" && strandedWhy(cur, r) == "" {
				out = append(out, d.strandedRef(r, why))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("booking: bookings a change strands: %w", err)
	}
	return out, nil
}

// strandedWhy says why cat cannot hold r, or "".
func strandedWhy(cat *Catalog, r *record) string {
	s, ok := cat.Service(r.Service)
	if !ok {
		return fmt.Sprintf("the service %s is no longer offered", r.Service)
	}
	for _, id := range r.Resources {
		if !slices.ContainsFunc(cat.Resources, func(x *Resource) bool { return x.ID == id }) {
			return fmt.Sprintf("%s is no longer among the resources", id)
		}
	}
	if r.Status != StatusBooked {
		return ""
	}
	switch _, err := cat.Place(s, r.Start, nil, ""); {
	case errors.Is(err, ErrClosed):
		return "the store is closed that day"
	case errors.Is(err, ErrOutsideHours):
		return "it is outside the opening hours"
	case errors.Is(err, ErrTaken):
		return "no resource it needs works at that time"
	}
	return ""
}

func (d *Desk) strandedRef(r *record, why string) proto.StrandedRef {
	return proto.StrandedRef{Booking: r.ID, Customer: r.Customer, Service: r.Service, Start: d.fmtTime(r.Start), Why: why}
}

// parseClosure checks closure_add's dates and reason.
func (d *Desk) parseClosure(r proto.ClosureAddRequest, today Date) (from, until Date, err error) {
	if from, err = ParseDate(r.Date); err != nil {
		return 0, 0, failf(svc.CodeBadRequest, ReasonBadTime, `"date" must be a date like 2026-10-01, got %q`, clip(r.Date))
	}
	until = from
	if r.Until != "" {
		if until, err = ParseDate(r.Until); err != nil {
			return 0, 0, failf(svc.CodeBadRequest, ReasonBadTime, `"until" must be a date like 2026-10-03, got %q`, clip(r.Until))
		}
	}
	switch {
	case until < from:
		return 0, 0, failf(svc.CodeBadRequest, ReasonBadTime, `"until" (%s) is before "date" (%s)`, until, from)
	case from.AddDays(maxClosureDays) <= until:
		return 0, 0, failf(svc.CodeBadRequest, ReasonBadTime, "a closure is at most %d days", maxClosureDays)
	case until < today:
		return 0, 0, failf(svc.CodeBadRequest, ReasonInPast, "%s has passed", until)
	}
	for _, f := range []struct{ name, v string }{{"reason.zh", r.Reason.ZH}, {"reason.en", r.Reason.EN}} {
		if strings.TrimSpace(f.v) == "" {
			return 0, 0, svc.Errorf(svc.CodeBadRequest, `%q is empty: say why the store is closed, in Chinese and in English`, f.name)
		}
		if err := checkText(f.name, f.v, d.o.MaxNotesBytes); err != nil {
			return 0, 0, err
		}
	}
	return from, until, nil
}

// closedCard is the card a customer gets when her booking's day is closed.
type closedCard struct {
	Type         string        `json:"type"`
	Event        string        `json:"event"`
	Booking      string        `json:"booking"`
	Service      string        `json:"service"`
	ServiceName  *proto.Text   `json:"service_name,omitempty"`
	Start        time.Time     `json:"start"`
	Reason       proto.Text    `json:"reason"`
	Text         string        `json:"text"`
	Closure      proto.Closure `json:"closure"`
	Alternatives []SlotView    `json:"alternatives"`
}

func (d *Desk) closureAdd(ctx context.Context, req *svc.Request) (any, error) {
	var r closureAddReq
	if err := decode(req.Body, &r); err != nil {
		return nil, err
	}
	if !d.admin(req.From.Role) {
		return nil, svc.Errorf(svc.CodeForbidden, "only an admin closes the store")
	}
	if _, err := d.shopState(); err != nil {
		return nil, err
	}
	now := d.now()
	today := DateOf(now, d.cat().Location())
	from, until, err := d.parseClosure(r.ClosureAddRequest, today)
	if err != nil {
		return nil, err
	}
	d.shopMu.Lock()
	defer d.shopMu.Unlock()
	cur := d.shop.Load()
	c := proto.Closure{ID: derivedID("cl-", req.From.Device, req.ID), Date: from.String(), Reason: r.Reason, By: req.From.Device}
	if until != from {
		c.Until = until.String()
	}
	var live []proto.Closure
	for _, x := range cur.closures {
		if closureEnd(x) >= today && x.ID != c.ID {
			live = append(live, x)
		}
	}
	if len(live) >= d.o.MaxClosures {
		d.log.Warn("booking: closure refused: booking.max_closures closures are ahead already", "max_closures", d.o.MaxClosures)
		return nil, failf(svc.CodeQuotaExceeded, ReasonTooManyClosures,
			"%d closures are ahead already (booking.max_closures); remove one first", len(live))
	}
	next := &shopState{version: cur.version, doc: cur.doc, zone: cur.zone, closures: append(live, c)}
	sortClosures(next.closures)
	cat, errs := next.build()
	if len(errs) > 0 {
		return nil, invalid(errs)
	}
	// The bookings on the closed days, and the nearest free slots after.
	var affected []*record
	cards := map[string]json.RawMessage{}
	err = d.o.DB.View(func(tx *bolt.Tx) error {
		for day := from; day <= until; day = day.AddDays(1) {
			recs, _, err := bookingsUnder(tx, bByDay, dayKey(day), dayKey(day), 0)
			if err != nil {
				return err
			}
			for _, b := range recs {
				if b.Status == StatusBooked && b.Start.After(now) {
					affected = append(affected, b)
				}
			}
		}
		for _, b := range affected {
			s, ok := cat.Service(b.Service)
			if !ok || b.Customer == "" || d.o.Chat == nil {
				continue
			}
			alts, err := d.nearestIn(cat, s, afterClosure(b.Start, until, cat.Location()), b.ID, func(day Date) ([]Busy, error) { return busyOn(tx, day) })
			if err != nil {
				return err
			}
			card, err := json.Marshal(closedCard{Type: "booking", Event: EventClosed, Booking: b.ID, Service: b.Service,
				ServiceName: (*proto.Text)(&s.Name), Start: d.wireTime(b.Start), Reason: c.Reason, Closure: c,
				Text: fmt.Sprintf("门店当天休息：%s。请另选时间。 / The store is closed that day: %s. Please choose another time.", c.Reason.ZH, c.Reason.EN), Alternatives: d.slotViews(alts)})
			if err != nil {
				return fmt.Errorf("booking: encode card: %w", err)
			}
			cards[b.ID] = card
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("booking: bookings on the closed days: %w", err)
	}
	ans := &proto.ClosureAnswer{Closure: c, Affected: make([]proto.StrandedRef, 0, min(len(affected), d.o.PageSize)), AffectedCount: len(affected)}
	for _, b := range affected[:min(len(affected), d.o.PageSize)] {
		ans.Affected = append(ans.Affected, d.strandedRef(b, "the store is closed that day: "+c.Reason.EN))
	}
	var emits []func()
	err = d.update(ctx, func(tx *bolt.Tx) error {
		emits = emits[:0]
		if err := putClosures(tx, next.closures); err != nil {
			return err
		}
		if err := d.shopChanged(tx); err != nil {
			return err
		}
		for _, b := range affected {
			card := cards[b.ID]
			if card == nil {
				continue
			}
			_, _, e, err := d.o.Chat.PostTx(tx, chat.Post{Customer: b.Customer, From: ChatSender, ID: "closed." + c.ID + "." + b.ID, Card: card})
			switch {
			case errors.Is(err, chat.ErrPostInput):
				d.log.Warn("booking: no chat card for a closed day", "customer", b.Customer, "booking", b.ID, "err", err)
			case err != nil:
				return fmt.Errorf("booking: chat card: %w", err)
			default:
				emits = append(emits, e)
			}
		}
		return req.Keep(tx, ans)
	})
	if err != nil {
		return nil, err
	}
	for _, e := range emits {
		e()
	}
	d.shop.Store(next)
	d.catp.Store(cat)
	d.auditAdmin(ctx, req.From.Device, AuditClosureAdd, "closure/"+c.ID, nil, c)
	return ans, nil
}

// afterClosure is t's clock on the day after until: where alternatives to
// a booking on a closed day are looked for.
func afterClosure(t time.Time, until Date, loc *time.Location) time.Time {
	y, m, dd := until.AddDays(1).YMD()
	lt := t.In(loc)
	return time.Date(y, m, dd, lt.Hour(), lt.Minute(), 0, 0, loc)
}

func (d *Desk) closureRemove(ctx context.Context, req *svc.Request) (any, error) {
	var r closureRemoveReq
	if err := decode(req.Body, &r); err != nil {
		return nil, err
	}
	if !d.admin(req.From.Role) {
		return nil, svc.Errorf(svc.CodeForbidden, "only an admin reopens the store")
	}
	if err := checkID("closure", r.Closure); err != nil {
		return nil, err
	}
	if _, err := d.shopState(); err != nil {
		return nil, err
	}
	d.shopMu.Lock()
	defer d.shopMu.Unlock()
	cur := d.shop.Load()
	i := slices.IndexFunc(cur.closures, func(c proto.Closure) bool { return c.ID == r.Closure })
	if i < 0 {
		return nil, failf(svc.CodeNotFound, ReasonUnknownClosure, "no closure %q; closure_list lists them", r.Closure)
	}
	gone := cur.closures[i]
	next := &shopState{version: cur.version, doc: cur.doc, zone: cur.zone, closures: slices.Delete(slices.Clone(cur.closures), i, i+1)}
	cat, errs := next.build()
	if len(errs) > 0 {
		return nil, invalid(errs)
	}
	ans := &proto.ClosureList{Closures: next.closures}
	err := d.update(ctx, func(tx *bolt.Tx) error {
		if err := putClosures(tx, next.closures); err != nil {
			return err
		}
		if err := d.shopChanged(tx); err != nil {
			return err
		}
		return req.Keep(tx, ans)
	})
	if err != nil {
		return nil, err
	}
	d.shop.Store(next)
	d.catp.Store(cat)
	d.auditAdmin(ctx, req.From.Device, AuditClosureRemove, "closure/"+gone.ID, gone, nil)
	return ans, nil
}

func (d *Desk) closureList(_ context.Context, req *svc.Request) (any, error) {
	var r servicesReq
	if err := decode(req.Body, &r); err != nil {
		return nil, err
	}
	if !d.mayBook(req.From) {
		return nil, svc.Errorf(svc.CodeForbidden, "closures are for those who book: customers, kiosks and staff")
	}
	st, err := d.shopState()
	if err != nil {
		return nil, err
	}
	today := DateOf(d.now(), st.zone)
	out := []proto.Closure{}
	for _, c := range st.closures {
		if closureEnd(c) >= today {
			out = append(out, c)
		}
	}
	return proto.ClosureList{Closures: out}, nil
}

// closedErr answers a start on a closed day: the closure's reason, when a
// closure made it closed, and the nearest free slots after it.
func (d *Desk) closedErr(s *Service, start time.Time, exclude string) error {
	cat := d.cat()
	loc := cat.Location()
	day := DateOf(start, loc)
	details := map[string]any{"reason": ReasonClosed}
	want := start
	msg := fmt.Sprintf("the store is closed on %s", day)
	if c, ok := d.shop.Load().closureOn(day); ok {
		details["closure"] = c
		msg += ": " + c.Reason.EN
		want = afterClosure(start, closureEnd(c), loc)
	}
	var alts []Slot
	err := d.o.DB.View(func(tx *bolt.Tx) error {
		var err error
		alts, err = d.nearestIn(cat, s, want, exclude, func(day Date) ([]Busy, error) { return busyOn(tx, day) })
		return err
	})
	if err != nil {
		return fmt.Errorf("booking: alternatives: %w", err)
	}
	details["alternatives"] = d.slotViews(alts)
	return svc.WithDetails(svc.Errorf(svc.CodeBadRequest, "%s", msg), details)
}
