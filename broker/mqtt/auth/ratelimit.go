package auth

import (
	"net"
	"sync"
	"time"
)

// maxRateSources bounds the memory of the connect-rate limiter.
const maxRateSources = 4096

// rateLimiter is a token bucket per source address: a source may make
// perMinute CONNECT attempts in a burst, then perMinute per minute. Buckets
// that have refilled completely are idle and are dropped.
type rateLimiter struct {
	mu        sync.Mutex
	perMinute float64
	buckets   map[string]*bucket
	max       int
	lastSweep time.Time
}

type bucket struct {
	tokens  float64
	last    time.Time // last refill
	lastLog time.Time // last warning about this source
	refused int       // refusals since lastLog
}

func newRateLimiter(perMinute, max int) *rateLimiter {
	return &rateLimiter{perMinute: float64(perMinute), buckets: make(map[string]*bucket), max: max}
}

// allow takes one token for src. When it refuses, logNow says whether this
// refusal should be logged (at most once per source per minute) and refused
// how many refusals that log line stands for.
func (r *rateLimiter) allow(src string, now time.Time) (ok, logNow bool, refused int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.buckets) >= r.max || now.Sub(r.lastSweep) >= time.Minute {
		r.sweep(now)
	}
	b := r.buckets[src]
	if b == nil {
		b = &bucket{tokens: r.perMinute, last: now}
		r.buckets[src] = b
	}
	r.refill(b, now)
	if b.tokens >= 1 {
		b.tokens--
		return true, false, 0
	}
	b.refused++
	if b.lastLog.IsZero() || now.Sub(b.lastLog) >= time.Minute {
		refused = b.refused
		b.refused = 0
		b.lastLog = now
		return false, true, refused
	}
	return false, false, 0
}

func (r *rateLimiter) refill(b *bucket, now time.Time) {
	if d := now.Sub(b.last); d > 0 {
		b.tokens += d.Minutes() * r.perMinute
		if b.tokens > r.perMinute {
			b.tokens = r.perMinute
		}
		b.last = now
	}
}

// sweep drops idle buckets (full again, nothing logged within a minute); if
// the map is still at its bound it drops arbitrary buckets down to 3/4 of it.
func (r *rateLimiter) sweep(now time.Time) {
	r.lastSweep = now
	for src, b := range r.buckets {
		r.refill(b, now)
		if b.tokens >= r.perMinute && now.Sub(b.lastLog) >= time.Minute {
			delete(r.buckets, src)
		}
	}
	for src := range r.buckets {
		if len(r.buckets) < r.max*3/4 {
			break
		}
		delete(r.buckets, src)
	}
}

// remoteHost returns the host part of a "host:port" remote address, or the
// whole string when it has no port.
func remoteHost(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}
