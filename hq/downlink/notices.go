package downlink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/storeedge/storeedge/proto"
)

// NoticeRequest is a notice to send: to the listed Stores, or to every
// store with All (exactly one of the two).
type NoticeRequest struct {
	// ID makes the send idempotent (default: a new random id).
	ID      string     `json:"id,omitempty"`
	Kind    string     `json:"kind"` // proto.NoticePromotion or proto.NoticeNotice
	Title   string     `json:"title"`
	Body    string     `json:"body,omitempty"`
	Stores  []string   `json:"stores,omitempty"`
	All     bool       `json:"all,omitempty"`
	Expires *time.Time `json:"expires,omitempty"`
}

// Notice is a notice as HQ keeps it.
type Notice struct {
	ID      string     `json:"id"`
	Kind    string     `json:"kind"`
	Title   string     `json:"title"`
	Body    string     `json:"body"`
	Stores  []string   `json:"stores"` // empty: every store
	All     bool       `json:"all"`
	SentBy  string     `json:"sent_by"`
	SentAt  time.Time  `json:"sent_at"`
	Expires *time.Time `json:"expires,omitempty"`
	// Acked is how many stores have acknowledged it.
	Acked int `json:"acked"`
}

// Sent is the answer to a send: the stored record, whether it was new,
// and whether the publish after the commit succeeded. A send that was
// stored but not published is published again by the same request.
type Sent struct {
	Created      bool   `json:"created"`
	Published    bool   `json:"published"`
	PublishError string `json:"publish_error,omitempty"`
}

// NoticeSent answers SendNotice.
type NoticeSent struct {
	Notice Notice `json:"notice"`
	Sent
}

// Delivery is one store's acknowledgement of a notice.
type Delivery struct {
	Store   string    `json:"store"`
	AckedAt time.Time `json:"acked_at"`
}

// NoticeDetail is a notice with the stores that acknowledged it and the
// ones still waited for (for a notice to all: every store HQ knows).
type NoticeDetail struct {
	Notice     Notice     `json:"notice"`
	Deliveries []Delivery `json:"deliveries"`
	Pending    []string   `json:"pending"`
}

// Audit actions recorded in hq_audit.
const (
	ActionNoticeSend     = "notice.send"
	ActionConfigPush     = "config.push"
	ActionConfigApplied  = "config.applied"
	ActionConfigRefused  = "config.refused"
	ActionUplinkRejected = "uplink.rejected"
)

func newID(prefix string) (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("downlink: new id: %w", err)
	}
	return prefix + hex.EncodeToString(b), nil
}

// checkText refuses text that is empty (when required), longer than max
// characters, or not valid UTF-8 without control characters other than
// newlines and tabs.
func checkText(what, v string, max int, required bool) error {
	switch {
	case required && strings.TrimSpace(v) == "":
		return badRequest("%s is empty", what)
	case !utf8.ValidString(v):
		return badRequest("%s is not valid UTF-8", what)
	case utf8.RuneCountInString(v) > max:
		return badRequest("%s is %d characters, at most %d", what, utf8.RuneCountInString(v), max)
	}
	for _, r := range v {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f {
			return badRequest("%s has a control character", what)
		}
	}
	return nil
}

