package customer

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// Presence: a customer proves she is at a shared device (a kiosk, a chat
// tablet) from her own phone.
//
//  1. The device asks StartPresence: a one-time code, and the customer
//     page's URL carrying it (?present=CODE), for its screen as a QR code.
//     A new code ends whatever customer the device had.
//  2. The customer's phone, logged in as her, scans it and calls the
//     confirm op with her own identity: ConfirmPresence binds her to the
//     device for Options.PresenceTTL.
//  3. While she is bound, PresentAt names her, and the device may act for
//     her (and only her); EndPresence or TakePresence ends it early.
//
// The device never learns anything from the code it did not have: the
// customer's id reaches it only because she confirmed. Nobody can bind a
// customer but the customer herself.
//
// Bucket customer_presence: device id → presenceRecord (JSON); one record
// per device, so the bucket holds at most one entry per registered device.

var bucketPresence = []byte("customer_presence")

// presenceRecord is the value in customer_presence.
type presenceRecord struct {
	Code        []byte    `json:"code"` // sha256 of the code
	CodeExpires time.Time `json:"code_expires"`
	Customer    string    `json:"customer,omitempty"` // set once confirmed
	Until       time.Time `json:"until,omitzero"`
}

// PresenceCode is a code a device shows for a customer to confirm.
type PresenceCode struct {
	Code    string
	URL     string
	Expires time.Time
}

// Presence is a customer confirmed at a device.
type Presence struct {
	Device   string
	Customer string
	Until    time.Time
}

// ErrMismatch: the presence code was confirmed by another customer already.
var ErrMismatch = errors.New("customer: presence code confirmed by another customer")

func validDevice(device string) error {
	if device == "" || len(device) > maxIssuedBy || !utf8.ValidString(device) {
		return fmt.Errorf("%w: device id must be valid UTF-8 of 1 to %d bytes", ErrInvalid, maxIssuedBy)
	}
	return nil
}

// StartPresence makes a new one-time presence code for device, valid for
// Options.TokenTTL, replacing the device's earlier code and ending the
// customer it had. The code is on disk when StartPresence returns.
func (s *Store) StartPresence(ctx context.Context, device string) (PresenceCode, error) {
	if err := validDevice(device); err != nil {
		return PresenceCode{}, err
	}
	code, err := randomString()
	if err != nil {
		return PresenceCode{}, err
	}
	now := s.now()
	h := hashKey(code)
	rec := presenceRecord{Code: h[:], CodeExpires: now.Add(s.o.TokenTTL)}
	val, err := json.Marshal(rec)
	if err != nil {
		return PresenceCode{}, fmt.Errorf("customer: encode presence: %w", err)
	}
	err = s.o.DB.Update(ctx, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketPresence)
		if err != nil {
			return err
		}
		return b.Put([]byte(device), val)
	})
	if err != nil {
		return PresenceCode{}, fmt.Errorf("customer: start presence: %w", err)
	}
	u := *s.public
	q := u.Query()
	q.Del("t")
	q.Set("present", code)
	u.RawQuery = q.Encode()
	return PresenceCode{Code: code, URL: u.String(), Expires: rec.CodeExpires}, nil
}

