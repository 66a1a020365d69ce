// Package faultproxy is a TCP proxy that tests and benchmarks put between a
// client and a server to break the link on demand: cut every connection,
// refuse new ones, stall the bytes in flight, or throttle them.
//
// It exists so that the store-to-HQ bridge can be tested against the failures
// a store's uplink really has (a router dropping connections, an outage, a
// link that goes silent, a slow line) at moments the test chooses, many times
// over, without root or network namespaces.
package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Stats are the proxy's counters since New.
type Stats struct {
	Accepted   int64 // client connections accepted while up
	Refused    int64 // client connections closed at once because the proxy was down
	DialErrors int64 // accepted connections dropped because the target refused them
	Cuts       int64 // connections closed by Cut, Down or Close
	Active     int64 // connections open now
	BytesUp    int64 // bytes forwarded client → target
	BytesDown  int64 // bytes forwarded target → client
}

// Proxy forwards every connection accepted on Addr to the target.
// All methods are safe for concurrent use.
type Proxy struct {
	target string
	ln     net.Listener
	ctx    context.Context // cancelled by Close: aborts dials and waits
	cancel context.CancelFunc
	wg     sync.WaitGroup
	up     bucket // client → target
	down   bucket // target → client

	mu     sync.Mutex
	links  map[*link]struct{}
	isDown bool
	closed bool
	// resume is nil while bytes flow; while stalled it is open and
	// Stall(false) closes it, so forwarders block on it instead of polling.
	resume chan struct{}

	accepted, refused, dialErrors, cuts, bytesUp, bytesDown atomic.Int64
}

// link is one proxied connection: the accepted client side and, once dialled,
// the target side.
type link struct {
	client net.Conn
	server net.Conn      // nil until the dial to the target succeeds; guarded by Proxy.mu
	done   chan struct{} // closed when the link is closed
}

// New listens on listen (e.g. "127.0.0.1:0") and forwards to target.
func New(listen, target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen %s: %w", listen, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{target: target, ln: ln, ctx: ctx, cancel: cancel, links: map[*link]struct{}{}}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Addr is the address clients dial instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut closes every current connection, both halves, with a reset, the way a
// router that drops its state does. New connections are still accepted.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutLocked()
}

// cutLocked closes and forgets every link; p.mu is held so that no link can
// be registered half-way through.
func (p *Proxy) cutLocked() {
	for l := range p.links {
		l.close(true)
		delete(p.links, l)
		p.cuts.Add(1)
	}
}

// Down cuts every current connection and, until Up, closes each new one as
// soon as it is accepted. The listener stays bound so the address survives
// the outage and clients see a reset rather than a port taken by someone else.
func (p *Proxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.isDown = true
	p.cutLocked()
}

// Up accepts and forwards new connections again after Down.
func (p *Proxy) Up() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.isDown = false
}

// Stall(true) stops forwarding bytes in both directions while connections
// stay open, like a link that goes silent; Stall(false) delivers what was
// held, in order. New connections are still accepted and dialled while
// stalled, but carry no bytes.
func (p *Proxy) Stall(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case on && p.resume == nil:
		p.resume = make(chan struct{})
	case !on && p.resume != nil:
		close(p.resume)
		p.resume = nil
	}
}

// Throttle limits each direction to bytesPerSecond, shared by all
// connections as on one physical link; 0 removes the limit.
func (p *Proxy) Throttle(bytesPerSecond int) {
	p.up.setRate(bytesPerSecond)
	p.down.setRate(bytesPerSecond)
}

// Stats returns a snapshot of the counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	active := int64(len(p.links))
	p.mu.Unlock()
	return Stats{
		Accepted:   p.accepted.Load(),
		Refused:    p.refused.Load(),
		DialErrors: p.dialErrors.Load(),
		Cuts:       p.cuts.Load(),
		Active:     active,
		BytesUp:    p.bytesUp.Load(),
		BytesDown:  p.bytesDown.Load(),
	}
}

// Close stops listening, cuts every connection and waits for the proxy's
// goroutines to finish.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.cutLocked()
	p.mu.Unlock()
	p.cancel()
	err := p.ln.Close()
	p.wg.Wait()
	if err != nil {
		return fmt.Errorf("faultproxy: close listener: %w", err)
	}
	return nil
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// A transient failure such as running out of descriptors:
			// back off briefly rather than spin.
			select {
			case <-p.ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		p.mu.Lock()
		if p.closed || p.isDown {
			p.mu.Unlock()
			p.refused.Add(1) // before the reset, which a test may be watching for
			reset(c)
			continue
		}
		// Registered before dialling so that a Cut during the dial closes
		// this connection too.
		l := &link{client: c, done: make(chan struct{})}
		p.links[l] = struct{}{}
		p.accepted.Add(1)
		p.wg.Add(1)
		p.mu.Unlock()
		go p.serve(l)
	}
}

