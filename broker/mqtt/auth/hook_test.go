package auth

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/mochi-mqtt/server/v2"
	"golang.org/x/crypto/bcrypt"

	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/internal/testkit/mqtttest"
)

const (
	codeOK             = 0x00
	codeGrantedQoS1    = 0x01
	codeBadCredentials = 0x86
	codeNotAuthorized  = 0x87
	codeBadClientID    = 0x85
	codeRateExceeded   = 0x9F
)

func allowAnonymous(o *brokerCfg) { o.AllowAnonymous = true }

// TestACLMatrix walks role x topic x action against the shipped
// configs/acl.yaml, each role a real MQTT 5 client: PUBACK / SUBACK reason
// codes say what the broker allowed.
func TestACLMatrix(t *testing.T) {
	// A customer, member of conversation c1 only.
	fc := newFakeCustomers()
	fc.add("cust-m1", "s3cret-m1", "c1")
	b := startBroker(t, devicesYAML(t, ""), nil, allowAnonymous, withCustomers(t, fc))

	type actor struct {
		role, me, cid string
		c             *testClient
	}
	var actors []*actor
	for _, d := range roleDevices {
		actors = append(actors, &actor{role: d.role, me: d.id, cid: d.clientID, c: b.login(t, d)})
	}
	anon, _, err := b.connect(t, connectOpts{clientID: "lab-probe"})
	if err != nil {
		t.Fatalf("anonymous: %v", err)
	}
	actors = append(actors, &actor{role: "anonymous", me: "lab-probe", cid: "lab-probe", c: anon})
	cust, ca, err := b.connect(t, connectOpts{clientID: "cust-m1:phone", username: "cust-m1", password: "s3cret-m1"})
	if err != nil {
		t.Fatalf("customer: %v (%+v)", err, ca)
	}
	actors = append(actors, &actor{role: "customer", me: "cust-m1", cid: "cust-m1:phone", c: cust})

	devicesAll := "kiosk chat-tablet camera staff admin cloud"
	loggedIn := devicesAll + " customer"
	const (
		pub  = "publish"
		pubR = "publish-retained"
		sub  = "subscribe"
	)
	// {me} is the device id, {cid} the client id of the acting client.
	matrix := []struct {
		action, topic, allowed string
	}{
		{pub, "devices/{me}/status", devicesAll},
		{pubR, "devices/{me}/status", devicesAll},
		{pub, "devices/{me}/telemetry", devicesAll},
		{pubR, "devices/{me}/telemetry", "admin"},
		{pub, "devices/someone-else/status", "admin"},
		{pub, "devices/{me}/status/extra", "admin"},
		{pub, "svc/booking/create", "kiosk staff admin customer"},
		{pub, "svc/booking/progress", "kiosk camera staff admin customer"},
		{pub, "svc/booking/cancel", "kiosk staff admin customer"},
		{pubR, "svc/booking/create", "admin"},
		{pub, "svc/promotions/list", "kiosk staff admin"},
		{pub, "svc/chat/send", "chat-tablet staff admin customer"},
		{pub, "svc/chat/send/x", "chat-tablet staff admin"},
		{pub, "svc/media/upload", "chat-tablet camera staff admin customer"},
		{pub, "svc/camera/start", "camera staff admin"},
		{pub, "svc", "staff admin"}, // "svc/#" covers its parent level
		{pub, "reply/{cid}/x", "admin"},
		{pub, "reply/someone-else/x", "admin"},
		{pub, "booking/events", "admin"},
		{pub, "chat/c1/events", "admin"},
		{pubR, "svc/chat/send", "admin"},
		{pub, "camera/{me}/signal/s1", "camera staff admin"},
		{pub, "camera/cam-02/signal/s1", "staff admin"},
		{pub, "hq/promotions/p1", "cloud admin"},
		{pubR, "hq/promotions/p1", "cloud admin"},
		{pub, "hq/chat/message", "admin"}, // HQ's chat and bookings come through cloudsync only
		{pub, "hq/booking/request", "admin"},
		{pub, "lab/x", "anonymous admin"},
		{pubR, "lab/x", "anonymous admin"},

		{sub, "reply/{cid}/#", loggedIn},
		{sub, "reply/{cid}/x/y", loggedIn},
		{sub, "reply/{cid}", loggedIn},
		{sub, "$share/g/reply/{cid}/#", loggedIn},
		{sub, "reply/{me}/#", "chat-tablet camera admin cloud"}, // kiosk, staff and customer use a client id suffix
		{sub, "reply/+/#", "admin"},
		{sub, "reply/#", "admin"},
		{sub, "reply/someone-else/#", "admin"},
		{sub, "#", "admin"},
		{sub, "+/#", "admin"},
		{sub, "+", "admin"},
		{sub, "devices/#", "admin"},
		{sub, "devices/+/status", "staff admin"},
		{sub, "devices/kiosk-01/status", "staff admin"},
		{sub, "devices/+/telemetry", "admin"},
		{sub, "devices/+/+", "admin"},
		{sub, "booking/events", "staff admin"},
		{sub, "booking/#", "admin"},
		{sub, "booking/+", "admin"},
		{sub, "$share/workers/booking/events", "staff admin"},
		{sub, "$share/workers/#", "admin"},
		{sub, "chat/+/events", "staff admin"},
		{sub, "chat/c1/events", "staff admin customer"}, // customer: a member of c1
		{sub, "chat/c2/events", "staff admin"},
		{sub, "$share/g/chat/c1/events", "staff admin customer"},
		{sub, "chat/c1/#", "admin"},
		{sub, "chat/#", "admin"},
		{sub, "booking/customer/{me}/events", "admin customer"},
		{sub, "booking/customer/cust-other/events", "admin"},
		{sub, "booking/customer/+/events", "admin"},
		{sub, "camera/{me}/signal/#", "camera staff admin"},
		{sub, "camera/cam-02/signal/s1", "staff admin"},
		{sub, "camera/+/signal/#", "staff admin"},
		{sub, "camera/#", "admin"},
		{sub, "$SYS/#", "admin"},
		{sub, "$SYS/broker/uptime", "admin"},
		{sub, "hq/#", "admin"},
		{sub, "svc/#", "admin"},
		{sub, "lab/#", "anonymous admin"},
		{sub, "lab/+/x", "anonymous admin"},
	}

	for _, row := range matrix {
		allowed := map[string]bool{}
		for _, r := range strings.Fields(row.allowed) {
			allowed[r] = true
		}
		for _, a := range actors {
			topic := strings.NewReplacer("{me}", a.me, "{cid}", a.cid).Replace(row.topic)
			t.Run(a.role+"/"+row.action+"/"+topic, func(t *testing.T) {
				var code byte
				if row.action == sub {
					// QoS 0 and unsubscribed at once: a client subscribed to
					// "#" at QoS 1 gets outbound packet ids that collide with
					// its own SUBSCRIBE ids in mochi (SUBACK 0x91).
					code = a.c.subscribeQoS(t, topic, 0)
					if code < 0x80 {
						a.c.unsubscribe(t, topic)
					}
				} else {
					code = a.c.publish(t, topic, row.action == pubR)
				}
				switch {
				case allowed[a.role] && code >= 0x80:
					t.Errorf("refused with 0x%02X, want allowed", code)
				case !allowed[a.role] && code != codeNotAuthorized:
					t.Errorf("got 0x%02X, want 0x87 not authorized", code)
				}
			})
		}
	}
}

