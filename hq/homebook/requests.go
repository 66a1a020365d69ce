package homebook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/storeedge/storeedge/hq/home"
	"github.com/storeedge/storeedge/internal/httpjson"
	"github.com/storeedge/storeedge/proto"
)

// Kinds of a request from home (home_requests.kind).
const (
	KindBook   = "book"
	KindMove   = "move"
	KindCancel = "cancel"
)

// States of a request from home.
const (
	StateWaiting   = "waiting"   // the store has not decided (or not received it)
	StateConfirmed = "confirmed" // the store did it
	StateRejected  = "rejected"  // the store refused, with its reason (and alternatives)
)

// Request is a request from home as /bookings and the POSTs show it.
type Request struct {
	ID           string       `json:"id"`
	Kind         string       `json:"kind"`
	Service      string       `json:"service,omitempty"`
	Start        string       `json:"start,omitempty"`
	Booking      string       `json:"booking,omitempty"`
	State        string       `json:"state"`
	Code         string       `json:"code,omitempty"`
	Message      string       `json:"message,omitempty"`
	Alternatives []proto.Slot `json:"alternatives"`
	Sent         time.Time    `json:"sent"`
	Decided      *time.Time   `json:"decided,omitempty"`
	// Unsent: HQ keeps it but its broker has not taken it for the store
	// yet; sending the same id again sends it.
	Unsent bool `json:"unsent,omitempty"`
}

// BookingJSON is one of her bookings.
type BookingJSON struct {
	ID          string     `json:"id"`
	Service     string     `json:"service"`
	ServiceName string     `json:"service_name"`
	Start       *time.Time `json:"start"`
	End         *time.Time `json:"end"`
	Status      string     `json:"status"`
	Stage       string     `json:"stage"`
}

// requestBody is home_requests.body: what went down to the store.
type requestBody struct {
	Service string `json:"service,omitempty"`
	Start   string `json:"start,omitempty"`
	Booking string `json:"booking,omitempty"`
}

