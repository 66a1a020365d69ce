package replica

// The read side for the fleet page and HQ's HTTP API: which stores are
// online, their backlog and clock, one store's devices, bookings of a day
// and open conversations, a customer's conversations. Nothing here writes.
// Every list is bounded by a limit with a maximum, and says when it was cut
// (More).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Bounds of the read queries. A caller's limit above the maximum is
// refused (ErrInvalid), not silently lowered; 0 means the default.
const (
	DefaultStoresLimit         = 200
	MaxStoresLimit             = 2000
	MaxStoreDevices            = 500  // devices on a store's page
	MaxDayBookings             = 1000 // bookings of one store and day
	MaxOpenConversations       = 200  // open conversations on a store's page
	DefaultCustomerConvLimit   = 20
	MaxCustomerConvLimit       = 100
	MaxMessagesPerConversation = 200 // the newest ones
	MaxQueryLen                = 100 // Filter.Query
)

// DefaultOpenWithin is how recent a conversation's last message must be
// for it to count as open, unless the caller says otherwise.
const DefaultOpenWithin = 24 * time.Hour

// DefaultStaleAfter is how long an online store may stay silent before its
// row says so (a store sends its status every uplink.status_every, 30 s by
// default, and its Last Will takes it offline when its connection drops).
const DefaultStaleAfter = 2 * time.Minute

// View is how the read queries measure: the time, and the windows that
// make a conversation open and an online store stale.
type View struct {
	// Now is the time the ages are measured at (zero: time.Now()).
	Now time.Time
	// OpenWithin: a conversation is open when its last message is that
	// recent (0: DefaultOpenWithin).
	OpenWithin time.Duration
	// StaleAfter: an online store not heard of for that long is stale
	// (0: DefaultStaleAfter).
	StaleAfter time.Duration
}

func (v *View) fill() error {
	if v.OpenWithin < 0 || v.StaleAfter < 0 {
		return fmt.Errorf("%w: negative window", ErrInvalid)
	}
	if v.OpenWithin == 0 {
		v.OpenWithin = DefaultOpenWithin
	}
	if v.StaleAfter == 0 {
		v.StaleAfter = DefaultStaleAfter
	}
	if v.Now.IsZero() {
		v.Now = time.Now()
	}
	return nil
}

// Store states for Filter.State.
const (
	StateOnline  = "online"
	StateOffline = "offline"
)

// ErrNoStore is the answer about a store HQ has never heard of.
var ErrNoStore = errors.New("replica: no such store")

// ErrInvalid wraps a read query's refused argument (a limit above its
// maximum, a malformed day).
var ErrInvalid = errors.New("replica: invalid argument")

// Filter selects stores for Stores.
type Filter struct {
	// OfflineFor, when positive, keeps the stores offline for at least
	// this long (last heard of that long ago, or never).
	OfflineFor time.Duration
	// BacklogOver, when positive, keeps the stores whose backlog (outbox
	// entries not yet at HQ) is above it.
	BacklogOver int64
	// Query, when set, keeps the stores whose id or name contains it
	// (case-insensitive), at most MaxQueryLen characters.
	Query string
	// State, when set, keeps the online (StateOnline) or the offline
	// (StateOffline) stores.
	State string
	// After pages: the stores whose id sorts after it.
	After string
	// Limit: at most this many (0: DefaultStoresLimit; max MaxStoresLimit).
	Limit int
	View
}

