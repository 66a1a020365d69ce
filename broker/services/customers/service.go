package customers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/mqtt/auth/customer"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/internal/safetext"
	"github.com/storeedge/storeedge/internal/strictjson"
	"github.com/storeedge/storeedge/proto"
)

// ServiceName is the svc service name: requests go to svc/customer/{op}.
const ServiceName = proto.ServiceCustomer

// Defaults of Options.
const (
	DefaultMaxNotesBytes = 2000
	DefaultMaxTags       = 20
	DefaultMaxNames      = 200
)

// Fixed sizes of card fields.
const (
	maxNameBytes  = 64
	maxPhoneBytes = 32
	maxTagBytes   = 32
)

// Reasons in errors' details.
const (
	ReasonStaleRev  = "stale_rev" // card_put: the card changed since it was read
	ReasonForgotten = "forgotten" // the customer asked to be forgotten
	ReasonMerged    = "merged"    // the id was merged into another (details.into)
	ReasonNotYours  = proto.ReasonNotYours
)

var bucketCards = []byte("customer_cards")

// forgetGrace is how long the connection of a customer who asked to be
// forgotten stays, to receive the answer.
const forgetGrace = 5 * time.Second

// DB is the transactional store (broker/store.DB).
type DB interface {
	Update(ctx context.Context, fn func(*bolt.Tx) error) error
	View(fn func(*bolt.Tx) error) error
}

// Sealer encrypts personal data at rest (internal/seal.Keyring).
type Sealer interface {
	Seal(plaintext, additionalData []byte) ([]byte, error)
	Open(sealed, additionalData []byte) ([]byte, error)
}

// Logins are the customers' logins (broker/mqtt/auth/customer.Store).
type Logins interface {
	Revoke(ctx context.Context, customer string) (int, error)
	EndSoon(ctx context.Context, customer string, grace time.Duration) (int, error)
	Merge(ctx context.Context, from, into string) error
}

// Bookings are the booking desk's side of a customer (booking.Desk).
type Bookings interface {
	CustomerProfiles(customer string) ([]proto.Profile, error)
	ForgetCustomer(ctx context.Context, customer string) (bookings, profiles int, err error)
	MoveProfiles(ctx context.Context, from, into string) (int, error)
}

// Chat is the chat service's side of a customer (chat.Service).
type Chat interface {
	ForgetCustomer(ctx context.Context, customer string) (messages int, err error)
}

// Home ends a customer's logins at home (homelink.Service): HQ is asked,
// through the outbox, to revoke them.
type Home interface {
	ForgetCustomer(ctx context.Context, customer string) error
}

// Auditor records an admin action (who, what, on what, before and after)
// once it is durable.
type Auditor interface {
	Audit(ctx context.Context, actor, action, target string, before, after any) error
}

// Options configure New.
type Options struct {
	DB     DB
	Router *svc.Router
	Seal   Sealer
	Logins Logins
	// Bookings and Chat, when set, give the card her profiles and make
	// "forget me" erase her bookings' notes and her messages.
	Bookings Bookings
	Chat     Chat
	// Home, when set, makes "forget me" end her logins at home too.
	Home Home
	// Auditor, when set, records staff changes to cards, merges and
	// revokes (nil = none).
	Auditor Auditor
	// StaffRoles may read and change any card, names, revoke and merge.
	StaffRoles []string
	// Limits: a card's notes (bytes), its tags, the ids of one names call.
	MaxNotesBytes, MaxTags, MaxNames int
	Now                              func() time.Time
	Log                              *slog.Logger
}

// Service answers svc/customer.
type Service struct{ o Options }

