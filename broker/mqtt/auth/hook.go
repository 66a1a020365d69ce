package auth

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Options configures the auth hook.
type Options struct {
	// Server is the broker the hook is added to; it sends the CONNACKs that
	// mochi's hook API cannot (0x85, 0x87, 0x9F). Required.
	Server *mqtt.Server
	// Devices is the device registry (configs/devices.yaml format); nil or
	// empty is an empty registry.
	Devices []byte
	// ACL is the topic ACL (configs/acl.yaml format). Required.
	ACL []byte
	// AllowAnonymous lets clients without credentials in with AnonymousRole
	// (default "anonymous"). Labs and interop tests only.
	AllowAnonymous bool
	AnonymousRole  string
	// CustomerRole is the role of customers (see SetCustomers); default
	// "customer". The ACL must define it once customers are set.
	CustomerRole string
	// ConnectRatePerMinute limits CONNECT attempts per source address; 0 = no limit.
	ConnectRatePerMinute int
	// PasswordWorkers is how many password checks run at once; 0 = one
	// per CPU. Waiting checks are served in turn by source address.
	PasswordWorkers int
	// LoginBackoffAfter wrong passwords in a row for one device id from one
	// source address start a backoff: attempts from there are refused
	// (0x86) without a check for 1 s, doubling per failure up to
	// LoginBackoffMax (default 1 min). 0 = no backoff.
	LoginBackoffAfter int
	LoginBackoffMax   time.Duration
	// OnLoginBackoff is called for each attempt refused by the backoff.
	OnLoginBackoff func()
	// MaxConnectionsPerIdentity caps the connections of one device id
	// (client ids <id> and <id>:<suffix>), MaxConnectionsPerCustomer those
	// of one customer; past it CONNACK 0x97 (v5) / 0x03 (v3.1.1). 0 = no cap.
	MaxConnectionsPerIdentity int
	MaxConnectionsPerCustomer int
	// ReservedConnections of the server's MaximumClients are kept for
	// devices of ReservedRoles: others are refused with 0x89 once only that
	// many slots are left.
	ReservedConnections int64
	ReservedRoles       []string
	// Now is the clock; nil = time.Now.
	Now func() time.Time
	// OnLogin, when set, is called after a device (not a customer or an
	// anonymous client) has logged in, with its id and remote address. It
	// must not block.
	OnLogin func(device, remote string)
	// Log receives auth warnings; nil = the server's logger.
	Log *slog.Logger
}

// Defaults of Options.
const (
	DefaultAnonymousRole   = "anonymous"
	DefaultCustomerRole    = "customer"
	DefaultLoginBackoffMax = time.Minute
)

// Hook is the mochi hook that authenticates clients and enforces the ACL.
// Add it to the server before any hook that persists messages in OnPublish.
type Hook struct {
	mqtt.HookBase

	srv       *mqtt.Server
	log       *slog.Logger
	now       func() time.Time
	anonRole  string // "" = anonymous clients not allowed
	custRole  string
	ratePerM  int
	limiter   *rateLimiter
	verified  *verifyCache
	verifySem *fairSem
	backoff   *loginBackoff
	onBackoff func()
	onLogin   func(device, remote string)

	perIdentity, perCustomer int
	reserved                 int64
	reservedRoles            map[string]bool
	conns                    identityConns

	reloadMu     sync.Mutex
	pol          atomic.Pointer[policy]
	clients      grantCache
	customers    atomic.Pointer[customersRef]  // nil = no customer logins
	membership   atomic.Pointer[membershipRef] // nil = %m grants cover nothing
	membershipMu sync.Mutex                    // serialises membership updates
}

var _ mqtt.Hook = (*Hook)(nil)

