// Package faqstore keeps the store's FAQ (the assistant's questions and
// answers, business hours and staff quick replies, in faq.yaml's format) in
// the store's database, so that admins edit it without touching a file. It
// starts from the configured file (or the embedded default) until the
// first save; every save is validated, versioned and applied at once.
package faqstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/services/chat/faq"
)

// Errors of Replace.
var (
	// ErrConflict: the FAQ changed since the version the caller edited.
	ErrConflict = errors.New("faqstore: the FAQ was changed meanwhile")
	// ErrInvalid: the YAML is not a valid FAQ; the wrapped error names the
	// intent and the field.
	ErrInvalid = errors.New("faqstore: invalid FAQ")
)

// MaxBytes bounds a stored FAQ.
const MaxBytes = 256 << 10

// DB is the store's database (*store.DB).
type DB interface {
	Update(ctx context.Context, fn func(*bolt.Tx) error) error
	View(fn func(*bolt.Tx) error) error
}

// Options configure Open.
type Options struct {
	DB DB
	// Default is the FAQ until the first save: the configured file or the
	// embedded configs/faq.yaml.
	Default []byte
	// Apply is called with each new assistant once it is saved (and not
	// at Open); nil = none.
	Apply func(*faq.Assistant)
	// Now is the store's clock (nil: time.Now).
	Now func() time.Time
	// ShopInfo, when set, files the shop for HQ in the transaction of
	// every save (broker/services/hqlink).
	ShopInfo ShopInfoFiler
}

// ShopInfoFiler files what HQ knows of the shop, the FAQ included, reading
// it from tx (YAMLIn).
type ShopInfoFiler interface {
	FileShopInfo(tx *bolt.Tx) error
}

var (
	bucket = []byte("faq")
	key    = []byte("current")
)

type record struct {
	Version uint64    `json:"version"`
	YAML    string    `json:"yaml"`
	Updated time.Time `json:"updated"`
	By      string    `json:"by,omitempty"`
}

// Store is the editable FAQ.
type Store struct {
	o Options

	mu      sync.Mutex // serialises saves
	cur     *faq.Assistant
	yaml    []byte
	version uint64
}

// Open reads the stored FAQ, or the default when none was saved yet. A
// stored FAQ that no longer loads is an error (the daemon says so at start
// instead of answering with the wrong FAQ).
func Open(o Options) (*Store, error) {
	if o.DB == nil {
		return nil, errors.New("faqstore: no database")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Store{o: o}
	var rec *record
	err := o.DB.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		if b == nil {
			return nil
		}
		v := b.Get(key)
		if v == nil {
			return nil
		}
		rec = &record{}
		return json.Unmarshal(v, rec)
	})
	if err != nil {
		return nil, fmt.Errorf("faqstore: read: %w", err)
	}
	y := o.Default
	if rec != nil {
		y, s.version = []byte(rec.YAML), rec.Version
	}
	a, err := faq.Load(y)
	if err != nil {
		if rec != nil {
			return nil, fmt.Errorf("faqstore: the FAQ saved in the database (version %d): %w", rec.Version, err)
		}
		return nil, err
	}
	s.cur, s.yaml = a, y
	return s, nil
}

// Stored reports whether the FAQ in use was saved in the database (false:
// it is still the default).
func (s *Store) Stored() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version > 0
}

// Assistant returns the assistant of the current FAQ.
func (s *Store) Assistant() *faq.Assistant {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// Current returns the current FAQ's YAML and version (0 for the default,
// never saved).
func (s *Store) Current() ([]byte, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.yaml...), s.version
}

// Check loads y as an FAQ without saving it.
func Check(y []byte) (*faq.Assistant, error) {
	if len(y) > MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrInvalid, len(y), MaxBytes)
	}
	a, err := faq.Load(y)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return a, nil
}

