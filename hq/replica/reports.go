package replica

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/storeedge/storeedge/internal/chatreport"
	"github.com/storeedge/storeedge/proto"
)

// MaxReportDays bounds the date range of one Reports query.
const MaxReportDays = 366

// Reports is the answer of Reports: a store's chat figures for a date
// range, by day and by staff member (proto.ChatReportRow, as the store's
// svc/chat/report adds them up), and the range's total.
type Reports struct {
	Store    string                `json:"store"`
	From     string                `json:"from"`
	To       string                `json:"to"`
	TimeZone string                `json:"time_zone"`
	ByDay    []proto.ChatReportRow `json:"by_day"`
	ByStaff  []proto.ChatReportRow `json:"by_staff"`
	Total    proto.ChatReportRow   `json:"total"`
}

// Reports adds up a store's closings whose close falls from day from to
// day to (YYYY-MM-DD in the store's time zone, both included), with their
// ratings.
func (r *Replica) Reports(ctx context.Context, store, from, to string) (Reports, error) {
	var tz string
	err := r.pool.QueryRow(ctx, `SELECT COALESCE(NULLIF(si.info->>'time_zone', ''), s.time_zone)
		FROM stores s LEFT JOIN shop_info si ON si.store = s.store WHERE s.store = $1`, store).Scan(&tz)
	if errors.Is(err, pgx.ErrNoRows) {
		return Reports{}, fmt.Errorf("%w: %q", ErrNoStore, store)
	}
	if err != nil {
		return Reports{}, fmt.Errorf("replica: reports of %q: %w", store, err)
	}
	loc := storeLocation(tz)
	f, err1 := time.ParseInLocation(time.DateOnly, from, loc)
	t, err2 := time.ParseInLocation(time.DateOnly, to, loc)
	switch {
	case err1 != nil || err2 != nil:
		return Reports{}, fmt.Errorf("%w: from and to are days as YYYY-MM-DD", ErrInvalid)
	case t.Before(f):
		return Reports{}, fmt.Errorf("%w: to is before from", ErrInvalid)
	case t.Sub(f) >= MaxReportDays*24*time.Hour:
		return Reports{}, fmt.Errorf("%w: at most %d days in one report", ErrInvalid, MaxReportDays)
	}
	rows, err := r.pool.Query(ctx, `SELECT c.staff, c.opened_at, c.first_response_at, c.closed_at, COALESCE(r.stars, 0)
		FROM chat_closings c LEFT JOIN chat_ratings r USING (store, conversation, closing)
		WHERE c.store = $1 AND c.closed_at >= $2 AND c.closed_at < $3`, store, f, t.AddDate(0, 0, 1))
	if err != nil {
		return Reports{}, fmt.Errorf("replica: reports of %q: %w", store, err)
	}
	cs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (chatreport.Closing, error) {
		var c chatreport.Closing
		err := row.Scan(&c.Staff, &c.Opened, &c.FirstResponse, &c.Closed, &c.Stars)
		return c, err
	})
	if err != nil {
		return Reports{}, fmt.Errorf("replica: reports of %q: %w", store, err)
	}
	out := Reports{Store: store, From: from, To: to, TimeZone: loc.String()}
	out.ByDay, out.Total = chatreport.Rows(cs, func(c chatreport.Closing) string { return c.Day(loc) })
	out.ByStaff, _ = chatreport.Rows(cs, func(c chatreport.Closing) string { return c.Staff })
	return out, nil
}