// NewHook validates the registry and the ACL and returns the hook.
func NewHook(opts Options) (*Hook, error) {
	if opts.Server == nil {
		return nil, errors.New("auth: Options.Server is required")
	}
	if len(opts.ACL) == 0 {
		return nil, errors.New("auth: Options.ACL is empty")
	}
	if opts.ConnectRatePerMinute < 0 {
		return nil, fmt.Errorf("auth: ConnectRatePerMinute %d: want 0 (no limit) or more", opts.ConnectRatePerMinute)
	}
	h := &Hook{
		srv:       opts.Server,
		log:       opts.Log,
		now:       opts.Now,
		custRole:  opts.CustomerRole,
		ratePerM:  opts.ConnectRatePerMinute,
		verified:  newVerifyCache(4096, 5*time.Minute),
		onBackoff: opts.OnLoginBackoff,
		onLogin:   opts.OnLogin,

		perIdentity: opts.MaxConnectionsPerIdentity,
		perCustomer: opts.MaxConnectionsPerCustomer,
		reserved:    opts.ReservedConnections,
	}
	if opts.PasswordWorkers < 0 || opts.LoginBackoffAfter < 0 || opts.MaxConnectionsPerIdentity < 0 ||
		opts.MaxConnectionsPerCustomer < 0 || opts.ReservedConnections < 0 {
		return nil, errors.New("auth: PasswordWorkers, LoginBackoffAfter, MaxConnectionsPer* and ReservedConnections: 0 or more")
	}
	workers := opts.PasswordWorkers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	h.verifySem = newFairSem(workers)
	backoffMax := opts.LoginBackoffMax
	if backoffMax <= 0 {
		backoffMax = DefaultLoginBackoffMax
	}
	h.backoff = newLoginBackoff(opts.LoginBackoffAfter, backoffMax)
	h.reservedRoles = make(map[string]bool, len(opts.ReservedRoles))
	for _, r := range opts.ReservedRoles {
		h.reservedRoles[r] = true
	}
	if h.log == nil {
		h.log = opts.Server.Log
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.custRole == "" {
		h.custRole = DefaultCustomerRole
	}
	if opts.AllowAnonymous {
		h.anonRole = opts.AnonymousRole
		if h.anonRole == "" {
			h.anonRole = DefaultAnonymousRole
		}
	}
	if opts.ConnectRatePerMinute > 0 {
		h.limiter = newRateLimiter(opts.ConnectRatePerMinute, maxRateSources)
	}
	p, err := h.buildPolicy(opts.Devices, opts.ACL)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	h.pol.Store(p)
	return h, nil
}

// buildPolicy builds a policy with the hook's anonymous and customer roles.
// An ACL without the customer role is valid as long as no customers are set
// (SetCustomers and Reload check that).
func (h *Hook) buildPolicy(devices, acl []byte) (*policy, error) {
	p, err := buildPolicy(devices, acl, h.anonRole)
	if err != nil {
		return nil, err
	}
	p.cust = p.roles[h.custRole]
	return p, nil
}

// Reload validates a new registry and ACL and, only if both are valid,
// replaces the current ones atomically. Connected clients keep their
// connection; their grants are recomputed on their next publish, subscribe or
// delivery, so a subscription the new ACL no longer covers stops receiving.
// While customers are set (SetCustomers), an ACL without the customer role is
// refused: it would lock every customer out.
func (h *Hook) Reload(devices, acl []byte) error {
	if len(acl) == 0 {
		return errors.New("auth: reload: ACL is empty")
	}
	p, err := h.buildPolicy(devices, acl)
	if err != nil {
		return fmt.Errorf("auth: reload: %w", err)
	}
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	if p.cust == nil && h.customers.Load() != nil {
		return fmt.Errorf("auth: reload: acl: customer role %q is not defined (roles: %s), and customers log in", h.custRole, roleList(p.roles))
	}
	h.pol.Store(p)
	h.clients.clear()
	return nil
}

// ID implements mqtt.Hook.
func (h *Hook) ID() string { return "storeedge-auth" }

// Provides implements mqtt.Hook.
func (h *Hook) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnDisconnect,
		mqtt.OnPublish, mqtt.OnClientExpired:
		return true
	}
	return false
}

