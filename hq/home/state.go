package home

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/storeedge/storeedge/broker/services/chat/faq"
	"github.com/storeedge/storeedge/internal/hours"
	"github.com/storeedge/storeedge/proto"
)

// shopFAQ is what HQ knows of a store's shop (shop_info), ready to use:
// its hours with closures, its FAQ assistant and its staff names.
type shopFAQ struct {
	ts    time.Time
	hours *hours.Hours      // nil: not known
	faq   *faq.Assistant    // nil: none
	staff map[string]string // id → name
}

func (f *shopFAQ) Hours() *hours.Hours { return f.hours }

// shop loads (or reuses) the store's shop info; nil without one.
func (s *Server) shop(ctx context.Context, store string) (*shopFAQ, error) {
	var raw []byte
	var ts time.Time
	err := s.o.Pool.QueryRow(ctx, `SELECT info, ts FROM shop_info WHERE store = $1`, store).Scan(&raw, &ts)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("home: shop info of %s: %w", store, err)
	}
	s.faqMu.Lock()
	if f := s.faqCache[store]; f != nil && f.ts.Equal(ts) {
		s.faqMu.Unlock()
		return f, nil
	}
	s.faqMu.Unlock()
	var info proto.ShopInfo
	if err := json.Unmarshal(raw, &info); err != nil {
		return nil, fmt.Errorf("home: shop info of %s: %w", store, err)
	}
	f := &shopFAQ{ts: ts, staff: map[string]string{}}
	for _, m := range info.Staff {
		f.staff[m.ID] = m.Name
	}
	wk := info.Catalog.Hours
	zone := info.TimeZone
	if zone == "" {
		zone = info.Catalog.TimeZone
	}
	if zone != "" && (len(wk.Mon)+len(wk.Tue)+len(wk.Wed)+len(wk.Thu)+len(wk.Fri)+len(wk.Sat)+len(wk.Sun)) > 0 {
		hc := hours.Config{TimeZone: zone, Weekly: hours.Weekly{Mon: wk.Mon, Tue: wk.Tue, Wed: wk.Wed, Thu: wk.Thu, Fri: wk.Fri, Sat: wk.Sat, Sun: wk.Sun}}
		for _, c := range info.Closures {
			hc.Closed = append(hc.Closed, hours.Closed{Date: c.Date, Until: c.Until, Name: c.Name})
		}
		h, err := hours.New(hc, "shop_info")
		if err != nil {
			s.log.Warn("a store's hours at HQ do not read", "store", store, "err", err)
		} else {
			f.hours = h
		}
	}
	if len(info.FAQ) > 0 {
		var y string
		if err := json.Unmarshal(info.FAQ, &y); err == nil && y != "" {
			a, err := faq.Load([]byte(y))
			if err != nil {
				s.log.Warn("a store's FAQ at HQ does not load", "store", store, "err", err)
			} else {
				if f.hours != nil {
					a.UseHours(f, s.now)
				}
				f.faq = a
			}
		}
	}
	s.faqMu.Lock()
	s.faqCache[store] = f
	s.faqMu.Unlock()
	return f, nil
}

// State tells what a customer at home is told of store: online from the
// replica's presence, open and next opening from the hours and closures
// the store sent (open when HQ knows no hours).
func (s *Server) State(ctx context.Context, store string) (StoreState, error) {
	st := StoreState{Store: store, Name: store, Open: true}
	var name, zone string
	var lastSeen *time.Time
	err := s.o.Pool.QueryRow(ctx, `SELECT name, online, last_seen, time_zone FROM stores WHERE store = $1`, store).
		Scan(&name, &st.Online, &lastSeen, &zone)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return StoreState{}, fmt.Errorf("home: state of %s: %w", store, err)
	}
	if name != "" {
		st.Name = name
	}
	st.Zone = zone
	if lastSeen != nil {
		st.LastSeen = *lastSeen
	}
	f, err := s.shop(ctx, store)
	if err != nil {
		return StoreState{}, err
	}
	if f != nil && f.hours != nil {
		now := s.now()
		st.Zone = f.hours.Location().String()
		st.Open = f.hours.Open(now)
		if !st.Open {
			if n := f.hours.NextOpen(now); !n.IsZero() {
				st.NextOpen = &n
			}
		}
	}
	return st, nil
}