func (s *Service) checkNotice(r *NoticeRequest, now time.Time) error {
	l := s.o.Limits
	if r.ID != "" {
		if err := checkID("id", r.ID); err != nil {
			return err
		}
	}
	if r.Kind != proto.NoticePromotion && r.Kind != proto.NoticeNotice {
		return badRequest("kind %q: want %q or %q", r.Kind, proto.NoticePromotion, proto.NoticeNotice)
	}
	if err := checkText("title", r.Title, l.MaxTitle, true); err != nil {
		return err
	}
	if strings.ContainsAny(r.Title, "\n\t") {
		return badRequest("title is one line")
	}
	if err := checkText("body", r.Body, l.MaxBody, false); err != nil {
		return err
	}
	switch {
	case r.All && len(r.Stores) > 0:
		return badRequest(`give "stores" or "all": true, not both`)
	case !r.All && len(r.Stores) == 0:
		return badRequest(`give "stores" (a list of store ids) or "all": true`)
	case len(r.Stores) > l.MaxStores:
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge,
			Message: fmt.Sprintf("%d stores, at most %d in one notice (downlink.max_stores); send to all instead", len(r.Stores), l.MaxStores)}
	}
	for _, st := range r.Stores {
		if err := checkID("store", st); err != nil {
			return err
		}
	}
	slices.Sort(r.Stores)
	r.Stores = slices.Compact(r.Stores)
	if r.Expires != nil {
		e := r.Expires.UTC().Truncate(time.Microsecond)
		switch {
		case !e.After(now):
			return badRequest("expires %s is not in the future", e.Format(time.RFC3339))
		case e.Sub(now) > l.MaxTTL:
			return badRequest("expires %s is more than %s ahead (downlink.max_ttl)", e.Format(time.RFC3339), l.MaxTTL)
		}
		r.Expires = &e
	}
	return nil
}

// unknownStores answers the stores of list HQ has never heard of.
func unknownStores(ctx context.Context, tx pgx.Tx, list []string) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT store FROM stores WHERE store = ANY($1)`, list)
	if err != nil {
		return nil, fmt.Errorf("downlink: stores: %w", err)
	}
	known, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("downlink: stores: %w", err)
	}
	var out []string
	for _, st := range list {
		if !slices.Contains(known, st) {
			out = append(out, st)
		}
	}
	return out, nil
}

func audit(ctx context.Context, tx pgx.Tx, at time.Time, actor, action, target string, detail any) error {
	d, err := json.Marshal(detail)
	if err != nil {
		return fmt.Errorf("downlink: audit detail: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO hq_audit (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)`,
		at, actor, action, target, d); err != nil {
		return fmt.Errorf("downlink: audit: %w", err)
	}
	return nil
}