// OnConnect applies the connect-rate limit per source address and the client
// identifier rule, answering with CONNACK 0x9F or 0x85 itself (mochi's
// OnConnectAuthenticate can only produce 0x86).
func (h *Hook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	if h.limiter != nil {
		src := remoteHost(cl.Net.Remote)
		ok, logNow, refused := h.limiter.allow(src, h.now())
		if !ok {
			if logNow {
				h.log.Warn("auth: connect rate limit exceeded, refusing connections from this source",
					"remote", src, "limit_per_minute", h.ratePerM, "refused_since_last_log", refused)
			}
			return h.refuse(cl, packets.ErrConnectionRateExceeded)
		}
	}

	pol := h.pol.Load()
	id, isDevice := h.claimedIdentity(pol, cl)
	switch {
	case isDevice && isCustomerName(id): // no device has the prefix
		if !deviceClientID(cl.ID, id) {
			h.log.Warn("auth: client identifier refused: must be the customer id or <customer id>:<suffix>",
				"customer", clip(id), "client", clip(cl.ID), "remote", cl.Net.Remote)
			return h.refuse(cl, packets.ErrClientIdentifierNotValid)
		}
	case isDevice:
		if !deviceClientID(cl.ID, id) {
			h.log.Warn("auth: client identifier refused: must be the device id or <device id>:<suffix>",
				"device", clip(id), "client", clip(cl.ID), "remote", cl.Net.Remote)
			return h.refuse(cl, packets.ErrClientIdentifierNotValid)
		}
	case h.anonRole != "":
		if !validLevelValue(cl.ID) {
			h.log.Warn("auth: anonymous client identifier refused", "client", clip(cl.ID), "remote", cl.Net.Remote)
			return h.refuse(cl, packets.ErrClientIdentifierNotValid)
		}
	}
	// Anonymous clients when anonymous access is off are refused in
	// OnConnectAuthenticate (0x86), which says more than 0x85 would.
	return nil
}

// claimedIdentity returns the device (or customer) id a client claims (its
// username, or the device of its verified TLS certificate), before any
// password is checked.
func (h *Hook) claimedIdentity(pol *policy, cl *mqtt.Client) (string, bool) {
	if len(cl.Properties.Username) > 0 {
		return string(cl.Properties.Username), true
	}
	if cn, ok := verifiedCN(cl); ok {
		if d := pol.byCN[cn]; d != nil {
			return d.id, true
		}
	}
	return "", false
}

// refuse sends a failing CONNACK and returns the reason as the error that
// makes mochi close the connection. MQTT 3.1.1 has no codes for some reasons
// and mochi does not map them, so a close equivalent is sent instead.
func (h *Hook) refuse(cl *mqtt.Client, code packets.Code) error {
	send := code
	if cl.Properties.ProtocolVersion < 5 {
		if _, ok := packets.V5CodesToV3[code]; !ok {
			switch code {
			case packets.ErrNotAuthorized:
				send = packets.ErrBadUsernameOrPassword // -> 0x05 not authorized
			default:
				send = packets.ErrServerUnavailable // -> 0x03 server unavailable
			}
		}
	}
	if err := h.srv.SendConnack(cl, send, false, nil); err != nil {
		return fmt.Errorf("auth: %w (sending CONNACK: %w)", code, err)
	}
	return code
}

