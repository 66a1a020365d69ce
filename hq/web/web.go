// Package web is HQ's web side: the fleet page (every store, online or
// not, its backlog and clock), a store's page, the sign-in with an API key,
// and the HTTP JSON API for HQ's other systems (PROTOCOL.md, "HQ's HTTP
// API"). Every page and every /api/ request is authenticated: an API key
// in "Authorization: Bearer", or the page's sign-in cookie made from one.
// The handler then sets X-HQ-Actor to the key's name for the handlers
// behind it (the downlink's notices and config pushes, mounted as Down).
package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	storeweb "github.com/storeedge/storeedge/broker/web"
	"github.com/storeedge/storeedge/hq/replica"
	"github.com/storeedge/storeedge/internal/httpjson"
)

// Defaults of Options.
const (
	DefaultSessionTTL           = 12 * time.Hour
	DefaultSignInFailuresPerMin = 10
	DefaultMaxSessions          = 10000
	// maxFailAddrs bounds the addresses the sign-in limiter remembers.
	maxFailAddrs = 10000
	// maxSignInBytes bounds a sign-in request's body.
	maxSignInBytes = 4 << 10
)

// Options configure New.
type Options struct {
	// Replica answers the queries and checks the API keys. Required.
	Replica *replica.Replica
	// Down serves /api/v1/notices… and /api/v1/stores/{id}/config… (the
	// downlink); nil answers 404 there.
	Down http.Handler
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Logger (nil: slog.Default()).
	Logger *slog.Logger
	// Config are the settings of hq.yaml's web section.
	Config
}

// Config is the web side's part of HQ's configuration (hq.yaml, "web:").
// Zero fields take their defaults.
type Config struct {
	// SessionTTL is how long a page's sign-in lasts (default 12h).
	SessionTTL time.Duration `yaml:"session_ttl"`
	// MaxSessions bounds the signed-in pages kept in memory; a sign-in
	// beyond it is refused with 503 (default 10 000).
	MaxSessions int `yaml:"max_sessions"`
	// SignInFailuresPerMin is how many wrong keys one address may try in
	// a minute, on the page or as Bearer keys, before it is refused with
	// 429 for the rest of that minute (default 10).
	SignInFailuresPerMin int `yaml:"sign_in_failures_per_minute"`
	// StaleAfter: an online store not heard of for that long shows as
	// stale (default 2m; a store sends its status every
	// uplink.status_every, 30 s by default).
	StaleAfter time.Duration `yaml:"stale_after"`
	// ClientIPHeader names the header that carries the client's address
	// when HQ runs behind a proxy (X-Real-IP, or X-Forwarded-For whose
	// last entry is taken); empty: the connection's address. The sign-in
	// limit counts per this address. Set it only behind a proxy that sets
	// the header: a client could otherwise choose its own address.
	ClientIPHeader string `yaml:"client_ip_header"`
	// SecureCookie marks the sign-in cookie Secure even when the request
	// came over plain HTTP (HQ behind a proxy that ends TLS). A request
	// over TLS always gets a Secure cookie.
	SecureCookie bool `yaml:"secure_cookie"`
}

// Bounds Validate holds a Config to.
const (
	MinSessionTTL       = time.Minute
	MaxSessionTTL       = 30 * 24 * time.Hour
	MaxMaxSessions      = 1_000_000
	MaxSignInFailures   = 1000
	MinStaleAfter       = 10 * time.Second
	maxClientIPHeaderLn = 64
)

// Validate checks the settings, naming each bad key (under "web.").
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("web.%s: "+format, append([]any{key}, a...)...))
	}
	if c.SessionTTL != 0 && (c.SessionTTL < MinSessionTTL || c.SessionTTL > MaxSessionTTL) {
		bad("session_ttl", "%v is outside %v..%v", c.SessionTTL, MinSessionTTL, MaxSessionTTL)
	}
	if c.MaxSessions < 0 || c.MaxSessions > MaxMaxSessions {
		bad("max_sessions", "%d is outside 1..%d", c.MaxSessions, MaxMaxSessions)
	}
	if c.SignInFailuresPerMin < 0 || c.SignInFailuresPerMin > MaxSignInFailures {
		bad("sign_in_failures_per_minute", "%d is outside 1..%d", c.SignInFailuresPerMin, MaxSignInFailures)
	}
	if c.StaleAfter != 0 && c.StaleAfter < MinStaleAfter {
		bad("stale_after", "%v is under %v", c.StaleAfter, MinStaleAfter)
	}
	if h := c.ClientIPHeader; h != "" && (len(h) > maxClientIPHeaderLn || !headerName.MatchString(h)) {
		bad("client_ip_header", "%q is not a header name", h)
	}
	return errors.Join(errs...)
}