// StoreRow is one store as the fleet page shows it.
type StoreRow struct {
	Store   string `json:"store"`
	Name    string `json:"name"`
	Epoch   string `json:"epoch"`
	Version string `json:"version"`
	Online  bool   `json:"online"`
	// StatusAt is the store's own time of its last status; LastSeen is
	// HQ's time of receiving it.
	StatusAt *time.Time `json:"status_at"`
	LastSeen *time.Time `json:"last_seen"`
	// OfflineForS is how long it has been offline, in seconds (0 online).
	OfflineForS int64 `json:"offline_for_s"`
	// Stale: online, but not heard of for View.StaleAfter (its status
	// stopped coming without a Last Will).
	Stale        bool  `json:"stale"`
	Backlog      int64 `json:"backlog"`
	BacklogBytes int64 `json:"backlog_bytes"`
	// OldestAt is the store-clock time of its oldest unsent entry;
	// BacklogAgeS its age in seconds on HQ's clock (the skew corrected),
	// 0 with no backlog.
	OldestAt    *time.Time `json:"oldest_at"`
	BacklogAgeS int64      `json:"backlog_age_s"`
	// ClockSkewMS is HQ's receive time minus the store's timestamp of
	// its last status: positive when the store's clock is behind.
	ClockSkewMS int64 `json:"clock_skew_ms"`
	// ClockSynced: the store says its clock is set from a time source;
	// false while it is not (its times may be far off); null when the
	// store does not say.
	ClockSynced       *bool     `json:"clock_synced"`
	LastError         string    `json:"last_error"`
	Errors            int64     `json:"errors"`
	TimeZone          string    `json:"time_zone"`
	FirstSeen         time.Time `json:"first_seen"`
	OpenConversations int       `json:"open_conversations"`
}

// StoreCounts count the stores a filter keeps: how many, online (of
// which stale), offline, and with a backlog.
type StoreCounts struct {
	Stores     int64 `json:"stores"`
	Online     int64 `json:"online"`
	Stale      int64 `json:"stale"`
	Offline    int64 `json:"offline"`
	Backlogged int64 `json:"backlogged"`
}

// StoreList is a page of Stores.
type StoreList struct {
	Stores []StoreRow `json:"stores"`
	// More: there are more stores after the last one (ask with After).
	More bool `json:"more"`
	// Next is the After of the next page ("" when no More).
	Next string `json:"next,omitempty"`
	// Counts are over every store the filter keeps (all pages).
	Counts StoreCounts `json:"counts"`
	// AsOf is the time the ages were measured at (HQ's clock).
	AsOf time.Time `json:"as_of"`
}

func (f *Filter) check() error {
	if f.Limit < 0 || f.Limit > MaxStoresLimit {
		return fmt.Errorf("%w: limit %d is outside 0..%d", ErrInvalid, f.Limit, MaxStoresLimit)
	}
	if f.Limit == 0 {
		f.Limit = DefaultStoresLimit
	}
	if len([]rune(f.Query)) > MaxQueryLen {
		return fmt.Errorf("%w: query longer than %d characters", ErrInvalid, MaxQueryLen)
	}
	if f.OfflineFor < 0 || f.BacklogOver < 0 {
		return fmt.Errorf("%w: negative filter", ErrInvalid)
	}
	if f.State != "" && f.State != StateOnline && f.State != StateOffline {
		return fmt.Errorf("%w: state is %q or %q", ErrInvalid, StateOnline, StateOffline)
	}
	return f.View.fill()
}

// storeColumns are the columns scanStore reads, from stores s, with the
// open conversations since $1.
const storeColumns = `s.store, s.name, s.epoch, s.version, s.online, s.status_at, s.last_seen,
  s.backlog, s.backlog_bytes, s.oldest_at, s.clock_skew_ms, s.clock_synced, s.last_error, s.errors,
  COALESCE(NULLIF(si.info->>'time_zone', ''), s.time_zone), s.first_seen,
  (SELECT count(*) FROM conversations c WHERE c.store = s.store AND c.last_at >= $1)`

const storeFrom = ` FROM stores s LEFT JOIN shop_info si ON si.store = s.store`

