package webpush

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/storeedge/storeedge/hq/home"
	"github.com/storeedge/storeedge/internal/httpjson"
	"github.com/storeedge/storeedge/internal/seal"
)

// Options are what New needs besides the settings.
type Options struct {
	// Pool is the replica's database (hq/replica's Pool).
	Pool *pgxpool.Pool
	// Keys open the sealed message bodies (hq.yaml's seal keys).
	Keys *seal.Keyring
	// Client posts to the push services (nil: a client bounded by
	// push.send_timeout).
	Client *http.Client
	// Registerer takes the metrics (nil: none).
	Registerer prometheus.Registerer
	// Logger (nil: none).
	Logger *slog.Logger
	// LoginTTL: a login unused for longer is over and its subscription
	// gets nothing (home.login_ttl; 0: logins end only when revoked).
	LoginTTL time.Duration
}

// Server keeps the subscriptions (its Routes) and sends the
// notifications (Start).
type Server struct {
	cfg    Config
	o      Options
	log    *slog.Logger
	vapid  *vapid
	client *http.Client
	m      *metrics
	fails  burst // pushes not sent
	lost   burst // the listening connection lost

	mu        sync.Mutex
	cancel    context.CancelFunc
	done      chan struct{}
	listening bool
}

// New reads (or makes) the VAPID key and returns the server; Start runs
// its sender.
func New(cfg Config, o Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.Pool == nil || o.Keys == nil {
		return nil, errors.New("webpush: Options.Pool and Options.Keys are required")
	}
	cfg = cfg.withDefaults()
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	v, created, err := loadVAPID(cfg.VAPIDKeyFile, cfg.Subject)
	if err != nil {
		return nil, err
	}
	if created {
		log.Warn("made a new VAPID key for notifications at home; keep it: a new key ends every phone's subscription", "file", cfg.VAPIDKeyFile)
	}
	client := o.Client
	if client == nil {
		client = &http.Client{Timeout: cfg.SendTimeout,
			// A push service answers itself; a redirect is not followed.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	return &Server{cfg: cfg, o: o, log: log, vapid: v, client: client, m: m}, nil
}

// PublicKey is HQ's VAPID public key: base64url of the uncompressed P-256
// point, the page's applicationServerKey.
func (s *Server) PublicKey() string { return s.vapid.public }

// Limits on what a page sends.
const (
	maxRequestBytes  = 8 << 10
	maxEndpointBytes = 2048
)

// Mount adds GET /push/key, POST /push and DELETE /push under
// /home/api/v1/ (home.Routes).
func (s *Server) Mount(mux *http.ServeMux, auth func(home.HandlerFunc) http.HandlerFunc) {
	mux.HandleFunc("GET /home/api/v1/push/key", auth(func(w http.ResponseWriter, _ *http.Request, _ home.Customer) {
		httpjson.Write(w, http.StatusOK, map[string]string{"public_key": s.vapid.public})
	}))
	mux.HandleFunc("POST /home/api/v1/push", auth(s.subscribe))
	mux.HandleFunc("DELETE /home/api/v1/push", auth(s.unsubscribe))
}

var _ home.Routes = (*Server)(nil)

// subscription is what the page posts: PushSubscription.toJSON() without
// expirationTime.
type subscription struct {
	Endpoint string `json:"endpoint"`
	Keys     struct {
		P256dh string `json:"p256dh"`
		Auth   string `json:"auth"`
	} `json:"keys"`
}

// check returns the message for the customer when sub is not one HQ can
// send to.
func (s *Server) check(sub subscription) string {
	if sub.Endpoint == "" || len(sub.Endpoint) > maxEndpointBytes {
		return "The browser gave no push address HQ can use."
	}
	u, err := url.Parse(sub.Endpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return "The browser's push address is not a secure web address."
	}
	if !s.cfg.hostAllowed(u.Host) {
		return "This browser's push service (" + u.Hostname() + ") is not one HQ sends notifications to."
	}
	if p, err := decodeB64(sub.Keys.P256dh); err != nil || len(p) != 65 || !validPoint(p) {
		return "The browser's notification key (p256dh) is not a P-256 public key."
	}
	if a, err := decodeB64(sub.Keys.Auth); err != nil || len(a) != 16 {
		return "The browser's notification secret (auth) is not 16 bytes."
	}
	return ""
}

func (s *Server) subscribe(w http.ResponseWriter, r *http.Request, c home.Customer) {
	var sub subscription
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err := dec.Decode(&sub); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			httpjson.Error(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("A subscription is at most %d bytes.", maxRequestBytes))
			return
		}
		httpjson.Error(w, http.StatusBadRequest, "bad_request", "The subscription is not JSON: "+err.Error())
		return
	}
	if msg := s.check(sub); msg != "" {
		httpjson.Error(w, http.StatusBadRequest, "bad_request", msg)
		return
	}
	_, err := s.o.Pool.Exec(r.Context(), `INSERT INTO home_push_subscriptions (login, endpoint, p256dh, auth)
		VALUES ($1, $2, $3, $4) ON CONFLICT (login) DO UPDATE SET endpoint = excluded.endpoint, p256dh = excluded.p256dh,
		auth = excluded.auth, created_at = now(), failures = 0`, c.Login, sub.Endpoint, sub.Keys.P256dh, sub.Keys.Auth)
	if err != nil {
		s.log.Error("webpush: keep a subscription", "login", c.Login, "err", err)
		httpjson.Error(w, http.StatusServiceUnavailable, "unavailable", "HQ cannot keep the subscription now; try again in a moment.")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) unsubscribe(w http.ResponseWriter, r *http.Request, c home.Customer) {
	if _, err := s.o.Pool.Exec(r.Context(), `DELETE FROM home_push_subscriptions WHERE login = $1`, c.Login); err != nil {
		s.log.Error("webpush: end a subscription", "login", c.Login, "err", err)
		httpjson.Error(w, http.StatusServiceUnavailable, "unavailable", "HQ cannot end the subscription now; try again in a moment.")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
