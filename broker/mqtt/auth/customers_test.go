package auth

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/internal/testkit/mqtttest"
)

// fakeCustomers stands in for broker/mqtt/auth/customer (Customers) and the chat
// service (Membership): customer sessions with a secret and an active flag,
// and who is a member of what.
type fakeCustomers struct {
	mu      sync.Mutex
	secrets map[string]string          // customer id -> secret of the active session
	expired map[string]bool            // customer id -> session expired
	members map[string]map[string]bool // Identity.Device -> values it is a member of
	asked   []Identity                 // identities Member was asked about
	err     error                      // returned by VerifyCustomer
}

func newFakeCustomers() *fakeCustomers {
	return &fakeCustomers{secrets: map[string]string{}, expired: map[string]bool{}, members: map[string]map[string]bool{}}
}

func (f *fakeCustomers) VerifyCustomer(id string, secret []byte) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return false, f.err
	}
	s, ok := f.secrets[id]
	return ok && !f.expired[id] && s == string(secret), nil
}

func (f *fakeCustomers) CustomerActive(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.secrets[id]
	return ok && !f.expired[id]
}

func (f *fakeCustomers) Member(id Identity, value string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.asked) < 64 {
		f.asked = append(f.asked, id)
	}
	return f.members[id.Device][value]
}

func (f *fakeCustomers) add(id, secret string, memberOf ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.secrets[id] = secret
	for _, v := range memberOf {
		f.setMember(id, v, true)
	}
}

func (f *fakeCustomers) setMember(id, value string, member bool) {
	if f.members[id] == nil {
		f.members[id] = map[string]bool{}
	}
	f.members[id][value] = member
}

func (f *fakeCustomers) member(id, value string, member bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setMember(id, value, member)
}

func (f *fakeCustomers) expire(id string, expired bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.expired[id] = expired
}

// withCustomers sets fc as the hook's Customers and Membership before the
// broker serves.
func withCustomers(t *testing.T, fc *fakeCustomers) brokerOpt {
	return func(c *brokerCfg) {
		c.setup = func(b *testBroker) { setCustomers(t, b, fc) }
	}
}

func TestCustomerLogin(t *testing.T) {
	fc := newFakeCustomers()
	fc.add("cust-a1", "s3cret-a1")
	fc.add("cust-old", "s3cret-old")
	fc.expire("cust-old", true)
	b := startBroker(t, devicesYAML(t, ""), nil, withCustomers(t, fc))

	tests := []struct {
		name string
		o    connectOpts
		want byte
	}{
		{"customer id as client id", connectOpts{clientID: "cust-a1", username: "cust-a1", password: "s3cret-a1"}, codeOK},
		{"client id with suffix", connectOpts{clientID: "cust-a1:phone", username: "cust-a1", password: "s3cret-a1"}, codeOK},
		{"wrong secret", connectOpts{clientID: "cust-a1", username: "cust-a1", password: "wrong-secret"}, codeBadCredentials},
		{"no secret", connectOpts{clientID: "cust-a1", username: "cust-a1"}, codeBadCredentials},
		{"unknown customer", connectOpts{clientID: "cust-zz", username: "cust-zz", password: "s3cret-a1"}, codeBadCredentials},
		{"expired session", connectOpts{clientID: "cust-old", username: "cust-old", password: "s3cret-old"}, codeBadCredentials},
		{"another customer's client id", connectOpts{clientID: "cust-zz", username: "cust-a1", password: "s3cret-a1"}, codeBadClientID},
		{"client id with a slash", connectOpts{clientID: "cust-a1:a/b", username: "cust-a1", password: "s3cret-a1"}, codeBadClientID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := b.connackCode(t, tt.o); got != tt.want {
				t.Fatalf("CONNACK 0x%02X, want 0x%02X", got, tt.want)
			}
		})
	}

	c, ca, err := b.connect(t, connectOpts{clientID: "cust-a1:phone", username: "cust-a1", password: "s3cret-a1"})
	if err != nil {
		t.Fatalf("login: %v (%+v)", err, ca)
	}
	cl, ok := b.srv.Clients.Get("cust-a1:phone")
	if !ok {
		t.Fatal("not connected")
	}
	want := Identity{Device: "cust-a1", Role: "customer", ClientID: "cust-a1:phone", Customer: true}
	if got, ok := b.hook.Identity(cl); !ok || got != want {
		t.Fatalf("Identity = %+v, %v; want %+v", got, ok, want)
	}
	if code := c.subscribe(t, "reply/cust-a1:phone/#"); code >= 0x80 {
		t.Fatalf("own replies: 0x%02X", code)
	}
	if code := c.publish(t, "svc/chat/send", false); code >= 0x80 {
		t.Fatalf("svc/chat/send: 0x%02X", code)
	}
	if code := c.publish(t, "devices/cust-a1/status", false); code != codeNotAuthorized {
		t.Fatalf("devices/cust-a1/status: 0x%02X, want 0x87", code)
	}

	logs := b.logs.all()
	if strings.Contains(logs, "wrong-secret") || strings.Contains(logs, "s3cret") {
		t.Fatalf("a secret was logged:\n%s", logs)
	}
	for _, w := range []string{"wrong secret or session expired customer=cust-a1", "session expired customer=cust-old", "must be the customer id"} {
		if b.logs.count(w) == 0 {
			t.Errorf("no log line with %q in:\n%s", w, logs)
		}
	}

	// A failing check refuses, and says so.
	fc.mu.Lock()
	fc.err = errors.New("session store unreadable")
	fc.mu.Unlock()
	if got := b.connackCode(t, connectOpts{clientID: "cust-a1", username: "cust-a1", password: "s3cret-a1"}); got != codeBadCredentials {
		t.Fatalf("verify error: CONNACK 0x%02X", got)
	}
	if b.logs.count("customer check failed") == 0 {
		t.Errorf("verify error not logged:\n%s", b.logs.all())
	}
}