var headerName = regexp.MustCompile(`^[A-Za-z0-9-]+$`)

type server struct {
	o        Options
	log      *slog.Logger
	now      func() time.Time
	sessions *sessions
	fails    *limiter
	static   fs.FS
	lib      fs.FS
	mux      *http.ServeMux
}

// New returns HQ's web handler.
func New(o Options) http.Handler {
	o.Config = o.Config.withDefaults()
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	h := &server{
		o:        o,
		log:      o.Logger,
		now:      o.Now,
		sessions: &sessions{m: map[string]session{}, max: o.MaxSessions},
		fails:    &limiter{perMin: o.SignInFailuresPerMin, maxAddrs: maxFailAddrs, fails: map[string][]time.Time{}},
		static:   staticFS(),
		lib:      storeweb.Assets(),
		mux:      http.NewServeMux(),
	}
	m := h.mux
	// Open to anyone: the sign-in page and what it loads (no data).
	m.HandleFunc("GET /signin", h.page("signin.html", false))
	m.HandleFunc("POST /auth/signin", h.signIn)
	m.HandleFunc("POST /auth/signout", h.signOut)
	for _, f := range publicAssets {
		m.HandleFunc("GET /"+f, h.asset(h.static, f))
	}
	m.HandleFunc("GET /lib/i18n.js", h.asset(h.lib, "lib/i18n.js"))

	// Signed in only.
	m.HandleFunc("GET /{$}", h.page("index.html", true))
	m.HandleFunc("GET /stores/{id}", h.page("store.html", true))
	m.HandleFunc("GET /fleet.js", h.authed(h.asset(h.static, "fleet.js")))
	m.HandleFunc("GET /store.js", h.authed(h.asset(h.static, "store.js")))
	m.HandleFunc("GET /api/v1/me", h.authed(h.me))
	m.HandleFunc("GET /api/v1/stores", h.authed(h.stores))
	m.HandleFunc("GET /api/v1/stores/{id}", h.authed(h.store))
	m.HandleFunc("GET /api/v1/stores/{id}/status", h.authed(h.status))
	m.HandleFunc("GET /api/v1/stores/{id}/bookings", h.authed(h.bookings))
	m.HandleFunc("GET /api/v1/stores/{id}/reports", h.authed(h.reports))
	m.HandleFunc("GET /api/v1/customers/{id}/conversations", h.authed(h.conversations))
	for _, p := range []string{"/api/v1/notices", "/api/v1/notices/", "/api/v1/stores/{id}/config", "/api/v1/stores/{id}/config/"} {
		m.HandleFunc(p, h.authed(h.down))
	}
	m.HandleFunc("/api/", h.authed(func(w http.ResponseWriter, r *http.Request) {
		httpjson.Error(w, http.StatusNotFound, "not_found", "no such API: "+r.Method+" "+r.URL.Path)
	}))
	return h
}

// withDefaults fills the zero (or negative) fields with their defaults.
func (c Config) withDefaults() Config {
	if c.SessionTTL <= 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	if c.SignInFailuresPerMin <= 0 {
		c.SignInFailuresPerMin = DefaultSignInFailuresPerMin
	}
	if c.StaleAfter <= 0 {
		c.StaleAfter = replica.DefaultStaleAfter
	}
	return c
}

// publicAssets are the static files the sign-in page loads.
var publicAssets = []string{"app.css", "app.js", "signin.js"}

func (h *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Nobody outside sets the actor: only authentication does.
	r.Header.Del(ActorHeader)
	h.mux.ServeHTTP(w, r)
}

