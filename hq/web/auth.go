package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// CookieName is the page's sign-in cookie: a random session id, the
// session kept in this process's memory.
const CookieName = "hq_session"

// ActorHeader is the header a handler behind the server reads to know who
// asks: the name of the API key used, directly or through the page's
// sign-in. An incoming one is always removed first.
const ActorHeader = "X-HQ-Actor"

// session is a signed-in page.
type session struct {
	keyID   string
	name    string
	expires time.Time
}

// sessions are the signed-in pages, bounded.
type sessions struct {
	mu  sync.Mutex
	m   map[string]session
	max int
}

var errTooManySessions = errors.New("too many signed-in sessions")

func (s *sessions) add(now time.Time, v session) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	id := base64.RawURLEncoding.EncodeToString(b[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= s.max {
		for k, v := range s.m {
			if !now.Before(v.expires) {
				delete(s.m, k)
			}
		}
		if len(s.m) >= s.max {
			return "", errTooManySessions
		}
	}
	s.m[id] = v
	return id, nil
}

func (s *sessions) get(now time.Time, id string) (session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[id]
	if ok && !now.Before(v.expires) {
		delete(s.m, id)
		return session{}, false
	}
	return v, ok
}

func (s *sessions) drop(id string) {
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

// limiter counts failed sign-ins (a wrong key on the page or in a Bearer
// header) per client address over the last minute.
type limiter struct {
	mu       sync.Mutex
	perMin   int
	maxAddrs int
	fails    map[string][]time.Time
}

// blocked reports whether addr has used up its failures.
func (l *limiter) blocked(now time.Time, addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.recent(now, addr)) >= l.perMin
}

func (l *limiter) recent(now time.Time, addr string) []time.Time {
	ts := l.fails[addr]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= time.Minute {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(l.fails, addr)
	} else {
		l.fails[addr] = ts
	}
	return ts
}

// fail records a failure of addr.
func (l *limiter) fail(now time.Time, addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.fails[addr]; !ok && len(l.fails) >= l.maxAddrs {
		for a := range l.fails {
			l.recent(now, a)
		}
		if len(l.fails) >= l.maxAddrs {
			// Every slot holds a recent failure: count this one under a
			// shared slot rather than forget it.
			addr = "*"
		}
	}
	l.fails[addr] = append(l.recent(now, addr), now)
}

// clientAddr is the request's client address: from the configured header
// behind a proxy, else the connection's address without its port.
func (h *server) clientAddr(r *http.Request) string {
	if name := h.o.ClientIPHeader; name != "" {
		if v := r.Header.Get(name); v != "" {
			parts := strings.Split(v, ",")
			if a := strings.TrimSpace(parts[len(parts)-1]); a != "" {
				return a
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// actor is who a request comes from.
type actor struct{ name string }

type actorKey struct{}

// authenticate finds the request's actor: a Bearer key, else the sign-in
// cookie. ok is false when neither is there or valid; status and code say
// how to answer then.
func (h *server) authenticate(r *http.Request) (a actor, status int, code, msg string) {
	now := h.now()
	if auth := r.Header.Get("Authorization"); auth != "" {
		key, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok {
			return actor{}, http.StatusUnauthorized, "forbidden", "Authorization must be: Bearer <API key>"
		}
		addr := h.clientAddr(r)
		if h.fails.blocked(now, addr) {
			return actor{}, http.StatusTooManyRequests, "quota_exceeded", "too many failed sign-ins from this address; try again in a minute"
		}
		name, err := h.o.Replica.CheckKey(r.Context(), strings.TrimSpace(key))
		if err != nil {
			if isBadKey(err) {
				h.fails.fail(now, addr)
				h.log.Warn("hq web: refused API key", "addr", addr)
				return actor{}, http.StatusUnauthorized, "forbidden", "unknown or revoked API key"
			}
			h.log.Error("hq web: check key", "err", err)
			return actor{}, http.StatusServiceUnavailable, "unavailable", "cannot check the key now; retry"
		}
		return actor{name: name}, 0, "", ""
	}
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return actor{}, http.StatusUnauthorized, "forbidden", "sign in, or send Authorization: Bearer <API key>"
	}
	s, ok := h.sessions.get(now, c.Value)
	if !ok {
		return actor{}, http.StatusUnauthorized, "forbidden", "the sign-in has expired; sign in again"
	}
	// The key behind a session may have been revoked since.
	name, err := h.o.Replica.KeyLive(r.Context(), s.keyID)
	if err != nil {
		if isBadKey(err) {
			h.sessions.drop(c.Value)
			return actor{}, http.StatusUnauthorized, "forbidden", "the key of this sign-in was revoked"
		}
		h.log.Error("hq web: check session key", "err", err)
		return actor{}, http.StatusServiceUnavailable, "unavailable", "cannot check the sign-in now; retry"
	}
	// A cookie rides along on any request the browser sends to this
	// host; SameSite=Strict keeps other sites' requests from carrying it,
	// and a state-changing request from a page of another origin is
	// refused here as well.
	if r.Method != http.MethodGet && r.Method != http.MethodHead && !sameOrigin(r) {
		return actor{}, http.StatusForbidden, "forbidden", "a request from another site"
	}
	return actor{name: name}, 0, "", ""
}

// sameOrigin: no Origin header (not a browser's cross-site request), or
// one naming this host.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	rest, ok := strings.CutPrefix(o, "http://")
	if !ok {
		rest, ok = strings.CutPrefix(o, "https://")
	}
	return ok && rest == r.Host
}

func withActor(ctx context.Context, a actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

func actorOf(ctx context.Context) actor {
	a, _ := ctx.Value(actorKey{}).(actor)
	return a
}
