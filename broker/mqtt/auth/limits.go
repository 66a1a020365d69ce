package auth

import (
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
)

// fairSem bounds how many password checks run at once. A check that has to
// wait joins the queue of its source address, and a freed slot goes to the
// sources in turn: a host sending a hundred guesses holds one place in the
// turn, so a device on another address waits for at most one check per
// other waiting source, not for every guess queued before it.
type fairSem struct {
	mu     sync.Mutex
	free   int
	queues map[string][]chan struct{}
	turn   []string // sources with waiters, in turn order
}

func newFairSem(n int) *fairSem {
	return &fairSem{free: n, queues: make(map[string][]chan struct{})}
}

func (s *fairSem) acquire(src string) {
	s.mu.Lock()
	if s.free > 0 && len(s.turn) == 0 {
		s.free--
		s.mu.Unlock()
		return
	}
	ch := make(chan struct{})
	if len(s.queues[src]) == 0 {
		s.turn = append(s.turn, src)
	}
	s.queues[src] = append(s.queues[src], ch)
	s.mu.Unlock()
	<-ch
}

func (s *fairSem) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.turn) == 0 {
		s.free++
		return
	}
	src := s.turn[0]
	s.turn = s.turn[1:]
	q := s.queues[src]
	ch := q[0]
	if len(q) == 1 {
		delete(s.queues, src)
	} else {
		s.queues[src] = q[1:]
		s.turn = append(s.turn, src) // its next waiter goes to the back
	}
	close(ch) // the slot passes to that waiter
}

// maxBackoffEntries bounds the memory of the login backoff.
const maxBackoffEntries = 4096

// loginBackoff counts wrong passwords per (device id, source address). From
// the after-th failure in a row, attempts from that address for that device
// are refused without a password check for 1 s, doubling with each further
// failure up to max. A success clears the count; so does a quiet period of
// max after the last failure.
type loginBackoff struct {
	after int
	max   time.Duration

	mu sync.Mutex
	m  map[backoffKey]*failures
}

type backoffKey struct{ account, src string }

type failures struct {
	n     int
	last  time.Time
	until time.Time
}

func newLoginBackoff(after int, max time.Duration) *loginBackoff {
	if after <= 0 {
		return nil
	}
	return &loginBackoff{after: after, max: max, m: make(map[backoffKey]*failures)}
}

// blocked reports whether an attempt now must be refused unchecked, and
// until when.
func (b *loginBackoff) blocked(account, src string, now time.Time) (bool, time.Time) {
	if b == nil {
		return false, time.Time{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	f := b.m[backoffKey{account, src}]
	if f == nil || !now.Before(f.until) {
		return false, time.Time{}
	}
	return true, f.until
}

// failed records a wrong password and returns the window that now starts
// (zero while under the threshold).
func (b *loginBackoff) failed(account, src string, now time.Time) time.Duration {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	k := backoffKey{account, src}
	f := b.m[k]
	if f != nil && now.Sub(f.last) >= b.max && !now.Before(f.until) {
		f = nil // quiet for a whole window: start again
	}
	if f == nil {
		if len(b.m) >= maxBackoffEntries {
			b.sweep(now)
		}
		f = &failures{}
		b.m[k] = f
	}
	f.n++
	f.last = now
	if f.n < b.after {
		return 0
	}
	d := b.max
	if shift := f.n - b.after; shift < 30 {
		d = min(time.Second<<shift, b.max)
	}
	f.until = now.Add(d)
	return d
}

func (b *loginBackoff) succeeded(account, src string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, backoffKey{account, src})
}

// sweep drops entries quiet for a whole window, then arbitrary ones down
// to 3/4 of the bound.
func (b *loginBackoff) sweep(now time.Time) {
	for k, f := range b.m {
		if now.Sub(f.last) >= b.max && !now.Before(f.until) {
			delete(b.m, k)
		}
	}
	for k := range b.m {
		if len(b.m) < maxBackoffEntries*3/4 {
			break
		}
		delete(b.m, k)
	}
}

// identityConns are the connections of each device and customer, by client
// id, for limits.max_connections_per_identity.
type identityConns struct {
	mu sync.Mutex
	m  map[string]map[string]*mqtt.Client
}

// admit adds cl to the connections of identity unless it already holds
// limit others (client ids not cl's; a client id already connected is a
// take-over and always admitted). limit 0 = no cap.
func (c *identityConns) admit(identity string, cl *mqtt.Client, limit int) (ok bool, held int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]map[string]*mqtt.Client)
	}
	set := c.m[identity]
	if set == nil {
		set = make(map[string]*mqtt.Client)
		c.m[identity] = set
	}
	if _, again := set[cl.ID]; !again && limit > 0 && len(set) >= limit {
		for id, other := range set { // a connection that ended without OnDisconnect
			if other.Closed() {
				delete(set, id)
			}
		}
		if len(set) >= limit {
			return false, len(set)
		}
	}
	set[cl.ID] = cl
	return true, len(set)
}

// drop removes cl, unless its client id has been taken over since.
func (c *identityConns) drop(identity string, cl *mqtt.Client) {
	c.mu.Lock()
	defer c.mu.Unlock()
	set := c.m[identity]
	if set[cl.ID] == cl {
		delete(set, cl.ID)
		if len(set) == 0 {
			delete(c.m, identity)
		}
	}
}

// clients returns the connections of identity.
func (c *identityConns) clients(identity string) []*mqtt.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*mqtt.Client, 0, len(c.m[identity]))
	for _, cl := range c.m[identity] {
		out = append(out, cl)
	}
	return out
}