// authed runs next for an authenticated request, with X-HQ-Actor set, and
// answers 401/429/503 otherwise.
func (h *server) authed(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a, status, code, msg := h.authenticate(r)
		if status != 0 {
			if status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="storeedge-hq"`)
			}
			if status == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", "60")
			}
			w.Header().Set("Cache-Control", "no-store")
			httpjson.Error(w, status, code, msg)
			return
		}
		r.Header.Set(ActorHeader, a.name)
		w.Header().Set("Cache-Control", "no-store")
		next(w, r.WithContext(withActor(r.Context(), a)))
	}
}

// page serves an HTML page; a signed-in one sends a visitor who is not to
// the sign-in page, and back afterwards.
func (h *server) page(name string, signedIn bool) http.HandlerFunc {
	serve := h.asset(h.static, name)
	return func(w http.ResponseWriter, r *http.Request) {
		if signedIn {
			if _, status, _, _ := h.authenticate(r); status != 0 {
				next := (&url.URL{Path: r.URL.Path, RawQuery: r.URL.RawQuery}).String()
				w.Header().Set("Location", "/signin?next="+url.QueryEscape(next))
				w.Header().Set("Cache-Control", "no-store")
				w.WriteHeader(http.StatusSeeOther)
				return
			}
		}
		serve(w, r)
	}
}

type signInRequest struct {
	Key string `json:"key"`
}

// signIn turns an API key into the page's session cookie.
func (h *server) signIn(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if !sameOrigin(r) {
		httpjson.Error(w, http.StatusForbidden, "forbidden", "a sign-in from another site")
		return
	}
	now := h.now()
	addr := h.clientAddr(r)
	if h.fails.blocked(now, addr) {
		w.Header().Set("Retry-After", "60")
		httpjson.Error(w, http.StatusTooManyRequests, "quota_exceeded", "too many failed sign-ins from this address; try again in a minute")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSignInBytes))
	if err != nil {
		httpjson.Error(w, http.StatusRequestEntityTooLarge, "too_large", "the sign-in request is too large")
		return
	}
	var req signInRequest
	if err := json.Unmarshal(body, &req); err != nil || strings.TrimSpace(req.Key) == "" {
		httpjson.Error(w, http.StatusBadRequest, "bad_request", `want {"key":"<API key>"}`)
		return
	}
	key := strings.TrimSpace(req.Key)
	name, err := h.o.Replica.CheckKey(r.Context(), key)
	if err != nil {
		if isBadKey(err) {
			h.fails.fail(now, addr)
			h.log.Warn("hq web: refused sign-in", "addr", addr)
			httpjson.Error(w, http.StatusUnauthorized, "forbidden", "unknown or revoked API key")
			return
		}
		h.log.Error("hq web: sign-in", "err", err)
		httpjson.Error(w, http.StatusServiceUnavailable, "unavailable", "cannot check the key now; retry")
		return
	}
	expires := now.Add(h.o.SessionTTL)
	id, err := h.sessions.add(now, session{keyID: replica.KeyID(key), name: name, expires: expires})
	if err != nil {
		h.log.Error("hq web: sign-in", "err", err)
		httpjson.Error(w, http.StatusServiceUnavailable, "unavailable", "too many signed-in pages; try again later")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil || h.o.SecureCookie, Expires: expires, MaxAge: int(h.o.SessionTTL / time.Second),
	})
	h.log.Info("hq web: signed in", "actor", name, "addr", addr)
	httpjson.Write(w, http.StatusOK, map[string]any{"name": name, "expires": expires})
}

// signOut ends the page's session.
func (h *server) signOut(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if !sameOrigin(r) {
		httpjson.Error(w, http.StatusForbidden, "forbidden", "a sign-out from another site")
		return
	}
	if c, err := r.Cookie(CookieName); err == nil {
		h.sessions.drop(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil || h.o.SecureCookie, MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
}

func isBadKey(err error) bool { return errors.Is(err, replica.ErrBadKey) }

func (h *server) me(w http.ResponseWriter, r *http.Request) {
	httpjson.Write(w, http.StatusOK, map[string]string{"name": actorOf(r.Context()).name})
}

// fail answers a replica error: its kind decides the status.
func (h *server) fail(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, replica.ErrNoStore):
		httpjson.Error(w, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, replica.ErrInvalid):
		httpjson.Error(w, http.StatusBadRequest, "bad_request", err.Error())
	default:
		h.log.Error("hq web: query", "err", err)
		httpjson.Error(w, http.StatusServiceUnavailable, "unavailable", "the replica cannot answer now; retry")
	}
}

// view is how the queries measure: HQ's clock and the configured windows.
func (h *server) view() replica.View {
	return replica.View{Now: h.now(), StaleAfter: h.o.StaleAfter}
}

func badRequest(w http.ResponseWriter, msg string) {
	httpjson.Error(w, http.StatusBadRequest, "bad_request", msg)
}

// stores: GET /api/v1/stores?offline_hours=&backlog_over=&q=&after=&limit=
func (h *server) stores(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := replica.Filter{Query: q.Get("q"), After: q.Get("after"), State: q.Get("state"), View: h.view()}
	if v := q.Get("offline_hours"); v != "" {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || n < 0 || n > 24*366 {
			badRequest(w, "offline_hours is a number of hours, 0 to 8784")
			return
		}
		f.OfflineFor = time.Duration(n * float64(time.Hour))
	}
	if v := q.Get("backlog_over"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			badRequest(w, "backlog_over is a whole number, 0 or more")
			return
		}
		f.BacklogOver = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			badRequest(w, "limit is a whole number")
			return
		}
		f.Limit = n
	}
	list, err := h.o.Replica.Stores(r.Context(), f)
	if err != nil {
		h.fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, list)
}

func (h *server) store(w http.ResponseWriter, r *http.Request) {
	d, err := h.o.Replica.Store(r.Context(), r.PathValue("id"), h.view())
	if err != nil {
		h.fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, d)
}

func (h *server) status(w http.ResponseWriter, r *http.Request) {
	s, err := h.o.Replica.Status(r.Context(), r.PathValue("id"), h.view())
	if err != nil {
		h.fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, s)
}

// bookings: GET /api/v1/stores/{id}/bookings?day=YYYY-MM-DD (default: today
// in the store's time zone).
func (h *server) bookings(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	day := r.URL.Query().Get("day")
	if day == "" {
		s, err := h.o.Replica.Status(r.Context(), id, h.view())
		if err != nil {
			h.fail(w, err)
			return
		}
		loc, err := time.LoadLocation(s.TimeZone)
		if err != nil {
			loc = time.UTC
		}
		day = h.now().In(loc).Format(time.DateOnly)
	}
	b, err := h.o.Replica.Bookings(r.Context(), id, day)
	if err != nil {
		h.fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, b)
}

// reports: GET /api/v1/stores/{id}/reports?from=YYYY-MM-DD&to=YYYY-MM-DD
// (both in the store's time zone; default: the last 7 days up to today).
func (h *server) reports(w http.ResponseWriter, r *http.Request) {
	id, q := r.PathValue("id"), r.URL.Query()
	from, to := q.Get("from"), q.Get("to")
	if from == "" || to == "" {
		s, err := h.o.Replica.Status(r.Context(), id, h.view())
		if err != nil {
			h.fail(w, err)
			return
		}
		loc, err := time.LoadLocation(s.TimeZone)
		if err != nil {
			loc = time.UTC
		}
		today := h.now().In(loc)
		if to == "" {
			to = today.Format(time.DateOnly)
		}
		if from == "" {
			from = today.AddDate(0, 0, -6).Format(time.DateOnly)
		}
	}
	rep, err := h.o.Replica.Reports(r.Context(), id, from, to)
	if err != nil {
		h.fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, rep)
}

// conversations: GET /api/v1/customers/{id}/conversations?limit=
func (h *server) conversations(w http.ResponseWriter, r *http.Request) {
	limit := 0
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			badRequest(w, "limit is a whole number")
			return
		}
		limit = n
	}
	c, err := h.o.Replica.CustomerConversations(r.Context(), r.PathValue("id"), limit)
	if err != nil {
		h.fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, c)
}

// down hands notices and config pushes to the downlink.
func (h *server) down(w http.ResponseWriter, r *http.Request) {
	if h.o.Down == nil {
		httpjson.Error(w, http.StatusNotFound, "not_found", "notices and config pushes are not served here")
		return
	}
	h.o.Down.ServeHTTP(w, r)
}
