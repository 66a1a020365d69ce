package booking

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/internal/hours"
	"github.com/storeedge/storeedge/proto"
)

// The shop: the catalogue (services, resources, opening hours) and the
// closures live in the store's database. services.yaml (Options.Catalog)
// seeds them on the first start, and again at a start after the file
// changed as long as nobody edited the catalogue through catalog_set since
// the last seeding; after an edit the file is only reported as ignored.
// The store's time zone always comes from config (the seed's hours).

// Audit actions.
const (
	AuditCatalogSet     = "booking.catalog_set"
	AuditCatalogReplace = "booking.catalog_replace"
	AuditClosureAdd     = "booking.closure_add"
	AuditClosureRemove  = "booking.closure_remove"
)

var (
	bShop     = []byte("booking_shop")
	bClosures = []byte("booking_closures")

	shopCatalog = []byte("catalog")
	shopVersion = []byte("version")
	shopSeed    = []byte("seed")   // hash of the seed last stored
	shopSeeded  = []byte("seeded") // the version the seed was stored as
)

// shopState is the catalogue as stored: what catalog_get answers and the
// edits start from. Immutable; an edit stores a new one.
type shopState struct {
	version  uint64
	doc      proto.ShopCatalog // without TimeZone
	zone     *time.Location
	closures []proto.Closure // by date
}

// Hours returns the opening hours in force, closures included: the FAQ
// assistant's hours answer and after-hours reply use them (faq.HoursSource).
func (d *Desk) Hours() *hours.Hours { return d.cat().Hours }

// OpenShop loads the catalogue and closures from the database, storing the
// seed (Options.Catalog) first when there are none, and puts them in force.
// Call it once after New, before the router starts.
func (d *Desk) OpenShop(ctx context.Context) error {
	seed := d.o.Catalog
	if seed.Hours == nil {
		return errors.New("booking: the seed catalogue has no hours")
	}
	seedDoc, seedCl := docOf(seed), seedClosures(seed)
	sum := sha256.New()
	for _, v := range []any{seedDoc, seedCl} {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("booking: encode seed: %w", err)
		}
		sum.Write(b)
	}
	hash := sum.Sum(nil)
	var st *shopState
	var stale bool
	err := d.o.DB.Update(ctx, func(tx *bolt.Tx) error {
		st, stale = nil, false
		b, err := tx.CreateBucketIfNotExists(bShop)
		if err != nil {
			return fmt.Errorf("booking: bucket %s: %w", bShop, err)
		}
		cb, err := tx.CreateBucketIfNotExists(bClosures)
		if err != nil {
			return fmt.Errorf("booking: bucket %s: %w", bClosures, err)
		}
		version := getU64(b.Get(shopVersion))
		fresh := b.Get(shopCatalog) == nil
		if !fresh && string(b.Get(shopSeed)) != string(hash) {
			if getU64(b.Get(shopSeeded)) != version {
				stale = true // edited since: the file is not applied
			} else {
				fresh = true
			}
		}
		if fresh {
			first := version == 0
			version++
			if err := putJSON(b, shopCatalog, seedDoc); err != nil {
				return err
			}
			for _, c := range seedCl {
				if err := putJSON(cb, []byte(c.ID), c); err != nil {
					return err
				}
			}
			for k, v := range map[string][]byte{string(shopVersion): u64(version), string(shopSeed): hash, string(shopSeeded): u64(version)} {
				if err := b.Put([]byte(k), v); err != nil {
					return fmt.Errorf("booking: put shop %s: %w", k, err)
				}
			}
			// A new database's first catalogue reaches HQ with the
			// snapshot the link files when it is configured; a services.yaml
			// changed since is a change HQ hears of now.
			if !first {
				if err := d.shopChanged(tx); err != nil {
					return err
				}
			}
		}
		st, err = readShop(tx, seed.Location())
		return err
	})
	if err != nil {
		return fmt.Errorf("booking: open the catalogue: %w", err)
	}
	if stale {
		d.log.Warn("booking: services.yaml changed, but the catalogue was edited in the console since; the file is not applied (the console's catalogue is in force)")
	}
	cat, errs := st.build()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("booking: the stored catalogue: %w", err)
	}
	d.shopMu.Lock()
	d.shop.Store(st)
	d.catp.Store(cat)
	d.shopMu.Unlock()
	return nil
}

