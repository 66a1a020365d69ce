package customer

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// VerifyCustomer reports whether customer id holds an unexpired session whose
// secret is secret (the MQTT password). Every stored hash of the customer is
// compared in constant time. An error means the database could not be read.
func (s *Store) VerifyCustomer(id string, secret []byte) (bool, error) {
	if !ValidCustomerID(id) || len(secret) == 0 {
		return false, nil
	}
	now := s.now()
	// The cache turns away customers without a live session without a read.
	until, err := s.activeUntil(id)
	if err != nil {
		return false, err
	}
	if !now.Before(until) {
		return false, nil
	}
	h := hashKey(string(secret))
	prefix := sessionPrefix(id)
	found := 0
	err = s.o.DB.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSessions)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			exp, ok := decodeExpiry(v)
			live := 0
			if ok && now.Before(exp) {
				live = 1
			}
			found |= subtle.ConstantTimeCompare(k[len(prefix):], h[:]) & live
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("customer: verify: %w", err)
	}
	return found == 1, nil
}

// CustomerActive reports whether customer id holds any unexpired session. It
// answers from memory (the expiry of each customer's latest session, loaded
// from the database on first use); it is false when that load fails.
func (s *Store) CustomerActive(id string) bool {
	until, err := s.activeUntil(id)
	return err == nil && s.now().Before(until)
}

// activeUntil is the latest session expiry of customer id (zero for none),
// loading the cache first when needed.
func (s *Store) activeUntil(id string) (time.Time, error) {
	s.mu.RLock()
	if s.loaded {
		t := s.active[id]
		s.mu.RUnlock()
		return t, nil
	}
	s.mu.RUnlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.loaded {
		// Loading under the write lock orders it with noteSession: a session
		// committed before the load is read here, one committed after is
		// noted into the loaded cache.
		if err := s.load(); err != nil {
			return time.Time{}, err
		}
	}
	return s.active[id], nil
}

// load fills the cache from customer_sessions; s.mu is held for writing.
func (s *Store) load() error {
	now := s.now()
	m := make(map[string]time.Time)
	err := s.o.DB.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSessions)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			c, ok := splitSessionKey(k)
			exp, ok2 := decodeExpiry(v)
			if ok && ok2 && now.Before(exp) && exp.After(m[c]) {
				m[c] = exp
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("customer: load sessions: %w", err)
	}
	s.active = m
	s.loaded = true
	return nil
}

// noteSession records a committed session in the cache (when loaded; a
// later load reads it from the database).
func (s *Store) noteSession(customer string, expires time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loaded && expires.After(s.active[customer]) {
		s.active[customer] = expires
	}
}

// Sweep deletes expired tokens (redeemed or not), expired sessions and
// presence codes and bindings that are over, and
// returns how many records it removed. A swept token is ErrNotFound to
// Redeem. Unreadable records are removed too.
func (s *Store) Sweep(ctx context.Context) (removed int, err error) {
	now := s.now()
	err = s.o.DB.Update(ctx, func(tx *bolt.Tx) error {
		removed = 0
		if b := tx.Bucket(bucketTokens); b != nil {
			n, err := deleteWhere(b, func(v []byte) bool {
				var r struct {
					Expires time.Time `json:"expires"`
				}
				return json.Unmarshal(v, &r) != nil || !now.Before(r.Expires)
			})
			removed += n
			if err != nil {
				return err
			}
		}
		if b := tx.Bucket(bucketSessions); b != nil {
			n, err := deleteWhere(b, func(v []byte) bool {
				exp, ok := decodeExpiry(v)
				return !ok || !now.Before(exp)
			})
			removed += n
			if err != nil {
				return err
			}
		}
		n, err := sweepPresence(tx, now)
		removed += n
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("customer: sweep: %w", err)
	}
	s.mu.Lock()
	for c, exp := range s.active {
		if !now.Before(exp) {
			delete(s.active, c)
		}
	}
	s.mu.Unlock()
	return removed, nil
}

// deleteWhere deletes the keys of b whose value matches; keys are collected
// first, as deleting under a running ForEach is not allowed.
func deleteWhere(b *bolt.Bucket, match func(v []byte) bool) (int, error) {
	var keys [][]byte
	if err := b.ForEach(func(k, v []byte) error {
		if match(v) {
			keys = append(keys, slices.Clone(k))
		}
		return nil
	}); err != nil {
		return 0, err
	}
	for i, k := range keys {
		if err := b.Delete(k); err != nil {
			return i, err
		}
	}
	return len(keys), nil
}
