package homebook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/storeedge/storeedge/broker/services/booking"
	"github.com/storeedge/storeedge/hq/home"
	"github.com/storeedge/storeedge/internal/httpjson"
	"github.com/storeedge/storeedge/proto"
)

// Sources of /slots.
const (
	SourceLive    = "live"    // the store answered now
	SourceReplica = "replica" // computed at HQ from what the store last sent
)

// SlotsAnswer is /slots' answer.
type SlotsAnswer struct {
	Source string       `json:"source"`
	AsOf   time.Time    `json:"as_of"`
	Slots  []proto.Slot `json:"slots"`
	Note   string       `json:"note,omitempty"`
}

func (b *Book) slots(w http.ResponseWriter, r *http.Request, c home.Customer) {
	ans, err := b.freeTimes(r.Context(), c, r.URL.Query().Get("service"), r.URL.Query().Get("day"))
	if err != nil {
		b.answerErr(w, r, err)
		return
	}
	httpjson.Write(w, http.StatusOK, ans)
}

// freeTimes asks the store when it is online (bounded by LiveWait) and
// answers from the replica otherwise.
func (b *Book) freeTimes(ctx context.Context, c home.Customer, service, day string) (*SlotsAnswer, error) {
	if !idPattern.MatchString(service) {
		return nil, fail(http.StatusBadRequest, "bad_request", "Choose a service (\"service\" is missing or not a service id)")
	}
	date, err := booking.ParseDate(day)
	if err != nil {
		return nil, fail(http.StatusBadRequest, "bad_request", "\"day\" must be a date like 2026-11-24")
	}
	si, cat, err := b.shopOf(ctx, c.Store)
	if err != nil && si == nil {
		return nil, err
	}
	if si == nil {
		return nil, fail(http.StatusServiceUnavailable, "unavailable", "The store has not told us its services yet")
	}
	if cat != nil {
		if _, ok := cat.Service(service); !ok {
			return nil, fail(http.StatusNotFound, "not_found", "The store has no service %q", service)
		}
	}
	st, err := b.o.State(ctx, c.Store)
	if err != nil {
		return nil, err
	}
	if st.Online {
		a, err := b.askStore(ctx, c.Store, service, date.String())
		switch {
		case err != nil:
			b.log.Info("homebook: the store did not answer about free times; answering from the replica", "store", c.Store, "err", err)
		case a == nil: // no answer in time
		case !a.OK:
			return nil, fail(statusOf(a.Code), a.Code, "%s", a.Message)
		default:
			slots := a.Slots
			if slots == nil {
				slots = []proto.Slot{}
			}
			return &SlotsAnswer{Source: SourceLive, AsOf: a.TS, Slots: slots}, nil
		}
	}
	if cat == nil {
		return nil, fail(http.StatusServiceUnavailable, "unavailable", "The store is not reachable and its catalogue cannot be read")
	}
	return b.fromReplica(ctx, c.Store, cat, service, date, st)
}

// askStore sends hq/booking/availability and waits up to LiveWait for the
// answer; nil, nil: none in time.
func (b *Book) askStore(ctx context.Context, store, service, day string) (*proto.HQAvailabilityAnswer, error) {
	id := newID("av-")
	deadline := b.o.Now().Add(b.cfg.LiveWait)
	q := proto.HQAvailabilityRequest{V: 1, ID: id, Service: service, Day: day, Days: 1, Expires: deadline}
	p, err := json.Marshal(q)
	if err != nil {
		return nil, fmt.Errorf("homebook: encode availability request: %w", err)
	}
	woke, forget := b.l.Watch(id)
	defer forget()
	wctx, cancel := context.WithTimeout(ctx, b.cfg.LiveWait)
	defer cancel()
	if err := b.o.Publisher.Publish(wctx, home.DownTopic(store, proto.HQBookingAvailabilityTopic), p, id); err != nil {
		return nil, err
	}
	// Without the listener (lost for now) the table is looked at every
	// 200 ms instead.
	poll := time.NewTicker(200 * time.Millisecond)
	defer poll.Stop()
	for {
		a, err := b.takeAnswer(ctx, store, id)
		if err != nil || a != nil {
			return a, err
		}
		select {
		case <-woke:
		case <-poll.C:
			if b.l.Listening() {
				continue
			}
		case <-wctx.Done():
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return b.takeAnswer(ctx, store, id) // one last look
		}
	}
}