func (b *Book) bookings(w http.ResponseWriter, r *http.Request, c home.Customer) {
	ctx := r.Context()
	si, _, err := b.shopOf(ctx, c.Store)
	if err != nil && si == nil {
		b.answerErr(w, r, err)
		return
	}
	names := map[string]string{}
	loc := time.UTC
	if si != nil {
		for _, s := range si.Catalog.Services {
			names[s.ID] = nameOf(s.Name)
		}
		if l, err := time.LoadLocation(zoneOf(si)); err == nil {
			loc = l
		}
	}
	out := struct {
		Bookings []BookingJSON `json:"bookings"`
		Requests []Request     `json:"requests"`
	}{Bookings: []BookingJSON{}, Requests: []Request{}}
	rows, err := b.o.Pool.Query(ctx, `SELECT booking, service, start_at, end_at, status, stage FROM bookings
		WHERE store = $1 AND customer = $2 ORDER BY start_at DESC NULLS LAST, booking LIMIT $3`, c.Store, c.Customer, b.cfg.ListSize)
	if err != nil {
		b.answerErr(w, r, fmt.Errorf("homebook: bookings: %w", err))
		return
	}
	for rows.Next() {
		var v BookingJSON
		if err := rows.Scan(&v.ID, &v.Service, &v.Start, &v.End, &v.Status, &v.Stage); err != nil {
			rows.Close()
			b.answerErr(w, r, fmt.Errorf("homebook: bookings: %w", err))
			return
		}
		v.ServiceName = names[v.Service]
		for _, t := range []*time.Time{v.Start, v.End} {
			if t != nil {
				*t = t.In(loc)
			}
		}
		out.Bookings = append(out.Bookings, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		b.answerErr(w, r, fmt.Errorf("homebook: bookings: %w", err))
		return
	}
	reqs, err := b.requests(ctx, c, "")
	if err != nil {
		b.answerErr(w, r, err)
		return
	}
	out.Requests = reqs
	httpjson.Write(w, http.StatusOK, out)
}

// requests lists her requests, the latest first, with the store's
// decisions (only id when id is set).
func (b *Book) requests(ctx context.Context, c home.Customer, id string) ([]Request, error) {
	rows, err := b.o.Pool.Query(ctx, `SELECT r.id, r.kind, r.booking, r.body, r.sent_at, r.published_at IS NULL, o.ok, o.outcome, o.ts
		FROM home_requests r LEFT JOIN hq_outcomes o ON o.store = r.store AND o.request = r.id AND o.customer = $2
		WHERE r.home_customer = $1 AND ($3 = '' OR r.id = $3) ORDER BY r.sent_at DESC, r.id LIMIT $4`,
		c.ID, c.Customer, id, b.cfg.ListSize)
	if err != nil {
		return nil, fmt.Errorf("homebook: requests: %w", err)
	}
	defer rows.Close()
	out := []Request{}
	for rows.Next() {
		var q Request
		var body, outcome []byte
		var ok *bool
		var decided *time.Time
		if err := rows.Scan(&q.ID, &q.Kind, &q.Booking, &body, &q.Sent, &q.Unsent, &ok, &outcome, &decided); err != nil {
			return nil, fmt.Errorf("homebook: requests: %w", err)
		}
		var rb requestBody
		_ = json.Unmarshal(body, &rb)
		q.Service, q.Start = rb.Service, rb.Start
		q.State, q.Alternatives = StateWaiting, []proto.Slot{}
		if ok != nil {
			q.Unsent = false // the store has it
			var o proto.HQBookingOutcome
			_ = json.Unmarshal(outcome, &o)
			q.State, q.Decided = StateRejected, decided
			if *ok {
				q.State = StateConfirmed
			}
			q.Code, q.Message = o.Code, o.Message
			if o.Alternatives != nil {
				q.Alternatives = o.Alternatives
			}
			if o.Booking != nil && q.Booking == "" {
				q.Booking = o.Booking.ID
			}
		}
		out = append(out, q)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("homebook: requests: %w", err)
	}
	return out, nil
}

// send files her request (idempotent by id, within her limits) and sends
// it down to the store; a request filed before is sent again while the
// store has not decided it (the store answers each id once).
func (b *Book) send(ctx context.Context, c home.Customer, id, kind, bookingID string, body requestBody, msg any, topic string) (*Request, error) {
	p, err := json.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("homebook: encode request: %w", err)
	}
	kept, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("homebook: encode request: %w", err)
	}
	err = pgx.BeginFunc(ctx, b.o.Pool, func(tx pgx.Tx) error {
		// One customer's requests one at a time: the hourly limit holds.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('home_requests:' || $1))`, c.ID); err != nil {
			return err
		}
		var owner, oldKind string
		err := tx.QueryRow(ctx, `SELECT home_customer, kind FROM home_requests WHERE id = $1`, id).Scan(&owner, &oldKind)
		switch {
		case err == nil && (owner != c.ID || oldKind != kind):
			return fail(http.StatusConflict, "conflict", "This request id was used for another request; make a new one")
		case err == nil:
			return nil // sent before: send again below
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM home_requests WHERE home_customer = $1 AND sent_at > $2`,
			c.ID, b.o.Now().Add(-time.Hour)).Scan(&n); err != nil {
			return err
		}
		if n >= b.cfg.RequestsPerHour {
			return fail(http.StatusTooManyRequests, "quota_exceeded", "You have sent %d booking requests in the last hour; please wait a while or call the store", n)
		}
		_, err = tx.Exec(ctx, `INSERT INTO home_requests (id, home_customer, store, kind, booking, body, sent_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, id, c.ID, c.Store, kind, bookingID, json.RawMessage(kept), b.o.Now())
		return err
	})
	var ae *apiError
	if errors.As(err, &ae) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("homebook: file request: %w", err)
	}
	reqs, err := b.requests(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if len(reqs) != 1 {
		return nil, fmt.Errorf("homebook: request %s not found after filing it", id)
	}
	if reqs[0].State == StateWaiting {
		if err := b.o.Publisher.Publish(ctx, home.DownTopic(c.Store, topic), p, id); err != nil {
			b.log.Warn("homebook: a request from home is kept but not sent to the store", "store", c.Store, "request", id, "err", err)
			return nil, fail(http.StatusServiceUnavailable, "unavailable",
				"Your request is kept but could not be sent to the store just now; try again in a moment")
		}
		if _, err := b.o.Pool.Exec(ctx, `UPDATE home_requests SET published_at = $2 WHERE id = $1 AND published_at IS NULL`, id, b.o.Now()); err != nil {
			return nil, fmt.Errorf("homebook: mark request sent: %w", err)
		}
		reqs[0].Unsent = false
	}
	return &reqs[0], nil
}

func (b *Book) answerRequest(w http.ResponseWriter, r *http.Request, q *Request, err error) {
	if err != nil {
		b.answerErr(w, r, err)
		return
	}
	httpjson.Write(w, http.StatusAccepted, map[string]any{"request": q})
}

// checkRequestID refuses an id the stores would not take.
func checkRequestID(id string) error {
	if !idPattern.MatchString(id) {
		return fail(http.StatusBadRequest, "bad_request", "\"id\" must be 1-64 letters, digits, '-', '_' or '.' (a new one per request)")
	}
	return nil
}

