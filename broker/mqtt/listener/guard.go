package listener

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Accept backoff after a failed Accept (out of file descriptors, out of
// memory): as net/http does, from 5 ms doubling to 1 s.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
	// logEvery is the shortest time between two log lines about the same
	// burst of refusals or accept errors.
	logEvery = time.Minute
)

// Pending bounds the sockets that are open but not logged in yet (accepted,
// CONNECT not read or not yet authenticated), over all listeners together and
// per source address. A socket past a bound is closed as soon as it is
// accepted. Sockets leave the count when they log in (LoggedIn) or close.
type Pending struct {
	max, maxPerAddr int // 0 = no bound
	log             *slog.Logger
	onRefused       func(listener, scope string)

	mu       sync.Mutex
	total    int
	byAddr   map[string]int
	byRemote map[string]*pendingConn // "ip:port" of a pending socket
	burst    burstLog
}

// PendingOptions configures NewPending.
type PendingOptions struct {
	// Max is the number of sockets not logged in the broker keeps at most;
	// 0 = no bound.
	Max int
	// MaxPerAddress is the same per source IP address; 0 = no bound.
	MaxPerAddress int
	// OnRefused is called for each socket closed at accept, with the
	// listener's id and "total" or "address"; nil = not counted.
	OnRefused func(listener, scope string)
	// Log receives one line per burst of refusals; nil = discarded.
	Log *slog.Logger
}

// NewPending returns the bound of sockets not logged in.
func NewPending(o PendingOptions) *Pending {
	p := &Pending{max: o.Max, maxPerAddr: o.MaxPerAddress, log: o.Log, onRefused: o.OnRefused,
		byAddr: make(map[string]int), byRemote: make(map[string]*pendingConn)}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	return p
}

// Count returns how many sockets are open and not logged in.
func (p *Pending) Count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.total
}

// admit counts c as pending, or refuses it (and says which bound).
func (p *Pending) admit(c net.Conn) (*pendingConn, string) {
	remote := c.RemoteAddr().String()
	host := hostOf(remote)
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.max > 0 && p.total >= p.max:
		return nil, "total"
	case p.maxPerAddr > 0 && p.byAddr[host] >= p.maxPerAddr:
		return nil, "address"
	}
	pc := &pendingConn{Conn: c, p: p, remote: remote, host: host}
	p.total++
	p.byAddr[host]++
	p.byRemote[remote] = pc
	return pc, ""
}

// refused counts and, once per burst, logs a socket closed at accept.
func (p *Pending) refused(listener, scope, remote string) {
	if p.onRefused != nil {
		p.onRefused(listener, scope)
	}
	p.mu.Lock()
	n, logNow := p.burst.add(time.Now())
	total := p.total
	p.mu.Unlock()
	if logNow {
		what := "limits.max_pending_connects"
		if scope == "address" {
			what = "limits.max_pending_connects_per_address"
		}
		p.log.Warn("too many connections not logged in yet: new ones are closed at once (storeedge_pending_connects_refused_total)",
			"limit", what, "listener", listener, "remote", remote, "pending", total, "refused_since_last_log", n)
	}
}

// CloseAll closes every socket not logged in yet (at shutdown: they hold
// nothing, and would otherwise keep it waiting up to the connect timeout)
// and waits, until ctx ends, for their owners to have let them go.
func (p *Pending) CloseAll(ctx context.Context) error {
	p.mu.Lock()
	open := make([]net.Conn, 0, len(p.byRemote))
	for _, pc := range p.byRemote {
		open = append(open, pc.Conn)
	}
	p.mu.Unlock()
	for _, c := range open {
		_ = c.Close() // the owner's read fails and it closes the pendingConn
	}
	for p.Count() > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("listener: %d sockets not logged in still open: %w", p.Count(), ctx.Err())
		case <-time.After(time.Millisecond): // their owners signal nothing but the count
		}
	}
	return nil
}

// LoggedIn takes the socket with this remote address ("ip:port", as
// net.Conn.RemoteAddr gives it) out of the count: it has logged in.
func (p *Pending) LoggedIn(remote string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pc := p.byRemote[remote]; pc != nil {
		p.releaseLocked(pc)
	}
}

func (p *Pending) releaseLocked(pc *pendingConn) {
	if pc.released {
		return
	}
	pc.released = true
	p.total--
	if p.byAddr[pc.host]--; p.byAddr[pc.host] <= 0 {
		delete(p.byAddr, pc.host)
	}
	if p.byRemote[pc.remote] == pc {
		delete(p.byRemote, pc.remote)
	}
}

// pendingConn leaves the count when it closes, unless it logged in before.
type pendingConn struct {
	net.Conn
	p            *Pending
	remote, host string
	released     bool // under p.mu
}

// CloseWrite half-closes a TCP connection (mochi does after a server
// DISCONNECT, so that the client reads it before the socket closes).
func (c *pendingConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.New("listener: connection cannot be half-closed")
}