// readShop reads the stored catalogue and closures.
func readShop(tx *bolt.Tx, zone *time.Location) (*shopState, error) {
	st := &shopState{zone: zone, closures: []proto.Closure{}}
	b := tx.Bucket(bShop)
	if b == nil || b.Get(shopCatalog) == nil {
		return nil, errors.New("booking: no catalogue stored")
	}
	if err := json.Unmarshal(b.Get(shopCatalog), &st.doc); err != nil {
		return nil, fmt.Errorf("%w: catalogue: %w", errCorrupt, err)
	}
	st.version = getU64(b.Get(shopVersion))
	if cb := tx.Bucket(bClosures); cb != nil {
		err := cb.ForEach(func(k, v []byte) error {
			var c proto.Closure
			if err := json.Unmarshal(v, &c); err != nil {
				return fmt.Errorf("%w: closure %s: %w", errCorrupt, k, err)
			}
			st.closures = append(st.closures, c)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sortClosures(st.closures)
	return st, nil
}

func sortClosures(cs []proto.Closure) {
	slices.SortFunc(cs, func(a, b proto.Closure) int {
		if a.Date != b.Date {
			return strings.Compare(a.Date, b.Date)
		}
		return strings.Compare(a.ID, b.ID)
	})
}

func getU64(v []byte) uint64 {
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// build makes the catalogue of st, checked as LoadCatalog checks a file;
// errs name the wire's fields.
func (st *shopState) build() (*Catalog, []error) {
	cat, errs := buildCatalog(configFrom(st.doc, st.zone, st.closures), nil)
	for i, e := range errs {
		errs[i] = errors.New(wireNames.Replace(e.Error()))
	}
	return cat, errs
}

// wireNames turns services.yaml's key names in an error into the wire's.
var wireNames = strings.NewReplacer(".duration:", ".minutes:", ".buffer:", ".buffer_minutes:",
	"hours.weekly.", "hours.", "slot_step:", "slot_step_minutes:", "survey_after:", "survey_after_minutes:",
	"reminders[", "reminder_minutes[", ".fits.baby_age_months:", ".baby_age_months:", ".fits.species", ".species",
	".fits.sizes", ".sizes", "shifts.weekly.", "shifts.")

// minutes renders whole minutes as a duration of services.yaml; 0 is "".
func minutes(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%dm", n)
}

func weekOf(w hours.Weekly) proto.Week {
	return proto.Week{Mon: w.Mon, Tue: w.Tue, Wed: w.Wed, Thu: w.Thu, Fri: w.Fri, Sat: w.Sat, Sun: w.Sun}
}

func weeklyOf(w proto.Week) hours.Weekly {
	return hours.Weekly{Mon: w.Mon, Tue: w.Tue, Wed: w.Wed, Thu: w.Thu, Fri: w.Fri, Sat: w.Sat, Sun: w.Sun}
}

// configFrom is services.yaml's form of a stored catalogue, with the
// closures as closed dates of the hours.
func configFrom(doc proto.ShopCatalog, zone *time.Location, closures []proto.Closure) catalogConfig {
	h := &hours.Config{TimeZone: zone.String(), Weekly: weeklyOf(doc.Hours)}
	for _, c := range closures {
		name := c.Reason.ZH
		if c.Reason.EN != c.Reason.ZH {
			name += " " + c.Reason.EN
		}
		h.Closed = append(h.Closed, hours.Closed{Date: c.Date, Until: c.Until, Name: name})
	}
	c := catalogConfig{Hours: h, SlotStep: minutes(doc.SlotStepMinutes), HorizonDays: doc.HorizonDays,
		SurveyAfter: minutes(doc.SurveyAfterMinutes), Stages: doc.Stages}
	if doc.ReminderMinutes != nil {
		c.Reminders = []string{}
		for _, m := range doc.ReminderMinutes {
			c.Reminders = append(c.Reminders, fmt.Sprintf("%dm", m))
		}
	}
	for _, r := range doc.Resources {
		rc := catResourceConf{ID: r.ID, Kind: r.Kind, Name: Text(r.Name), Skills: r.Skills}
		if r.Shifts != nil {
			rc.Shifts = &hours.Config{Weekly: weeklyOf(r.Shifts.Weekly)}
			for _, cl := range r.Shifts.Closed {
				rc.Shifts.Closed = append(rc.Shifts.Closed, hours.Closed(cl))
			}
		}
		c.Resources = append(c.Resources, rc)
	}
	for _, s := range doc.Services {
		sc := catServiceConf{ID: s.ID, Name: Text(s.Name), Category: s.Category, Duration: fmt.Sprintf("%dm", s.Minutes),
			Buffer: minutes(s.BufferMinutes), Price: s.Price, Currency: s.Currency,
			Fits: catFitsConf{Species: s.Species, Sizes: s.Sizes, BabyAgeMonths: s.BabyAgeMonths}}
		if len(s.BabyAgeMonths) == 0 {
			sc.Fits.BabyAgeMonths = nil
		}
		for _, n := range s.Needs {
			sc.Needs = append(sc.Needs, catNeedConf(n))
		}
		c.Services = append(c.Services, sc)
	}
	return c
}

// docOf is the stored form of a catalogue, without its closed dates (those
// become closures, seedClosures) and zone.
func docOf(c *Catalog) proto.ShopCatalog {
	doc := proto.ShopCatalog{Hours: weekOf(c.Hours.Config().Weekly), SlotStepMinutes: int(c.Step / time.Minute),
		HorizonDays: c.HorizonDays, ReminderMinutes: []int{}, SurveyAfterMinutes: int(c.SurveyAfter / time.Minute),
		Stages: slices.Clone(c.Stages), Resources: []proto.ShopResource{}, Services: []proto.ShopService{}}
	for _, r := range c.Reminders {
		doc.ReminderMinutes = append(doc.ReminderMinutes, int(r/time.Minute))
	}
	for _, r := range c.Resources {
		pr := proto.ShopResource{ID: r.ID, Kind: r.Kind, Name: proto.Text(r.Name), Skills: r.Skills}
		if r.Shifts != nil {
			hc := r.Shifts.Config()
			pr.Shifts = &proto.Shifts{Weekly: weekOf(hc.Weekly)}
			for _, cl := range hc.Closed {
				pr.Shifts.Closed = append(pr.Shifts.Closed, proto.DateSpan(cl))
			}
		}
		doc.Resources = append(doc.Resources, pr)
	}
	for _, s := range c.Services {
		ps := proto.ShopService{ID: s.ID, Name: proto.Text(s.Name), Category: s.Category, Minutes: int(s.Duration / time.Minute),
			BufferMinutes: int(s.Buffer / time.Minute), Price: s.Price, Currency: s.Currency, Needs: []proto.Need{},
			Species: s.Fits.Species, Sizes: s.Fits.Sizes}
		for _, n := range s.Needs {
			ps.Needs = append(ps.Needs, proto.Need(n))
		}
		if s.Fits.HasAge {
			ps.BabyAgeMonths = []int{s.Fits.MinAgeMonths, s.Fits.MaxAgeMonths}
		}
		doc.Services = append(doc.Services, ps)
	}
	return doc
}

// seedClosures are the closed dates of a seed's hours, as closures.
func seedClosures(c *Catalog) []proto.Closure {
	out := []proto.Closure{}
	for _, cl := range c.Hours.Config().Closed {
		name := strings.TrimSpace(cl.Name)
		reason := proto.Text{ZH: name, EN: name}
		if name == "" {
			reason = proto.Text{ZH: "休息", EN: "Closed"}
		}
		id := "seed-" + strings.ReplaceAll(cl.Date, "-", "")
		if cl.Until != "" {
			id += "-" + strings.ReplaceAll(cl.Until, "-", "")
		}
		out = append(out, proto.Closure{ID: id, Date: cl.Date, Until: cl.Until, Reason: reason, By: "services.yaml"})
	}
	return out
}

// closureOn returns the closure covering date, if any.
func (st *shopState) closureOn(date Date) (proto.Closure, bool) {
	if st == nil {
		return proto.Closure{}, false
	}
	s := date.String()
	for _, c := range st.closures {
		until := c.Until
		if until == "" {
			until = c.Date
		}
		if c.Date <= s && s <= until {
			return c, true
		}
	}
	return proto.Closure{}, false
}

// closureEnd is the last date of c.
func closureEnd(c proto.Closure) Date {
	s := c.Until
	if s == "" {
		s = c.Date
	}
	d, err := ParseDate(s)
	if err != nil {
		return 0
	}
	return d
}

// ReplaceCatalog installs a catalogue from services.yaml bytes (a starter
// catalogue chosen at first-run setup) in place of the one in force, as
// ReplaceCatalogAs by "setup".
func (d *Desk) ReplaceCatalog(ctx context.Context, yaml []byte) error {
	return d.ReplaceCatalogAs(ctx, "setup", yaml)
}

// ReplaceCatalogAs installs a catalogue from services.yaml bytes in place
// of the one in force, by actor (for the audit). Its hours, when it has
// none, are the current ones; its closed dates are added as closures. A
// file that breaks a rule changes nothing; bookings it would strand stay
// as they are.
func (d *Desk) ReplaceCatalogAs(ctx context.Context, actor string, yaml []byte) error {
	cur := d.shop.Load()
	if cur == nil {
		return errors.New("booking: ReplaceCatalog before OpenShop")
	}
	// the current weekly hours, without the closures (they stay closures)
	h, err := hours.New(hours.Config{TimeZone: cur.zone.String(), Weekly: weeklyOf(cur.doc.Hours)}, "hours")
	if err != nil {
		return fmt.Errorf("booking: the current hours: %w", err)
	}
	c, err := LoadCatalog(yaml, h)
	if err != nil {
		return err
	}
	if c.Location().String() != cur.zone.String() {
		return fmt.Errorf("booking: services.yaml: hours.time_zone: %s, but the store's time zone is %s", c.Location(), cur.zone)
	}
	doc := docOf(c)
	extra := seedClosures(c)
	// the current closures stay; the starter's hours may repeat them
	for _, cl := range cur.closures {
		if !slices.ContainsFunc(extra, func(e proto.Closure) bool { return e.ID == cl.ID }) {
			extra = append(extra, cl)
		}
	}
	_, err = d.saveCatalog(ctx, actor, AuditCatalogReplace, doc, extra, 0, nil)
	return err
}