func TestLoginBcryptAndArgon2id(t *testing.T) {
	bc, err := HashPassword("kiosk-secret")
	if err != nil {
		t.Fatal(err)
	}
	ar := argon2idHash("tablet-secret", []byte("salt-for-tablet!"))
	devices := fmt.Sprintf("devices:\n  - id: kiosk-07\n    role: kiosk\n    password_hash: %q\n  - id: tab-07\n    role: chat-tablet\n    password_hash: %q\n", bc, ar)
	b := startBroker(t, []byte(devices), nil)

	for _, o := range []connectOpts{
		{clientID: "kiosk-07", username: "kiosk-07", password: "kiosk-secret"},
		{clientID: "tab-07:front", username: "tab-07", password: "tablet-secret"},
	} {
		c, ca, err := b.connect(t, o)
		if err != nil {
			t.Fatalf("%s: %v (%+v)", o.username, err, ca)
		}
		if code := c.publish(t, "devices/"+o.username+"/status", true); code >= 0x80 {
			t.Fatalf("%s: own status refused: 0x%02X", o.username, code)
		}
		if code := c.subscribe(t, "reply/"+o.clientID+"/#"); code >= 0x80 {
			t.Fatalf("%s: own replies refused: 0x%02X", o.username, code)
		}
	}
	// A reconnect is served from the verification cache.
	if n := len(b.hook.verified.m); n != 2 {
		t.Fatalf("verification cache has %d entries, want 2", n)
	}
	if code := b.connackCode(t, connectOpts{clientID: "kiosk-07", username: "kiosk-07", password: "kiosk-secret"}); code != codeOK {
		t.Fatalf("reconnect: 0x%02X", code)
	}
}