// ConfirmPresence binds customer to the device that showed code, for
// Options.PresenceTTL from now: ErrNotFound when no device shows that code
// (never made, replaced, ended or swept), ErrExpired when its time ran out,
// ErrMismatch when another customer confirmed it. A repeat by the same
// customer answers the binding as it is. The binding is on disk when
// ConfirmPresence returns.
func (s *Store) ConfirmPresence(ctx context.Context, code, customer string) (Presence, error) {
	if !ValidCustomerID(customer) {
		return Presence{}, fmt.Errorf("%w: customer id %q", ErrInvalid, customer)
	}
	if !wellFormedToken(code) {
		return Presence{}, fmt.Errorf("customer: confirm presence: %w", ErrNotFound)
	}
	now := s.now()
	h := hashKey(code)
	var out Presence
	err := s.o.DB.Update(ctx, func(tx *bolt.Tx) error {
		out = Presence{}
		b, err := tx.CreateBucketIfNotExists(bucketPresence)
		if err != nil {
			return err
		}
		var device []byte
		var rec presenceRecord
		found := 0
		// One record per device: a store has a handful, so a scan with
		// constant-time compares is cheap and leaks nothing of other codes.
		if err := b.ForEach(func(k, v []byte) error {
			var r presenceRecord
			if json.Unmarshal(v, &r) != nil || len(r.Code) != len(h) {
				return nil
			}
			if subtle.ConstantTimeCompare(r.Code, h[:]) == 1 && found == 0 {
				found, device, rec = 1, append([]byte(nil), k...), r
			}
			return nil
		}); err != nil {
			return err
		}
		switch {
		case found == 0:
			return ErrNotFound
		case rec.Customer == customer && now.Before(rec.Until):
			out = Presence{Device: string(device), Customer: customer, Until: rec.Until}
			return nil
		case rec.Customer == customer:
			return ErrExpired
		case rec.Customer != "":
			return ErrMismatch
		case !now.Before(rec.CodeExpires):
			return ErrExpired
		}
		rec.Customer, rec.Until = customer, now.Add(s.o.PresenceTTL)
		v, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("customer: encode presence: %w", err)
		}
		out = Presence{Device: string(device), Customer: customer, Until: rec.Until}
		return b.Put(device, v)
	})
	if err != nil {
		return Presence{}, fmt.Errorf("customer: confirm presence: %w", err)
	}
	return out, nil
}

// PresentAt names the customer bound to device now ("" when none: no code
// confirmed, or its time is over), and until when.
func (s *Store) PresentAt(device string) (string, time.Time, error) {
	now := s.now()
	var rec presenceRecord
	var ok bool
	err := s.o.DB.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPresence)
		if b == nil {
			return nil
		}
		v := b.Get([]byte(device))
		if v == nil {
			return nil
		}
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("customer: decode presence of %q: %w", device, err)
		}
		ok = true
		return nil
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("customer: presence: %w", err)
	}
	if !ok || rec.Customer == "" || !now.Before(rec.Until) {
		return "", time.Time{}, nil
	}
	return rec.Customer, rec.Until, nil
}

// EndPresence ends device's binding and its pending code; false when it
// had neither.
func (s *Store) EndPresence(ctx context.Context, device string) (bool, error) {
	var had bool
	err := s.o.DB.Update(ctx, func(tx *bolt.Tx) error {
		had = false
		b := tx.Bucket(bucketPresence)
		if b == nil || b.Get([]byte(device)) == nil {
			return nil
		}
		had = true
		return b.Delete([]byte(device))
	})
	if err != nil {
		return false, fmt.Errorf("customer: end presence: %w", err)
	}
	return had, nil
}

// TakePresence ends device's binding when customer is bound to it now, and
// reports whether she was: one confirmation is used for one thing (a chat
// tablet's resume).
func (s *Store) TakePresence(ctx context.Context, device, customer string) (bool, error) {
	now := s.now()
	var took bool
	err := s.o.DB.Update(ctx, func(tx *bolt.Tx) error {
		took = false
		b := tx.Bucket(bucketPresence)
		if b == nil {
			return nil
		}
		v := b.Get([]byte(device))
		var rec presenceRecord
		if v == nil || json.Unmarshal(v, &rec) != nil || rec.Customer == "" || rec.Customer != customer || !now.Before(rec.Until) {
			return nil
		}
		took = true
		return b.Delete([]byte(device))
	})
	if err != nil {
		return false, fmt.Errorf("customer: take presence: %w", err)
	}
	return took, nil
}

// sweepPresence deletes the records whose code and binding are both over.
func sweepPresence(tx *bolt.Tx, now time.Time) (int, error) {
	b := tx.Bucket(bucketPresence)
	if b == nil {
		return 0, nil
	}
	return deleteWhere(b, func(v []byte) bool {
		var r presenceRecord
		if json.Unmarshal(v, &r) != nil {
			return true
		}
		if r.Customer != "" {
			return !now.Before(r.Until)
		}
		return !now.Before(r.CodeExpires)
	})
}
