package hqlink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/proto"
)

// The shop goes to HQ whole (proto.ShopInfo on proto.TopicShopInfo) in the
// transaction of every change of the catalogue, hours, closures, staff or
// FAQ. It is built from what that transaction sees, each part read by its
// package without taking a lock: bbolt runs one write transaction at a
// time, so when two parts change at once the later transaction reads the
// earlier one's commit, and the last ShopInfo filed is the shop as
// committed. (A "changed" marker built later from memory would race the
// packages' own updates of their memory after the commit.)

// FileShopInfo files the shop for HQ in tx (booking, faqstore and
// accounts call it in the transaction of their change). Without an outbox
// it does nothing.
func (l *Link) FileShopInfo(tx *bolt.Tx) error {
	if l.o.Outbox == nil {
		return nil
	}
	p, err := l.shopInfoIn(tx)
	if err != nil {
		return err
	}
	return l.o.Outbox.Put(tx, proto.TopicShopInfo, p)
}

// shopInfoIn is the encoded ShopInfo as tx sees it.
func (l *Link) shopInfoIn(tx *bolt.Tx) ([]byte, error) {
	if l.shop == nil {
		return nil, errors.New("hqlink: the shop is not wired (Use)")
	}
	shop, err := l.shop.ShopIn(tx)
	if err != nil {
		return nil, fmt.Errorf("hqlink: shop info: %w", err)
	}
	info := proto.ShopInfo{V: 1, Version: int64(shop.Version), TimeZone: shop.Catalog.TimeZone, Catalog: shop.Catalog, TS: l.now()}
	for _, c := range shop.Closures {
		name := c.Reason.EN
		if name == "" {
			name = c.Reason.ZH
		}
		info.Closures = append(info.Closures, proto.DateSpan{Date: c.Date, Until: c.Until, Name: name})
	}
	if l.names != nil {
		info.Name = l.names.NameIn(tx)
	}
	if l.staff != nil {
		if info.Staff, err = l.staff.StaffIn(tx); err != nil {
			return nil, fmt.Errorf("hqlink: shop info: %w", err)
		}
	}
	if l.faq != nil {
		y, _, err := l.faq.YAMLIn(tx)
		if err != nil {
			return nil, fmt.Errorf("hqlink: shop info: %w", err)
		}
		if info.FAQ, err = json.Marshal(string(y)); err != nil {
			return nil, fmt.Errorf("hqlink: shop info: %w", err)
		}
	}
	p, err := json.Marshal(info)
	if err != nil {
		return nil, fmt.Errorf("hqlink: encode shop info: %w", err)
	}
	return p, nil
}

// Snapshot hands put the shop as it is now (one ShopInfo). It reads in
// its own read transaction and calls put after it; call it outside any
// transaction of the store's database.
func (l *Link) Snapshot(ctx context.Context, put func(topic string, payload []byte) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var p []byte
	err := l.o.DB.View(func(tx *bolt.Tx) error {
		var err error
		p, err = l.shopInfoIn(tx)
		return err
	})
	if err != nil {
		return err
	}
	return put(proto.TopicShopInfo, p)
}