func TestLoginRefused(t *testing.T) {
	extra := "  - id: cam-cert\n    role: camera\n    cert_cn: cam-cert.store.local\n"
	b := startBroker(t, devicesYAML(t, extra), nil)
	tests := []struct {
		name string
		o    connectOpts
		want byte
	}{
		{"wrong password", connectOpts{clientID: "kiosk-01", username: "kiosk-01", password: "hunter2-wrong"}, codeBadCredentials},
		{"no password", connectOpts{clientID: "kiosk-01", username: "kiosk-01"}, codeBadCredentials},
		{"unknown device", connectOpts{clientID: "ghost-99", username: "ghost-99", password: "pw-ghost-99"}, codeBadCredentials},
		{"certificate-only device with a password", connectOpts{clientID: "cam-cert", username: "cam-cert", password: "anything"}, codeBadCredentials},
		{"another device's password", connectOpts{clientID: "kiosk-01", username: "kiosk-01", password: "pw-tab-01"}, codeBadCredentials},
		{"anonymous off by default", connectOpts{clientID: "lab-probe"}, codeBadCredentials},
		{"right password", connectOpts{clientID: "kiosk-01", username: "kiosk-01", password: "pw-kiosk-01"}, codeOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := b.connackCode(t, tt.o); got != tt.want {
				t.Fatalf("CONNACK 0x%02X, want 0x%02X", got, tt.want)
			}
		})
	}
	logs := b.logs.all()
	if strings.Contains(logs, "hunter2-wrong") || strings.Contains(logs, "pw-ghost-99") || strings.Contains(logs, "pw-tab-01") {
		t.Fatalf("a password was logged:\n%s", logs)
	}
	for _, want := range []string{"wrong password device=kiosk-01 remote=127.0.0.1", "unknown device device=ghost-99", "certificate only device=cam-cert", "anonymous access is off"} {
		if b.logs.count(want) == 0 {
			t.Errorf("no log line with %q in:\n%s", want, logs)
		}
	}
}