func TestCustomerLoginOff(t *testing.T) {
	b := startBroker(t, devicesYAML(t, ""), nil) // no SetCustomers
	if got := b.connackCode(t, connectOpts{clientID: "cust-a1", username: "cust-a1", password: "x"}); got != codeBadCredentials {
		t.Fatalf("CONNACK 0x%02X, want 0x86", got)
	}
	if b.logs.count("customer logins are off customer=cust-a1") == 0 {
		t.Errorf("not logged:\n%s", b.logs.all())
	}
}

// TestCustomerSessionExpiry: a connected customer stops receiving as soon as
// its session is no longer active, although its grants are cached.
func TestCustomerSessionExpiry(t *testing.T) {
	fc := newFakeCustomers()
	fc.add("cust-a1", "s3cret-a1")
	b := startBroker(t, devicesYAML(t, ""), nil, withCustomers(t, fc))
	c, ca, err := b.connect(t, connectOpts{clientID: "cust-a1", username: "cust-a1", password: "s3cret-a1"})
	if err != nil {
		t.Fatalf("login: %v (%+v)", err, ca)
	}
	if code := c.subscribe(t, "reply/cust-a1/#"); code >= 0x80 {
		t.Fatalf("subscribe: 0x%02X", code)
	}
	send := func(payload string) {
		t.Helper()
		if err := b.srv.Publish("reply/cust-a1/x", []byte(payload), false, 1); err != nil {
			t.Fatal(err)
		}
	}
	send("1")
	if m := c.next(t); string(m.Payload) != "1" {
		t.Fatalf("got %q", m.Payload)
	}
	cl, _ := b.srv.Clients.Get("cust-a1")
	fc.expire("cust-a1", true)
	if b.hook.CanRead(cl, "reply/cust-a1/x") {
		t.Fatal("expired customer may still read")
	}
	if _, ok := b.hook.Identity(cl); ok {
		t.Fatal("expired customer still identified")
	}
	send("2") // dropped: the session has expired
	fc.expire("cust-a1", false)
	send("3")
	if m := c.next(t); string(m.Payload) != "3" {
		t.Fatalf("expired session received %q", m.Payload)
	}

	// Customers turned off: no customer is active any more.
	if err := b.hook.SetCustomers(nil); err != nil {
		t.Fatal(err)
	}
	if b.hook.CanRead(cl, "reply/cust-a1/x") {
		t.Fatal("customer may read with customers off")
	}
}