func checkStart(s string) error {
	if _, err := time.Parse(time.RFC3339, s); err != nil {
		return fail(http.StatusBadRequest, "bad_request", "\"start\" must be a time like 2026-11-24T15:00:00+08:00")
	}
	return nil
}

func (b *Book) checkText(field, s string) error {
	if len(s) > b.cfg.MaxNotesBytes {
		return fail(http.StatusRequestEntityTooLarge, "too_large", "%q is %d bytes; at most %d", field, len(s), b.cfg.MaxNotesBytes)
	}
	return nil
}

func (b *Book) book(w http.ResponseWriter, r *http.Request, c home.Customer) {
	var in struct {
		ID      string `json:"id"`
		Service string `json:"service"`
		Start   string `json:"start"`
		Notes   string `json:"notes"`
	}
	q, err := func() (*Request, error) {
		if err := decodeBody(r, &in); err != nil {
			return nil, err
		}
		if err := checkRequestID(in.ID); err != nil {
			return nil, err
		}
		if err := checkStart(in.Start); err != nil {
			return nil, err
		}
		if err := b.checkText("notes", in.Notes); err != nil {
			return nil, err
		}
		if !idPattern.MatchString(in.Service) {
			return nil, fail(http.StatusBadRequest, "bad_request", "Choose a service (\"service\" is missing)")
		}
		_, cat, err := b.shopOf(r.Context(), c.Store)
		if err == nil && cat != nil {
			if _, ok := cat.Service(in.Service); !ok {
				return nil, fail(http.StatusNotFound, "not_found", "The store has no service %q", in.Service)
			}
		}
		msg := proto.HQBookingRequest{V: 1, ID: in.ID, Customer: c.Customer, Service: in.Service, Start: in.Start, Notes: in.Notes}
		return b.send(r.Context(), c, in.ID, KindBook, "", requestBody{Service: in.Service, Start: in.Start}, msg, proto.HQBookingRequestTopic)
	}()
	b.answerRequest(w, r, q, err)
}

// hers finds her booking in the replica (404 when it is not hers or not
// known: never say it exists).
func (b *Book) hers(ctx context.Context, c home.Customer, id string) (service string, err error) {
	if !idPattern.MatchString(id) {
		return "", fail(http.StatusNotFound, "not_found", "No such booking")
	}
	err = b.o.Pool.QueryRow(ctx, `SELECT service FROM bookings WHERE store = $1 AND booking = $2 AND customer = $3`,
		c.Store, id, c.Customer).Scan(&service)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fail(http.StatusNotFound, "not_found", "No such booking")
	}
	if err != nil {
		return "", fmt.Errorf("homebook: booking: %w", err)
	}
	return service, nil
}

func (b *Book) move(w http.ResponseWriter, r *http.Request, c home.Customer) {
	var in struct {
		ID    string `json:"id"`
		Start string `json:"start"`
	}
	bk := r.PathValue("booking")
	q, err := func() (*Request, error) {
		service, err := b.hers(r.Context(), c, bk)
		if err != nil {
			return nil, err
		}
		if err := decodeBody(r, &in); err != nil {
			return nil, err
		}
		if err := checkRequestID(in.ID); err != nil {
			return nil, err
		}
		if err := checkStart(in.Start); err != nil {
			return nil, err
		}
		msg := proto.HQBookingMove{V: 1, ID: in.ID, Customer: c.Customer, Booking: bk, Start: in.Start}
		return b.send(r.Context(), c, in.ID, KindMove, bk, requestBody{Service: service, Start: in.Start, Booking: bk}, msg, proto.HQBookingMoveTopic)
	}()
	b.answerRequest(w, r, q, err)
}

func (b *Book) cancelBooking(w http.ResponseWriter, r *http.Request, c home.Customer) {
	var in struct {
		ID     string `json:"id"`
		Reason string `json:"reason"`
	}
	bk := r.PathValue("booking")
	q, err := func() (*Request, error) {
		service, err := b.hers(r.Context(), c, bk)
		if err != nil {
			return nil, err
		}
		if err := decodeBody(r, &in); err != nil {
			return nil, err
		}
		if err := checkRequestID(in.ID); err != nil {
			return nil, err
		}
		if err := b.checkText("reason", in.Reason); err != nil {
			return nil, err
		}
		msg := proto.HQBookingCancel{V: 1, ID: in.ID, Customer: c.Customer, Booking: bk, Reason: in.Reason}
		return b.send(r.Context(), c, in.ID, KindCancel, bk, requestBody{Service: service, Booking: bk}, msg, proto.HQBookingCancelTopic)
	}()
	b.answerRequest(w, r, q, err)
}
