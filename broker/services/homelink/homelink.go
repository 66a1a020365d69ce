package homelink

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/mqtt/auth/customer"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/internal/strictjson"
	"github.com/storeedge/storeedge/proto"
)

// ServiceName is the svc service name: requests go to svc/home/{op}.
const ServiceName = proto.ServiceHome

// Defaults and bounds of Options.LinkTTL (store.yaml home.link_ttl) and
// Options.MaxLinks (home.max_links).
const (
	DefaultLinkTTL  = 15 * time.Minute
	MinLinkTTL      = time.Minute
	MaxLinkTTL      = 24 * time.Hour
	DefaultMaxLinks = 5
	MaxMaxLinks     = 100
)

// qrSize is the side of the link's QR code in pixels.
const qrSize = 320

// codeBytes is the size of a link code's randomness.
const codeBytes = 20

var (
	bucketKey   = []byte("home_key")
	bucketLinks = []byte("home_links")
	keyName     = []byte("ed25519")
)

// DB is the store's database (broker/store.DB).
type DB interface {
	Update(ctx context.Context, fn func(*bolt.Tx) error) error
	View(fn func(*bolt.Tx) error) error
}

// Sealer encrypts the store's private key at rest (internal/seal.Keyring).
type Sealer interface {
	Seal(plaintext, additionalData []byte) ([]byte, error)
	Open(sealed, additionalData []byte) ([]byte, error)
}

// Outbox takes what HQ must see in the transaction that produced it
// (cloudsync's outbox).
type Outbox interface {
	Put(tx *bolt.Tx, topic string, payload []byte) error
}

// Customers tells, in a transaction, whether the store knows a customer
// (her conversation exists).
type Customers interface {
	KnowsCustomer(tx *bolt.Tx, id string) (bool, error)
}

// Names reads a customer's name on her card in a transaction
// (broker/services/customers.Service).
type Names interface {
	NameIn(tx *bolt.Tx, id string) (string, error)
}

// Options configure New.
type Options struct {
	DB     DB
	Router *svc.Router
	Seal   Sealer
	// Outbox is cloudsync's; nil when the store has no link to HQ (link
	// and revoke then answer unavailable).
	Outbox Outbox
	// StoreID is the store's id, signed into every vouch.
	StoreID string
	// HomeURL is the page at home (cloud.yaml home_url); "" turns link off.
	HomeURL string
	// LinkTTL is how long a link code may be redeemed (DefaultLinkTTL).
	LinkTTL time.Duration
	// MaxLinks is how many links of one customer may be open (made, not
	// expired) at once (DefaultMaxLinks): each is a vouch HQ must keep, and
	// the outbox never drops it.
	MaxLinks int
	// StaffRoles may link and revoke a named customer.
	StaffRoles []string
	Customers  Customers
	Now        func() time.Time
	Log        *slog.Logger
}

// Service answers svc/home.
type Service struct {
	o Options

	mu    sync.Mutex
	key   ed25519.PrivateKey // cached once committed
	names Names
}

// UseNames sets where a vouch's name comes from (the customer cards,
// made after the Service); without it vouches carry no name.
func (s *Service) UseNames(n Names) {
	s.mu.Lock()
	s.names = n
	s.mu.Unlock()
}

// New checks the options.
func New(o Options) (*Service, error) {
	switch {
	case o.DB == nil, o.Router == nil, o.Seal == nil, o.Customers == nil:
		return nil, errors.New("homelink: Options.DB, Router, Seal and Customers are required")
	case o.StoreID == "":
		return nil, errors.New("homelink: Options.StoreID is required")
	case len(o.StaffRoles) == 0:
		return nil, errors.New("homelink: Options.StaffRoles is required")
	}
	if o.LinkTTL == 0 {
		o.LinkTTL = DefaultLinkTTL
	}
	if o.LinkTTL < MinLinkTTL || o.LinkTTL > MaxLinkTTL {
		return nil, fmt.Errorf("homelink: link TTL %s: from %s to %s", o.LinkTTL, MinLinkTTL, MaxLinkTTL)
	}
	if o.MaxLinks == 0 {
		o.MaxLinks = DefaultMaxLinks
	}
	if o.MaxLinks < 1 || o.MaxLinks > MaxMaxLinks {
		return nil, fmt.Errorf("homelink: max links %d: from 1 to %d", o.MaxLinks, MaxMaxLinks)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if err := o.DB.Update(context.Background(), func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketKey, bucketLinks} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("homelink: buckets: %w", err)
	}
	return &Service{o: o}, nil
}

