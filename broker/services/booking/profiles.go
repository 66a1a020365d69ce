package booking

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/proto"
)

// Profile is a pet or a baby, owned by one customer. The booking form
// pre-fills from it and staff see its notes on the board. It is personal
// data: stored sealed, shown only to its customer and to staff.
type Profile = proto.Profile

// storedProfile is a profile with its owner.
type storedProfile struct {
	Profile
	Customer string
}

// profileRecord is what bucket booking_profiles holds under the profile id.
type profileRecord struct {
	Customer string `json:"customer"`
	Sealed   []byte `json:"sealed"`
}

const (
	maxAllergies = 16
	shortText    = 64
)

var (
	profileKinds = []string{"pet", "baby"}
	petSizes     = []string{"small", "medium", "large"}
)

func (d *Desk) checkProfile(p *Profile) error {
	if !contains(profileKinds, p.Kind) {
		return svc.Errorf(svc.CodeBadRequest, `"profile.kind" must be pet or baby`)
	}
	if p.Name == "" {
		return svc.Errorf(svc.CodeBadRequest, `"profile.name" is required`)
	}
	for f, v := range map[string]string{"name": p.Name, "species": p.Species, "breed": p.Breed, "size": p.Size} {
		if err := checkText("profile."+f, v, shortText); err != nil {
			return err
		}
	}
	for f, v := range map[string]string{"temperament": p.Temperament, "notes": p.Notes} {
		if err := checkText("profile."+f, v, d.o.MaxNotesBytes); err != nil {
			return err
		}
	}
	if len(p.Allergies) > maxAllergies {
		return failf(svc.CodeTooLarge, ReasonTooLong, `"profile.allergies" has %d entries, at most %d`, len(p.Allergies), maxAllergies)
	}
	for _, a := range p.Allergies {
		if err := checkText("profile.allergies", a, shortText); err != nil {
			return err
		}
	}
	if p.Size != "" && !contains(petSizes, p.Size) {
		return svc.Errorf(svc.CodeBadRequest, `"profile.size" must be one of %v`, petSizes)
	}
	for f, v := range map[string]string{"birth_date": p.BirthDate, "vaccinated_on": p.VaccinatedOn} {
		if v == "" {
			continue
		}
		if _, err := ParseDate(v); err != nil {
			return failf(svc.CodeBadRequest, ReasonBadTime, `"profile.%s" must be a date like 2025-03-01`, f)
		}
	}
	switch p.Kind {
	case "pet":
		if p.Species == "" {
			return svc.Errorf(svc.CodeBadRequest, `a pet's "species" is required (dog, cat, …)`)
		}
	case "baby":
		if p.BirthDate == "" {
			return svc.Errorf(svc.CodeBadRequest, `a baby's "birth_date" is required`)
		}
		if p.Species != "" || p.Breed != "" || p.Size != "" || p.VaccinatedOn != "" {
			return svc.Errorf(svc.CodeBadRequest, "species, breed, size and vaccinated_on are for pets")
		}
	}
	return nil
}

// fits checks that service s takes the profile's pet or baby at start.
func fits(s *Service, p *storedProfile, start time.Time, loc *time.Location) error {
	var err error
	switch p.Kind {
	case "pet":
		err = s.FitsPet(p.Species, p.Size)
	case "baby":
		born, perr := ParseDate(p.BirthDate)
		if perr != nil {
			return failf(svc.CodeBadRequest, ReasonBadTime, "profile %s has no valid birth date", p.ID)
		}
		err = s.FitsBaby(ageMonths(born, DateOf(start, loc)))
	}
	if err != nil {
		return failf(svc.CodeBadRequest, ReasonDoesNotFit, "%s: %v", s.ID, err)
	}
	return nil
}

// ageMonths is the age in whole months on date on.
func ageMonths(born, on Date) int {
	by, bm, bd := born.YMD()
	y, m, d := on.YMD()
	n := (y-by)*12 + int(m-bm)
	if d < bd {
		n--
	}
	return n
}

// customerFor decides whose profiles a request touches.
func (d *Desk) customerFor(who auth.Identity, customer string) (string, error) {
	switch {
	case who.Customer:
		if customer != "" && customer != who.Device {
			return "", failf(svc.CodeForbidden, ReasonNotYours, "customers see their own profiles only")
		}
		return who.Device, nil
	case d.staff(who.Role):
		if err := checkID("customer", customer); err != nil {
			return "", err
		}
		return customer, nil
	case d.desk(who.Role):
		// A kiosk is a public device: only the customer standing at it,
		// who confirmed so from her own phone.
		if customer != "" {
			if err := checkID("customer", customer); err != nil {
				return "", err
			}
		}
		return d.deskFor(who, customer)
	}
	return "", svc.Errorf(svc.CodeForbidden, "role %s has no access to profiles", who.Role)
}