// TestCustomerRestoredSession: after a restart, a customer's session
// restored from storage may have messages queued only while the customer's
// session is active.
func TestCustomerRestoredSession(t *testing.T) {
	fc := newFakeCustomers()
	fc.add("cust-a1", "s3cret-a1", "c1")
	o := connectOpts{clientID: "cust-a1:phone", username: "cust-a1", password: "s3cret-a1"}
	b2, cl := restoredSession(t, o, "chat/c1/events", func(b *testBroker) { setCustomers(t, b, fc) })
	if !b2.hook.CanRead(cl, "chat/c1/events") {
		t.Fatal("restored customer session may not receive its conversation")
	}
	if err := b2.srv.Publish("chat/c1/events", []byte("queued"), false, 1); err != nil {
		t.Fatal(err)
	}
	if n := cl.State.Inflight.Len(); n != 1 {
		t.Fatalf("%d messages queued for the active customer, want 1", n)
	}
	fc.expire("cust-a1", true)
	if b2.hook.CanRead(cl, "chat/c1/events") {
		t.Fatal("expired restored session may receive")
	}
	if err := b2.srv.Publish("chat/c1/events", []byte("not for an expired session"), false, 1); err != nil {
		t.Fatal(err)
	}
	if n := cl.State.Inflight.Len(); n != 1 {
		t.Fatalf("a message was queued for an expired customer session (%d inflight)", n)
	}
}

// setCustomers sets fc as Customers and Membership of a test broker.
func setCustomers(t *testing.T, b *testBroker, fc *fakeCustomers) {
	t.Helper()
	if err := b.hook.SetCustomers(fc); err != nil {
		t.Fatal(err)
	}
	b.hook.SetMembership(fc)
}

func TestMembershipSubscribe(t *testing.T) {
	fc := newFakeCustomers()
	fc.add("cust-a1", "s3cret-a1", "c1")
	b := startBroker(t, devicesYAML(t, ""), nil, withCustomers(t, fc))
	c, ca, err := b.connect(t, connectOpts{clientID: "cust-a1:phone", username: "cust-a1", password: "s3cret-a1"})
	if err != nil {
		t.Fatalf("login: %v (%+v)", err, ca)
	}
	tests := []struct {
		filter string
		ok     bool
	}{
		{"chat/c1/events", true},
		{"$share/g/chat/c1/events", true},
		{"chat/c2/events", false}, // not a member
		{"chat/+/events", false},  // would reach every conversation
		{"chat/#", false},
		{"chat/c1/#", false},
		{"chat/c1/+", false},
		{"#", false},
		{"chat//events", false},
		{"booking/customer/cust-a1/events", true},
		{"booking/customer/cust-b2/events", false},
		{"booking/customer/+/events", false},
	}
	for _, tt := range tests {
		code := c.subscribeQoS(t, tt.filter, 0)
		switch {
		case tt.ok && code >= 0x80:
			t.Errorf("%s: refused with 0x%02X", tt.filter, code)
		case !tt.ok && code != codeNotAuthorized:
			t.Errorf("%s: 0x%02X, want 0x87", tt.filter, code)
		}
	}
	fc.mu.Lock()
	asked := append([]Identity(nil), fc.asked...)
	fc.mu.Unlock()
	want := Identity{Device: "cust-a1", Role: "customer", ClientID: "cust-a1:phone", Customer: true}
	if len(asked) == 0 || asked[0] != want {
		t.Fatalf("Member asked about %+v, want %+v", asked, want)
	}

	// Without a Membership, %m grants cover nothing.
	b.hook.SetMembership(nil)
	if code := c.subscribe(t, "chat/c1/events"); code != codeNotAuthorized {
		t.Fatalf("without Membership: 0x%02X, want 0x87", code)
	}
}

// TestMembershipDeliveryStops: membership is asked at every delivery, not
// cached with the grants, so a removed member's next delivery is refused.
func TestMembershipDeliveryStops(t *testing.T) {
	fc := newFakeCustomers()
	fc.add("cust-a1", "s3cret-a1", "c1")
	b := startBroker(t, devicesYAML(t, ""), nil, withCustomers(t, fc))
	c, ca, err := b.connect(t, connectOpts{clientID: "cust-a1", username: "cust-a1", password: "s3cret-a1"})
	if err != nil {
		t.Fatalf("login: %v (%+v)", err, ca)
	}
	for _, f := range []string{"chat/c1/events", "reply/cust-a1/#"} {
		if code := c.subscribe(t, f); code >= 0x80 {
			t.Fatalf("subscribe %s: 0x%02X", f, code)
		}
	}
	send := func(topic, payload string) {
		t.Helper()
		if err := b.srv.Publish(topic, []byte(payload), false, 1); err != nil {
			t.Fatal(err)
		}
	}
	send("chat/c1/events", "1")
	if m := c.next(t); string(m.Payload) != "1" {
		t.Fatalf("got %q", m.Payload)
	}

	fc.member("cust-a1", "c1", false) // removed from the conversation
	send("chat/c1/events", "2")
	send("reply/cust-a1/x", "marker")
	// Messages to one client keep their order: the marker comes first only
	// if "2" was refused.
	poll(t, "the marker", func() bool {
		select {
		case m := <-c.msgs:
			if string(m.Payload) != "marker" {
				t.Fatalf("removed member received %q on %s", m.Payload, m.Topic)
			}
			return true
		default:
			return false
		}
	})

	fc.member("cust-a1", "c1", true) // added again
	send("chat/c1/events", "3")
	if m := c.next(t); string(m.Payload) != "3" {
		t.Fatalf("got %q", m.Payload)
	}
}

