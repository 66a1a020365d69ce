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
//
// A login that verifies is renewed: its session works for Options.SessionTTL
// from now (written at most once per renewStep of each session, so a phone
// that reconnects often costs no write each time). A failed renewal does not
// refuse the login, which is still valid; it is counted (RenewFailures).
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
	var matched []byte
	var matchedExp time.Time
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
			hit := subtle.ConstantTimeCompare(k[len(prefix):], h[:]) & live
			found |= hit
			if hit == 1 {
				matched, matchedExp = slices.Clone(k), exp
			}
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("customer: verify: %w", err)
	}
	if found != 1 {
		return false, nil
	}
	if matchedExp.Sub(now) < s.o.SessionTTL-s.renewStep() {
		if err := s.renew(id, matched, now); err != nil {
			s.renewFailed.Add(1)
		}
	}
	return true, nil
}

// renewStep is how much of a session's time passes before a login renews
// it: a day, or a quarter of a shorter SessionTTL.
func (s *Store) renewStep() time.Duration { return min(24*time.Hour, s.o.SessionTTL/4) }

// renewTimeout bounds the write of a renewal, which runs on a login.
const renewTimeout = 5 * time.Second

// renew sets session key of customer to expire SessionTTL after now, when
// it still exists and is live (a revoke in between wins).
func (s *Store) renew(customer string, key []byte, now time.Time) error {
	expires := now.Add(s.o.SessionTTL)
	ctx, cancel := context.WithTimeout(context.Background(), renewTimeout)
	defer cancel()
	renewed := false
	err := s.o.DB.Update(ctx, func(tx *bolt.Tx) error {
		renewed = false
		b := tx.Bucket(bucketSessions)
		if b == nil {
			return nil
		}
		exp, ok := decodeExpiry(b.Get(key))
		if !ok || !now.Before(exp) || !exp.Before(expires) {
			return nil
		}
		renewed = true
		return b.Put(key, encodeExpiry(expires))
	})
	if err != nil {
		return fmt.Errorf("customer: renew: %w", err)
	}
	if renewed {
		s.noteSession(customer, expires)
	}
	return nil
}

// EndSoon is Revoke for a customer who asked for it herself: her logins
// are deleted at once (no new connection), but a connection she has open
// may stay up to grace on the store's clock, long enough to receive the
// answer to the request that ended them (the ACL stops her grants when
// her login ends). The change is on disk when EndSoon returns.
func (s *Store) EndSoon(ctx context.Context, customer string, grace time.Duration) (int, error) {
	n, err := s.Revoke(ctx, customer)
	if err != nil {
		return n, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.loaded {
		if err := s.load(); err != nil {
			return n, err
		}
	}
	s.active[customer] = s.now().Add(grace)
	return n, nil
}

// RenewFailures counts the logins whose renewal could not be written (the
// login was accepted; its session keeps its old expiry).
func (s *Store) RenewFailures() uint64 { return s.renewFailed.Load() }

// Revoke ends every session of customer at once: her phones must scan a
// new code, and connected ones are disconnected by the broker within a
// second (CustomerActive turns false). It returns how many sessions it
// ended; revoking a customer without sessions is not an error. The change
// is on disk when Revoke returns.
func (s *Store) Revoke(ctx context.Context, customer string) (int, error) {
	if !ValidCustomerID(customer) {
		return 0, fmt.Errorf("%w: customer id %q", ErrInvalid, customer)
	}
	prefix := sessionPrefix(customer)
	n := 0
	err := s.o.DB.Update(ctx, func(tx *bolt.Tx) error {
		n = 0
		b := tx.Bucket(bucketSessions)
		if b == nil {
			return nil
		}
		var keys [][]byte
		c := b.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			keys = append(keys, slices.Clone(k))
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(keys)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("customer: revoke: %w", err)
	}
	// The cache is read again from the database: a renewal that committed
	// before the revoke may note its expiry after it.
	s.mu.Lock()
	s.loaded = false
	s.active = make(map[string]time.Time)
	s.mu.Unlock()
	return n, nil
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
