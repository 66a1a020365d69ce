package booking

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/proto"
)

// What HQ knows of the shop: the catalogue as stored, read in a
// transaction (ShopIn), and a catalogue HQ pushes, checked with the same
// rules as catalog_set and written in the pusher's transaction
// (StageCatalog).

// shopChanged files the shop for HQ in tx, the transaction of a change.
func (d *Desk) shopChanged(tx *bolt.Tx) error {
	if d.o.ShopInfo == nil {
		return nil
	}
	if err := d.o.ShopInfo.FileShopInfo(tx); err != nil {
		return fmt.Errorf("booking: shop info for HQ: %w", err)
	}
	return nil
}

// Shop is the catalogue as stored: its version, the catalogue with the
// store's time zone, and the closures by date.
type Shop struct {
	Version  uint64
	Catalog  proto.ShopCatalog
	Closures []proto.Closure
}

// ShopIn reads the stored catalogue and closures in tx (what the
// transaction sees, its own writes included). It takes no lock: it may run
// inside any package's transaction.
func (d *Desk) ShopIn(tx *bolt.Tx) (Shop, error) {
	zone := d.o.Catalog.Location()
	st, err := readShop(tx, zone)
	if err != nil {
		return Shop{}, err
	}
	doc := st.doc
	doc.TimeZone = zone.String()
	return Shop{Version: st.version, Catalog: doc, Closures: st.closures}, nil
}

// StagedCatalog is a catalogue checked with the store's own rules and not
// yet written: Put writes it in the caller's transaction, Commit puts it
// in force once that transaction is durable, Release gives up. It holds
// the catalogue's lock from StageCatalog until Commit or Release, so no
// edit comes in between.
type StagedCatalog struct {
	d    *Desk
	cur  *shopState
	next *shopState
	cat  *Catalog
	done bool
}

// Refusal is why a pushed catalogue is refused: a code (svc.Code*), the
// reason (proto.Reason*) and every problem.
type Refusal struct {
	Code   string
	Reason string
	Errors []string
}

func (r *Refusal) Error() string {
	if len(r.Errors) == 0 {
		return r.Reason
	}
	return r.Reason + ": " + r.Errors[0]
}

// StageCatalog checks doc as catalog_set does (the time zone is the
// store's, the catalogue builds, no booking still to come is stranded:
// there is nobody at HQ to confirm that) and returns it staged. A refusal
// is a *Refusal.
func (d *Desk) StageCatalog(doc proto.ShopCatalog) (*StagedCatalog, error) {
	d.shopMu.Lock()
	cur := d.shop.Load()
	if cur == nil {
		d.shopMu.Unlock()
		return nil, errors.New("booking: the catalogue is not loaded")
	}
	refuse := func(code, reason string, errs []string) (*StagedCatalog, error) {
		d.shopMu.Unlock()
		return nil, &Refusal{Code: code, Reason: reason, Errors: errs}
	}
	if tz := doc.TimeZone; tz != "" && tz != cur.zone.String() {
		return refuse(svc.CodeBadRequest, ReasonInvalid, []string{fmt.Sprintf("time_zone: the store's time zone is %s (set in the store's config), not %s", cur.zone, tz)})
	}
	doc.TimeZone = ""
	next := &shopState{version: cur.version + 1, doc: doc, zone: cur.zone, closures: cur.closures}
	cat, errs := next.build()
	if len(errs) > 0 {
		list := make([]string, len(errs))
		for i, e := range errs {
			list[i] = e.Error()
		}
		return refuse(svc.CodeBadRequest, ReasonInvalid, list)
	}
	next.doc = docOf(cat)
	stranded, err := d.stranded(d.cat(), cat, d.now())
	if err != nil {
		d.shopMu.Unlock()
		return nil, err
	}
	if len(stranded) > 0 {
		list := make([]string, 0, len(stranded))
		for _, s := range stranded[:min(len(stranded), d.o.PageSize)] {
			list = append(list, fmt.Sprintf("booking %s (%s at %s): %s", s.Booking, s.Service, s.Start, s.Why))
		}
		return refuse(svc.CodeConflict, ReasonStrands, list)
	}
	return &StagedCatalog{d: d, cur: cur, next: next, cat: cat}, nil
}