// SendNotice stores a notice and its audit row in one transaction and then
// publishes it: once on hq/broadcast/notice for all, else on each listed
// store's stores/{store}/down/notice. The same request again (same id and
// content) publishes again and changes nothing; a different one with a
// used id is a conflict.
func (s *Service) SendNotice(ctx context.Context, actor string, r NoticeRequest) (NoticeSent, error) {
	if actor == "" {
		return NoticeSent{}, &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: "no actor"}
	}
	now := s.o.Now().UTC().Truncate(time.Microsecond)
	if err := s.checkNotice(&r, now); err != nil {
		return NoticeSent{}, err
	}
	if r.ID == "" {
		var err error
		if r.ID, err = newID("n-"); err != nil {
			return NoticeSent{}, err
		}
	}
	var out NoticeSent
	err := pgx.BeginFunc(ctx, s.o.Pool, func(tx pgx.Tx) error {
		out = NoticeSent{}
		if len(r.Stores) > 0 {
			unknown, err := unknownStores(ctx, tx, r.Stores)
			if err != nil {
				return err
			}
			if len(unknown) > 0 {
				return &Error{Status: http.StatusBadRequest, Code: CodeUnknownStore,
					Message: "HQ has never heard from store(s) " + strings.Join(unknown, ", ")}
			}
		}
		target := r.Stores
		if target == nil {
			target = []string{}
		}
		tag, err := tx.Exec(ctx, `INSERT INTO notices (id, kind, title, body, target, sent_by, sent_at, expires)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
			r.ID, r.Kind, r.Title, r.Body, target, actor, now, r.Expires)
		if err != nil {
			return fmt.Errorf("downlink: notice %s: %w", r.ID, err)
		}
		if tag.RowsAffected() == 1 {
			out.Created = true
			out.Notice = Notice{ID: r.ID, Kind: r.Kind, Title: r.Title, Body: r.Body, Stores: target, All: r.All,
				SentBy: actor, SentAt: now, Expires: r.Expires}
			detail := map[string]any{"id": r.ID, "kind": r.Kind, "title": r.Title}
			to := "all"
			if !r.All {
				detail["stores"] = r.Stores
				to = strings.Join(r.Stores, ",")
				if len(to) > 200 {
					to = fmt.Sprintf("%d stores", len(r.Stores))
				}
			}
			return audit(ctx, tx, now, actor, ActionNoticeSend, to, detail)
		}
		old, err := getNotice(ctx, tx, r.ID)
		if err != nil {
			return err
		}
		if old.Kind != r.Kind || old.Title != r.Title || old.Body != r.Body || !slices.Equal(old.Stores, target) ||
			!sameTime(old.Expires, r.Expires) {
			return &Error{Status: http.StatusConflict, Code: CodeConflict,
				Message: fmt.Sprintf("notice %s was sent before with other content", r.ID)}
		}
		out.Notice = old
		return nil
	})
	if err != nil {
		return NoticeSent{}, wrap("send notice", err)
	}
	s.publishNotice(ctx, &out)
	return out, nil
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

// publishConcurrency is how many of a list's publishes are in flight at
// once (HQ's broker bounds it further with its Receive Maximum).
const publishConcurrency = 16

// publishNotice publishes a committed notice and says in out how it went.
func (s *Service) publishNotice(ctx context.Context, out *NoticeSent) {
	n := out.Notice
	wire := proto.Notice{V: 1, ID: n.ID, Kind: n.Kind, Title: n.Title, Body: n.Body, From: n.SentBy, SentAt: n.SentAt}
	if n.Expires != nil {
		wire.Expires = *n.Expires
	}
	p, err := json.Marshal(wire)
	if err != nil {
		out.PublishError = err.Error()
		return
	}
	var errs []error
	if len(n.Stores) == 0 {
		if err := s.o.Publisher.Publish(ctx, proto.TopicBroadcastNotice, p, n.ID); err != nil {
			errs = append(errs, err)
		}
	} else {
		// Several in flight at once: a list of 1 000 stores is one
		// round trip to HQ's broker per publishConcurrency stores.
		var mu sync.Mutex
		var wg sync.WaitGroup
		sem := make(chan struct{}, publishConcurrency)
		for _, st := range n.Stores {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				if err := s.o.Publisher.Publish(ctx, proto.CloudDownTopic(st, "notice"), p, n.ID); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("store %s: %w", st, err))
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	}
	if err := errors.Join(errs...); err != nil {
		out.PublishError = err.Error()
		s.o.Logger.Warn("downlink: notice stored but not published; the same request publishes it again", "notice", n.ID, "err", err)
		return
	}
	out.Published = true
}

const noticeCols = `n.id, n.kind, n.title, n.body, n.target, n.sent_by, n.sent_at, n.expires,
	(SELECT count(*) FROM notice_deliveries d WHERE d.notice = n.id)`

func scanNotice(row pgx.Row) (Notice, error) {
	var n Notice
	var acked int64
	if err := row.Scan(&n.ID, &n.Kind, &n.Title, &n.Body, &n.Stores, &n.SentBy, &n.SentAt, &n.Expires, &acked); err != nil {
		return Notice{}, err
	}
	n.Acked = int(acked)
	if n.Stores == nil {
		n.Stores = []string{}
	}
	n.All = len(n.Stores) == 0
	n.SentAt = n.SentAt.UTC()
	if n.Expires != nil {
		e := n.Expires.UTC()
		n.Expires = &e
	}
	return n, nil
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func getNotice(ctx context.Context, q querier, id string) (Notice, error) {
	n, err := scanNotice(q.QueryRow(ctx, `SELECT `+noticeCols+` FROM notices n WHERE n.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Notice{}, &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no notice " + id}
	}
	if err != nil {
		return Notice{}, fmt.Errorf("downlink: notice %s: %w", id, err)
	}
	return n, nil
}

// Notice answers a notice with its deliveries. Its count, deliveries and
// pending stores are read in one snapshot, so an acknowledgement
// committed meanwhile is in all three or in none.
func (s *Service) Notice(ctx context.Context, id string) (NoticeDetail, error) {
	var out NoticeDetail
	err := pgx.BeginTxFunc(ctx, s.o.Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		out, err = noticeDetail(ctx, tx, id)
		return err
	})
	if err != nil {
		return NoticeDetail{}, err
	}
	return out, nil
}

