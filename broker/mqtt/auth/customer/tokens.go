package customer

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// CustomerPrefix starts every customer id.
const CustomerPrefix = "cust-"

// Limits of ids and secrets.
const (
	minIDChars = 4  // after the prefix
	maxIDChars = 40 // after the prefix
	newIDChars = 16 // random chars of a new id (10 bytes, base32)
	randBytes  = 32 // of a token and of a session secret
	// tokenChars is the length of a token: 32 bytes in base64url, no padding.
	tokenChars = (randBytes*8 + 5) / 6
	// maxIssuedBy bounds the recorded device id.
	maxIssuedBy = 256
	// MaxSessionsPerCustomer bounds one customer's live sessions: a redeem
	// past it drops the sessions that would expire first.
	MaxSessionsPerCustomer = 20
)

var (
	bucketTokens   = []byte("customer_tokens")
	bucketSessions = []byte("customer_sessions")
	idEncoding     = base32.StdEncoding.WithPadding(base32.NoPadding)
)

// Ticket is an issued one-time token and the customer page's URL carrying it.
type Ticket struct {
	Token    string
	URL      string
	Customer string
	Expires  time.Time
}

// Login is an MQTT login for a customer: Username is the customer id and
// Password the session secret.
type Login struct {
	Customer string
	Username string
	Password string
	Expires  time.Time
}

// tokenRecord is the value in customer_tokens.
type tokenRecord struct {
	Customer string     `json:"customer"`
	IssuedBy string     `json:"issued_by"`
	Issued   time.Time  `json:"issued"`
	Expires  time.Time  `json:"expires"`
	Redeemed *time.Time `json:"redeemed,omitempty"`
}

// ValidCustomerID reports whether id is a customer id: "cust-" followed by 4
// to 40 lowercase letters and digits.
func ValidCustomerID(id string) bool {
	rest, ok := strings.CutPrefix(id, CustomerPrefix)
	if !ok || len(rest) < minIDChars || len(rest) > maxIDChars {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// Issue makes a one-time token for customer; an empty customer gets a new id
// (CustomerPrefix and 16 random lowercase base32 characters), a given one
// must pass ValidCustomerID (else ErrInvalid) and is resumed as it is.
// issuedBy, the device that asked, is recorded with the token. Past
// Options.MaxActiveTokens unexpired unredeemed tokens Issue fails with
// ErrQuota. The token is on disk when Issue returns.
func (s *Store) Issue(ctx context.Context, customer, issuedBy string) (Ticket, error) {
	if len(issuedBy) > maxIssuedBy || !utf8.ValidString(issuedBy) {
		return Ticket{}, fmt.Errorf("%w: issuing device id must be valid UTF-8 of at most %d bytes", ErrInvalid, maxIssuedBy)
	}
	if customer == "" {
		id, err := newCustomerID()
		if err != nil {
			return Ticket{}, err
		}
		customer = id
	} else if !ValidCustomerID(customer) {
		return Ticket{}, fmt.Errorf("%w: customer id %q (want %s and 4 to 40 of a-z, 0-9)", ErrInvalid, customer, CustomerPrefix)
	} else if into, err := s.AliasOf(customer); err != nil {
		return Ticket{}, err
	} else if into != "" {
		customer = into // merged: she is that customer now
	}
	token, err := randomString()
	if err != nil {
		return Ticket{}, err
	}
	now := s.now()
	rec := tokenRecord{Customer: customer, IssuedBy: issuedBy, Issued: now, Expires: now.Add(s.o.TokenTTL)}
	val, err := json.Marshal(rec)
	if err != nil {
		return Ticket{}, fmt.Errorf("customer: encode token: %w", err)
	}
	key := hashKey(token)
	err = s.o.DB.Update(ctx, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketTokens)
		if err != nil {
			return err
		}
		active, err := countActive(b, now)
		if err != nil {
			return err
		}
		if active >= s.o.MaxActiveTokens {
			return ErrQuota
		}
		if b.Get(key[:]) != nil {
			// 256 random bits collided: refuse rather than overwrite.
			return errors.New("customer: token collision")
		}
		return b.Put(key[:], val)
	})
	if err != nil {
		return Ticket{}, fmt.Errorf("customer: issue: %w", err)
	}
	return Ticket{Token: token, URL: s.ticketURL(token), Customer: customer, Expires: rec.Expires}, nil
}

// countActive counts the unexpired, unredeemed tokens in b.
func countActive(b *bolt.Bucket, now time.Time) (int, error) {
	n := 0
	err := b.ForEach(func(_, v []byte) error {
		var r struct {
			Expires  time.Time       `json:"expires"`
			Redeemed json.RawMessage `json:"redeemed"`
		}
		if json.Unmarshal(v, &r) != nil {
			return nil // unreadable: it cannot be redeemed either
		}
		if r.Redeemed == nil && now.Before(r.Expires) {
			n++
		}
		return nil
	})
	return n, err
}