// Replace validates y and saves it as the next version when the current
// one is ifVersion (ErrConflict otherwise); by is who saves it. Once it is
// on disk the new assistant is applied and the new version returned. An
// invalid FAQ changes nothing (ErrInvalid).
func (s *Store) Replace(ctx context.Context, by string, y []byte, ifVersion uint64) (uint64, error) {
	a, err := Check(y)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ifVersion != s.version {
		return 0, fmt.Errorf("%w: version %d is current, not %d", ErrConflict, s.version, ifVersion)
	}
	rec := record{Version: s.version + 1, YAML: string(y), Updated: s.o.Now().UTC(), By: by}
	v, err := json.Marshal(rec)
	if err != nil {
		return 0, fmt.Errorf("faqstore: encode: %w", err)
	}
	err = s.o.DB.Update(ctx, func(tx *bolt.Tx) error { return s.put(tx, v) })
	if err != nil {
		return 0, fmt.Errorf("faqstore: save: %w", err)
	}
	s.cur, s.yaml, s.version = a, append([]byte(nil), y...), rec.Version
	if s.o.Apply != nil {
		s.o.Apply(a)
	}
	return rec.Version, nil
}

// ReplaceFAQ saves y whatever the current version (the first-run setup
// installing a starter FAQ).
func (s *Store) ReplaceFAQ(ctx context.Context, y []byte) error {
	s.mu.Lock()
	v := s.version
	s.mu.Unlock()
	_, err := s.Replace(ctx, "setup", y, v)
	return err
}

// put writes the encoded record v in tx and files the shop for HQ.
func (s *Store) put(tx *bolt.Tx, v []byte) error {
	b, err := tx.CreateBucketIfNotExists(bucket)
	if err != nil {
		return err
	}
	if err := b.Put(key, v); err != nil {
		return err
	}
	if s.o.ShopInfo != nil {
		if err := s.o.ShopInfo.FileShopInfo(tx); err != nil {
			return fmt.Errorf("faqstore: shop info for HQ: %w", err)
		}
	}
	return nil
}

// YAMLIn reads the FAQ in force in tx (the default until the first save)
// and its version. It takes no lock: it may run inside any package's
// transaction.
func (s *Store) YAMLIn(tx *bolt.Tx) ([]byte, uint64, error) {
	if b := tx.Bucket(bucket); b != nil {
		if v := b.Get(key); v != nil {
			var rec record
			if err := json.Unmarshal(v, &rec); err != nil {
				return nil, 0, fmt.Errorf("faqstore: read: %w", err)
			}
			return []byte(rec.YAML), rec.Version, nil
		}
	}
	return append([]byte(nil), s.o.Default...), 0, nil
}

// Staged is an FAQ checked and not yet written: Put writes it in the
// caller's transaction (without filing the shop for HQ: the caller does,
// once for everything it changes), Commit applies it once that
// transaction is durable, Release gives up. It holds the store's lock from
// Stage until Commit or Release, so no save comes in between.
type Staged struct {
	s       *Store
	a       *faq.Assistant
	y       []byte
	rec     record
	Before  []byte // the FAQ it replaces
	Version uint64 // the version it is saved as
	done    bool
}

// Stage checks y (ErrInvalid) and stages it as the next version, saved by
// by, whatever the current version.
func (s *Store) Stage(by string, y []byte) (*Staged, error) {
	a, err := Check(y)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	rec := record{Version: s.version + 1, YAML: string(y), Updated: s.o.Now().UTC(), By: by}
	return &Staged{s: s, a: a, y: append([]byte(nil), y...), rec: rec, Before: append([]byte(nil), s.yaml...), Version: rec.Version}, nil
}

// Put writes the staged FAQ in tx.
func (st *Staged) Put(tx *bolt.Tx) error {
	v, err := json.Marshal(st.rec)
	if err != nil {
		return fmt.Errorf("faqstore: encode: %w", err)
	}
	b, err := tx.CreateBucketIfNotExists(bucket)
	if err != nil {
		return err
	}
	return b.Put(key, v)
}

// Commit applies the written FAQ and releases the lock.
func (st *Staged) Commit() {
	if st.done {
		return
	}
	st.done = true
	s := st.s
	s.cur, s.yaml, s.version = st.a, st.y, st.rec.Version
	a := st.a
	s.mu.Unlock()
	if s.o.Apply != nil {
		s.o.Apply(a)
	}
}

// Release gives the staged FAQ up; after Commit it does nothing.
func (st *Staged) Release() {
	if st.done {
		return
	}
	st.done = true
	st.s.mu.Unlock()
}

// ErrorMessage is an invalid FAQ's mistakes as faq_set answers them.
func ErrorMessage(err error) string { return invalidMessage(err) }