// Register adds the ops to the router: link (not remembered: its answer
// holds a fresh secret) and revoke (staff, remembered).
func (s *Service) Register() error {
	err := s.o.Router.HandleService(ServiceName, map[string]svc.Handler{
		"link":   s.link,
		"revoke": s.revoke,
	}, map[string][]svc.OpOption{"revoke": {svc.Roles(s.o.StaffRoles...), svc.Mutating()}})
	if err != nil {
		return fmt.Errorf("homelink: register: %w", err)
	}
	return nil
}

func (s *Service) now() time.Time { return s.o.Now().UTC().Truncate(time.Millisecond) }

func (s *Service) staff(role string) bool { return slices.Contains(s.o.StaffRoles, role) }

// notLinked is the answer when the store cannot send anyone home.
func (s *Service) notLinked() error {
	return svc.Errorf(svc.CodeUnavailable, "This store is not linked to HQ, so the page at home is not available")
}

// linkRecord is a link code in home_links, under SHA-256(code).
type linkRecord struct {
	V        int       `json:"v"`
	Vouch    string    `json:"vouch"`
	Customer string    `json:"customer"`
	Expires  time.Time `json:"expires"`
	Replace  bool      `json:"replace,omitempty"`
	By       string    `json:"by"`
}

// keyRecord is the store's Ed25519 key in home_key: the public key in the
// clear, the seed sealed.
type keyRecord struct {
	V      int    `json:"v"`
	Public []byte `json:"public"`
	Sealed []byte `json:"sealed"`
}

func keyAD() []byte { return []byte("home_key\x00ed25519") }

var codeEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// link makes a one-time code that gives the phone that opens it a login at
// HQ as the customer, and vouches for it to HQ in the same transaction.
func (s *Service) link(ctx context.Context, req *svc.Request) (any, error) {
	var r struct {
		proto.Envelope
		proto.HomeLinkRequest
	}
	if err := strictjson.Decode(req.Body, &r); err != nil {
		return nil, svc.BadInput(err)
	}
	var cust string
	switch {
	case req.From.Customer:
		if r.Customer != "" && r.Customer != req.From.Device {
			return nil, svc.Errorf(svc.CodeForbidden, "you can continue at home only as yourself")
		}
		if r.Replace {
			return nil, svc.Errorf(svc.CodeForbidden, "only staff at the store can end your other logins at home")
		}
		cust = req.From.Device
	case s.staff(req.From.Role):
		if !customer.ValidCustomerID(r.Customer) {
			return nil, svc.Errorf(svc.CodeBadRequest, "name the customer (%q and her id)", customer.CustomerPrefix)
		}
		cust = r.Customer
	default:
		return nil, svc.Errorf(svc.CodeForbidden, "role %q cannot send customers home", req.From.Role)
	}
	if s.o.Outbox == nil || s.o.HomeURL == "" {
		return nil, s.notLinked()
	}
	raw := make([]byte, codeBytes)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("homelink: code: %w", err)
	}
	code := strings.ToLower(codeEncoding.EncodeToString(raw))
	sum := sha256.Sum256([]byte(code))
	vid := make([]byte, 8)
	if _, err := rand.Read(vid); err != nil {
		return nil, fmt.Errorf("homelink: id: %w", err)
	}
	now := s.now()
	v := proto.HomeVouch{V: 1, ID: "hv-" + hex.EncodeToString(vid), Store: s.o.StoreID, Customer: cust,
		CodeHash: hex.EncodeToString(sum[:]), Expires: now.Add(s.o.LinkTTL), Replace: r.Replace}
	err := s.o.DB.Update(ctx, func(tx *bolt.Tx) error {
		known, err := s.o.Customers.KnowsCustomer(tx, cust)
		if err != nil {
			return err
		}
		if !known {
			return svc.Errorf(svc.CodeNotFound, "this store does not know customer %s", cust)
		}
		s.mu.Lock()
		names := s.names
		s.mu.Unlock()
		if names != nil {
			if v.Name, err = names.NameIn(tx, cust); err != nil {
				return err
			}
		}
		key, err := s.keyIn(tx)
		if err != nil {
			return err
		}
		v.Key = base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))
		v.Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(key, proto.HomeVouchSigned(v)))
		rec, err := json.Marshal(linkRecord{V: 1, Vouch: v.ID, Customer: cust, Expires: v.Expires, Replace: r.Replace, By: req.From.Device})
		if err != nil {
			return err
		}
		links := tx.Bucket(bucketLinks)
		open, err := sweepLinks(links, cust, now)
		if err != nil {
			return err
		}
		if open >= s.o.MaxLinks {
			return svc.Errorf(svc.CodeQuotaExceeded, "%d links to the page at home are already open for this customer; use the last one, or ask again after %s", open, s.o.LinkTTL)
		}
		if err := links.Put(sum[:], rec); err != nil {
			return fmt.Errorf("homelink: put link: %w", err)
		}
		p, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if err := s.o.Outbox.Put(tx, proto.TopicHomeVouch, p); err != nil {
			return fmt.Errorf("homelink: outbox: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, svc.FromCommit(ServiceName, err)
	}
	s.o.Log.Info("home: link made", "customer", cust, "by", req.From.Device, "replace", r.Replace, "vouch", v.ID)
	u := s.o.HomeURL + "#link=" + s.o.StoreID + "." + code
	png, err := customer.QRPNG(u, qrSize)
	if err != nil {
		return nil, fmt.Errorf("homelink: QR code: %w", err)
	}
	return &proto.HomeLinkAnswer{URL: u, Code: code, Store: s.o.StoreID, Expires: v.Expires, QRPNG: png}, nil
}

