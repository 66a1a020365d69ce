package customer

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucketAliases maps a merged customer id to the id it was merged into.
var bucketAliases = []byte("customer_aliases")

// ErrMerged: the customer id was merged into another (Relogin gives that
// one's login).
var ErrMerged = errors.New("customer: merged into another customer")

// Merge records that from and into are one person (two phones): from's
// logins become into's (her phone's password keeps working; Relogin tells
// the phone its id is into now), and a later Issue for from issues for
// into. from's own sessions end, so a phone connected as from is
// disconnected within a second and logs in again as into. Merging again
// into the same id changes nothing; merging an id that was merged into
// another, or into an id that is itself an alias, is ErrInvalid.
func (s *Store) Merge(ctx context.Context, from, into string) error {
	if !ValidCustomerID(from) || !ValidCustomerID(into) || from == into {
		return fmt.Errorf("%w: merge %q into %q: two different customer ids", ErrInvalid, from, into)
	}
	err := s.o.DB.Update(ctx, func(tx *bolt.Tx) error {
		al, err := tx.CreateBucketIfNotExists(bucketAliases)
		if err != nil {
			return err
		}
		if v := al.Get([]byte(from)); v != nil {
			if string(v) == into {
				return nil // a repeat
			}
			return fmt.Errorf("%w: %s was merged into %s already", ErrInvalid, from, v)
		}
		if v := al.Get([]byte(into)); v != nil {
			return fmt.Errorf("%w: %s was merged into %s; merge into that", ErrInvalid, into, v)
		}
		// Ids merged into from follow it to into.
		var follow [][]byte
		if err := al.ForEach(func(k, v []byte) error {
			if string(v) == from {
				follow = append(follow, slices.Clone(k))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range follow {
			if err := al.Put(k, []byte(into)); err != nil {
				return err
			}
		}
		if err := al.Put([]byte(from), []byte(into)); err != nil {
			return err
		}
		b, err := tx.CreateBucketIfNotExists(bucketSessions)
		if err != nil {
			return err
		}
		prefix := sessionPrefix(from)
		type kv struct{ k, v []byte }
		var moved []kv
		c := b.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			moved = append(moved, kv{slices.Clone(k), slices.Clone(v)})
		}
		for _, m := range moved {
			if err := b.Delete(m.k); err != nil {
				return err
			}
			if err := b.Put(append(sessionPrefix(into), m.k[len(prefix):]...), m.v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("customer: merge: %w", err)
	}
	s.mu.Lock()
	s.loaded = false
	s.active = make(map[string]time.Time)
	s.mu.Unlock()
	return nil
}

// AliasOf is the id customer was merged into, "" when it was not.
func (s *Store) AliasOf(customer string) (string, error) {
	var into string
	err := s.o.DB.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketAliases); b != nil {
			into = string(b.Get([]byte(customer)))
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("customer: alias: %w", err)
	}
	return into, nil
}

// Relogin is for a phone whose customer id was merged into another: given
// its old username and its password, it answers the login as the id it
// was merged into (same password). ErrNotFound when username was not
// merged or the password is not a live login of the merged customer.
func (s *Store) Relogin(username, secret string) (Login, error) {
	if !ValidCustomerID(username) || secret == "" {
		return Login{}, fmt.Errorf("customer: relogin: %w", ErrNotFound)
	}
	into, err := s.AliasOf(username)
	if err != nil {
		return Login{}, err
	}
	if into == "" {
		return Login{}, fmt.Errorf("customer: relogin: %w", ErrNotFound)
	}
	now := s.now()
	h := hashKey(secret)
	prefix := sessionPrefix(into)
	var exp time.Time
	err = s.o.DB.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSessions)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			e, ok := decodeExpiry(v)
			if ok && now.Before(e) && subtle.ConstantTimeCompare(k[len(prefix):], h[:]) == 1 {
				exp = e
			}
		}
		return nil
	})
	if err != nil {
		return Login{}, fmt.Errorf("customer: relogin: %w", err)
	}
	if exp.IsZero() {
		return Login{}, fmt.Errorf("customer: relogin: %w", ErrNotFound)
	}
	return Login{Customer: into, Username: into, Password: secret, Expires: exp}, nil
}
