package home

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/storeedge/storeedge/internal/httpjson"
	"github.com/storeedge/storeedge/internal/seal"
)

// Options make a Server.
type Options struct {
	// Pool is the replica's database (hq/replica's pool). Required.
	Pool *pgxpool.Pool
	// Keys seal what customers send from home at rest, as the replica
	// seals message bodies. Required.
	Keys *seal.Keyring
	// Publisher sends to the stores on HQ's broker. Required.
	Publisher Publisher
	Config    Config
	// Parts are the other parts of the page (bookings, live view,
	// notifications), mounted under /home/api/v1/.
	Parts      []Routes
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Server is the page at home and its API.
type Server struct {
	o       Options
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	handler http.Handler

	loginFails *limiter // per address
	sends      *limiter // per customer

	waitMu  sync.Mutex
	waiters map[string]map[chan struct{}]struct{} // store\x00conversation →
	polls   map[string]int                        // long-polls waiting per customer (hc id)

	sendLocks [64]sync.Mutex // publishPending, by customer

	listening atomic.Bool
	stopped   chan struct{} // closed when Run returns: waits end at once
	stopOnce  sync.Once

	faqMu    sync.Mutex
	faqCache map[string]*shopFAQ

	sent *prometheus.CounterVec
}

// New makes the Server; Run listens for the replica's notifications.
func New(o Options) (*Server, error) {
	if o.Pool == nil || o.Keys == nil || o.Publisher == nil {
		return nil, errors.New("home: Options.Pool, Keys and Publisher are required")
	}
	if err := o.Config.Validate(); err != nil {
		return nil, err
	}
	s := &Server{o: o, cfg: o.Config.WithDefaults(), log: o.Logger, now: o.Now,
		waiters: map[string]map[chan struct{}]struct{}{}, faqCache: map[string]*shopFAQ{}, stopped: make(chan struct{}),
		polls: map[string]int{}}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.loginFails = newLimiter(s.cfg.LoginFailuresPerMinute, time.Minute, s.now)
	s.sends = newLimiter(s.cfg.MessagesPerMinute, time.Minute, s.now)
	s.sent = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "storeedge_hq_home_messages_total",
		Help: "Messages customers sent from home, by how HQ handled them (store, offline_answer, refused)."}, []string{"result"})
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{s.sent} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("home: metrics: %w", err)
			}
		}
	}
	s.handler = s.routes()
	return s, nil
}

// Handler serves /home/ (the page) and /home/api/v1/ (the API); mount it
// at "/home/".
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	const p = "/home/api/v1"
	mux.HandleFunc("POST "+p+"/login", s.login)
	mux.HandleFunc("GET "+p+"/me", s.auth(s.me))
	mux.HandleFunc("DELETE "+p+"/logins/{id}", s.auth(s.endLogin))
	mux.HandleFunc("POST "+p+"/logout", s.auth(s.logout))
	mux.HandleFunc("GET "+p+"/messages", s.auth(s.messages))
	mux.HandleFunc("POST "+p+"/messages", s.auth(s.send))
	mux.HandleFunc("POST "+p+"/messages/{id}/recall", s.auth(s.recall))
	mux.HandleFunc("POST "+p+"/read", s.auth(s.read))
	mux.HandleFunc("POST "+p+"/media", s.auth(s.putMedia))
	mux.HandleFunc("GET "+p+"/media/{hash}", s.auth(s.getMedia))
	for _, part := range s.o.Parts {
		part.Mount(mux, s.auth)
	}
	mux.HandleFunc(p+"/", func(w http.ResponseWriter, _ *http.Request) {
		httpjson.Error(w, http.StatusNotFound, "not_found", "There is no such address in the API.")
	})
	sub, _ := fs.Sub(static, "static") // the embed holds "static"
	files := http.StripPrefix("/home/", http.FileServerFS(sub))
	mux.HandleFunc("/home/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			httpjson.Error(w, http.StatusMethodNotAllowed, "bad_request", "The page is only read.")
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer") // the link code is in the fragment; never pass the page on
		if r.URL.Path == "/home/" || r.URL.Path == "/home/index.html" {
			w.Header().Set("Cache-Control", "no-cache")
		}
		if r.URL.Path == "/home/sw.js" {
			w.Header().Set("Service-Worker-Allowed", "/home/")
		}
		files.ServeHTTP(w, r)
	})
	return mux
}