func TestCustomerRoleRequired(t *testing.T) {
	noCustomer := strings.Replace(string(configs.ACL), "  customer:\n", "  buyer:\n", 1)
	if noCustomer == string(configs.ACL) {
		t.Fatal("test setup: no customer role in acl.yaml")
	}
	fc := newFakeCustomers()

	// Without customers set, an ACL without the role is fine...
	b := startBroker(t, devicesYAML(t, ""), nil, func(c *brokerCfg) { c.ACL = []byte(noCustomer) })
	// ...but customers cannot be set on it.
	if err := b.hook.SetCustomers(fc); err == nil || !strings.Contains(err.Error(), `role "customer" is not defined`) {
		t.Fatalf("SetCustomers without the role: %v", err)
	}
	if err := b.hook.Reload(devicesYAML(t, ""), configs.ACL); err != nil {
		t.Fatal(err)
	}
	if err := b.hook.SetCustomers(fc); err != nil {
		t.Fatal(err)
	}
	// While customers are set, a reload that drops the role is refused and
	// changes nothing.
	err := b.hook.Reload(devicesYAML(t, ""), []byte(noCustomer))
	if err == nil || !strings.Contains(err.Error(), `customer role "customer" is not defined`) {
		t.Fatalf("reload without the customer role: %v", err)
	}
	if b.hook.pol.Load().cust == nil {
		t.Fatal("refused reload replaced the policy")
	}
	if err := b.hook.SetCustomers(nil); err != nil {
		t.Fatal(err)
	}
	if err := b.hook.Reload(devicesYAML(t, ""), []byte(noCustomer)); err != nil {
		t.Fatalf("reload after customers were turned off: %v", err)
	}

	// Options.CustomerRole names another role.
	b2 := startBroker(t, devicesYAML(t, ""), nil, func(c *brokerCfg) { c.ACL = []byte(noCustomer); c.CustomerRole = "buyer" })
	if err := b2.hook.SetCustomers(fc); err != nil {
		t.Fatalf("CustomerRole buyer: %v", err)
	}
}

// TestMemberGrants checks %m coverage on the policy level: with the level a
// literal value the Membership approves, nothing else.
func TestMemberGrants(t *testing.T) {
	const acl = `
roles:
  customer:
    publish: [svc/%m/ask]
    subscribe: ["chat/%m/events", "x/%m/#", "%m/top", "own/%u/%m"]
`
	srv := mqtttest.NewServer(mqtttest.Options{})
	h, err := NewHook(Options{Server: srv, ACL: []byte(acl)})
	if err != nil {
		t.Fatal(err)
	}
	fc := newFakeCustomers()
	fc.add("cust-a1", "s", "c1", "$x", "top1")
	setCustomersHook(t, h, fc)
	cl := mqtttest.Client(srv, "cust-a1", "cust-a1")

	reads := []struct {
		f  string
		ok bool
	}{
		{"chat/c1/events", true},
		{"chat/c2/events", false},
		{"chat/+/events", false},
		{"chat/#", false},
		{"chat/c1", false},
		{"chat/c1/events/more", false},
		{"x/c1", true}, // "#" covers the parent level
		{"x/c1/a/b", true},
		{"x/c1/#", true},
		{"x/#", false},
		{"x/+/#", false},
		{"x", false},
		{"c1/top", true}, // Member approves c1 at any %m level; the ACL says where it applies
		{"top1/top", true},
		{"+/top", false},
		{"#", false},
		{"$x/top", false}, // a leading %m never covers a $ topic
		{"own/cust-a1/c1", true},
		{"own/cust-b2/c1", false},
		{"$share/g/chat/c1/events", true},
	}
	for _, r := range reads {
		if got := h.CanRead(cl, r.f); got != r.ok {
			t.Errorf("CanRead(%q) = %v, want %v", r.f, got, r.ok)
		}
	}
	if !h.OnACLCheck(cl, "svc/c1/ask", true) || h.OnACLCheck(cl, "svc/c2/ask", true) || h.OnACLCheck(cl, "svc/+/ask", true) {
		t.Error("%m publish grant")
	}
	if !h.OnACLCheck(cl, "", true) {
		t.Error("publish by alias with only %m publish grants refused before the alias is resolved")
	}
}

