package customer

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Defaults of Options.
const (
	DefaultTokenTTL        = 10 * time.Minute
	DefaultSessionTTL      = 180 * 24 * time.Hour
	DefaultMaxActiveTokens = 1000
	DefaultPresenceTTL     = 10 * time.Minute
)

// Errors of Issue, Redeem and QRPNG; returned wrapped, test with errors.Is.
var (
	// ErrNotFound: no such token (never issued, malformed, or swept).
	ErrNotFound = errors.New("customer: token not found")
	// ErrUsed: the token was already redeemed.
	ErrUsed = errors.New("customer: token already used")
	// ErrExpired: the token's time ran out before it was redeemed.
	ErrExpired = errors.New("customer: token expired")
	// ErrInvalid: a malformed customer id, device id or argument.
	ErrInvalid = errors.New("customer: invalid argument")
	// ErrQuota: Options.MaxActiveTokens unexpired unredeemed tokens exist.
	ErrQuota = errors.New("customer: too many active tokens")
)

// DB is the transactional store (broker/store.DB). Update returns once the
// transaction is on disk; its function may run twice (see store.DB.Update).
type DB interface {
	Update(ctx context.Context, fn func(*bolt.Tx) error) error
	View(fn func(*bolt.Tx) error) error
}

// Options configure New.
type Options struct {
	// DB holds the customer buckets. Required.
	DB DB
	// PublicURL is the absolute http(s) URL of the customer page, for
	// example "http://storeedge.local:8080/chat". Required. Ticket URLs are
	// this URL with the token in the query: ?t=TOKEN.
	PublicURL string
	// TokenTTL is how long an issued token may be redeemed (default 10 min).
	TokenTTL time.Duration
	// SessionTTL is how long a redeemed login works after it was last
	// used (default 180 days): each login with it (VerifyCustomer) renews
	// it, so a customer who comes back within SessionTTL is the same
	// customer. Revoke ends it at once.
	SessionTTL time.Duration
	// MaxActiveTokens bounds the unexpired, unredeemed tokens of all
	// customers together (default 1000); Issue past it fails with ErrQuota.
	MaxActiveTokens int
	// PresenceTTL is how long a customer who confirmed a device's presence
	// code counts as at that device (default 10 min).
	PresenceTTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Store issues and redeems tokens and checks customer logins. It is safe for
// concurrent use.
type Store struct {
	o      Options
	public *url.URL

	// active caches, per customer, the latest expiry of its sessions, so
	// CustomerActive needs no database read. It is loaded on first use.
	mu     sync.RWMutex
	loaded bool
	active map[string]time.Time

	renewFailed atomic.Uint64
}

// New validates the options and returns the store. It does no I/O: the
// buckets are created by the first write.
func New(o Options) (*Store, error) {
	switch {
	case o.DB == nil:
		return nil, errors.New("customer: Options.DB is required")
	case o.PublicURL == "":
		return nil, errors.New("customer: Options.PublicURL is required")
	case o.TokenTTL < 0, o.SessionTTL < 0, o.MaxActiveTokens < 0, o.PresenceTTL < 0:
		return nil, errors.New("customer: limits must not be negative (0 = default)")
	}
	u, err := url.Parse(o.PublicURL)
	if err != nil {
		return nil, fmt.Errorf("customer: Options.PublicURL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Opaque != "" {
		return nil, fmt.Errorf("customer: Options.PublicURL %q must be an absolute http(s) URL without user info", o.PublicURL)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TokenTTL == 0 {
		o.TokenTTL = DefaultTokenTTL
	}
	if o.SessionTTL == 0 {
		o.SessionTTL = DefaultSessionTTL
	}
	if o.MaxActiveTokens == 0 {
		o.MaxActiveTokens = DefaultMaxActiveTokens
	}
	if o.PresenceTTL == 0 {
		o.PresenceTTL = DefaultPresenceTTL
	}
	return &Store{o: o, public: u, active: make(map[string]time.Time)}, nil
}

// now is the clock in UTC at millisecond precision (what the records keep).
func (s *Store) now() time.Time { return s.o.Now().UTC().Truncate(time.Millisecond) }

// ticketURL is PublicURL with t=token in its query (other parameters kept).
func (s *Store) ticketURL(token string) string {
	u := *s.public
	q := u.Query()
	q.Set("t", token)
	u.RawQuery = q.Encode()
	return u.String()
}