// New checks the options.
func New(o Options) (*Service, error) {
	switch {
	case o.DB == nil, o.Router == nil, o.Seal == nil, o.Logins == nil:
		return nil, errors.New("customers: Options.DB, Router, Seal and Logins are required")
	case len(o.StaffRoles) == 0:
		return nil, errors.New("customers: Options.StaffRoles is required")
	case o.MaxNotesBytes < 0, o.MaxTags < 0, o.MaxNames < 0:
		return nil, errors.New("customers: limits must not be negative (0 = default)")
	}
	if o.MaxNotesBytes == 0 {
		o.MaxNotesBytes = DefaultMaxNotesBytes
	}
	if o.MaxTags == 0 {
		o.MaxTags = DefaultMaxTags
	}
	if o.MaxNames == 0 {
		o.MaxNames = DefaultMaxNames
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{o: o}, nil
}

// Register adds the ops to the router.
func (s *Service) Register() error {
	staff := []svc.OpOption{svc.Roles(s.o.StaffRoles...)}
	err := s.o.Router.HandleService(ServiceName, map[string]svc.Handler{
		"card_get": s.cardGet,
		"card_put": s.cardPut,
		"me_put":   s.mePut,
		"names":    s.names,
		"revoke":   s.revoke,
		"merge":    s.merge,
		"forget":   s.forget,
	}, map[string][]svc.OpOption{"card_put": staff, "names": staff, "revoke": staff, "merge": staff})
	if err != nil {
		return fmt.Errorf("customers: register: %w", err)
	}
	return nil
}

func (s *Service) now() time.Time { return s.o.Now().UTC().Truncate(time.Second) }

func (s *Service) staff(role string) bool { return slices.Contains(s.o.StaffRoles, role) }

// record is a stored card.
type record struct {
	Rev       int        `json:"rev"`
	Updated   *time.Time `json:"updated,omitempty"`
	By        string     `json:"by,omitempty"`
	Forgotten bool       `json:"forgotten,omitempty"`
	AliasOf   string     `json:"alias_of,omitempty"`
	Aliases   []string   `json:"aliases,omitempty"`
	Sealed    []byte     `json:"sealed,omitempty"`
}

// fields are the sealed part of a card.
type fields struct {
	Name    string   `json:"name,omitempty"`
	Phone   string   `json:"phone,omitempty"`
	Notes   string   `json:"notes,omitempty"`
	Tags    []string `json:"tags,omitempty"`
	Consent bool     `json:"consent,omitempty"`
}

func sealAD(id string) []byte { return []byte("customer_cards\x00" + id) }

func getRecord(tx *bolt.Tx, id string) (*record, error) {
	b := tx.Bucket(bucketCards)
	if b == nil {
		return nil, nil
	}
	v := b.Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	var r record
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("customers: card %s: %w", id, err)
	}
	return &r, nil
}

func putRecord(tx *bolt.Tx, id string, r *record) error {
	b, err := tx.CreateBucketIfNotExists(bucketCards)
	if err != nil {
		return err
	}
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("customers: encode card: %w", err)
	}
	return b.Put([]byte(id), v)
}

func (s *Service) open(id string, r *record) (fields, error) {
	var f fields
	if r == nil || len(r.Sealed) == 0 {
		return f, nil
	}
	b, err := s.o.Seal.Open(r.Sealed, sealAD(id))
	if err != nil {
		return f, fmt.Errorf("customers: open card %s: %w", id, err)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("customers: card %s: %w", id, err)
	}
	return f, nil
}

func (s *Service) seal(id string, f fields) ([]byte, error) {
	if f.Name == "" && f.Phone == "" && f.Notes == "" && len(f.Tags) == 0 && !f.Consent {
		return nil, nil
	}
	b, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("customers: encode card: %w", err)
	}
	sealed, err := s.o.Seal.Seal(b, sealAD(id))
	if err != nil {
		return nil, fmt.Errorf("customers: seal card: %w", err)
	}
	return sealed, nil
}

// NameIn is customer id's name on her card, in tx ("" when she has none
// or asked to be forgotten): the name HQ's page at home greets her with.
func (s *Service) NameIn(tx *bolt.Tx, id string) (string, error) {
	r, err := getRecord(tx, id)
	if err != nil || r == nil || r.Forgotten {
		return "", err
	}
	f, err := s.open(id, r)
	return f.Name, err
}

// card builds the wire card; staff see notes and tags.
func (s *Service) card(id string, r *record, staff bool) (proto.CustomerCard, error) {
	c := proto.CustomerCard{Customer: id}
	if r == nil {
		return c, nil
	}
	f, err := s.open(id, r)
	if err != nil {
		return c, err
	}
	c.Name, c.Phone, c.Consent = f.Name, f.Phone, f.Consent
	if staff {
		c.Notes, c.Tags = f.Notes, f.Tags
		c.Aliases = r.Aliases
	}
	c.Rev, c.Updated, c.Forgotten, c.AliasOf = r.Rev, r.Updated, r.Forgotten, r.AliasOf
	return c, nil
}

