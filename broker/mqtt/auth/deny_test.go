package auth

import (
	"strings"
	"testing"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/internal/testkit/mqtttest"
)

// denyACL gives the device k1 and anonymous clients the same role, with
// deny filters next to wide grants.
const denyACL = `
roles:
  kiosk:
    publish: ["lab/#", devices/%u/#]
    subscribe: ["#", $SYS/#]
    deny:
      - lab/secret/#
      - lab/%u/inbox
      - devices/%u/config
      - reply/%c/private/#
      - +/hidden
      - $SYS/broker/clients/#
`

// denyHook is a hook with denyACL, the device k1 (certificate only) and
// anonymous clients in the kiosk role.
func denyHook(t testing.TB) (*mqtt.Server, *Hook) {
	t.Helper()
	srv := mqtttest.NewServer(mqtttest.Options{})
	h, err := NewHook(Options{
		Server:         srv,
		Devices:        []byte("devices:\n  - id: k1\n    role: kiosk\n    cert_cn: k1.store.local\n"),
		ACL:            []byte(denyACL),
		AllowAnonymous: true,
		AnonymousRole:  "kiosk",
	})
	if err != nil {
		t.Fatal(err)
	}
	return srv, h
}

// TestDenyFilters checks deny filters on the policy level: a publish to a
// denied topic, a subscription inside a deny filter and the delivery of a
// denied topic are refused; a wider subscription is granted.
func TestDenyFilters(t *testing.T) {
	srv, h := denyHook(t)
	k1 := mqtttest.Client(srv, "k1:a", "k1")
	anon := mqtttest.Client(srv, "probe", "")

	tests := []struct {
		cl    *mqtt.Client
		write bool
		topic string
		ok    bool
	}{
		// publish
		{k1, true, "lab/open", true},
		{k1, true, "lab/secret/x", false},
		{k1, true, "lab/secret", false}, // "#" matches the parent level
		{k1, true, "lab/secret/a/b", false},
		{k1, true, "lab/secretx", true},
		{k1, true, "lab/hidden", false}, // +/hidden
		{k1, true, "lab/k1/inbox", false},
		{k1, true, "lab/k2/inbox", true}, // %u is the client's own
		{k1, true, "devices/k1/status", true},
		{k1, true, "devices/k1/config", false},
		{k1, true, "", true}, // by alias: checked again once resolved (OnPublish)
		{anon, true, "lab/open", true},
		{anon, true, "lab/secret/x", false},
		{anon, true, "lab/k1/inbox", false}, // no username: %u denies every value
		{anon, true, "lab/probe/inbox", false},
		{anon, true, "lab/probe/outbox", true},

		// subscribe (filters) and delivery (topics)
		{k1, false, "#", true}, // wider: granted, denied topics filtered per delivery
		{k1, false, "lab/#", true},
		{k1, false, "lab/+", true},
		{k1, false, "lab/+/x", true},
		{k1, false, "$share/g/lab/#", true},
		{k1, false, "lab/open", true},
		{k1, false, "lab/secret/#", false}, // entirely inside a deny filter
		{k1, false, "lab/secret/+/y", false},
		{k1, false, "lab/secret", false},
		{k1, false, "lab/secret/x", false},
		{k1, false, "$share/g/lab/secret/#", false},
		{k1, false, "lab/secretx/a", true},
		{k1, false, "+/hidden", false},
		{k1, false, "x/hidden", false},
		{k1, false, "x/hidden/y", true},
		{k1, false, "$SYS/hidden", true}, // "+/hidden" does not match a $-topic
		{k1, false, "$SYS/#", true},
		{k1, false, "$SYS/broker/uptime", true},
		{k1, false, "$SYS/broker/clients/connected", false},
		{k1, false, "$SYS/broker/clients/#", false},
		{k1, false, "lab/k1/inbox", false},
		{k1, false, "lab/+/inbox", true}, // k1's is denied, the others are not
		{k1, false, "reply/k1:a/x", true},
		{k1, false, "reply/k1:a/#", true},
		{k1, false, "reply/k1:a/private/x", false},
		{k1, false, "reply/k1:a/private/#", false},
		{k1, false, "reply/k1:b/private/x", true}, // %c is the client's own
		{anon, false, "lab/#", true},
		{anon, false, "lab/+/inbox", false}, // %u without a value: "+"
		{anon, false, "lab/x/inbox", false},
		{anon, false, "reply/probe/private/x", false},
		{anon, false, "reply/probe/x", true},
	}
	for _, tt := range tests {
		if got := h.OnACLCheck(tt.cl, tt.topic, tt.write); got != tt.ok {
			t.Errorf("%s: OnACLCheck(%q, write=%v) = %v, want %v", tt.cl.ID, tt.topic, tt.write, got, tt.ok)
		}
	}
}