// sweepLinksMax bounds the expired links one link call removes.
const sweepLinksMax = 64

// sweepLinks drops expired link records (HQ refuses their codes anyway),
// at most sweepLinksMax, and counts the open links of cust. Every record
// expires within MaxLinkTTL, so the bucket holds at most a day of links.
func sweepLinks(b *bolt.Bucket, cust string, now time.Time) (int, error) {
	var old [][]byte
	open := 0
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var r linkRecord
		switch {
		case json.Unmarshal(v, &r) != nil || !r.Expires.After(now):
			if len(old) < sweepLinksMax {
				old = append(old, bytes.Clone(k))
			}
		case r.Customer == cust:
			open++
		}
	}
	for _, k := range old {
		if err := b.Delete(k); err != nil {
			return 0, fmt.Errorf("homelink: sweep links: %w", err)
		}
	}
	return open, nil
}

type revokeAns struct {
	Customer string    `json:"customer"`
	Revoke   string    `json:"revoke"`
	TS       time.Time `json:"ts"`
}

// revoke asks HQ to end every login at home of a customer (staff).
func (s *Service) revoke(ctx context.Context, req *svc.Request) (any, error) {
	var r struct {
		proto.Envelope
		proto.HomeRevokeRequest
	}
	if err := strictjson.Decode(req.Body, &r); err != nil {
		return nil, svc.BadInput(err)
	}
	if !customer.ValidCustomerID(r.Customer) {
		return nil, svc.Errorf(svc.CodeBadRequest, "name the customer (%q and her id)", customer.CustomerPrefix)
	}
	if s.o.Outbox == nil {
		return nil, s.notLinked()
	}
	var ans *revokeAns
	err := s.o.DB.Update(ctx, func(tx *bolt.Tx) error {
		var err error
		rv, err := s.RevokeIn(tx, r.Customer)
		if err != nil {
			return err
		}
		ans = &revokeAns{Customer: rv.Customer, Revoke: rv.ID, TS: rv.TS}
		return req.Keep(tx, ans)
	})
	if err != nil {
		return nil, svc.FromCommit(ServiceName, err)
	}
	s.o.Log.Info("home: logins at home revoked", "customer", r.Customer, "by", req.From.Device, "revoke", ans.Revoke)
	return ans, nil
}