// Redeem consumes a token: ErrNotFound when there is no such token, ErrUsed
// when it was already redeemed, ErrExpired when its time ran out. Otherwise
// it adds a session with a new random secret, valid for Options.SessionTTL,
// and returns the login; a customer may hold several sessions, each redeem
// adds one (up to MaxSessionsPerCustomer). The session is on disk when
// Redeem returns.
func (s *Store) Redeem(ctx context.Context, token string) (Login, error) {
	if !wellFormedToken(token) {
		return Login{}, fmt.Errorf("customer: redeem: %w", ErrNotFound)
	}
	secret, err := randomString()
	if err != nil {
		return Login{}, err
	}
	now := s.now()
	expires := now.Add(s.o.SessionTTL)
	tokenKey := hashKey(token)
	secretHash := hashKey(secret)
	var customer string
	err = s.o.DB.Update(ctx, func(tx *bolt.Tx) error {
		customer = ""
		tokens, err := tx.CreateBucketIfNotExists(bucketTokens)
		if err != nil {
			return err
		}
		v := tokens.Get(tokenKey[:])
		if v == nil {
			return ErrNotFound
		}
		var rec tokenRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("customer: decode token record: %w", err)
		}
		switch {
		case rec.Redeemed != nil:
			return ErrUsed
		case !now.Before(rec.Expires):
			return ErrExpired
		case !ValidCustomerID(rec.Customer):
			return fmt.Errorf("customer: token record names invalid customer %q", rec.Customer)
		}
		redeemed := now
		rec.Redeemed = &redeemed
		nv, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("customer: encode token record: %w", err)
		}
		if err := tokens.Put(tokenKey[:], nv); err != nil {
			return err
		}
		sessions, err := tx.CreateBucketIfNotExists(bucketSessions)
		if err != nil {
			return err
		}
		if err := trimSessions(sessions, rec.Customer, now); err != nil {
			return err
		}
		if err := sessions.Put(sessionKey(rec.Customer, secretHash), encodeExpiry(expires)); err != nil {
			return err
		}
		customer = rec.Customer
		return nil
	})
	if err != nil {
		return Login{}, fmt.Errorf("customer: redeem: %w", err)
	}
	s.noteSession(customer, expires)
	return Login{Customer: customer, Username: customer, Password: secret, Expires: expires}, nil
}

// trimSessions deletes customer's expired sessions and, when it still holds
// MaxSessionsPerCustomer, those that expire first, leaving room for one more.
func trimSessions(b *bolt.Bucket, customer string, now time.Time) error {
	type entry struct {
		key []byte
		exp time.Time
	}
	var live []entry
	var drop [][]byte
	prefix := sessionPrefix(customer)
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		exp, ok := decodeExpiry(v)
		if !ok || !now.Before(exp) {
			drop = append(drop, slices.Clone(k))
			continue
		}
		live = append(live, entry{slices.Clone(k), exp})
	}
	if extra := len(live) - (MaxSessionsPerCustomer - 1); extra > 0 {
		slices.SortStableFunc(live, func(a, b entry) int { return a.exp.Compare(b.exp) })
		for _, e := range live[:extra] {
			drop = append(drop, e.key)
		}
	}
	for _, k := range drop {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

func newCustomerID() (string, error) {
	var b [newIDChars * 5 / 8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("customer: random id: %w", err)
	}
	return CustomerPrefix + strings.ToLower(idEncoding.EncodeToString(b[:])), nil
}

// randomString is 32 random bytes in base64url without padding.
func randomString() (string, error) {
	var b [randBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("customer: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// wellFormedToken reports whether t looks like a token Issue makes.
func wellFormedToken(t string) bool {
	if len(t) != tokenChars {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// hashKey is SHA-256 of a token or secret: what the database keeps.
func hashKey(s string) [sha256.Size]byte { return sha256.Sum256([]byte(s)) }

func sessionPrefix(customer string) []byte {
	k := make([]byte, 0, len(customer)+1+sha256.Size)
	k = append(k, customer...)
	return append(k, 0)
}

func sessionKey(customer string, h [sha256.Size]byte) []byte {
	return append(sessionPrefix(customer), h[:]...)
}

// splitSessionKey returns the customer of a customer_sessions key.
func splitSessionKey(k []byte) (string, bool) {
	n := len(k) - 1 - sha256.Size
	if n <= 0 || k[n] != 0 {
		return "", false
	}
	return string(k[:n]), true
}

func encodeExpiry(t time.Time) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(t.UnixMilli()))
}

func decodeExpiry(v []byte) (time.Time, bool) {
	if len(v) != 8 {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(binary.BigEndian.Uint64(v))).UTC(), true
}
