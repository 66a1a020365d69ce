// Package listener holds MQTT listeners that mochi lacks: a WebSocket listener that serves a single path, requires the "mqtt" subprotocol and checks the Origin header.
package listener

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// Subprotocol is the WebSocket subprotocol of MQTT [MQTT-6.0.0-3].
const Subprotocol = "mqtt"

const (
	handshakeTimeout = 10 * time.Second
	closeGrace       = 100 * time.Millisecond // for the close frame; a stuck peer must not stall mochi
	shutdownTimeout  = 5 * time.Second
)

// ErrNotBinary is returned by a connection's Read when the peer sends a text
// message; MQTT over WebSocket uses binary messages only [MQTT-6.0.0-1].
var ErrNotBinary = errors.New("listener: websocket message is not binary")

// Websocket is a mochi listener for MQTT over WebSocket (ws, or wss with a
// TLS config). It upgrades only requests for its path that offer the "mqtt"
// subprotocol and come from an allowed origin.
type Websocket struct {
	id, addr, path string
	tlsCfg         *tls.Config
	anyOrigin      bool
	origins        map[string]bool // normalised, see normOrigin
	maxMessage     atomic.Int64
	wrap           func(net.Listener) net.Listener

	upgrader websocket.Upgrader

	mu        sync.Mutex
	ln        net.Listener
	srv       *http.Server
	log       *slog.Logger
	establish listeners.EstablishFn
	conns     map[*wsConn]struct{}
	closed    bool
	sessions  sync.WaitGroup // establish calls in progress
}

// Compile-time check that Websocket is a mochi listener.
var _ listeners.Listener = (*Websocket)(nil)

// NewWebsocket returns a listener with mochi id id that will listen on addr
// and upgrade requests for path. A request without an Origin header (devices,
// tools) is always accepted; one with an Origin is accepted when that origin
// (scheme://host[:port], case-insensitive) is in allowedOrigins, the list
// holds "*", or its host is the host the request was sent to (a page the box
// serves itself, on any port), and refused with 403 otherwise. Other paths get 404. With a
// non-nil tlsCfg it serves wss.
func NewWebsocket(id, addr, path string, allowedOrigins []string, tlsCfg *tls.Config) *Websocket {
	w := &Websocket{
		id:      id,
		addr:    addr,
		path:    path,
		tlsCfg:  tlsCfg,
		origins: make(map[string]bool, len(allowedOrigins)),
		conns:   make(map[*wsConn]struct{}),
		log:     slog.New(slog.DiscardHandler),
	}
	for _, o := range allowedOrigins {
		if strings.TrimSpace(o) == "*" {
			w.anyOrigin = true
			continue
		}
		w.origins[normOrigin(o)] = true
	}
	w.upgrader = websocket.Upgrader{
		HandshakeTimeout: handshakeTimeout,
		Subprotocols:     []string{Subprotocol},
		// Idle connections hand their write buffer back to the pool: with
		// hundreds of mostly idle devices that saves ~4 KiB each.
		WriteBufferPool: &sync.Pool{},
		// The origin is checked in serveHTTP, before the upgrade.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	return w
}

// SetMaxMessageSize limits the size of one WebSocket message a client may
// send; a client that exceeds it is disconnected with close code 1009. It
// applies to connections accepted afterwards. 0, the default, sets no limit
// beyond mochi's Capabilities.MaximumPacketSize; when set, make it at least
// that size, since a message normally carries a whole MQTT packet.
func (w *Websocket) SetMaxMessageSize(n int64) {
	w.maxMessage.Store(max(n, 0))
}

// SetWrap makes Init hand the bound socket to wrap (before TLS), e.g. to a
// Guard. Call it before Init.
func (w *Websocket) SetWrap(wrap func(net.Listener) net.Listener) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.wrap = wrap
}

// ID returns the listener's id.
func (w *Websocket) ID() string { return w.id }

// Address returns the bound address once Init has run (so a port of 0 is
// resolved), and the configured address before.
func (w *Websocket) Address() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ln != nil {
		return w.ln.Addr().String()
	}
	return w.addr
}

// Protocol returns "wss" with TLS and "ws" without.
func (w *Websocket) Protocol() string {
	if w.tlsCfg != nil {
		return "wss"
	}
	return "ws"
}