// decode reads a request body strictly (the envelope is svc's).
func decode(b []byte, v any) error {
	if err := strictjson.Decode(b, v); err != nil {
		return svc.Errorf(svc.CodeBadRequest, "%v", err)
	}
	return nil
}

func failf(code, reason, format string, args ...any) error {
	return svc.WithDetails(svc.Errorf(code, format, args...), map[string]any{"reason": reason})
}

func checkCustomer(field, id string) error {
	if !customer.ValidCustomerID(id) {
		return svc.Errorf(svc.CodeBadRequest, "%q must be a customer id (cust- and 4 to 40 of a-z, 0-9)", field)
	}
	return nil
}

func checkText(field, v string, max int, multiline bool) error {
	if err := safetext.Check(field, v, multiline); err != nil {
		return svc.Errorf(svc.CodeBadRequest, "%v", err)
	}
	if len(v) > max {
		return svc.Errorf(svc.CodeTooLarge, "%q is %d bytes; at most %d", field, len(v), max)
	}
	return nil
}

// whose decides whose card a request reads: a customer her own, staff any
// named one; others are forbidden.
func (s *Service) whose(req *svc.Request, named string) (string, bool, error) {
	switch {
	case req.From.Customer:
		if named != "" && named != req.From.Device {
			return "", false, failf(svc.CodeForbidden, ReasonNotYours, "customers see their own card only")
		}
		return req.From.Device, false, nil
	case s.staff(req.From.Role):
		if err := checkCustomer("customer", named); err != nil {
			return "", false, err
		}
		return named, true, nil
	}
	return "", false, svc.Errorf(svc.CodeForbidden, "role %s has no customer cards", req.From.Role)
}

func (s *Service) cardGet(_ context.Context, req *svc.Request) (any, error) {
	var q struct {
		proto.Envelope
		proto.CardRequest
	}
	if err := decode(req.Body, &q); err != nil {
		return nil, err
	}
	id, staff, err := s.whose(req, q.Customer)
	if err != nil {
		return nil, err
	}
	var r *record
	if err := s.o.DB.View(func(tx *bolt.Tx) error {
		r, err = getRecord(tx, id)
		return err
	}); err != nil {
		return nil, fmt.Errorf("customers: read card: %w", err)
	}
	c, err := s.card(id, r, staff)
	if err != nil {
		return nil, err
	}
	ans := proto.CardAnswer{Card: c, Profiles: []proto.Profile{}}
	if s.o.Bookings != nil && !c.Forgotten {
		ps, err := s.o.Bookings.CustomerProfiles(id)
		if err != nil {
			return nil, err
		}
		if ps != nil {
			ans.Profiles = ps
		}
	}
	return ans, nil
}

// checkFields validates a card's fields; tags are trimmed, sorted, unique.
func (s *Service) checkFields(f *fields) error {
	if err := checkText("name", f.Name, maxNameBytes, false); err != nil {
		return err
	}
	if err := checkText("phone", f.Phone, maxPhoneBytes, false); err != nil {
		return err
	}
	if err := checkText("notes", f.Notes, s.o.MaxNotesBytes, true); err != nil {
		return err
	}
	if len(f.Tags) > s.o.MaxTags {
		return svc.Errorf(svc.CodeTooLarge, "%d tags; at most %d", len(f.Tags), s.o.MaxTags)
	}
	tags := make([]string, 0, len(f.Tags))
	for i, t := range f.Tags {
		t = strings.TrimSpace(t)
		if err := checkText(fmt.Sprintf("tags[%d]", i), t, maxTagBytes, false); err != nil {
			return err
		}
		if t == "" {
			return svc.Errorf(svc.CodeBadRequest, "tags[%d] is empty", i)
		}
		tags = append(tags, t)
	}
	slices.Sort(tags)
	f.Tags = slices.Compact(tags)
	if len(f.Tags) == 0 {
		f.Tags = nil
	}
	f.Name, f.Phone = strings.TrimSpace(f.Name), strings.TrimSpace(f.Phone)
	return nil
}

// writable refuses changes to a forgotten or merged customer's card.
func writable(id string, r *record) error {
	switch {
	case r == nil:
		return nil
	case r.Forgotten:
		return failf(svc.CodeConflict, ReasonForgotten, "%s asked to be forgotten", id)
	case r.AliasOf != "":
		return svc.WithDetails(svc.Errorf(svc.CodeConflict, "%s was merged into %s; change that card", id, r.AliasOf),
			map[string]any{"reason": ReasonMerged, "into": r.AliasOf})
	}
	return nil
}