// Version is the catalogue version Put writes.
func (s *StagedCatalog) Version() uint64 { return s.next.version }

// Catalog is the staged catalogue in its normal form, with the time zone.
func (s *StagedCatalog) Catalog() proto.ShopCatalog {
	doc := s.next.doc
	doc.TimeZone = s.next.zone.String()
	return doc
}

// Before is the catalogue in force when it was staged, with the time zone.
func (s *StagedCatalog) Before() proto.ShopCatalog {
	doc := s.cur.doc
	doc.TimeZone = s.cur.zone.String()
	return doc
}

// Put writes the staged catalogue in tx. The caller files the shop for HQ
// (it may change more than the catalogue in tx).
func (s *StagedCatalog) Put(tx *bolt.Tx) error {
	b, err := tx.CreateBucketIfNotExists(bShop)
	if err != nil {
		return fmt.Errorf("booking: bucket %s: %w", bShop, err)
	}
	if have := getU64(b.Get(shopVersion)); have != s.cur.version {
		return fmt.Errorf("booking: the stored catalogue is version %d, not %d", have, s.cur.version)
	}
	if err := putJSON(b, shopCatalog, s.next.doc); err != nil {
		return err
	}
	if err := b.Put(shopVersion, u64(s.next.version)); err != nil {
		return fmt.Errorf("booking: put catalogue version: %w", err)
	}
	return nil
}

// Commit puts the written catalogue in force (after the transaction of
// Put committed) and releases the lock.
func (s *StagedCatalog) Commit() {
	if s.done {
		return
	}
	s.done = true
	s.d.shop.Store(s.next)
	s.d.catp.Store(s.cat)
	s.d.shopMu.Unlock()
	s.d.kick()
}

// Release gives the staged catalogue up (nothing was committed); after
// Commit it does nothing.
func (s *StagedCatalog) Release() {
	if s.done {
		return
	}
	s.done = true
	s.d.shopMu.Unlock()
}

// snapshotBatch is how many bookings Snapshot reads in one read
// transaction: memory stays bounded by one batch.
var snapshotBatch = 256

// Snapshot hands put every booking the store keeps, as it is now, as a
// Change of type proto.ChangeSnapshot (seq 0: not in the change feed) on
// HQChangesTopic, in booking id order. It reads in read transactions of
// 256 bookings and calls put outside them, so put may write; call it
// outside any transaction of the store's database. The bookings a store
// keeps (every booking ever made, a few hundred bytes each) are tens of
// thousands after years: as many entries, never all in memory at once.
func (d *Desk) Snapshot(ctx context.Context, put func(topic string, payload []byte) error) error {
	var after []byte
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var batch [][]byte
		now := d.now()
		err := d.o.DB.View(func(tx *bolt.Tx) error {
			b := tx.Bucket(bBookings)
			if b == nil {
				return nil
			}
			cur := b.Cursor()
			k, v := cur.First()
			if after != nil {
				k, v = cur.Seek(after)
				if k != nil && bytes.Equal(k, after) {
					k, v = cur.Next()
				}
			}
			for ; k != nil && len(batch) < snapshotBatch; k, v = cur.Next() {
				after = bytes.Clone(k)
				var r record
				if err := json.Unmarshal(v, &r); err != nil {
					return fmt.Errorf("%w: booking %s: %w", errCorrupt, k, err)
				}
				ch := d.change(proto.ChangeSnapshot, &r, r.By, now)
				ch.V = 1
				p, err := json.Marshal(ch)
				if err != nil {
					return fmt.Errorf("booking: encode snapshot: %w", err)
				}
				batch = append(batch, p)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		for _, p := range batch {
			if err := put(HQChangesTopic, p); err != nil {
				return err
			}
		}
	}
}