// Init binds the address. mochi calls it from Server.AddListener.
func (w *Websocket) Init(log *slog.Logger) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ln != nil {
		return fmt.Errorf("listener %s: already initialised", w.id)
	}
	if log != nil {
		w.log = log
	}
	ln, err := net.Listen("tcp", w.addr)
	if err != nil {
		return fmt.Errorf("listener %s: %w", w.id, err)
	}
	if w.wrap != nil {
		ln = w.wrap(ln)
	}
	if w.tlsCfg != nil {
		cfg := w.tlsCfg.Clone()
		cfg.NextProtos = []string{"http/1.1"} // gorilla upgrades HTTP/1.1 only, never h2
		ln = tls.NewListener(ln, cfg)
	}
	w.ln = ln
	w.srv = &http.Server{
		Handler:           http.HandlerFunc(w.serveHTTP),
		ReadHeaderTimeout: handshakeTimeout,
		// A connection that is not upgraded is not kept idle: it counts
		// among the sockets not logged in (Pending).
		IdleTimeout:    handshakeTimeout,
		MaxHeaderBytes: 16 << 10,
		ErrorLog:       slog.NewLogLogger(w.log.Handler(), slog.LevelWarn),
	}
	return nil
}

// Serve accepts connections and hands each upgraded one to establish until
// Close. mochi runs it on its own goroutine and offers no way to return an
// error, so a failure to serve is logged.
func (w *Websocket) Serve(establish listeners.EstablishFn) {
	w.mu.Lock()
	if w.closed || w.srv == nil {
		w.mu.Unlock()
		return
	}
	w.establish = establish
	srv, ln := w.srv, w.ln
	w.mu.Unlock()

	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		w.log.Error("websocket listener stopped", "listener", w.id, "error", err)
	}
}

// Close stops accepting, lets mochi disconnect this listener's clients
// through closeClients, then closes any connection not yet handed to mochi.
func (w *Websocket) Close(closeClients listeners.CloseFn) {
	w.mu.Lock()
	already := w.closed
	w.closed = true
	srv, ln := w.srv, w.ln
	w.mu.Unlock()
	if already {
		return
	}

	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		// Shutdown closes the listener and waits for handshakes in progress;
		// upgraded connections are hijacked and not its concern. If it times
		// out, Close cuts those handshakes.
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
		}
		cancel()
		// Serve may never have run, in which case Shutdown did not know ln.
		_ = ln.Close()
	}

	closeClients(w.id)

	w.mu.Lock()
	left := make([]*wsConn, 0, len(w.conns))
	for c := range w.conns {
		left = append(left, c)
	}
	w.mu.Unlock()
	for _, c := range left {
		_ = c.Close()
	}
	// Every connection is closed now, so the sessions end promptly. Waiting
	// for them also keeps mochi sound: attachClient adds to its ClientsWg
	// inside establish, and CloseAll waits on that group as soon as this
	// returns; an Add racing that Wait is a misuse of sync.WaitGroup.
	w.sessions.Wait()
}

func (w *Websocket) serveHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.URL.Path != w.path {
		http.NotFound(rw, r)
		return
	}
	if !w.originAllowed(r.Header.Get("Origin"), r.Host) {
		http.Error(rw, "origin not allowed", http.StatusForbidden)
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		rw.Header().Set("Upgrade", "websocket")
		http.Error(rw, "websocket upgrade required", http.StatusUpgradeRequired)
		return
	}
	if !slices.Contains(websocket.Subprotocols(r), Subprotocol) {
		http.Error(rw, `websocket subprotocol "mqtt" required`, http.StatusBadRequest)
		return
	}

	ws, err := w.upgrader.Upgrade(rw, r, nil)
	if err != nil {
		return // Upgrade has answered the client
	}
	ws.SetReadLimit(w.maxMessage.Load())
	c := &wsConn{ws: ws}

	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		_ = c.Close()
		return
	}
	w.conns[c] = struct{}{}
	w.sessions.Add(1)
	establish := w.establish
	w.mu.Unlock()

	err = establish(w.id, c)

	w.mu.Lock()
	delete(w.conns, c)
	w.mu.Unlock()
	_ = c.Close()
	w.sessions.Done()
	if err != nil {
		// As mochi's own listeners do: this is the only place the error of
		// a client's session surfaces.
		w.log.Warn("websocket client ended", "listener", w.id, "remote", r.RemoteAddr, "error", err)
	}
}

func (w *Websocket) originAllowed(origin, host string) bool {
	return origin == "" || w.anyOrigin || w.origins[normOrigin(origin)] || sameHost(origin, host)
}

// sameHost reports whether a browser origin names the host the request was
// sent to (its Host header), on any port and scheme: a page the box itself
// serves (its HTTP listener is on another port than the WebSocket one).
func sameHost(origin, host string) bool {
	u, err := url.Parse(strings.TrimSpace(origin))
	if err != nil || u.Host == "" || host == "" {
		return false
	}
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.EqualFold(u.Hostname(), h)
}

// normOrigin reduces an origin to lower-case scheme://host[:port], dropping a
// default port and any path; what does not parse is only lower-cased.
func normOrigin(o string) string {
	o = strings.ToLower(strings.TrimSpace(o))
	u, err := url.Parse(o)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return o
	}
	host := u.Host
	if (u.Scheme == "http" && u.Port() == "80") || (u.Scheme == "https" && u.Port() == "443") {
		host = u.Hostname()
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
	}
	return u.Scheme + "://" + host
}