func setCustomersHook(t *testing.T, h *Hook, fc *fakeCustomers) {
	t.Helper()
	if err := h.SetCustomers(fc); err != nil {
		t.Fatal(err)
	}
	h.SetMembership(fc)
}

// TestMemberACLCheckDoesNotAllocate: the %m path runs for every delivery
// on a conversation; it must not allocate either.
func TestMemberACLCheckDoesNotAllocate(t *testing.T) {
	fc := newFakeCustomers()
	fc.add("cust-a1", "s3cret-a1", "c1")
	fc.mu.Lock()
	fc.asked = make([]Identity, 64) // full: Member records no more
	fc.mu.Unlock()
	b := startBroker(t, devicesYAML(t, ""), nil, withCustomers(t, fc))
	if _, ca, err := b.connect(t, connectOpts{clientID: "cust-a1", username: "cust-a1", password: "s3cret-a1"}); err != nil {
		t.Fatalf("login: %v (%+v)", err, ca)
	}
	cl, _ := b.srv.Clients.Get("cust-a1")
	topics := []string{"chat/c1/events", "chat/c2/events", "reply/cust-a1/x", "booking/customer/cust-a1/events", "booking/events"}
	allocs := testing.AllocsPerRun(200, func() {
		for _, tp := range topics {
			b.hook.OnACLCheck(cl, tp, false)
		}
	})
	if allocs != 0 {
		t.Fatalf("OnACLCheck allocates %.1f times per run", allocs)
	}
	if !b.hook.OnACLCheck(cl, "chat/c1/events", false) || b.hook.OnACLCheck(cl, "chat/c2/events", false) {
		t.Fatal("membership not applied")
	}
}

// memberSet approves fixed values for a client id.
type memberSet map[string]bool

func (m memberSet) Member(id Identity, value string) bool { return m[id.ClientID+"|"+value] }

// TestMembershipUnderRoot: each topic root's %m grants are decided by its
// own Membership, so a camera session id is never taken for a conversation
// id, nor a conversation id for a camera session.
func TestMembershipUnderRoot(t *testing.T) {
	fc := newFakeCustomers()
	fc.add("cust-a1", "s3cret-a1", "c1")
	b := startBroker(t, devicesYAML(t, ""), nil, withCustomers(t, fc))
	b.hook.SetMembershipUnder("camera", memberSet{"cust-a1:phone|w-1": true})
	c, ca, err := b.connect(t, connectOpts{clientID: "cust-a1:phone", username: "cust-a1", password: "s3cret-a1"})
	if err != nil {
		t.Fatalf("login: %v (%+v)", err, ca)
	}
	for _, tt := range []struct {
		filter string
		ok     bool
	}{
		{"chat/c1/events", true},           // chat's membership
		{"camera/cam-1/signal/w-1", true},  // the camera's
		{"camera/cam-2/signal/w-1", true},  // the grant is camera/+/signal/%m
		{"camera/cam-1/signal/c1", false},  // a conversation id is no session
		{"chat/w-1/events", false},         // nor a session a conversation
		{"camera/cam-1/signal/w-2", false}, // someone else's session
		{"camera/cam-1/signal/+", false},   // every session
		{"camera/+/signal/w-1/x", false},   // outside the grant
	} {
		code := c.subscribeQoS(t, tt.filter, 0)
		switch {
		case tt.ok && code >= 0x80:
			t.Errorf("%s: refused with 0x%02X", tt.filter, code)
		case !tt.ok && code != codeNotAuthorized:
			t.Errorf("%s: 0x%02X, want 0x87", tt.filter, code)
		}
	}
	// Removing the camera's own Membership hands its root to the default
	// (chat's, here), which knows no session.
	b.hook.SetMembershipUnder("camera", nil)
	if code := c.subscribeQoS(t, "camera/cam-1/signal/w-1", 0); code != codeNotAuthorized {
		t.Fatalf("after SetMembershipUnder(nil): 0x%02X, want 0x87", code)
	}
}