// loadProfile reads profile id for a booking of customer.
func (d *Desk) loadProfile(id, customer string, who auth.Identity) (*storedProfile, error) {
	if err := checkID("profile", id); err != nil {
		return nil, err
	}
	var rec *profileRecord
	err := d.o.DB.View(func(tx *bolt.Tx) error {
		var err error
		rec, err = getProfile(tx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, failf(svc.CodeNotFound, ReasonUnknownProfile, "no profile %s", id)
	}
	if rec.Customer != customer || (who.Customer && who.Device != customer) {
		return nil, failf(svc.CodeForbidden, ReasonNotYours, "profile %s belongs to another customer", id)
	}
	if d.desk(who.Role) && !d.staff(who.Role) {
		if _, err := d.deskFor(who, customer); err != nil {
			return nil, err
		}
	}
	return d.openProfile(id, rec)
}

func getProfile(tx *bolt.Tx, id string) (*profileRecord, error) {
	b := tx.Bucket(bProfiles)
	if b == nil {
		return nil, nil
	}
	v := b.Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	var r profileRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("%w: profile %s: %w", errCorrupt, id, err)
	}
	return &r, nil
}

func (d *Desk) openProfile(id string, rec *profileRecord) (*storedProfile, error) {
	b, err := d.o.Seal.Open(rec.Sealed, sealAD("profile", id))
	if err != nil {
		return nil, fmt.Errorf("booking: open profile %s: %w", id, err)
	}
	p := &storedProfile{Customer: rec.Customer}
	if err := json.Unmarshal(b, &p.Profile); err != nil {
		return nil, fmt.Errorf("%w: profile %s: %w", errCorrupt, id, err)
	}
	return p, nil
}

// profilePut creates a profile (no id: one is made from the request id) or
// replaces one of the customer's.
func (d *Desk) profilePut(ctx context.Context, req *svc.Request) (any, error) {
	var q profilePutReq
	if err := decode(req.Body, &q); err != nil {
		return nil, err
	}
	customer, err := d.customerFor(req.From, q.Customer)
	if err != nil {
		return nil, err
	}
	p := q.Profile
	if err := d.checkProfile(&p); err != nil {
		return nil, err
	}
	if p.ID == "" {
		p.ID = derivedID("pf-", req.From.Device, req.ID)
	} else if err := checkID("profile.id", p.ID); err != nil {
		return nil, err
	} else if _, err := d.loadProfile(p.ID, customer, req.From); err != nil {
		return nil, err // replacing needs an existing profile of this customer
	}
	p.Allergies = slices.Clip(p.Allergies)
	p.Updated = d.fmtTime(d.now())
	plain, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("booking: encode profile: %w", err)
	}
	var full bool
	ans := &proto.ProfileAnswer{Profile: p, Customer: customer}
	err = d.update(ctx, func(tx *bolt.Tx) error {
		full = false
		w, err := writable(tx)
		if err != nil {
			return err
		}
		prefix := profileIndex(customer, "")
		n := 0
		exists := w.profiles.Get([]byte(p.ID)) != nil
		c := w.ids.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			n++
		}
		if !exists && n >= d.o.MaxProfiles {
			full = true
			return nil
		}
		sealed, err := d.o.Seal.Seal(plain, sealAD("profile", p.ID))
		if err != nil {
			return fmt.Errorf("booking: seal profile: %w", err)
		}
		if err := putJSON(w.profiles, []byte(p.ID), profileRecord{Customer: customer, Sealed: sealed}); err != nil {
			return err
		}
		if err := w.ids.Put(profileIndex(customer, p.ID), nil); err != nil {
			return err
		}
		return req.Keep(tx, ans)
	})
	if err != nil {
		return nil, err
	}
	if full {
		return nil, failf(svc.CodeQuotaExceeded, ReasonTooManyProfile, "customer %s has %d profiles, the most a customer keeps", customer, d.o.MaxProfiles)
	}
	return ans, nil
}

// profileIndex: "pf" 0x00 customer 0x00 profile id, in bucket booking_ids.
func profileIndex(customer, id string) []byte { return []byte("pf\x00" + customer + "\x00" + id) }

// profiles reads every profile of customer.
func (d *Desk) profiles(customer string) ([]Profile, error) {
	out := []Profile{}
	err := d.o.DB.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bIDs)
		if b == nil {
			return nil
		}
		prefix := profileIndex(customer, "")
		c := b.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			id := string(k[len(prefix):])
			rec, err := getProfile(tx, id)
			if err != nil {
				return err
			}
			if rec == nil {
				continue
			}
			p, err := d.openProfile(id, rec)
			if err != nil {
				return err
			}
			out = append(out, p.Profile)
		}
		return nil
	})
	return out, err
}

func (d *Desk) profileList(_ context.Context, req *svc.Request) (any, error) {
	var q profileReq
	if err := decode(req.Body, &q); err != nil {
		return nil, err
	}
	customer, err := d.customerFor(req.From, q.Customer)
	if err != nil {
		return nil, err
	}
	ps, err := d.profiles(customer)
	if err != nil {
		return nil, err
	}
	return proto.ProfilesAnswer{Customer: customer, Profiles: ps}, nil
}

func (d *Desk) profileDelete(ctx context.Context, req *svc.Request) (any, error) {
	var q profileReq
	if err := decode(req.Body, &q); err != nil {
		return nil, err
	}
	customer, err := d.customerFor(req.From, q.Customer)
	if err != nil {
		return nil, err
	}
	if err := checkID("profile", q.Profile); err != nil {
		return nil, err
	}
	var rec *profileRecord
	if err := d.o.DB.View(func(tx *bolt.Tx) error {
		rec, err = getProfile(tx, q.Profile)
		return err
	}); err != nil {
		return nil, err
	}
	if rec == nil {
		return proto.DeletedAnswer{Deleted: false}, nil // already gone: a repeat
	}
	if rec.Customer != customer {
		return nil, failf(svc.CodeForbidden, ReasonNotYours, "profile %s belongs to another customer", q.Profile)
	}
	deleted := &proto.DeletedAnswer{Deleted: true}
	err = d.update(ctx, func(tx *bolt.Tx) error {
		w, err := writable(tx)
		if err != nil {
			return err
		}
		if err := w.profiles.Delete([]byte(q.Profile)); err != nil {
			return fmt.Errorf("booking: delete profile: %w", err)
		}
		if err := w.ids.Delete(profileIndex(customer, q.Profile)); err != nil {
			return err
		}
		return req.Keep(tx, deleted)
	})
	if err != nil {
		return nil, err
	}
	return deleted, nil
}