func (p *Proxy) serve(l *link) {
	defer p.wg.Done()
	defer p.forget(l)
	var d net.Dialer
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	s, err := d.DialContext(ctx, "tcp", p.target)
	cancel()
	if err != nil {
		p.dialErrors.Add(1)
		return
	}
	p.mu.Lock()
	if _, ok := p.links[l]; !ok { // cut while dialling
		p.mu.Unlock()
		reset(s)
		return
	}
	l.server = s
	p.mu.Unlock()

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(l, l.client, s, &p.up, &p.bytesUp) }()
	go func() { defer wg.Done(); p.pipe(l, s, l.client, &p.down, &p.bytesDown) }()
	wg.Wait()
}

// forget closes a link that ended by itself (not by Cut) and drops it.
func (p *Proxy) forget(l *link) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.links[l]; ok {
		delete(p.links, l)
		l.close(false)
	}
}

// pipe copies src to dst until src ends or the link is closed, honouring
// Stall and Throttle before every write.
func (p *Proxy) pipe(l *link, src, dst net.Conn, b *bucket, count *atomic.Int64) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf[:b.chunk(len(buf))])
		if n > 0 {
			if !p.waitFlowing(l) || !b.wait(n, l.done) || !p.waitFlowing(l) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				p.closeLink(l)
				return
			}
			count.Add(int64(n))
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				// Pass the half-close on; the other direction may still
				// have bytes to deliver.
				if cw, ok := dst.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
					return
				}
			}
			p.closeLink(l)
			return
		}
	}
}

// closeLink ends a link after an error in one direction, so that the other
// direction's blocked read returns too.
func (p *Proxy) closeLink(l *link) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l.close(false)
}

// waitFlowing blocks while the proxy is stalled; false means the link was
// closed meanwhile.
func (p *Proxy) waitFlowing(l *link) bool {
	for {
		p.mu.Lock()
		ch := p.resume
		p.mu.Unlock()
		if ch == nil {
			select {
			case <-l.done:
				return false
			default:
				return true
			}
		}
		select {
		case <-ch:
		case <-l.done:
			return false
		}
	}
}

// close closes both sides once; with rst the peers get a reset instead of
// an orderly FIN. The caller holds Proxy.mu, which guards l.server.
func (l *link) close(rst bool) {
	select {
	case <-l.done:
		return
	default:
	}
	close(l.done)
	for _, c := range []net.Conn{l.client, l.server} {
		if c == nil {
			continue
		}
		if rst {
			reset(c)
		} else {
			_ = c.Close()
		}
	}
}

// reset closes c with SO_LINGER 0 so the peer sees a connection reset at
// once, as when a link drops, rather than a polite end of stream.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// bucket is a token bucket for one direction. Tokens may go negative: a
// writer takes what it needs and then waits off the debt, which keeps the
// average rate exact whatever the chunk sizes.
type bucket struct {
	mu      sync.Mutex
	rate    int // bytes per second; 0 = unlimited
	tokens  float64
	last    time.Time
	changed chan struct{} // closed when the rate changes, to wake waiters
}

// burstFraction of a second's worth of bytes may pass at once; small, so
// that a throttled link is smooth rather than a burst then a pause.
const burstFraction = 10

func (b *bucket) burst() float64 { return max(float64(b.rate)/burstFraction, 1) }

func (b *bucket) setRate(r int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if r < 0 {
		r = 0
	}
	b.rate = r
	b.tokens = b.burst()
	b.last = time.Now()
	if b.changed != nil {
		close(b.changed)
	}
	b.changed = make(chan struct{})
}

// chunk caps a read at one burst so a single write never holds far more
// than the rate allows.
func (b *bucket) chunk(n int) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.rate == 0 {
		return n
	}
	return min(n, int(b.burst()))
}

// wait takes n tokens and blocks until the debt is paid, the rate changes
// (the new rate starts afresh) or done is closed; false means done.
func (b *bucket) wait(n int, done <-chan struct{}) bool {
	b.mu.Lock()
	if b.rate == 0 {
		b.mu.Unlock()
		return true
	}
	now := time.Now()
	b.tokens = min(b.tokens+now.Sub(b.last).Seconds()*float64(b.rate), b.burst())
	b.last = now
	b.tokens -= float64(n)
	var d time.Duration
	if b.tokens < 0 {
		d = time.Duration(-b.tokens / float64(b.rate) * float64(time.Second))
	}
	changed := b.changed
	b.mu.Unlock()
	if d == 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-changed:
		return true
	case <-done:
		return false
	}
}