// OnConnectAuthenticate authenticates a client by username (device id) and
// password, by verified TLS client certificate (CN = cert_cn), as a customer
// (username with CustomerPrefix, password = session secret, see
// SetCustomers), or as anonymous when allowed. A verified certificate is
// enough on its own; a username sent with it must name the same device. A
// certificate login sets the client's username to the device id so that its
// grants can be recomputed from a stored session. A Last Will the client's
// role may not publish (or retain) is refused with CONNACK 0x87.
func (h *Hook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	pol := h.pol.Load()
	username := string(cl.Properties.Username)
	remote := cl.Net.Remote
	cn, hasCert := verifiedCN(cl)
	certDev := (*device)(nil)
	if hasCert {
		certDev = pol.byCN[cn]
	}

	switch {
	case certDev != nil:
		if username != "" && username != certDev.id {
			h.log.Warn("auth: login refused: username and client certificate name different devices",
				"device", clip(username), "cert_device", certDev.id, "remote", remote)
			return false
		}
		cl.Properties.Username = []byte(certDev.id)
	case isCustomerName(username):
		// No device has the prefix (the registry refuses it). The secret is
		// checked by a SHA-256 compare in Customers: no hashing semaphore or
		// dummy hash, and whether customer logins are on is no secret.
		cust := h.currentCustomers()
		if cust == nil {
			h.log.Warn("auth: login refused: customer logins are off", "customer", clip(username), "remote", remote)
			return false
		}
		ok, err := cust.VerifyCustomer(username, pk.Connect.Password)
		switch {
		case err != nil:
			h.log.Error("auth: login refused: customer check failed", "customer", clip(username), "remote", remote, "error", err)
			return false
		case !ok:
			h.log.Warn("auth: login refused: unknown customer, wrong secret or session expired", "customer", clip(username), "remote", remote)
			return false
		}
	case username != "":
		src := remoteHost(remote)
		if blocked, until := h.backoff.blocked(username, src, h.now()); blocked {
			if h.onBackoff != nil {
				h.onBackoff()
			}
			h.log.Debug("auth: login refused unchecked: too many wrong passwords from this address, backing off",
				"device", clip(username), "remote", remote, "until", until)
			return false
		}
		d := pol.devices[username]
		hash := dummyHash
		if d != nil && d.hash != "" {
			hash = d.hash
		}
		ok, err := h.verify(hash, pk.Connect.Password, src)
		if ok && d != nil && d.hash != "" {
			h.backoff.succeeded(username, src)
		} else if err == nil {
			if w := h.backoff.failed(username, src, h.now()); w > 0 {
				h.log.Warn("auth: wrong passwords in a row: attempts for this device from this address are refused unchecked for a while (storeedge_login_backoff_refused_total)",
					"device", clip(username), "remote", remote, "window", w)
			}
		}
		switch {
		case err != nil:
			h.log.Error("auth: login refused: password hash unusable", "device", username, "remote", remote, "error", err)
			return false
		case d == nil:
			h.log.Warn("auth: login refused: unknown device", "device", clip(username), "remote", remote)
			return false
		case d.hash == "":
			h.log.Warn("auth: login refused: device logs in by certificate only", "device", username, "remote", remote)
			return false
		case !ok:
			h.log.Warn("auth: login refused: wrong password", "device", username, "remote", remote)
			return false
		}
	default:
		if h.anonRole == "" {
			if hasCert {
				h.log.Warn("auth: login refused: client certificate name is not in the registry", "cert_cn", clip(cn), "client", clip(cl.ID), "remote", remote)
			} else {
				h.log.Warn("auth: login refused: no credentials and anonymous access is off", "client", clip(cl.ID), "remote", remote)
			}
			return false
		}
	}

	g := pol.grantsFor(cl)
	if !g.identified {
		// The client id rule was checked in OnConnect; this catches a reload
		// in between.
		h.log.Warn("auth: login refused: client identifier not valid for this device", "device", clip(username), "client", clip(cl.ID), "remote", remote)
		return false
	}
	if atomic.LoadUint32(&cl.Properties.Will.Flag) == 1 {
		w := &cl.Properties.Will
		// No Membership for %m grants: the will is published later, when the
		// client may no longer be a member.
		if !g.canPublish(w.TopicName, nil) || (w.Retain && !g.canRetain(w.TopicName)) {
			h.log.Warn("auth: login refused: will topic not permitted", "device", string(cl.Properties.Username),
				"client", cl.ID, "topic", clip(w.TopicName), "retain", w.Retain, "remote", remote)
			// Answer 0x87 rather than the 0x86 mochi would send for a false
			// return; stopping the client makes mochi's own CONNACK a no-op.
			_ = h.refuse(cl, packets.ErrNotAuthorized) // the connection is closed either way
			cl.Stop(packets.ErrNotAuthorized)
			return false
		}
	}
	if !h.admitConnection(cl, g) {
		return false
	}
	h.clients.put(cl.ID, g)
	if h.onLogin != nil && g.customer == "" && len(cl.Properties.Username) > 0 {
		h.onLogin(string(cl.Properties.Username), remote)
	}
	h.log.Debug("auth: login", "device", string(cl.Properties.Username), "client", cl.ID, "role", g.role, "remote", remote)
	return true
}