// TestDenyWithMemberGrants: a deny filter wins over a %m grant too, and a
// denied topic is refused before Membership is asked.
func TestDenyWithMemberGrants(t *testing.T) {
	const acl = `
roles:
  customer:
    publish: [svc/%m/ask]
    subscribe: [chat/%m/events, chat/%m/#]
    deny: [chat/+/events/internal, svc/c2/#]
`
	srv := mqtttest.NewServer(mqtttest.Options{})
	h, err := NewHook(Options{Server: srv, ACL: []byte(acl)})
	if err != nil {
		t.Fatal(err)
	}
	fc := newFakeCustomers()
	fc.add("cust-a1", "s", "c1", "c2")
	setCustomersHook(t, h, fc)
	cl := mqtttest.Client(srv, "cust-a1", "cust-a1")

	if !h.CanRead(cl, "chat/c1/events") || !h.CanRead(cl, "chat/c1/#") {
		t.Error("member grants refused")
	}
	fc.mu.Lock()
	fc.asked = nil
	fc.mu.Unlock()
	if h.CanRead(cl, "chat/c1/events/internal") {
		t.Error("denied topic delivered on a member grant")
	}
	if h.OnACLCheck(cl, "svc/c2/ask", true) || !h.OnACLCheck(cl, "svc/c1/ask", true) {
		t.Error("deny does not win over a %m publish grant")
	}
	fc.mu.Lock()
	asked := len(fc.asked)
	fc.mu.Unlock()
	if asked != 1 { // svc/c1/ask only
		t.Errorf("Membership asked %d times, want 1: denied topics must not reach it", asked)
	}
}

// TestDenyACLCheckDoesNotAllocate: the deny filters are expanded once per
// client and cached with its grants; a check does not allocate.
func TestDenyACLCheckDoesNotAllocate(t *testing.T) {
	srv, h := denyHook(t)
	k1 := mqtttest.Client(srv, "k1:a", "k1")
	anon := mqtttest.Client(srv, "probe", "")
	topics := []string{"lab/open", "lab/secret/x", "lab/k1/inbox", "reply/k1:a/private/x", "$SYS/broker/clients/x", "$share/g/lab/#"}
	h.OnACLCheck(k1, "lab/open", false) // fill the cache
	h.OnACLCheck(anon, "lab/open", false)
	allocs := testing.AllocsPerRun(200, func() {
		for _, tp := range topics {
			h.OnACLCheck(k1, tp, false)
			h.OnACLCheck(k1, tp, true)
			h.OnACLCheck(anon, tp, false)
		}
	})
	if allocs != 0 {
		t.Fatalf("OnACLCheck with deny filters allocates %.1f times per run", allocs)
	}
}

// withDeny returns the shipped ACL with deny filters added to the anonymous
// role, whose grants are lab/# for publish, retain and subscribe.
func withDeny(t *testing.T, filters ...string) []byte {
	t.Helper()
	deny := "    deny:\n"
	for _, f := range filters {
		deny += "      - " + f + "\n"
	}
	acl := strings.Replace(string(configs.ACL), "  anonymous:\n", "  anonymous:\n"+deny, 1)
	if acl == string(configs.ACL) {
		t.Fatal("test setup: no anonymous role in acl.yaml")
	}
	return []byte(acl)
}