func TestClientIDRule(t *testing.T) {
	b := startBroker(t, devicesYAML(t, ""), nil)
	tests := []struct {
		clientID string
		want     byte
	}{
		{"kiosk-01", codeOK},
		{"kiosk-01:screen", codeOK},
		{"kiosk-01:a.b_c-9", codeOK},
		{"kiosk-02", codeBadClientID},
		{"tab-01", codeBadClientID},
		{"kiosk-01x", codeBadClientID},
		{"kiosk-01:", codeBadClientID},
		{"kiosk-01:a/b", codeBadClientID},
		{"kiosk-01:+", codeBadClientID},
		{"kiosk-01:#", codeBadClientID},
		{"kiosk-01:a:b", codeBadClientID},
		{"", codeBadClientID}, // the broker would assign a random id
	}
	for _, tt := range tests {
		t.Run(tt.clientID, func(t *testing.T) {
			got := b.connackCode(t, connectOpts{clientID: tt.clientID, username: "kiosk-01", password: "pw-kiosk-01"})
			if got != tt.want {
				t.Fatalf("CONNACK 0x%02X, want 0x%02X", got, tt.want)
			}
		})
	}
	// MQTT 3.1.1 clients get their own code (0x02 identifier rejected).
	if got := connectV311(t, b.addr, "kiosk-02", "kiosk-01", "pw-kiosk-01"); got != 0x02 {
		t.Fatalf("v3.1.1 bad client id: 0x%02X, want 0x02", got)
	}
	if got := connectV311(t, b.addr, "kiosk-01", "kiosk-01", "pw-kiosk-01"); got != 0x00 {
		t.Fatalf("v3.1.1 login: 0x%02X", got)
	}
	// A username that could widen %u never gets in.
	if got := b.connackCode(t, connectOpts{clientID: "a/#", username: "a/#", password: "x"}); got != codeBadClientID {
		t.Fatalf("wildcard username: 0x%02X", got)
	}
}

func TestAnonymous(t *testing.T) {
	b := startBroker(t, devicesYAML(t, ""), nil, allowAnonymous)
	c, ca, err := b.connect(t, connectOpts{clientID: "lab-probe"})
	if err != nil {
		t.Fatalf("anonymous login: %v (%+v)", err, ca)
	}
	if code := c.subscribe(t, "lab/#"); code >= 0x80 {
		t.Fatalf("lab/#: 0x%02X", code)
	}
	if code := c.subscribe(t, "devices/+/status"); code != codeNotAuthorized {
		t.Fatalf("devices/+/status: 0x%02X", code)
	}
	if code := c.publish(t, "svc/booking/create", false); code != codeNotAuthorized {
		t.Fatalf("svc publish: 0x%02X", code)
	}
	if code := c.publish(t, "lab/hello", false); code >= 0x80 {
		t.Fatalf("lab publish: 0x%02X", code)
	}
	if got := c.next(t); got.Topic != "lab/hello" {
		t.Fatalf("got %q", got.Topic)
	}
	for _, id := range []string{"lab/probe", "lab+", "#"} {
		if got := b.connackCode(t, connectOpts{clientID: id}); got != codeBadClientID {
			t.Errorf("anonymous client id %q: 0x%02X, want 0x85", id, got)
		}
	}
	// Credentials still have to be right when anonymous access is on.
	if got := b.connackCode(t, connectOpts{clientID: "kiosk-01", username: "kiosk-01", password: "nope"}); got != codeBadCredentials {
		t.Fatalf("wrong password with anonymous on: 0x%02X", got)
	}
}

func TestConnectRateLimit(t *testing.T) {
	b := startBroker(t, devicesYAML(t, ""), nil, func(o *brokerCfg) { o.ConnectRatePerMinute = 2 })
	ok := connectOpts{clientID: "kiosk-01", username: "kiosk-01", password: "pw-kiosk-01"}
	for i := range 2 {
		c, _, err := b.connect(t, ok)
		if err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
		_ = c.c.Disconnect(&paho.Disconnect{})
	}
	for i := range 3 {
		if got := b.connackCode(t, ok); got != codeRateExceeded {
			t.Fatalf("attempt %d over the limit: CONNACK 0x%02X, want 0x9F", i+3, got)
		}
	}
	// MQTT 3.1.1 has no 0x9F: the client gets 0x03 server unavailable.
	if got := connectV311(t, b.addr, "kiosk-01", "kiosk-01", "pw-kiosk-01"); got != 0x03 {
		t.Fatalf("v3.1.1 over the limit: return code 0x%02X, want 0x03", got)
	}
	if n := b.logs.count("connect rate limit exceeded"); n != 1 {
		t.Fatalf("rate limit logged %d times in a minute, want once:\n%s", n, b.logs.all())
	}
	b.clock.Advance(61 * time.Second)
	if got := b.connackCode(t, ok); got != codeOK {
		t.Fatalf("after a minute: CONNACK 0x%02X", got)
	}
	if got := connectV311(t, b.addr, "kiosk-01", "kiosk-01", "pw-kiosk-01"); got != 0x00 {
		t.Fatalf("v3.1.1 after a minute: 0x%02X", got)
	}
	if got := b.connackCode(t, ok); got != codeRateExceeded {
		t.Fatalf("burst again: 0x%02X", got)
	}
	if n := b.logs.count("connect rate limit exceeded"); n != 2 {
		t.Fatalf("rate limit logged %d times over two minutes, want 2", n)
	}
}