// verify checks a password against a hash, using the success cache and
// bounding how many hashes run at once.
func (h *Hook) verify(hash string, pw []byte, src string) (bool, error) {
	k := verifyKey(hash, pw)
	if hash != dummyHash && h.verified.hit(k, h.now()) {
		return true, nil
	}
	h.verifySem.acquire(src)
	defer h.verifySem.release()
	if hash != dummyHash && h.verified.hit(k, h.now()) { // verified while we waited
		return true, nil
	}
	ok, err := VerifyPassword(hash, string(pw))
	if err != nil {
		return false, fmt.Errorf("auth: %w", err)
	}
	if ok && hash != dummyHash {
		h.verified.add(k, h.now())
	}
	return ok, nil
}

// verifiedCN returns the Common Name of a TLS client certificate that the
// listener verified against its client CA.
func verifiedCN(cl *mqtt.Client) (string, bool) {
	tc, ok := cl.Net.Conn.(*tls.Conn)
	if !ok {
		return "", false
	}
	st := tc.ConnectionState()
	if !st.HandshakeComplete || len(st.VerifiedChains) == 0 || len(st.PeerCertificates) == 0 {
		return "", false
	}
	cn := st.PeerCertificates[0].Subject.CommonName
	return cn, cn != ""
}

// OnACLCheck allows a publish (write) or a subscription filter / delivered
// topic (!write) when one grant of the client's role covers it and no deny
// filter of the role matches the topic (or covers the whole filter). It runs
// for every delivery, so with the client's grants cached it does not allocate.
func (h *Hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if cl.Net.Inline {
		return true
	}
	g := h.grants(cl)
	if write {
		if topic == "" {
			// A publish by topic alias only: mochi checks the ACL before it
			// resolves the alias; OnPublish checks the resolved topic.
			return len(g.publish) > 0 || len(g.publishM) > 0
		}
		return g.canPublish(topic, h.currentMembership())
	}
	return g.canRead(topic, h.currentMembership())
}

// CanRead reports whether the client may subscribe to filter, or receive a
// message on topic: the same as OnACLCheck(cl, topic, false).
func (h *Hook) CanRead(cl *mqtt.Client, topic string) bool {
	return h.OnACLCheck(cl, topic, false)
}

// OnPublish checks what OnACLCheck cannot see: the retain flag, and the topic
// of a publish by topic alias (resolved only after the ACL check).
func (h *Hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline || (!pk.FixedHeader.Retain && !pk.Properties.TopicAliasFlag) {
		return pk, nil
	}
	g := h.grants(cl)
	if g.canPublish(pk.TopicName, h.currentMembership()) && (!pk.FixedHeader.Retain || g.canRetain(pk.TopicName)) {
		return pk, nil
	}
	h.log.Debug("auth: publish refused", "client", cl.ID, "topic", pk.TopicName, "retain", pk.FixedHeader.Retain)
	switch {
	case pk.FixedHeader.Qos == 0:
		return pk, packets.ErrRejectPacket // dropped, as mochi does for an ACL refusal
	case cl.Properties.ProtocolVersion == 5 && pk.FixedHeader.Qos == 1:
		return pk, packets.ErrNotAuthorized // PUBACK 0x87
	case cl.Properties.ProtocolVersion == 5:
		// mochi would answer a QoS 2 refusal with a PUBACK: send PUBREC 0x87.
		ack := packets.Packet{
			FixedHeader: packets.FixedHeader{Type: packets.Pubrec},
			PacketID:    pk.PacketID,
			ReasonCode:  packets.ErrNotAuthorized.Code,
			Properties:  packets.Properties{ReasonString: packets.ErrNotAuthorized.Reason},
		}
		if err := cl.WritePacket(ack); err != nil {
			return pk, fmt.Errorf("auth: %w (sending PUBREC: %w)", packets.ErrRejectPacket, err)
		}
		return pk, packets.ErrRejectPacket
	default:
		// MQTT 3.1.1 has no negative acknowledgement: disconnect, as mochi
		// does for an ACL refusal. DisconnectClient returns the code itself.
		_ = h.srv.DisconnectClient(cl, packets.ErrNotAuthorized)
		return pk, packets.ErrRejectPacket
	}
}