// errorWith answers an error with a retry_after (seconds), for 429s.
func tooMany(w http.ResponseWriter, retry time.Duration, message string) {
	secs := int((retry + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	httpjson.Write(w, http.StatusTooManyRequests, map[string]any{"error": map[string]any{
		"code": "quota_exceeded", "message": message, "retry_after": secs}})
}

func internal(w http.ResponseWriter, log *slog.Logger, what string, err error) {
	log.Error("page at home: "+what, "err", err)
	httpjson.Error(w, http.StatusInternalServerError, "internal", "Something went wrong at HQ; please try again.")
}

// clientIP is the caller's address (the configured proxy header's, else
// the connection's).
func (s *Server) clientIP(r *http.Request) string {
	if h := s.cfg.ClientIPHeader; h != "" {
		if v := r.Header.Get(h); v != "" {
			parts := strings.Split(v, ",")
			return strings.TrimSpace(parts[len(parts)-1])
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// randomHex is n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail
	return hex.EncodeToString(b)
}

// newToken is a login's token and the SHA-256 kept of it.
func newToken() (string, []byte) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	tok := "hqt_" + base64.RawURLEncoding.EncodeToString(b)
	h := sha256.Sum256([]byte(tok))
	return tok, h[:]
}

// limiter counts events per key in a sliding window. An event may carry
// a tag: the same tag again within the window counts once (a page retrying
// one link code is not guessing codes).
type limiter struct {
	mu     sync.Mutex
	n      int
	window time.Duration
	now    func() time.Time
	seen   map[string][]event
}

type event struct {
	at  time.Time
	tag string
}

func newLimiter(n int, window time.Duration, now func() time.Time) *limiter {
	return &limiter{n: n, window: window, now: now, seen: map[string][]event{}}
}

// over tells whether key has used up its events; retry is when the next
// one is allowed. An event tagged tag that already counts is never over.
func (l *limiter) over(key, tag string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	es := l.prune(key, now)
	if tag != "" {
		for _, e := range es {
			if e.tag == tag {
				return false, 0
			}
		}
	}
	if len(es) >= l.n {
		return true, es[0].at.Add(l.window).Sub(now)
	}
	return false, 0
}

// add records one event of key (tagged tag, "" for none).
func (l *limiter) add(key, tag string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	es := l.prune(key, now)
	if tag != "" {
		for _, e := range es {
			if e.tag == tag {
				return
			}
		}
	}
	l.seen[key] = append(es, event{at: now, tag: tag})
	if len(l.seen) > 100000 { // bounded: forget another key's history
		for k := range l.seen {
			if k != key {
				delete(l.seen, k)
				break
			}
		}
	}
}

func (l *limiter) prune(key string, now time.Time) []event {
	es := l.seen[key]
	i := 0
	for i < len(es) && now.Sub(es[i].at) >= l.window {
		i++
	}
	es = es[i:]
	if len(es) == 0 {
		delete(l.seen, key)
		return nil
	}
	l.seen[key] = es
	return es
}

// publish sends one message to a store, bounded by publish_timeout.
func (s *Server) publish(ctx context.Context, store, local string, payload []byte, id string) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.PublishTimeout)
	defer cancel()
	return s.o.Publisher.Publish(ctx, DownTopic(store, local), payload, id)
}

// inTx runs f in a transaction.
func (s *Server) inTx(ctx context.Context, f func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.o.Pool, f)
}
