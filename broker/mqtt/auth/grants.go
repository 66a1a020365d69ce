package auth

import (
	"strings"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
)

// grants are one client's role grants and deny filters with the
// placeholders substituted.
//
// Only what follows from the policy is kept here (and cached per client).
// Whether a customer's session is still active and whether a client is a
// member for %m change without a reload, so they are asked at every check.
type grants struct {
	cl         *mqtt.Client
	pol        *policy
	role       string
	identified bool     // false: unknown device, bad client id, or anonymous not allowed
	id         Identity // valid when identified; what Membership is asked about
	customer   string   // the customer id for a customer client, else ""
	publish    []string
	retain     []string
	subscribe  []string
	publishM   []memberGrant // %m grants, usable only through Membership
	subscribeM []memberGrant
	deny       []string // win over every grant, for publish and read
}

// memberGrant is an expanded grant with %m: filter has "+" at level, and a
// topic or filter is covered when it is within filter and has at that level a
// literal value the Membership approves.
type memberGrant struct {
	filter string
	level  int
	root   string // the filter's first level: which Membership decides
}

// noGrants is what a client gets while it is not (or no longer) identified
// although its cached grants say so: a customer whose session has expired.
// Shared and never modified.
var noGrants = &grants{}

// grantsFor computes a client's grants from its client id and username (for
// a certificate login the username was set to the device id). It only reads
// what a session restored from storage also has, so it works for offline
// sessions after a restart. Unknown clients get no grants. A customer
// (username with CustomerPrefix, not in the registry) gets the customer role
// when the ACL defines it; whether its session is still active is not part of
// the result but checked at each use (Hook.grants), so that it is never
// cached.
func (p *policy) grantsFor(cl *mqtt.Client) *grants {
	g := &grants{cl: cl, pol: p}
	username := string(cl.Properties.Username)
	var r *role
	switch {
	case username != "":
		if d := p.devices[username]; d != nil {
			if !deviceClientID(cl.ID, d.id) {
				return g
			}
			r = d.role
			break
		}
		// The registry refuses ids with the prefix, so this cannot shadow
		// a device.
		if p.cust == nil || !isCustomerName(username) || !deviceClientID(cl.ID, username) {
			return g
		}
		r = p.cust
		g.customer = username
	case p.anon != nil && validLevelValue(cl.ID):
		r = p.anon
	default:
		return g
	}
	g.identified = true
	g.role = r.name
	g.id = Identity{Device: username, Role: r.name, ClientID: cl.ID, Anonymous: username == "", Customer: g.customer != ""}
	g.publish, g.publishM = expandAll(r.publish, cl.ID, username)
	g.retain, _ = expandAll(r.retain, cl.ID, username) // %m is refused in retain
	g.subscribe, g.subscribeM = expandAll(r.subscribe, cl.ID, username)
	if len(r.deny) > 0 {
		g.deny = make([]string, len(r.deny))
		for i, t := range r.deny {
			g.deny[i] = t.expandDeny(cl.ID, username)
		}
	}
	return g
}

// expandAll expands a role's templates, the plain ones and the %m ones apart
// so that the plain checks stay a simple scan.
func expandAll(ts []template, clientID, username string) ([]string, []memberGrant) {
	out := make([]string, 0, len(ts))
	var member []memberGrant
	for _, t := range ts {
		f, ok := t.expand(clientID, username)
		switch {
		case !ok:
		case t.member >= 0:
			root, _, _ := strings.Cut(f, "/")
			member = append(member, memberGrant{filter: f, level: t.member, root: root})
		default:
			out = append(out, f)
		}
	}
	return out, member
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

// canPublish: topic is a valid topic name covered by a publish grant and
// matched by no deny filter. m decides %m grants; nil = they cover nothing.
func (g *grants) canPublish(topic string, m *membershipRef) bool {
	if !validTopic(topic) || anyCovers(topic, g.deny) {
		return false
	}
	return anyCovers(topic, g.publish) || g.memberCovers(topic, g.publishM, m)
}

// canRetain: topic may be published with the retain flag (publish is checked separately).
func (g *grants) canRetain(topic string) bool {
	return validTopic(topic) && anyCovers(topic, g.retain)
}

// canRead: every topic that filter (a subscription filter, possibly shared,
// or the topic of a delivery) can match is covered by one subscribe grant,
// and not every one is matched by one deny filter. A subscription that can
// match denied and allowed topics is granted: each delivery comes here with
// its topic, which a deny filter then refuses. The deny filters are checked
// first, so a denied topic costs no Membership call. m decides %m grants;
// nil = they cover nothing.
func (g *grants) canRead(filter string, m *membershipRef) bool {
	f, ok := stripShare(filter)
	if !ok || !validFilter(f) || anyCovers(f, g.deny) {
		return false
	}
	return anyCovers(f, g.subscribe) || g.memberCovers(f, g.subscribeM, m)
}

// memberCovers reports whether one %m grant covers f: f is within the grant
// (%m taken as "+") and its level at %m is one literal value that m approves
// for this client. A wildcard there ("chat/+/events") is never covered, as
// it would reach conversations the client is not a member of. Called at
// every delivery on such topics, it does not allocate (beyond what m does).
func (g *grants) memberCovers(f string, ms []memberGrant, m *membershipRef) bool {
	if m == nil {
		return false
	}
	for _, mg := range ms {
		if !filterWithin(f, mg.filter) {
			continue
		}
		// validLevelValue also refuses "+", "#", "" and "$...".
		v, ok := levelAt(f, mg.level)
		if !ok || !validLevelValue(v) {
			continue
		}
		if mm := m.forRoot(mg.root); mm != nil && mm.Member(g.id, v) {
			return true
		}
	}
	return false
}

// levelAt returns level i (0-based) of f, without allocating.
func levelAt(f string, i int) (string, bool) {
	start := 0
	for ; i > 0; i-- {
		j := strings.IndexByte(f[start:], '/')
		if j < 0 {
			return "", false
		}
		start += j + 1
	}
	return f[start:levelEnd(f, start)], true
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