// put writes a card's fields when check(current) passes, in one
// transaction that also keeps the answer; before is the card as it was.
func (s *Service) put(ctx context.Context, req *svc.Request, id string, staff bool,
	change func(r *record, f *fields) error) (after, before proto.CustomerCard, err error) {
	now := s.now()
	err = svc.FromCommit("customer", s.o.DB.Update(ctx, func(tx *bolt.Tx) error {
		r, err := getRecord(tx, id)
		if err != nil {
			return err
		}
		if before, err = s.card(id, r, true); err != nil {
			return err
		}
		if err := writable(id, r); err != nil {
			return err
		}
		f, err := s.open(id, r)
		if err != nil {
			return err
		}
		if r == nil {
			r = &record{}
		}
		if err := change(r, &f); err != nil {
			return err
		}
		if r.Sealed, err = s.seal(id, f); err != nil {
			return err
		}
		r.Rev++
		r.Updated, r.By = &now, req.From.Device
		if err := putRecord(tx, id, r); err != nil {
			return err
		}
		if after, err = s.card(id, r, staff); err != nil {
			return err
		}
		return req.Keep(tx, proto.CardAnswer{Card: after})
	}))
	return after, before, err
}

func (s *Service) cardPut(ctx context.Context, req *svc.Request) (any, error) {
	var q struct {
		proto.Envelope
		proto.CardPutRequest
	}
	if err := decode(req.Body, &q); err != nil {
		return nil, err
	}
	if err := checkCustomer("customer", q.Customer); err != nil {
		return nil, err
	}
	nf := fields{Name: q.Name, Phone: q.Phone, Notes: q.Notes, Tags: q.Tags, Consent: q.Consent}
	if err := s.checkFields(&nf); err != nil {
		return nil, err
	}
	if q.Rev < 0 {
		return nil, svc.Errorf(svc.CodeBadRequest, `"rev" is the card's rev as read (0 for none)`)
	}
	after, before, err := s.put(ctx, req, q.Customer, true, func(r *record, f *fields) error {
		if r.Rev != q.Rev {
			return svc.WithDetails(svc.Errorf(svc.CodeConflict, "the card of %s is at rev %d, not %d: read it again", q.Customer, r.Rev, q.Rev),
				map[string]any{"reason": ReasonStaleRev, "rev": r.Rev})
		}
		*f = nf
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.audit(ctx, req, "customer.card_put", q.Customer, before, after)
	return proto.CardAnswer{Card: after}, nil
}

func (s *Service) mePut(ctx context.Context, req *svc.Request) (any, error) {
	var q struct {
		proto.Envelope
		proto.MePutRequest
	}
	if err := decode(req.Body, &q); err != nil {
		return nil, err
	}
	if !req.From.Customer {
		return nil, svc.Errorf(svc.CodeForbidden, "me_put is the customer's own; staff use card_put")
	}
	nf := fields{Name: q.Name, Phone: q.Phone, Consent: q.Consent}
	if err := s.checkFields(&nf); err != nil {
		return nil, err
	}
	after, _, err := s.put(ctx, req, req.From.Device, false, func(_ *record, f *fields) error {
		f.Name, f.Phone, f.Consent = nf.Name, nf.Phone, nf.Consent
		return nil
	})
	if err != nil {
		return nil, err
	}
	return proto.CardAnswer{Card: after}, nil
}

// Name is what to show for customer id: her card's name (the kept id's
// for a merged one), ForgottenName, or "".
func (s *Service) Name(id string) (string, error) {
	var out string
	err := s.o.DB.View(func(tx *bolt.Tx) error {
		var err error
		out, err = s.nameIn(tx, id)
		return err
	})
	return out, err
}

func (s *Service) nameIn(tx *bolt.Tx, id string) (string, error) {
	r, err := getRecord(tx, id)
	if err != nil || r == nil {
		return "", err
	}
	if r.AliasOf != "" {
		id = r.AliasOf
		if r, err = getRecord(tx, id); err != nil || r == nil {
			return "", err
		}
	}
	if r.Forgotten {
		return proto.ForgottenName, nil
	}
	f, err := s.open(id, r)
	return f.Name, err
}

func (s *Service) names(_ context.Context, req *svc.Request) (any, error) {
	var q struct {
		proto.Envelope
		proto.NamesRequest
	}
	if err := decode(req.Body, &q); err != nil {
		return nil, err
	}
	if len(q.Customers) > s.o.MaxNames {
		return nil, svc.Errorf(svc.CodeTooLarge, "%d ids; at most %d in one call", len(q.Customers), s.o.MaxNames)
	}
	out := make(map[string]string, len(q.Customers))
	err := s.o.DB.View(func(tx *bolt.Tx) error {
		for _, id := range q.Customers {
			if !customer.ValidCustomerID(id) {
				continue // a device or an HQ customer: no card
			}
			r, err := getRecord(tx, id)
			if err != nil {
				return err
			}
			var name string
			if r != nil && r.AliasOf != "" {
				name, err = s.nameIn(tx, id)
			} else if r != nil && r.Forgotten {
				name = proto.ForgottenName
			} else if r != nil {
				var f fields
				f, err = s.open(id, r)
				name = f.Name
			}
			if err != nil {
				return err
			}
			out[id] = name
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("customers: names: %w", err)
	}
	return proto.NamesAnswer{Names: out}, nil
}

func (s *Service) revoke(ctx context.Context, req *svc.Request) (any, error) {
	var q struct {
		proto.Envelope
		proto.CardRequest
	}
	if err := decode(req.Body, &q); err != nil {
		return nil, err
	}
	if err := checkCustomer("customer", q.Customer); err != nil {
		return nil, err
	}
	n, err := s.o.Logins.Revoke(ctx, q.Customer)
	if err != nil {
		return nil, svc.FromCommit("customer", err)
	}
	s.audit(ctx, req, "customer.revoke", q.Customer, nil, map[string]int{"ended": n})
	return proto.RevokeAnswer{Customer: q.Customer, Ended: n}, nil
}

func (s *Service) merge(ctx context.Context, req *svc.Request) (any, error) {
	var q struct {
		proto.Envelope
		proto.MergeRequest
	}
	if err := decode(req.Body, &q); err != nil {
		return nil, err
	}
	if err := checkCustomer("from", q.From); err != nil {
		return nil, err
	}
	if err := checkCustomer("into", q.Into); err != nil {
		return nil, err
	}
	if q.From == q.Into {
		return nil, svc.Errorf(svc.CodeBadRequest, `"from" and "into" are the same customer`)
	}
	now := s.now()
	var after, before proto.CustomerCard
	err := svc.FromCommit("customer", s.o.DB.Update(ctx, func(tx *bolt.Tx) error {
		from, err := getRecord(tx, q.From)
		if err != nil {
			return err
		}
		into, err := getRecord(tx, q.Into)
		if err != nil {
			return err
		}
		if before, err = s.card(q.Into, into, true); err != nil {
			return err
		}
		if from != nil && from.AliasOf == q.Into {
			after = before // merged already (the logins are merged again below)
			return nil
		}
		if err := writable(q.From, from); err != nil {
			return err
		}
		if err := writable(q.Into, into); err != nil {
			return err
		}
		ff, err := s.open(q.From, from)
		if err != nil {
			return err
		}
		fi, err := s.open(q.Into, into)
		if err != nil {
			return err
		}
		// The kept card wins; what it lacks comes from the other.
		if fi.Name == "" {
			fi.Name = ff.Name
		}
		if fi.Phone == "" {
			fi.Phone = ff.Phone
		}
		if ff.Notes != "" {
			fi.Notes = strings.TrimSpace(fi.Notes + "\n" + ff.Notes)
			if len(fi.Notes) > s.o.MaxNotesBytes {
				return svc.Errorf(svc.CodeTooLarge, "the two cards' notes together are over %d bytes: shorten them first", s.o.MaxNotesBytes)
			}
		}
		fi.Tags = append(fi.Tags, ff.Tags...)
		slices.Sort(fi.Tags)
		fi.Tags = slices.Compact(fi.Tags)
		if len(fi.Tags) > s.o.MaxTags {
			fi.Tags = fi.Tags[:s.o.MaxTags]
		}
		fi.Consent = fi.Consent || ff.Consent
		if into == nil {
			into = &record{}
		}
		if into.Sealed, err = s.seal(q.Into, fi); err != nil {
			return err
		}
		into.Rev++
		into.Updated, into.By = &now, req.From.Device
		into.Aliases = append(into.Aliases, q.From)
		if from != nil {
			into.Aliases = append(into.Aliases, from.Aliases...)
			// Ids merged into from now point at into.
			for _, a := range from.Aliases {
				ar, err := getRecord(tx, a)
				if err != nil {
					return err
				}
				if ar != nil {
					ar.AliasOf = q.Into
					if err := putRecord(tx, a, ar); err != nil {
						return err
					}
				}
			}
		} else {
			from = &record{}
		}
		slices.Sort(into.Aliases)
		into.Aliases = slices.Compact(into.Aliases)
		from.Rev++
		from.Updated, from.By = &now, req.From.Device
		from.AliasOf, from.Aliases, from.Sealed = q.Into, nil, nil
		if err := putRecord(tx, q.From, from); err != nil {
			return err
		}
		if err := putRecord(tx, q.Into, into); err != nil {
			return err
		}
		after, err = s.card(q.Into, into, true)
		return err
	}))
	if err != nil {
		return nil, err
	}
	// The logins after the cards: a failure here is answered, and the
	// repeat of the request merges the logins (the cards are done).
	if err := s.o.Logins.Merge(ctx, q.From, q.Into); err != nil {
		if errors.Is(err, customer.ErrInvalid) {
			return nil, svc.Errorf(svc.CodeConflict, "%v", err)
		}
		return nil, svc.FromCommit("customer", err)
	}
	// Her pets and babies follow her to the kept id (her bookings keep
	// the id they were made with).
	if s.o.Bookings != nil {
		if _, err := s.o.Bookings.MoveProfiles(ctx, q.From, q.Into); err != nil {
			return nil, svc.FromCommit("customer", err)
		}
	}
	s.audit(ctx, req, "customer.merge", q.From+">"+q.Into, before, after)
	return proto.CardAnswer{Card: after, Profiles: []proto.Profile{}}, nil
}

func (s *Service) forget(ctx context.Context, req *svc.Request) (any, error) {
	var q struct{ proto.Envelope }
	if err := decode(req.Body, &q); err != nil {
		return nil, err
	}
	if !req.From.Customer {
		return nil, svc.Errorf(svc.CodeForbidden, "only the customer herself asks to be forgotten, from her phone")
	}
	id := req.From.Device
	now := s.now()
	err := svc.FromCommit("customer", s.o.DB.Update(ctx, func(tx *bolt.Tx) error {
		r, err := getRecord(tx, id)
		if err != nil {
			return err
		}
		if r == nil {
			r = &record{}
		}
		if r.Forgotten && r.Sealed == nil {
			return nil
		}
		r.Rev++
		r.Updated, r.By, r.Forgotten, r.Sealed = &now, id, true, nil
		return putRecord(tx, id, r)
	}))
	if err != nil {
		return nil, err
	}
	ans := proto.ForgetAnswer{Customer: id}
	if s.o.Chat != nil {
		if ans.Messages, err = s.o.Chat.ForgetCustomer(ctx, id); err != nil {
			return nil, svc.FromCommit("customer", err)
		}
	}
	if s.o.Bookings != nil {
		if ans.Bookings, ans.Profiles, err = s.o.Bookings.ForgetCustomer(ctx, id); err != nil {
			return nil, svc.FromCommit("customer", err)
		}
	}
	if s.o.Home != nil {
		if err := s.o.Home.ForgetCustomer(ctx, id); err != nil {
			return nil, svc.FromCommit("customer", err)
		}
	}
	// Last: her login ends. Her open connection stays a few seconds, to
	// receive this answer (the page then logs out); no new one is let in.
	if _, err := s.o.Logins.EndSoon(ctx, id, forgetGrace); err != nil {
		return nil, svc.FromCommit("customer", err)
	}
	return ans, nil
}

// audit records a staff action; a failure is logged (the change is made).
func (s *Service) audit(ctx context.Context, req *svc.Request, action, target string, before, after any) {
	if s.o.Auditor == nil {
		return
	}
	if err := s.o.Auditor.Audit(ctx, req.From.Device, action, target, before, after); err != nil {
		s.o.Log.Warn("customers: audit record failed", "action", action, "target", target, "err", err)
	}
}