// takeAnswer reads (and removes) the store's answer to request id.
func (b *Book) takeAnswer(ctx context.Context, store, id string) (*proto.HQAvailabilityAnswer, error) {
	var raw []byte
	err := b.o.Pool.QueryRow(ctx, `DELETE FROM home_answers WHERE id = $1 AND store = $2 AND kind = $3 RETURNING payload`,
		id, store, KindAvailability).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("homebook: read answer: %w", err)
	}
	var a proto.HQAvailabilityAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, fmt.Errorf("homebook: answer %s: %w", id, err)
	}
	return &a, nil
}

// fromReplica computes the free times as the store would from what HQ
// has: its catalogue, hours and closures (shop_info), minus the bookings
// the replica holds that are not cancelled or no-shows.
func (b *Book) fromReplica(ctx context.Context, store string, cat *booking.Catalog, service string, date booking.Date, st home.StoreState) (*SlotsAnswer, error) {
	s, _ := cat.Service(service)
	now := b.o.Now()
	loc := cat.Location()
	today := booking.DateOf(now, loc)
	if date < today || date > today.AddDays(cat.HorizonDays) {
		return nil, fail(http.StatusBadRequest, "bad_request", "Bookings open %d days ahead, from today", cat.HorizonDays)
	}
	y, m, d := date.YMD()
	dayStart := time.Date(y, m, d, 0, 0, 0, 0, loc)
	rows, err := b.o.Pool.Query(ctx, `SELECT booking, service, resources, start_at, end_at FROM bookings
		WHERE store = $1 AND status NOT IN ($2, $3) AND start_at IS NOT NULL AND end_at IS NOT NULL
		AND start_at < $4 AND end_at > $5 ORDER BY start_at, booking`,
		store, proto.StatusCancelled, proto.StatusNoShow, dayStart.AddDate(0, 0, 2), dayStart.AddDate(0, 0, -1))
	if err != nil {
		return nil, fmt.Errorf("homebook: bookings: %w", err)
	}
	type held struct {
		id, service string
		resources   []string
		start, end  time.Time
	}
	var hs []held
	for rows.Next() {
		var h held
		if err := rows.Scan(&h.id, &h.service, &h.resources, &h.start, &h.end); err != nil {
			rows.Close()
			return nil, fmt.Errorf("homebook: bookings: %w", err)
		}
		hs = append(hs, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("homebook: bookings: %w", err)
	}
	var busy []booking.Busy
	for _, h := range hs {
		to := h.end
		bs, known := cat.Service(h.service)
		if known {
			to = to.Add(bs.Buffer)
		}
		res := h.resources
		if len(res) == 0 && known {
			// The replica does not know its resources: place it as the
			// store would have, so it holds some.
			res, _ = cat.Place(bs, h.start, busy, "")
		}
		for _, r := range res {
			busy = append(busy, booking.Busy{Resource: r, From: h.start, To: to, Booking: h.id})
		}
	}
	free := cat.Slots(s, date, busy, now, "")
	out := &SlotsAnswer{Source: SourceReplica, Slots: make([]proto.Slot, 0, len(free))}
	for _, f := range free {
		out.Slots = append(out.Slots, proto.Slot{Start: f.Start.In(loc), End: f.End.In(loc)})
	}
	var asOf *time.Time
	var shopTS time.Time
	if err := b.o.Pool.QueryRow(ctx, `SELECT s.last_seen, i.ts FROM shop_info i LEFT JOIN stores s ON s.store = i.store
		WHERE i.store = $1`, store).Scan(&asOf, &shopTS); err != nil {
		return nil, fmt.Errorf("homebook: as of: %w", err)
	}
	out.AsOf = shopTS
	if asOf != nil && asOf.After(shopTS) {
		out.AsOf = *asOf
	}
	if st.Online {
		out.Note = "The store did not answer in time; these times are what it last told us. Your request will be confirmed by the store."
	} else {
		out.Note = "The store is offline; these times are what it last told us. Your request will be confirmed when it is back."
	}
	return out, nil
}