func (c *pendingConn) Close() error {
	c.p.mu.Lock()
	c.p.releaseLocked(c)
	c.p.mu.Unlock()
	return c.Conn.Close()
}

// Guard is a net.Listener whose Accept survives failures that pass (the
// process out of file descriptors, the kernel out of buffers): it waits, 5 ms
// doubling to 1 s, and tries again instead of returning the error, which
// would end the accept loop of mochi's listener for good. With a Pending, it
// closes at once a socket past the bound of sockets not logged in.
type Guard struct {
	net.Listener
	id      string
	pending *Pending
	log     *slog.Logger
	onError func(listener string)

	closed  atomic.Bool
	done    chan struct{}
	closeMu sync.Once

	mu       sync.Mutex
	failing  error     // the last accept error since the last success, nil when accepting
	since    time.Time // when failing began
	stopped  error     // Accept returned this error to its caller without Close
	accepted time.Time // last successful accept
	burst    burstLog
}

// GuardOptions configures NewGuard.
type GuardOptions struct {
	// ID names the listener in logs and metrics ("tcp", "tls", "ws").
	ID string
	// Pending bounds sockets not logged in; nil = no bound.
	Pending *Pending
	// OnAcceptError is called for each failed Accept; nil = not counted.
	OnAcceptError func(listener string)
	// Log receives one line per burst of accept errors; nil = discarded.
	Log *slog.Logger
}

// NewGuard wraps ln.
func NewGuard(ln net.Listener, o GuardOptions) *Guard {
	g := &Guard{Listener: ln, id: o.ID, pending: o.Pending, log: o.Log, onError: o.OnAcceptError, done: make(chan struct{})}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	return g
}

// Accept waits for the next connection. It returns an error only once the
// listener is closed.
func (g *Guard) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := g.Listener.Accept()
		if err != nil {
			if g.closed.Load() || errors.Is(err, net.ErrClosed) {
				if !g.closed.Load() {
					g.mu.Lock()
					g.stopped = err
					g.mu.Unlock()
				}
				return nil, err
			}
			delay = min(max(2*delay, acceptBackoffMin), acceptBackoffMax)
			g.acceptFailed(err, delay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-g.done:
				t.Stop()
			}
			continue
		}
		delay = 0
		g.mu.Lock()
		if g.failing != nil {
			g.log.Info("MQTT listener accepts connections again", "listener", g.id, "failing_for", time.Since(g.since).Round(time.Millisecond))
		}
		g.failing, g.accepted = nil, time.Now()
		g.mu.Unlock()
		if g.pending == nil {
			return c, nil
		}
		pc, scope := g.pending.admit(c)
		if pc == nil {
			remote := c.RemoteAddr().String()
			_ = c.Close()
			g.pending.refused(g.id, scope, remote)
			continue
		}
		return pc, nil
	}
}

func (g *Guard) acceptFailed(err error, delay time.Duration) {
	if g.onError != nil {
		g.onError(g.id)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.failing == nil {
		g.since = time.Now()
	}
	g.failing = err
	if n, logNow := g.burst.add(time.Now()); logNow {
		g.log.Error("MQTT listener cannot accept connections; retrying (storeedge_accept_errors_total)",
			"listener", g.id, "error", err, "retry_in", delay, "errors_since_last_log", n)
	}
}

// Close stops accepting.
func (g *Guard) Close() error {
	g.closed.Store(true)
	g.closeMu.Do(func() { close(g.done) })
	return g.Listener.Close()
}

// Check reports whether the listener accepts connections. While accepts
// fail it connects to the listener itself (waiting up to the context's
// deadline) and succeeds only once that connection was accepted.
func (g *Guard) Check(ctx context.Context) error {
	g.mu.Lock()
	stopped, failing, since := g.stopped, g.failing, g.since
	g.mu.Unlock()
	if stopped != nil {
		return fmt.Errorf("the MQTT listener %s (%s) has stopped: %w", g.id, g.Addr(), stopped)
	}
	if failing == nil {
		return nil
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", g.Addr().String())
	if err != nil {
		return fmt.Errorf("the MQTT listener %s (%s) cannot accept connections since %s: %w (probe: %w)",
			g.id, g.Addr(), since.Format(time.RFC3339), failing, err)
	}
	defer c.Close()
	for {
		g.mu.Lock()
		failing = g.failing
		g.mu.Unlock()
		if failing == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the MQTT listener %s (%s) cannot accept connections since %s: %w",
				g.id, g.Addr(), since.Format(time.RFC3339), failing)
		case <-time.After(10 * time.Millisecond): // waiting for the probe to be accepted
		}
	}
}

// burstLog says when to log an event that may repeat thousands of times:
// the first of a burst, then at most once per logEvery, with the count of
// events the line stands for.
type burstLog struct {
	last time.Time
	n    int
}

func (b *burstLog) add(now time.Time) (n int, logNow bool) {
	b.n++
	if !b.last.IsZero() && now.Sub(b.last) < logEvery {
		return 0, false
	}
	n, b.n, b.last = b.n, 0, now
	return n, true
}

func hostOf(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}