// noticeDetail reads a notice with its deliveries through q.
func noticeDetail(ctx context.Context, q querier, id string) (NoticeDetail, error) {
	n, err := getNotice(ctx, q, id)
	if err != nil {
		return NoticeDetail{}, err
	}
	out := NoticeDetail{Notice: n, Deliveries: []Delivery{}, Pending: []string{}}
	rows, err := q.Query(ctx, `SELECT store, acked_at FROM notice_deliveries WHERE notice = $1 ORDER BY store`, id)
	if err != nil {
		return NoticeDetail{}, fmt.Errorf("downlink: deliveries of %s: %w", id, err)
	}
	out.Deliveries, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Delivery, error) {
		var d Delivery
		err := r.Scan(&d.Store, &d.AckedAt)
		d.AckedAt = d.AckedAt.UTC()
		return d, err
	})
	if err != nil {
		return NoticeDetail{}, fmt.Errorf("downlink: deliveries of %s: %w", id, err)
	}
	if out.Deliveries == nil {
		out.Deliveries = []Delivery{}
	}
	sql := `SELECT t FROM unnest($2::text[]) t WHERE NOT EXISTS (SELECT 1 FROM notice_deliveries d WHERE d.notice = $1 AND d.store = t) ORDER BY t`
	args := []any{id, n.Stores}
	if n.All {
		sql = `SELECT store FROM stores s WHERE NOT EXISTS (SELECT 1 FROM notice_deliveries d WHERE d.notice = $1 AND d.store = s.store) ORDER BY store`
		args = args[:1]
	}
	rows, err = q.Query(ctx, sql, args...)
	if err != nil {
		return NoticeDetail{}, fmt.Errorf("downlink: pending of %s: %w", id, err)
	}
	pending, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return NoticeDetail{}, fmt.Errorf("downlink: pending of %s: %w", id, err)
	}
	if pending != nil {
		out.Pending = pending
	}
	return out, nil
}

// NoticePage is a page of notices, newest first; Next is the Before of the
// next page ("" at the end).
type NoticePage struct {
	Notices []Notice `json:"notices"`
	Next    string   `json:"next,omitempty"`
}

// Notices lists the notices sent before the notice before ("" for the
// newest), newest first, at most limit (0: Limits.PageSize).
func (s *Service) Notices(ctx context.Context, before string, limit int) (NoticePage, error) {
	if limit < 0 || limit > MaxPageSize {
		return NoticePage{}, badRequest("limit must be 1-%d", MaxPageSize)
	}
	if limit == 0 {
		limit = s.o.Limits.PageSize
	}
	q := `SELECT ` + noticeCols + ` FROM notices n ORDER BY n.sent_at DESC, n.id DESC LIMIT $1`
	args := []any{limit + 1}
	if before != "" {
		q = `SELECT ` + noticeCols + ` FROM notices n, notices b WHERE b.id = $2 AND (n.sent_at, n.id) < (b.sent_at, b.id)
			ORDER BY n.sent_at DESC, n.id DESC LIMIT $1`
		args = append(args, before)
	}
	rows, err := s.o.Pool.Query(ctx, q, args...)
	if err != nil {
		return NoticePage{}, fmt.Errorf("downlink: notices: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Notice, error) { return scanNotice(r) })
	if err != nil {
		return NoticePage{}, fmt.Errorf("downlink: notices: %w", err)
	}
	out := NoticePage{Notices: list}
	if out.Notices == nil {
		out.Notices = []Notice{}
	}
	if len(out.Notices) > limit {
		out.Notices = out.Notices[:limit]
		out.Next = out.Notices[limit-1].ID
	}
	return out, nil
}

// wrap keeps an *Error as it is and names the operation otherwise.
func wrap(op string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return fmt.Errorf("downlink: %s: %w", op, err)
}
