package auth

import (
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
)

// grants are one client's role grants with the placeholders substituted.
type grants struct {
	cl         *mqtt.Client
	pol        *policy
	role       string
	identified bool // false: unknown device, bad client id, or anonymous not allowed
	publish    []string
	retain     []string
	subscribe  []string
}

// grantsFor computes a client's grants from its client id and username (for
// a certificate login the username was set to the device id). It only reads
// what a session restored from storage also has, so it works for offline
// sessions after a restart. Unknown clients get no grants.
func (p *policy) grantsFor(cl *mqtt.Client) *grants {
	g := &grants{cl: cl, pol: p}
	username := string(cl.Properties.Username)
	var r *role
	switch {
	case username != "":
		d := p.devices[username]
		if d == nil || !deviceClientID(cl.ID, d.id) {
			return g
		}
		r = d.role
	case p.anon != nil && validLevelValue(cl.ID):
		r = p.anon
	default:
		return g
	}
	g.identified = true
	g.role = r.name
	g.publish = expandAll(r.publish, cl.ID, username)
	g.retain = expandAll(r.retain, cl.ID, username)
	g.subscribe = expandAll(r.subscribe, cl.ID, username)
	return g
}

func expandAll(ts []template, clientID, username string) []string {
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		if f, ok := t.expand(clientID, username); ok {
			out = append(out, f)
		}
	}
	return out
}

// deviceClientID reports whether clientID is valid for the device: the
// device id itself, or "<device id>:<suffix>" with a suffix of 1-64 letters,
// digits, '_', '.' or '-'.
func deviceClientID(clientID, deviceID string) bool {
	if !deviceIDPattern.MatchString(deviceID) {
		return false
	}
	if clientID == deviceID {
		return true
	}
	if len(clientID) < len(deviceID)+2 || clientID[:len(deviceID)] != deviceID || clientID[len(deviceID)] != ':' {
		return false
	}
	suffix := clientID[len(deviceID)+1:]
	if len(suffix) > 64 {
		return false
	}
	for i := 0; i < len(suffix); i++ {
		c := suffix[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// canPublish: topic is a valid topic name covered by a publish grant.
func (g *grants) canPublish(topic string) bool {
	if !validTopic(topic) {
		return false
	}
	return anyCovers(topic, g.publish)
}

// canRetain: topic may be published with the retain flag (publish is checked separately).
func (g *grants) canRetain(topic string) bool {
	return validTopic(topic) && anyCovers(topic, g.retain)
}

// canRead: every topic that filter (a subscription filter, possibly shared,
// or the topic of a delivery) can match is covered by one subscribe grant.
func (g *grants) canRead(filter string) bool {
	f, ok := stripShare(filter)
	if !ok || !validFilter(f) {
		return false
	}
	return anyCovers(f, g.subscribe)
}

func anyCovers(f string, grants []string) bool {
	for _, gr := range grants {
		if filterWithin(f, gr) {
			return true
		}
	}
	return false
}

// grantCache holds each client's grants by client id, sharded to keep lock
// contention low when many publishers fan out at once. Lookups do not
// allocate.
type grantCache struct {
	shards [16]grantShard
}

type grantShard struct {
	mu sync.RWMutex
	m  map[string]*grants
}

// maxCachedPerShard bounds the cache; past it grants are computed per check.
const maxCachedPerShard = 8192

func (c *grantCache) shard(id string) *grantShard {
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return &c.shards[h%uint32(len(c.shards))]
}

func (c *grantCache) get(id string) *grants {
	s := c.shard(id)
	s.mu.RLock()
	g := s.m[id]
	s.mu.RUnlock()
	return g
}

// put stores the grants of a client that has just authenticated: it is the
// session's owner from now on, replacing any taken-over connection.
func (c *grantCache) put(id string, g *grants) {
	s := c.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string]*grants)
	}
	if _, ok := s.m[id]; ok || len(s.m) < maxCachedPerShard {
		s.m[id] = g
	}
}

// offer stores grants computed on a cache miss, unless the entry belongs to
// a different, current client object (a connection that took the session
// over): then current() decides whether cl is the session's owner.
func (c *grantCache) offer(id string, g *grants, current func() bool) {
	s := c.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string]*grants)
	}
	old, ok := s.m[id]
	switch {
	case !ok:
		if len(s.m) >= maxCachedPerShard {
			return
		}
	case old.cl == g.cl || old.pol != g.pol:
	case !current():
		return
	}
	s.m[id] = g
}

// drop removes the client's entry if it still belongs to this client object.
func (c *grantCache) drop(cl *mqtt.Client) {
	s := c.shard(cl.ID)
	s.mu.Lock()
	defer s.mu.Unlock()
	if g, ok := s.m[cl.ID]; ok && g.cl == cl {
		delete(s.m, cl.ID)
	}
}

func (c *grantCache) clear() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		s.m = nil
		s.mu.Unlock()
	}
}