func scanStore(row pgx.Row, v View) (StoreRow, error) {
	now := v.Now
	var s StoreRow
	if err := row.Scan(&s.Store, &s.Name, &s.Epoch, &s.Version, &s.Online, &s.StatusAt, &s.LastSeen,
		&s.Backlog, &s.BacklogBytes, &s.OldestAt, &s.ClockSkewMS, &s.ClockSynced, &s.LastError, &s.Errors,
		&s.TimeZone, &s.FirstSeen, &s.OpenConversations); err != nil {
		return s, err
	}
	if !s.Online {
		since := s.FirstSeen
		if s.LastSeen != nil {
			since = *s.LastSeen
		}
		s.OfflineForS = max(0, int64(now.Sub(since)/time.Second))
	} else if s.LastSeen == nil || now.Sub(*s.LastSeen) >= v.StaleAfter {
		s.Stale = true
	}
	if s.Backlog > 0 && s.OldestAt != nil {
		// The store's clock to HQ's: add the skew HQ saw.
		oldest := s.OldestAt.Add(time.Duration(s.ClockSkewMS) * time.Millisecond)
		s.BacklogAgeS = max(0, int64(now.Sub(oldest)/time.Second))
	}
	return s, nil
}

// Stores lists the stores that pass the filter, by id.
func (r *Replica) Stores(ctx context.Context, f Filter) (StoreList, error) {
	if err := f.check(); err != nil {
		return StoreList{}, err
	}
	out := StoreList{Stores: []StoreRow{}, AsOf: f.Now}

	// The counts: every store the filter keeps, on every page.
	q := newQuery()
	stale := q.arg(f.Now.Add(-f.StaleAfter))
	err := r.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE s.online),
		count(*) FILTER (WHERE s.online AND (s.last_seen IS NULL OR s.last_seen <= `+stale+`)),
		count(*) FILTER (WHERE s.backlog > 0) FROM stores s`+q.where(f, false), q.args...).
		Scan(&out.Counts.Stores, &out.Counts.Online, &out.Counts.Stale, &out.Counts.Backlogged)
	if err != nil {
		return StoreList{}, fmt.Errorf("replica: stores: %w", err)
	}
	out.Counts.Offline = out.Counts.Stores - out.Counts.Online

	q = newQuery()
	q.arg(f.Now.Add(-f.OpenWithin)) // $1 of storeColumns
	sql := "SELECT " + storeColumns + storeFrom + q.where(f, true) + " ORDER BY s.store LIMIT " + q.arg(f.Limit+1)
	rows, err := r.pool.Query(ctx, sql, q.args...)
	if err != nil {
		return StoreList{}, fmt.Errorf("replica: stores: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		s, err := scanStore(rows, f.View)
		if err != nil {
			return StoreList{}, fmt.Errorf("replica: stores: %w", err)
		}
		out.Stores = append(out.Stores, s)
	}
	if err := rows.Err(); err != nil {
		return StoreList{}, fmt.Errorf("replica: stores: %w", err)
	}
	if len(out.Stores) > f.Limit {
		out.Stores = out.Stores[:f.Limit]
		out.More = true
		out.Next = out.Stores[f.Limit-1].Store
	}
	return out, nil
}

// query collects a statement's arguments.
type query struct{ args []any }

func newQuery() *query { return &query{} }

// arg adds an argument and returns its placeholder.
func (q *query) arg(v any) string {
	q.args = append(q.args, v)
	return fmt.Sprintf("$%d", len(q.args))
}

// where is the filter's WHERE clause over stores s ("" for none), with
// its paging condition when paged.
func (q *query) where(f Filter, paged bool) string {
	var w []string
	if f.OfflineFor > 0 {
		w = append(w, "NOT s.online AND COALESCE(s.last_seen, s.first_seen) <= "+q.arg(f.Now.Add(-f.OfflineFor)))
	}
	switch f.State {
	case StateOnline:
		w = append(w, "s.online")
	case StateOffline:
		w = append(w, "NOT s.online")
	}
	if f.BacklogOver > 0 {
		w = append(w, "s.backlog > "+q.arg(f.BacklogOver))
	}
	if text := strings.TrimSpace(f.Query); text != "" {
		p := q.arg("%" + likeEscape(strings.ToLower(text)) + "%")
		w = append(w, "(lower(s.store) LIKE "+p+" OR lower(s.name) LIKE "+p+")")
	}
	if paged && f.After != "" {
		w = append(w, "s.store > "+q.arg(f.After))
	}
	if len(w) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w, " AND ")
}

// likeEscape quotes LIKE's wildcards (the default escape is \).
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// Status is one store's row (its presence and link state).
func (r *Replica) Status(ctx context.Context, store string, v View) (StoreRow, error) {
	if err := v.fill(); err != nil {
		return StoreRow{}, err
	}
	row := r.pool.QueryRow(ctx, "SELECT "+storeColumns+storeFrom+" WHERE s.store = $2",
		v.Now.Add(-v.OpenWithin), store)
	s, err := scanStore(row, v)
	if errors.Is(err, pgx.ErrNoRows) {
		return StoreRow{}, fmt.Errorf("%w: %q", ErrNoStore, store)
	}
	if err != nil {
		return StoreRow{}, fmt.Errorf("replica: status of %q: %w", store, err)
	}
	return s, nil
}

// DeviceRow is one of a store's devices.
type DeviceRow struct {
	Device   string          `json:"device"`
	Online   bool            `json:"online"`
	LastSeen *time.Time      `json:"last_seen"`
	Status   json.RawMessage `json:"status"`
}

// BookingRow is one booking as the replica holds it.
type BookingRow struct {
	Booking   string     `json:"booking"`
	Customer  string     `json:"customer"`
	Service   string     `json:"service"`
	Start     *time.Time `json:"start"`
	End       *time.Time `json:"end"`
	Status    string     `json:"status"`
	Stage     string     `json:"stage"`
	Resources []string   `json:"resources"`
	Source    string     `json:"source"`
	Rev       int        `json:"rev"`
	HQRequest string     `json:"hq_request,omitempty"`
	UpdatedAt *time.Time `json:"updated_at"`
}

// ConversationRow is an open conversation on a store's page.
type ConversationRow struct {
	Conversation string     `json:"conversation"`
	Customer     string     `json:"customer"`
	OpenedAt     *time.Time `json:"opened_at"`
	LastAt       *time.Time `json:"last_at"`
	LastSeq      int64      `json:"last_seq"`
	// WaitingSince is the customer's first message not yet answered by a
	// person (nil when the last word is the store's).
	WaitingSince *time.Time `json:"waiting_since"`
}

// FirstResponse is the median time from a conversation's first customer
// message to the store's first reply, over the conversations whose first
// customer message was in the period and that have a reply.
type FirstResponse struct {
	// WeekS and TodayS are medians in seconds (nil with no conversation).
	WeekS  *float64 `json:"week_s"`
	WeekN  int      `json:"week_n"`
	TodayS *float64 `json:"today_s"`
	TodayN int      `json:"today_n"`
	// Unanswered counts this week's conversations without a reply yet.
	Unanswered int `json:"unanswered"`
}

// StoreDetail is a store's page.
type StoreDetail struct {
	StoreRow
	Devices           []DeviceRow       `json:"devices"`
	DevicesMore       bool              `json:"devices_more"`
	Day               string            `json:"day"` // today in the store's time zone, YYYY-MM-DD
	Bookings          []BookingRow      `json:"bookings"`
	BookingsMore      bool              `json:"bookings_more"`
	Conversations     []ConversationRow `json:"conversations"`
	ConversationsMore bool              `json:"conversations_more"`
	FirstResponse     FirstResponse     `json:"first_response"`
	// AsOf is the time the page was made at (HQ's clock).
	AsOf time.Time `json:"as_of"`
}

// Store is a store's page as of v.Now: its row, devices, today's bookings
// (the day in its time zone), open conversations and first-response times.
func (r *Replica) Store(ctx context.Context, store string, v View) (StoreDetail, error) {
	if err := v.fill(); err != nil {
		return StoreDetail{}, err
	}
	now := v.Now
	row, err := r.Status(ctx, store, v)
	if err != nil {
		return StoreDetail{}, err
	}
	d := StoreDetail{StoreRow: row, AsOf: now}
	loc := storeLocation(row.TimeZone)
	d.Day = now.In(loc).Format(time.DateOnly)

	if d.Devices, d.DevicesMore, err = r.devices(ctx, store); err != nil {
		return StoreDetail{}, err
	}
	day, err := r.Bookings(ctx, store, d.Day)
	if err != nil {
		return StoreDetail{}, err
	}
	d.Bookings, d.BookingsMore = day.Bookings, day.More
	if d.Conversations, d.ConversationsMore, err = r.openConversations(ctx, store, now.Add(-v.OpenWithin)); err != nil {
		return StoreDetail{}, err
	}
	y, m, dd := now.In(loc).Date()
	today := time.Date(y, m, dd, 0, 0, 0, 0, loc)
	if d.FirstResponse, err = r.firstResponse(ctx, store, now.Add(-7*24*time.Hour), today); err != nil {
		return StoreDetail{}, err
	}
	return d, nil
}

// storeLocation is the store's time zone, UTC when unknown.
func storeLocation(tz string) *time.Location {
	if tz == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return time.UTC
	}
	return loc
}

func (r *Replica) devices(ctx context.Context, store string) ([]DeviceRow, bool, error) {
	rows, err := r.pool.Query(ctx, `SELECT device, online, last_seen, status FROM devices
		WHERE store = $1 ORDER BY device LIMIT $2`, store, MaxStoreDevices+1)
	if err != nil {
		return nil, false, fmt.Errorf("replica: devices of %q: %w", store, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (DeviceRow, error) {
		var d DeviceRow
		var status []byte
		err := row.Scan(&d.Device, &d.Online, &d.LastSeen, &status)
		if status != nil {
			d.Status = status
		}
		return d, err
	})
	if err != nil {
		return nil, false, fmt.Errorf("replica: devices of %q: %w", store, err)
	}
	more := len(out) > MaxStoreDevices
	if more {
		out = out[:MaxStoreDevices]
	}
	return out, more, nil
}

// BookingDay is the answer of Bookings.
type BookingDay struct {
	Store    string       `json:"store"`
	Day      string       `json:"day"`
	TimeZone string       `json:"time_zone"`
	Bookings []BookingRow `json:"bookings"`
	// More: the day has more than MaxDayBookings bookings; the first
	// ones by start are here.
	More bool `json:"more"`
}

// Bookings lists a store's bookings that start on day (YYYY-MM-DD, in the
// store's time zone), by start.
func (r *Replica) Bookings(ctx context.Context, store, day string) (BookingDay, error) {
	var tz string
	err := r.pool.QueryRow(ctx, `SELECT COALESCE(NULLIF(si.info->>'time_zone', ''), s.time_zone)
		FROM stores s LEFT JOIN shop_info si ON si.store = s.store WHERE s.store = $1`, store).Scan(&tz)
	if errors.Is(err, pgx.ErrNoRows) {
		return BookingDay{}, fmt.Errorf("%w: %q", ErrNoStore, store)
	}
	if err != nil {
		return BookingDay{}, fmt.Errorf("replica: bookings of %q: %w", store, err)
	}
	loc := storeLocation(tz)
	d, err := time.ParseInLocation(time.DateOnly, day, loc)
	if err != nil {
		return BookingDay{}, fmt.Errorf("%w: day %q is not YYYY-MM-DD", ErrInvalid, day)
	}
	from, to := d, d.AddDate(0, 0, 1)
	rows, err := r.pool.Query(ctx, `SELECT booking, customer, service, start_at, end_at, status, stage,
		resources, source, rev, hq_request, updated_at FROM bookings
		WHERE store = $1 AND start_at >= $2 AND start_at < $3 ORDER BY start_at, booking LIMIT $4`,
		store, from, to, MaxDayBookings+1)
	if err != nil {
		return BookingDay{}, fmt.Errorf("replica: bookings of %q: %w", store, err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (BookingRow, error) {
		var b BookingRow
		err := row.Scan(&b.Booking, &b.Customer, &b.Service, &b.Start, &b.End, &b.Status, &b.Stage,
			&b.Resources, &b.Source, &b.Rev, &b.HQRequest, &b.UpdatedAt)
		if b.Resources == nil {
			b.Resources = []string{}
		}
		return b, err
	})
	if err != nil {
		return BookingDay{}, fmt.Errorf("replica: bookings of %q: %w", store, err)
	}
	out := BookingDay{Store: store, Day: day, TimeZone: loc.String(), Bookings: list}
	if len(list) > MaxDayBookings {
		out.Bookings, out.More = list[:MaxDayBookings], true
	}
	return out, nil
}

// openConversations are those with a message since since, the newest
// first, with how long the customer has waited for a person.
func (r *Replica) openConversations(ctx context.Context, store string, since time.Time) ([]ConversationRow, bool, error) {
	rows, err := r.pool.Query(ctx, `SELECT c.conversation, c.customer, c.opened_at, c.last_at, c.last_seq,
		(SELECT min(m.ts) FROM messages m WHERE m.store = c.store AND m.conversation = c.conversation
		   AND m.sender = c.customer AND m.seq > COALESCE((SELECT max(s.seq) FROM messages s
		     WHERE s.store = c.store AND s.conversation = c.conversation AND s.sender <> c.customer AND NOT s.auto), 0))
		FROM conversations c WHERE c.store = $1 AND c.last_at >= $2
		ORDER BY c.last_at DESC, c.conversation LIMIT $3`, store, since, MaxOpenConversations+1)
	if err != nil {
		return nil, false, fmt.Errorf("replica: conversations of %q: %w", store, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ConversationRow, error) {
		var c ConversationRow
		err := row.Scan(&c.Conversation, &c.Customer, &c.OpenedAt, &c.LastAt, &c.LastSeq, &c.WaitingSince)
		return c, err
	})
	if err != nil {
		return nil, false, fmt.Errorf("replica: conversations of %q: %w", store, err)
	}
	more := len(out) > MaxOpenConversations
	if more {
		out = out[:MaxOpenConversations]
	}
	return out, more, nil
}

func (r *Replica) firstResponse(ctx context.Context, store string, week, today time.Time) (FirstResponse, error) {
	var f FirstResponse
	err := r.pool.QueryRow(ctx, `SELECT
		percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM first_reply_at - first_customer_at))
		  FILTER (WHERE first_customer_at >= $2 AND first_reply_at IS NOT NULL),
		count(*) FILTER (WHERE first_customer_at >= $2 AND first_reply_at IS NOT NULL),
		percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM first_reply_at - first_customer_at))
		  FILTER (WHERE first_customer_at >= $3 AND first_reply_at IS NOT NULL),
		count(*) FILTER (WHERE first_customer_at >= $3 AND first_reply_at IS NOT NULL),
		count(*) FILTER (WHERE first_customer_at >= $2 AND first_reply_at IS NULL)
		FROM conversations WHERE store = $1 AND first_customer_at >= least($2, $3)`,
		store, week, today).Scan(&f.WeekS, &f.WeekN, &f.TodayS, &f.TodayN, &f.Unanswered)
	if err != nil {
		return f, fmt.Errorf("replica: first response of %q: %w", store, err)
	}
	return f, nil
}

// Message is one message of a conversation, its body opened.
type Message struct {
	Seq      int64      `json:"seq"`
	ID       string     `json:"id"`
	Sender   string     `json:"sender"`
	Kind     string     `json:"kind"`
	TS       *time.Time `json:"ts"`
	Auto     bool       `json:"auto"`
	Recalled bool       `json:"recalled"`
	// Body is {"text":…,"card":…,"media":…}; null for a recalled message.
	Body json.RawMessage `json:"body"`
}

// CustomerConversation is one of a customer's conversations, in any store.
type CustomerConversation struct {
	Store        string     `json:"store"`
	Conversation string     `json:"conversation"`
	OpenedAt     *time.Time `json:"opened_at"`
	LastAt       *time.Time `json:"last_at"`
	LastSeq      int64      `json:"last_seq"`
	// Messages are the newest MaxMessagesPerConversation, oldest first;
	// MessagesMore says older ones were left out.
	Messages     []Message `json:"messages"`
	MessagesMore bool      `json:"messages_more"`
}

// CustomerConversations is the answer of CustomerConversations.
type CustomerConversations struct {
	Customer      string                 `json:"customer"`
	Conversations []CustomerConversation `json:"conversations"`
	More          bool                   `json:"more"`
}

// CustomerConversations lists a customer's conversations in every store,
// the most recent first (at most limit: 0 is DefaultCustomerConvLimit, max
// MaxCustomerConvLimit), each with its newest messages, bodies opened.
func (r *Replica) CustomerConversations(ctx context.Context, customer string, limit int) (CustomerConversations, error) {
	if limit < 0 || limit > MaxCustomerConvLimit {
		return CustomerConversations{}, fmt.Errorf("%w: limit %d is outside 0..%d", ErrInvalid, limit, MaxCustomerConvLimit)
	}
	if limit == 0 {
		limit = DefaultCustomerConvLimit
	}
	if customer == "" {
		return CustomerConversations{}, fmt.Errorf("%w: no customer", ErrInvalid)
	}
	rows, err := r.pool.Query(ctx, `SELECT store, conversation, opened_at, last_at, last_seq FROM conversations
		WHERE customer = $1 ORDER BY last_at DESC NULLS LAST, store, conversation LIMIT $2`, customer, limit+1)
	if err != nil {
		return CustomerConversations{}, fmt.Errorf("replica: conversations of %q: %w", customer, err)
	}
	convs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (CustomerConversation, error) {
		var c CustomerConversation
		err := row.Scan(&c.Store, &c.Conversation, &c.OpenedAt, &c.LastAt, &c.LastSeq)
		return c, err
	})
	if err != nil {
		return CustomerConversations{}, fmt.Errorf("replica: conversations of %q: %w", customer, err)
	}
	out := CustomerConversations{Customer: customer, Conversations: convs}
	if len(convs) > limit {
		out.Conversations, out.More = convs[:limit], true
	}
	for i := range out.Conversations {
		c := &out.Conversations[i]
		if c.Messages, c.MessagesMore, err = r.messages(ctx, c.Store, c.Conversation); err != nil {
			return CustomerConversations{}, err
		}
	}
	return out, nil
}

// messages are a conversation's newest messages, oldest first.
func (r *Replica) messages(ctx context.Context, store, conv string) ([]Message, bool, error) {
	rows, err := r.pool.Query(ctx, `SELECT seq, id, sender, kind, ts, auto, recalled, body FROM messages
		WHERE store = $1 AND conversation = $2 ORDER BY seq DESC LIMIT $3`, store, conv, MaxMessagesPerConversation+1)
	if err != nil {
		return nil, false, fmt.Errorf("replica: messages of %s/%s: %w", store, conv, err)
	}
	type sealed struct {
		m    Message
		body []byte
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (sealed, error) {
		var s sealed
		err := row.Scan(&s.m.Seq, &s.m.ID, &s.m.Sender, &s.m.Kind, &s.m.TS, &s.m.Auto, &s.m.Recalled, &s.body)
		return s, err
	})
	if err != nil {
		return nil, false, fmt.Errorf("replica: messages of %s/%s: %w", store, conv, err)
	}
	more := len(list) > MaxMessagesPerConversation
	if more {
		list = list[:MaxMessagesPerConversation]
	}
	out := make([]Message, len(list))
	for i, s := range list {
		m := s.m
		if !m.Recalled {
			if m.Body, err = r.openBody(s.body); err != nil {
				return nil, false, fmt.Errorf("replica: message %s/%s/%d: %w", store, conv, m.Seq, err)
			}
		}
		out[len(list)-1-i] = m
	}
	return out, more, nil
}
