// Package quota keeps per-client budgets (messages per minute, bytes per
// day) as token buckets in memory, and words a refusal as the services'
// quota_exceeded answer with a retry hint.
//
// A budget is a bucket of Per tokens that refills evenly over Window: a
// client may spend the whole budget at once, then Per/Window as time goes
// on. The buckets live in memory: a restart refills them (a client cannot
// restart the broker), and a bucket that is full again is forgotten, so the
// memory held is that of the clients spending now.
package quota

import (
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/storeedge/storeedge/broker/svc"
)

// Details are the details of a quota_exceeded answer: which budget (Reason)
// and how many whole seconds until the request would pass (RetryAfter; 0
// when waiting will not help, e.g. a request larger than the whole budget).
type Details struct {
	Reason     string `json:"reason"`
	RetryAfter int64  `json:"retry_after,omitempty"`
}

// Limiter is one budget per key (a customer id). A nil *Limiter allows
// everything. It is safe for concurrent use.
type Limiter struct {
	name   string  // the budget, the Details.Reason of its refusals
	unit   string  // what is counted, for messages
	burst  float64 // tokens when full
	rate   float64 // tokens per second
	window time.Duration
	now    func() time.Time
	log    *slog.Logger

	refused atomic.Uint64

	mu    sync.Mutex
	b     map[string]*bucket
	takes int
}

type bucket struct {
	tokens  float64
	at      time.Time
	limited bool // refused since the last success: the refusal was logged
}

// Options configure New.
type Options struct {
	// Name is the budget's name: the reason of its refusals and the label
	// of its metric (e.g. "messages_per_minute").
	Name string
	// Unit names what is counted in messages ("messages", "bytes").
	Unit string
	// Per tokens per Window; Per ≤ 0 means no limit (New returns nil).
	Per    int64
	Window time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Log receives one line per burst of refusals of a key (default slog.Default()).
	Log *slog.Logger
}

// New returns the limiter, or nil (no limit) when o.Per ≤ 0.
func New(o Options) *Limiter {
	if o.Per <= 0 || o.Window <= 0 {
		return nil
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Limiter{name: o.Name, unit: o.Unit, burst: float64(o.Per), rate: float64(o.Per) / o.Window.Seconds(),
		window: o.Window, now: o.Now, log: o.Log, b: map[string]*bucket{}}
}

// Name is the budget's name.
func (l *Limiter) Name() string {
	if l == nil {
		return ""
	}
	return l.name
}

// Refused counts the requests refused so far.
func (l *Limiter) Refused() uint64 {
	if l == nil {
		return 0
	}
	return l.refused.Load()
}

// Take spends n tokens of key's budget. When they are not there it spends
// nothing and returns a quota_exceeded *svc.Error whose details say when to
// retry; the first refusal after a success is logged.
func (l *Limiter) Take(key string, n int64) error {
	if l == nil || n <= 0 {
		return nil
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prune(now)
	b := l.fill(key, now)
	need := float64(n)
	if b.tokens >= need {
		b.tokens -= need
		b.limited = false
		return nil
	}
	l.refused.Add(1)
	d := Details{Reason: l.name}
	if need <= l.burst {
		d.RetryAfter = max(1, int64(math.Ceil((need-b.tokens)/l.rate)))
	}
	if !b.limited {
		b.limited = true
		l.log.Warn("quota: a client reached its limit", "client", key, "limit", l.name,
			"per", int64(l.burst), "window", l.window, "retry_after_s", d.RetryAfter)
	}
	var msg string
	if d.RetryAfter == 0 {
		msg = fmt.Sprintf("%d %s is more than your whole budget of %d %s per %s", n, l.unit, int64(l.burst), l.unit, l.window)
	} else {
		msg = fmt.Sprintf("you have used your %d %s per %s; retry in %d s", int64(l.burst), l.unit, l.window, d.RetryAfter)
	}
	return svc.WithDetails(svc.Errorf(svc.CodeQuotaExceeded, "%s", msg), d)
}

// Give returns n tokens taken for a request that then failed.
func (l *Limiter) Give(key string, n int64) {
	if l == nil || n <= 0 {
		return
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.fill(key, now)
	b.tokens = min(l.burst, b.tokens+float64(n))
}

// fill returns key's bucket refilled up to now.
func (l *Limiter) fill(key string, now time.Time) *bucket {
	b, ok := l.b[key]
	if !ok {
		b = &bucket{tokens: l.burst, at: now}
		l.b[key] = b
		return b
	}
	if dt := now.Sub(b.at).Seconds(); dt > 0 {
		b.tokens = min(l.burst, b.tokens+dt*l.rate)
		b.at = now
	}
	return b
}

// prune forgets, every 1024 takes, the buckets that are full again.
func (l *Limiter) prune(now time.Time) {
	if l.takes++; l.takes < 1024 {
		return
	}
	l.takes = 0
	for k, b := range l.b {
		if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
			delete(l.b, k)
		}
	}
}