// OnDisconnect forgets the client's cached grants, unless the session has
// already been taken over by a newer connection with the same client id.
func (h *Hook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	h.clients.drop(cl)
	h.conns.drop(string(cl.Properties.Username), cl)
}

// admitConnection applies the slots kept for ReservedRoles and the cap per
// device or customer, answering a refusal with its CONNACK (0x89, 0x97)
// itself. It runs once the client is authenticated, so that a guess cannot
// take a slot.
func (h *Hook) admitConnection(cl *mqtt.Client, g *grants) bool {
	if h.reserved > 0 && !h.reservedRoles[g.role] {
		maxClients := h.srv.Options.Capabilities.MaximumClients
		if atomic.LoadInt64(&h.srv.Info.ClientsConnected) >= maxClients-h.reserved {
			h.log.Warn("auth: connection refused: the remaining connections are kept for staff (limits.reserved_connections)",
				"device", clip(string(cl.Properties.Username)), "client", clip(cl.ID), "role", g.role, "remote", cl.Net.Remote)
			_ = h.refuse(cl, packets.ErrServerBusy) // the connection is closed either way
			cl.Stop(packets.ErrServerBusy)
			return false
		}
	}
	identity := string(cl.Properties.Username)
	if identity == "" { // anonymous (labs only): no identity to count
		return true
	}
	limit := h.perIdentity
	if g.customer != "" {
		limit = h.perCustomer
	}
	if ok, held := h.conns.admit(identity, cl, limit); !ok {
		h.log.Warn("auth: connection refused: this device or customer already holds its maximum of connections (limits.max_connections_per_identity / _per_customer)",
			"device", clip(identity), "client", clip(cl.ID), "connections", held, "remote", cl.Net.Remote)
		_ = h.refuse(cl, packets.ErrQuotaExceeded) // the connection is closed either way
		cl.Stop(packets.ErrQuotaExceeded)
		return false
	}
	return true
}

// DisconnectInactiveCustomers disconnects every connection of a customer
// whose session has expired or was revoked: MQTT 5 clients with DISCONNECT
// 0xA0 (maximum connect time), MQTT 3.1.1 clients by closing the
// connection. It returns how many were disconnected. The broker calls it
// periodically.
func (h *Hook) DisconnectInactiveCustomers() int {
	h.conns.mu.Lock()
	var ids []string
	for id := range h.conns.m {
		if isCustomerName(id) {
			ids = append(ids, id)
		}
	}
	h.conns.mu.Unlock()
	n := 0
	for _, id := range ids {
		if h.customerActive(id) {
			continue
		}
		for _, cl := range h.conns.clients(id) {
			if cl.Closed() {
				continue
			}
			h.log.Info("auth: customer session ended (expired or revoked): disconnecting", "customer", id, "client", cl.ID, "remote", cl.Net.Remote)
			_ = h.srv.DisconnectClient(cl, packets.ErrMaxConnectTime) // returns the code itself
			n++
		}
	}
	return n
}

// OnClientExpired forgets the grants of an expired offline session.
func (h *Hook) OnClientExpired(cl *mqtt.Client) {
	h.clients.drop(cl)
}

// grants returns the client's grants under the current policy, from the
// cache when possible. A client the cache does not know (a session restored
// from storage after a restart, or one whose grants were dropped at
// disconnect) gets them computed from its stored client id and username. A
// customer whose session is not active (expired, or no Customers set) gets
// noGrants, asked anew each time, so its deliveries stop when it expires.
func (h *Hook) grants(cl *mqtt.Client) *grants {
	pol := h.pol.Load()
	g := h.clients.get(cl.ID)
	if g == nil || g.cl != cl || g.pol != pol {
		g = pol.grantsFor(cl)
		h.clients.offer(cl.ID, g, func() bool {
			cur, ok := h.srv.Clients.Get(cl.ID)
			return ok && cur == cl
		})
	}
	return h.active(g)
}

// active returns g, or noGrants for a customer whose session is not active.
func (h *Hook) active(g *grants) *grants {
	if g.customer != "" && !h.customerActive(g.customer) {
		return noGrants
	}
	return g
}

// clip shortens a client-supplied string for a log line.
func clip(s string) string {
	const n = 128
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
