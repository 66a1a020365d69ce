// Package settings keeps the store's own settings, set by its owner in the
// browser at first run: the store's name, time zone, languages and kind of
// shop. They live in the store's database (bucket "settings") and override
// the configuration's defaults.
package settings

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Kinds of shop; each selects a starter catalogue and FAQ.
const (
	KindPet  = "pet"  // pet grooming
	KindBaby = "baby" // mother-and-baby
	KindBoth = "both"
)

// Kinds lists the kinds of shop in the order the setup page offers them.
var Kinds = []string{KindPet, KindBaby, KindBoth}

// Settings are the store's settings.
type Settings struct {
	// Name is the store's name as customers see it.
	Name string `json:"name"`
	// TimeZone is an IANA time zone name (Asia/Shanghai).
	TimeZone string `json:"time_zone"`
	// Languages the store speaks, first the default: zh, en.
	Languages []string `json:"languages"`
	// Kind is the kind of shop: pet, baby or both.
	Kind string `json:"kind"`
	// Version counts the saves, from 1; Updated is when the last one was.
	Version uint64    `json:"version"`
	Updated time.Time `json:"updated"`
}

// DB is the store's database (*store.DB).
type DB interface {
	Update(ctx context.Context, fn func(*bolt.Tx) error) error
	View(fn func(*bolt.Tx) error) error
}

var (
	bucket = []byte("settings")
	key    = []byte("store")
)

// Store reads and writes the settings.
type Store struct {
	db     DB
	now    func() time.Time
	onSave func(*bolt.Tx) error
}

// OnSave sets f, called in the transaction of every save after the
// settings are written (HQ's bridge files the shop, with the store's
// name, in the same commit). Set it before the first Put.
func (s *Store) OnSave(f func(*bolt.Tx) error) { s.onSave = f }

// NameIn is the store's name as tx sees it ("" before it was set).
func (s *Store) NameIn(tx *bolt.Tx) string {
	b := tx.Bucket(bucket)
	if b == nil {
		return ""
	}
	var st Settings
	if v := b.Get(key); v == nil || json.Unmarshal(v, &st) != nil {
		return ""
	}
	return st.Name
}

// New returns the settings store on db; now is the store's clock (nil:
// time.Now).
func New(db DB, now func() time.Time) (*Store, error) {
	if db == nil {
		return nil, errors.New("settings: no database")
	}
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, now: now}, nil
}

// Get returns the settings; ok is false before the first save.
func (s *Store) Get() (st Settings, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		if b == nil {
			return nil
		}
		v := b.Get(key)
		if v == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(v, &st)
	})
	if err != nil {
		return Settings{}, false, fmt.Errorf("settings: read: %w", err)
	}
	return st, ok, nil
}

// Put saves st (its Version and Updated are set here) and returns what was
// saved; it is on disk when Put returns.
func (s *Store) Put(ctx context.Context, st Settings) (Settings, error) {
	var saved Settings
	err := s.db.Update(ctx, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return err
		}
		var old Settings
		if v := b.Get(key); v != nil {
			if err := json.Unmarshal(v, &old); err != nil {
				return fmt.Errorf("decode: %w", err)
			}
		}
		saved = st
		saved.Version = old.Version + 1
		saved.Updated = s.now().UTC()
		v, err := json.Marshal(saved)
		if err != nil {
			return err
		}
		if err := b.Put(key, v); err != nil {
			return err
		}
		if s.onSave != nil {
			return s.onSave(tx)
		}
		return nil
	})
	if err != nil {
		return Settings{}, fmt.Errorf("settings: save: %w", err)
	}
	return saved, nil
}

// Name returns the stored store name, or def when none was set (or the
// settings cannot be read).
func (s *Store) Name(def string) string {
	st, ok, err := s.Get()
	if err != nil || !ok || st.Name == "" {
		return def
	}
	return st.Name
}