// RevokeIn files a signed proto.HomeRevoke for customer in tx (and drops
// her link codes not yet used); nil and nothing filed when the store has
// no link to HQ.
func (s *Service) RevokeIn(tx *bolt.Tx, cust string) (*proto.HomeRevoke, error) {
	if s.o.Outbox == nil {
		return nil, nil
	}
	key, err := s.keyIn(tx)
	if err != nil {
		return nil, err
	}
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("homelink: id: %w", err)
	}
	rv := proto.HomeRevoke{V: 1, ID: "hr-" + hex.EncodeToString(id), Store: s.o.StoreID, Customer: cust, TS: s.now(),
		Key: base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))}
	rv.Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(key, proto.HomeRevokeSigned(rv)))
	p, err := json.Marshal(rv)
	if err != nil {
		return nil, err
	}
	if err := s.o.Outbox.Put(tx, proto.TopicHomeRevoke, p); err != nil {
		return nil, fmt.Errorf("homelink: outbox: %w", err)
	}
	links := tx.Bucket(bucketLinks)
	if links != nil {
		var hers [][]byte
		c := links.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var r linkRecord
			if json.Unmarshal(v, &r) == nil && r.Customer == cust {
				hers = append(hers, bytes.Clone(k))
			}
		}
		for _, k := range hers {
			if err := links.Delete(k); err != nil {
				return nil, fmt.Errorf("homelink: drop link: %w", err)
			}
		}
	}
	return &rv, nil
}

// keyIn returns the store's Ed25519 key, making and storing it in tx on
// first need (sealed: the seed never lies on disk in the clear).
func (s *Service) keyIn(tx *bolt.Tx) (ed25519.PrivateKey, error) {
	s.mu.Lock()
	k := s.key
	s.mu.Unlock()
	if k != nil {
		return k, nil
	}
	b, err := tx.CreateBucketIfNotExists(bucketKey)
	if err != nil {
		return nil, fmt.Errorf("homelink: key bucket: %w", err)
	}
	if v := b.Get(keyName); v != nil {
		var r keyRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return nil, fmt.Errorf("homelink: stored key: %w", err)
		}
		seed, err := s.o.Seal.Open(r.Sealed, keyAD())
		if err != nil {
			return nil, fmt.Errorf("homelink: open the store's key: %w", err)
		}
		if len(seed) != ed25519.SeedSize {
			return nil, errors.New("homelink: the stored key is not an Ed25519 seed")
		}
		k = ed25519.NewKeyFromSeed(seed)
		if !bytes.Equal(k.Public().(ed25519.PublicKey), r.Public) {
			return nil, errors.New("homelink: the stored key does not match its public key")
		}
		s.mu.Lock()
		s.key = k
		s.mu.Unlock()
		return k, nil
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("homelink: new key: %w", err)
	}
	sealed, err := s.o.Seal.Seal(priv.Seed(), keyAD())
	if err != nil {
		return nil, fmt.Errorf("homelink: seal key: %w", err)
	}
	v, err := json.Marshal(keyRecord{V: 1, Public: pub, Sealed: sealed})
	if err != nil {
		return nil, err
	}
	if err := b.Put(keyName, v); err != nil {
		return nil, fmt.Errorf("homelink: put key: %w", err)
	}
	tx.OnCommit(func() {
		s.mu.Lock()
		s.key = priv
		s.mu.Unlock()
	})
	return priv, nil
}

// PublicKey returns the store's public key, base64, "" before the first
// link or revoke made it.
func (s *Service) PublicKey() (string, error) {
	var pub []byte
	err := s.o.DB.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketKey)
		if b == nil {
			return nil
		}
		if v := b.Get(keyName); v != nil {
			var r keyRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			pub = r.Public
		}
		return nil
	})
	if err != nil || pub == nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(pub), nil
}

// ForgetCustomer asks HQ to end every login at home of a customer who
// asked the store to forget her (nothing when the store has no link to
// HQ). Durable when it returns.
func (s *Service) ForgetCustomer(ctx context.Context, cust string) error {
	if s.o.Outbox == nil {
		return nil
	}
	var rv *proto.HomeRevoke
	err := s.o.DB.Update(ctx, func(tx *bolt.Tx) error {
		var err error
		rv, err = s.RevokeIn(tx, cust)
		return err
	})
	if err != nil {
		return fmt.Errorf("homelink: revoke at home: %w", err)
	}
	s.o.Log.Info("home: logins at home revoked: the customer asked to be forgotten", "customer", cust, "revoke", rv.ID)
	return nil
}