// connectV311 sends a raw MQTT 3.1.1 CONNECT and returns the CONNACK return code.
func connectV311(t *testing.T, addr, clientID, user, pass string) byte {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	str := func(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }
	var body bytes.Buffer
	body.Write(str("MQTT"))
	body.Write([]byte{4, 0x80 | 0x40 | 0x02, 0, 30}) // level 4, username+password+clean session, keepalive 30
	body.Write(str(clientID))
	body.Write(str(user))
	body.Write(str(pass))
	pkt := append([]byte{0x10, byte(body.Len())}, body.Bytes()...)
	if _, err := conn.Write(pkt); err != nil {
		t.Fatal(err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(conn, ack); err != nil {
		t.Fatalf("v3.1.1 CONNACK: %v", err)
	}
	if ack[0] != 0x20 || ack[1] != 2 {
		t.Fatalf("not a v3.1.1 CONNACK: % x", ack)
	}
	return ack[3]
}

func TestPublishForbiddenGetsPuback87(t *testing.T) {
	b := startBroker(t, devicesYAML(t, ""), nil)
	k := b.login(t, roleDevices[0])
	if code := k.publish(t, "booking/events", false); code != codeNotAuthorized {
		t.Fatalf("forbidden publish: PUBACK 0x%02X, want 0x87", code)
	}
	if code := k.publish(t, "devices/kiosk-01/telemetry", true); code != codeNotAuthorized {
		t.Fatalf("retained telemetry: PUBACK 0x%02X, want 0x87", code)
	}
	// The connection survives and allowed publishes go through.
	if code := k.publish(t, "devices/kiosk-01/telemetry", false); code >= 0x80 {
		t.Fatalf("allowed publish after refusals: 0x%02X", code)
	}
	if _, ok := b.srv.Topics.Retained.Get("devices/kiosk-01/telemetry"); ok {
		t.Fatal("a refused retained message was stored")
	}
}

func TestWillTopicChecked(t *testing.T) {
	b := startBroker(t, devicesYAML(t, ""), nil)
	o := connectOpts{clientID: "kiosk-01", username: "kiosk-01", password: "pw-kiosk-01"}
	o.will = &paho.WillMessage{Topic: "booking/events", QoS: 1, Payload: []byte("spoof")}
	if got := b.connackCode(t, o); got != codeNotAuthorized {
		t.Fatalf("will on a foreign topic: CONNACK 0x%02X, want 0x87", got)
	}
	o.will = &paho.WillMessage{Topic: "devices/kiosk-01/telemetry", QoS: 1, Retain: true, Payload: []byte("x")}
	if got := b.connackCode(t, o); got != codeNotAuthorized {
		t.Fatalf("retained will without a retain grant: CONNACK 0x%02X, want 0x87", got)
	}
	o.will = &paho.WillMessage{Topic: "devices/kiosk-01/status", QoS: 1, Retain: true, Payload: []byte(`{"online":false}`)}
	if got := b.connackCode(t, o); got != codeOK {
		t.Fatalf("offline status will: CONNACK 0x%02X", got)
	}
}

func TestReload(t *testing.T) {
	b := startBroker(t, devicesYAML(t, ""), nil)
	staff := roleDevices[3]
	c := b.login(t, staff)
	for _, f := range []string{"booking/events", "reply/" + staff.clientID + "/#"} {
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
	send("booking/events", "1")
	if m := c.next(t); string(m.Payload) != "1" {
		t.Fatalf("got %q", m.Payload)
	}

	// A bad file changes nothing.
	broken := strings.Replace(string(configs.ACL), "      - booking/events\n", "      - booking/#/events\n", 1)
	if err := b.hook.Reload(devicesYAML(t, ""), []byte(broken)); err == nil || !strings.Contains(err.Error(), "booking/#/events") {
		t.Fatalf("broken ACL: %v", err)
	}
	if err := b.hook.Reload([]byte("devices:\n  - id: x\n    role: nope\n    cert_cn: x\n"), configs.ACL); err == nil {
		t.Fatal("broken registry accepted")
	}
	send("booking/events", "2")
	if m := c.next(t); string(m.Payload) != "2" {
		t.Fatalf("after a refused reload: got %q", m.Payload)
	}

	// A good file that takes booking/events away from staff and removes
	// kiosk-01: the existing subscription goes quiet.
	revoked := strings.Replace(string(configs.ACL), "      - booking/events\n", "", 1)
	if revoked == string(configs.ACL) {
		t.Fatal("test setup: booking/events grant not found in acl.yaml")
	}
	fewer := strings.Replace(string(devicesYAML(t, "")), "  - id: kiosk-01\n", "  - id: kiosk-99\n", 1)
	if err := b.hook.Reload([]byte(fewer), []byte(revoked)); err != nil {
		t.Fatalf("reload: %v", err)
	}
	send("booking/events", "3")
	send("reply/"+staff.clientID+"/marker", "4")
	if m := c.next(t); string(m.Payload) != "4" {
		t.Fatalf("revoked subscription still received %q on %s", m.Payload, m.Topic)
	}
	if code := c.subscribe(t, "booking/events"); code != codeNotAuthorized {
		t.Fatalf("new subscribe after revocation: 0x%02X", code)
	}
	if code := c.subscribe(t, "devices/+/status"); code >= 0x80 {
		t.Fatalf("kept grant: 0x%02X", code)
	}
	if got := b.connackCode(t, connectOpts{clientID: "kiosk-01", username: "kiosk-01", password: "pw-kiosk-01"}); got != codeBadCredentials {
		t.Fatalf("removed device: CONNACK 0x%02X", got)
	}
}

func TestTopicAliasRechecked(t *testing.T) {
	b := startBroker(t, devicesYAML(t, ""), nil)
	k := b.login(t, roleDevices[0])
	pubAlias := func(topic string) byte {
		t.Helper()
		alias := uint16(1)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		pr, err := k.c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte("x"),
			Properties: &paho.PublishProperties{TopicAlias: &alias}})
		if pr == nil {
			t.Fatalf("publish alias %q: %v", topic, err)
		}
		return pr.ReasonCode
	}
	if code := pubAlias("devices/kiosk-01/telemetry"); code >= 0x80 {
		t.Fatalf("set alias: 0x%02X", code)
	}
	if code := pubAlias(""); code >= 0x80 {
		t.Fatalf("publish by alias: 0x%02X", code)
	}
	revoked := strings.Replace(string(configs.ACL), "      - devices/%u/telemetry\n", "", 1)
	if err := b.hook.Reload(devicesYAML(t, ""), []byte(revoked)); err != nil {
		t.Fatal(err)
	}
	if code := pubAlias(""); code != codeNotAuthorized {
		t.Fatalf("alias to a revoked topic: 0x%02X, want 0x87", code)
	}
}

func TestRestoredOfflineSession(t *testing.T) {
	srv := mqtttest.NewServer(mqtttest.Options{InlineClient: true})
	h, err := NewHook(Options{Server: srv, Devices: devicesYAML(t, ""), ACL: configs.ACL, AllowAnonymous: true})
	if err != nil {
		t.Fatal(err)
	}
	// What mochi's loadClients builds from storage: no connection, id and
	// username only.
	restored := func(id, username string) *mqtt.Client { return mqtttest.Client(srv, id, username) }
	kiosk := restored("kiosk-01:screen", "kiosk-01")
	if !h.CanRead(kiosk, "reply/kiosk-01:screen/booking") || !h.OnACLCheck(kiosk, "reply/kiosk-01:screen/#", false) {
		t.Fatal("restored session cannot receive its replies")
	}
	if h.CanRead(kiosk, "booking/events") || h.CanRead(kiosk, "reply/kiosk-02/x") {
		t.Fatal("restored session reads beyond its role")
	}
	ghost := restored("ghost", "ghost")
	if h.CanRead(ghost, "reply/ghost/x") || h.OnACLCheck(ghost, "lab/x", false) {
		t.Fatal("unknown device got grants")
	}
	wrongID := restored("kiosk-02", "kiosk-01")
	if h.CanRead(wrongID, "reply/kiosk-02/x") {
		t.Fatal("client id not matching its device got grants")
	}
	anon := restored("lab-probe", "")
	if !h.CanRead(anon, "lab/x") || h.CanRead(anon, "reply/lab-probe/x") {
		t.Fatal("anonymous restored session")
	}
	inline := srv.NewClient(nil, "local", "inline", true)
	if !h.OnACLCheck(inline, "anything/at/all", true) || !h.CanRead(inline, "#") {
		t.Fatal("inline client refused")
	}
}

func TestSessionTakeOverKeepsGrants(t *testing.T) {
	b := startBroker(t, devicesYAML(t, ""), nil)
	d := roleDevices[0]
	first := b.login(t, d)
	second := b.login(t, d) // same client id: takes the session over
	poll(t, "first connection closed", func() bool {
		select {
		case <-first.c.Done():
			return true
		default:
			return false
		}
	})
	cur, ok := b.srv.Clients.Get(d.clientID)
	if !ok {
		t.Fatal("no session")
	}
	poll(t, "cached grants for the new connection", func() bool {
		g := b.hook.clients.get(d.clientID)
		return g != nil && g.cl == cur
	})
	if code := second.publish(t, "devices/kiosk-01/status", true); code >= 0x80 {
		t.Fatalf("after take-over: 0x%02X", code)
	}
}

func TestACLCheckDoesNotAllocate(t *testing.T) {
	b := startBroker(t, devicesYAML(t, ""), nil)
	staff := roleDevices[3]
	b.login(t, staff)
	cl, ok := b.srv.Clients.Get(staff.clientID)
	if !ok {
		t.Fatal("no client")
	}
	topics := []string{"booking/events", "devices/kiosk-01/status", "chat/c9/events", "reply/staff-anna:console-2/x", "hq/x", "$share/g/booking/events"}
	b.hook.OnACLCheck(cl, "booking/events", false) // fill the cache
	allocs := testing.AllocsPerRun(200, func() {
		for _, tp := range topics {
			b.hook.OnACLCheck(cl, tp, false)
			b.hook.OnACLCheck(cl, tp, true)
		}
	})
	if allocs != 0 {
		t.Fatalf("OnACLCheck allocates %.1f times per run", allocs)
	}
}

func BenchmarkACLCheck(b *testing.B) {
	srv := mqtttest.NewServer(mqtttest.Options{})
	h, err := NewHook(Options{Server: srv, Devices: devicesYAML(b, ""), ACL: configs.ACL})
	if err != nil {
		b.Fatal(err)
	}
	cl := mqtttest.Client(srv, "staff-anna:console-2", "staff-anna")
	b.ReportAllocs()
	for b.Loop() {
		h.OnACLCheck(cl, "chat/c123/events", false)
	}
}

// TestVerifyUnknownDeviceCostsAHash checks that an unknown username takes
// about as long as a wrong password (no cheap device enumeration).
func TestVerifyUnknownDeviceCostsAHash(t *testing.T) {
	if _, err := VerifyPassword(dummyHash, "x"); err != nil {
		t.Fatalf("dummy hash unusable: %v", err)
	}
	if c, err := bcrypt.Cost([]byte(dummyHash)); err != nil || c != bcryptCost {
		t.Fatalf("dummy hash cost %d, %v", c, err)
	}
}