// TestDenyThroughBroker: grant lab/#, deny lab/secret/# and lab/%c/private/#,
// with real MQTT 5 clients.
func TestDenyThroughBroker(t *testing.T) {
	acl := withDeny(t, "lab/secret/#", "lab/%c/private/#")
	b := startBroker(t, devicesYAML(t, ""), nil, allowAnonymous, func(c *brokerCfg) { c.ACL = acl })
	admin := b.login(t, roleDevices[4]) // publishes (and retains) anything
	sub, _, err := b.connect(t, connectOpts{clientID: "lab-sub"})
	if err != nil {
		t.Fatalf("anonymous lab-sub: %v", err)
	}
	pub, _, err := b.connect(t, connectOpts{clientID: "lab-pub"})
	if err != nil {
		t.Fatalf("anonymous lab-pub: %v", err)
	}

	// Publish to a denied topic: PUBACK 0x87, and the connection survives.
	for _, topic := range []string{"lab/secret/x", "lab/secret", "lab/lab-pub/private/x"} {
		if code := pub.publish(t, topic, false); code != codeNotAuthorized {
			t.Errorf("publish %s: PUBACK 0x%02X, want 0x87", topic, code)
		}
	}
	if code := pub.publish(t, "lab/lab-sub/private/x", false); code >= 0x80 {
		t.Errorf("publish to another client's private topic: 0x%02X, want allowed", code)
	}

	// Subscriptions inside a deny filter: SUBACK 0x87.
	for _, f := range []string{"lab/secret/#", "lab/secret/+/y", "lab/secret", "$share/g/lab/secret/#", "lab/lab-sub/private/#"} {
		if code := sub.subscribe(t, f); code != codeNotAuthorized {
			t.Errorf("subscribe %s: SUBACK 0x%02X, want 0x87", f, code)
		}
	}

	// Retained messages, denied and allowed, stored before the wider
	// subscription is made. Published by the broker itself, which returns
	// when they are stored and fanned out (mochi acknowledges a client's
	// QoS 1 publish before it fans it out, so the subscription could get a
	// retained message a second time, live).
	for _, topic := range []string{"lab/secret/r", "lab/open/r"} {
		if err := b.srv.Publish(topic, []byte("r"), true, 1); err != nil {
			t.Fatal(err)
		}
	}
	if code := sub.subscribe(t, "lab/#"); code != codeGrantedQoS1 {
		t.Fatalf("subscribe lab/#: SUBACK 0x%02X, want 0x01", code)
	}
	// The retained messages are sent right after the SUBACK, before the
	// client's next packet is read: its own marker comes after them.
	if code := sub.publish(t, "lab/marker", false); code >= 0x80 {
		t.Fatalf("marker: 0x%02X", code)
	}
	for _, want := range []string{"lab/open/r", "lab/marker"} {
		if m := sub.next(t); m.Topic != want {
			t.Fatalf("on lab/#: got %s, want %s (denied retained messages are not delivered)", m.Topic, want)
		}
	}

	// Live messages from one publisher, so that they are fanned out in
	// order: each denied one is published before an allowed one on the same
	// subscription; only the allowed ones arrive.
	for _, topic := range []string{
		"lab/secret/x",
		"lab/open",
		"lab/lab-sub/private/x", // denied to lab-sub by its %c
		"lab/lab-pub/private/x", // but not lab-pub's
		"lab/secret",
		"lab/secretx",
	} {
		if code := admin.publish(t, topic, false); code >= 0x80 {
			t.Fatalf("admin publish %s: 0x%02X", topic, code)
		}
	}
	for _, want := range []string{"lab/open", "lab/lab-pub/private/x", "lab/secretx"} {
		if m := sub.next(t); m.Topic != want {
			t.Fatalf("on lab/#: got %s, want %s", m.Topic, want)
		}
	}
}

// TestDenyReload: a reload with a broken deny filter keeps the running ACL;
// a good one silences a denied topic on a subscription made before.
func TestDenyReload(t *testing.T) {
	b := startBroker(t, devicesYAML(t, ""), nil, allowAnonymous)
	admin := b.login(t, roleDevices[4])
	sub, _, err := b.connect(t, connectOpts{clientID: "lab-sub"})
	if err != nil {
		t.Fatalf("anonymous: %v", err)
	}
	// QoS 0: outbound QoS 1 packet ids could collide with the SUBSCRIBE at
	// the end in mochi (SUBACK 0x91), see TestACLMatrix.
	if code := sub.subscribeQoS(t, "lab/#", 0); code >= 0x80 {
		t.Fatalf("subscribe lab/#: 0x%02X", code)
	}
	expect := func(publish []string, want ...string) {
		t.Helper()
		for _, topic := range publish {
			if code := admin.publish(t, topic, false); code >= 0x80 {
				t.Fatalf("admin publish %s: 0x%02X", topic, code)
			}
		}
		for _, w := range want {
			if m := sub.next(t); m.Topic != w {
				t.Fatalf("got %s, want %s", m.Topic, w)
			}
		}
	}
	expect([]string{"lab/secret/x"}, "lab/secret/x")

	err = b.hook.Reload(devicesYAML(t, ""), withDeny(t, "lab/secret/#", "lab/#/x"))
	for _, w := range []string{`role "anonymous"`, `deny filter "lab/#/x"`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Fatalf("reload with a broken deny filter: %v, want an error naming %s", err, w)
		}
	}
	expect([]string{"lab/secret/x"}, "lab/secret/x") // the old ACL still runs

	if err := b.hook.Reload(devicesYAML(t, ""), withDeny(t, "lab/secret/#")); err != nil {
		t.Fatalf("reload: %v", err)
	}
	expect([]string{"lab/secret/x", "lab/open"}, "lab/open")
	if code := sub.subscribe(t, "lab/secret/#"); code != codeNotAuthorized {
		t.Fatalf("subscribe lab/secret/# after the reload: 0x%02X, want 0x87", code)
	}
}
