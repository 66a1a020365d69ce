package homebook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/storeedge/storeedge/broker/services/booking"
	"github.com/storeedge/storeedge/hq/home"
	"github.com/storeedge/storeedge/internal/httpjson"
	"github.com/storeedge/storeedge/proto"
)

// Options configure New.
type Options struct {
	// Pool is the replica's database. Required.
	Pool *pgxpool.Pool
	// Publisher sends down to the stores. Required.
	Publisher home.Publisher
	// State tells whether a store is online. Required.
	State home.StateFunc
	// Config is home_booking (zero fields: the defaults).
	Config Config
	// Logger receives what goes wrong in the background (nil: discarded).
	Logger *slog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Listener, when set, is the process's listener for live answers,
	// shared with the other parts (run by its owner); nil: Start runs one.
	Listener *Listener
}

// Book serves the bookings part of the page at home (home.Routes).
type Book struct {
	o   Options
	cfg Config
	log *slog.Logger
	l   *Listener
	own bool // Start runs l

	runMu  sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// New checks the options; Start runs the listener for live answers.
func New(o Options) (*Book, error) {
	switch {
	case o.Pool == nil:
		return nil, errors.New("homebook: Options.Pool is required")
	case o.Publisher == nil:
		return nil, errors.New("homebook: Options.Publisher is required")
	case o.State == nil:
		return nil, errors.New("homebook: Options.State is required")
	}
	if err := o.Config.Validate(); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	b := &Book{o: o, cfg: o.Config.WithDefaults(), log: o.Logger, l: o.Listener}
	if b.l == nil {
		b.l, b.own = NewListener(o.Pool, o.Logger), true
	}
	return b, nil
}

// Start listens for the stores' live answers until Stop (or ctx ends),
// unless the listener is shared (Options.Listener).
func (b *Book) Start(ctx context.Context) {
	b.runMu.Lock()
	defer b.runMu.Unlock()
	if b.cancel != nil || !b.own {
		return
	}
	ctx, b.cancel = context.WithCancel(ctx)
	b.done = make(chan struct{})
	go func() {
		defer close(b.done)
		b.l.Run(ctx, answerKeep)
	}()
}

// Stop ends the listener.
func (b *Book) Stop(ctx context.Context) error {
	b.runMu.Lock()
	cancel, done := b.cancel, b.done
	b.cancel = nil
	b.runMu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("homebook: stop: %w", ctx.Err())
	}
}

// answerKeep is how long an answer nobody read is kept.
const answerKeep = time.Hour

// Mount implements home.Routes.
func (b *Book) Mount(mux *http.ServeMux, auth func(home.HandlerFunc) http.HandlerFunc) {
	const p = "/home/api/v1"
	mux.HandleFunc("GET "+p+"/shop", auth(b.shop))
	mux.HandleFunc("GET "+p+"/slots", auth(b.slots))
	mux.HandleFunc("GET "+p+"/bookings", auth(b.bookings))
	mux.HandleFunc("POST "+p+"/bookings", auth(b.book))
	mux.HandleFunc("POST "+p+"/bookings/{booking}/move", auth(b.move))
	mux.HandleFunc("POST "+p+"/bookings/{booking}/cancel", auth(b.cancelBooking))
}

// apiError is an answer other than 2xx.
type apiError struct {
	status        int
	code, message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func fail(status int, code, format string, a ...any) error {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, a...)}
}

// answerErr writes err: an *apiError as it is, anything else as 503.
func (b *Book) answerErr(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		httpjson.Error(w, ae.status, ae.code, ae.message)
		return
	}
	b.log.Error("homebook: request failed", "path", r.URL.Path, "err", err)
	httpjson.Error(w, http.StatusServiceUnavailable, "unavailable", "Bookings are not available just now; please try again in a moment")
}

// statusOf is the HTTP status of a store's error code.
func statusOf(code string) int {
	switch code {
	case "bad_request":
		return http.StatusBadRequest
	case "forbidden":
		return http.StatusForbidden
	case "not_found":
		return http.StatusNotFound
	case "conflict":
		return http.StatusConflict
	case "too_large":
		return http.StatusRequestEntityTooLarge
	case "quota_exceeded":
		return http.StatusTooManyRequests
	}
	return http.StatusServiceUnavailable
}

// maxBody bounds a request's JSON.
const maxBody = 16 << 10

func decodeBody(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return fail(http.StatusBadRequest, "bad_request", "The request could not be read")
	}
	if len(b) > maxBody {
		return fail(http.StatusRequestEntityTooLarge, "too_large", "The request is larger than %d bytes", maxBody)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fail(http.StatusBadRequest, "bad_request", "The request is not the JSON expected: %v", err)
	}
	return nil
}

// idPattern is a request id the stores take.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

func newID(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// shopOf reads a store's shop info from the replica (nil when HQ has
// none yet) and the catalogue built from it.
func (b *Book) shopOf(ctx context.Context, store string) (*proto.ShopInfo, *booking.Catalog, error) {
	var raw []byte
	err := b.o.Pool.QueryRow(ctx, `SELECT info FROM shop_info WHERE store = $1`, store).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("homebook: shop info: %w", err)
	}
	var si proto.ShopInfo
	if err := json.Unmarshal(raw, &si); err != nil {
		return nil, nil, fmt.Errorf("homebook: shop info of %s: %w", store, err)
	}
	cat, err := booking.CatalogOfShopInfo(si)
	if err != nil {
		return &si, nil, err
	}
	return &si, cat, nil
}

// ServiceJSON is one service of /shop.
type ServiceJSON struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	Names    proto.Text `json:"names"`
	Minutes  int        `json:"minutes"`
	Price    int64      `json:"price"`
	Currency string     `json:"currency"`
}

func nameOf(t proto.Text) string {
	if t.EN != "" {
		return t.EN
	}
	return t.ZH
}

func (b *Book) shop(w http.ResponseWriter, r *http.Request, c home.Customer) {
	ctx := r.Context()
	st, err := b.o.State(ctx, c.Store)
	if err != nil {
		b.answerErr(w, r, err)
		return
	}
	si, _, err := b.shopOf(ctx, c.Store)
	if err != nil && si == nil {
		b.answerErr(w, r, err)
		return
	}
	out := struct {
		Store    home.StoreState `json:"store"`
		Services []ServiceJSON   `json:"services"`
		Zone     string          `json:"zone"`
	}{Store: st, Services: []ServiceJSON{}, Zone: st.Zone}
	if si != nil {
		if out.Zone == "" {
			out.Zone = zoneOf(si)
		}
		for _, s := range si.Catalog.Services {
			out.Services = append(out.Services, ServiceJSON{ID: s.ID, Name: nameOf(s.Name), Names: s.Name,
				Minutes: s.Minutes, Price: s.Price, Currency: s.Currency})
		}
	}
	httpjson.Write(w, http.StatusOK, out)
}

// zoneOf is the store's time zone as its shop info gives it.
func zoneOf(si *proto.ShopInfo) string {
	if si.TimeZone != "" {
		return si.TimeZone
	}
	return si.Catalog.TimeZone
}
