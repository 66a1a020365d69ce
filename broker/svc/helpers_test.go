package svc

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/mochi-mqtt/server/v2"
	"golang.org/x/crypto/bcrypt"

	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/broker/mqtt/session"
	"github.com/storeedge/storeedge/broker/store"
	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/internal/testkit/mqtttest"
)

// A test device; its password is "pw-<id>".
type device struct{ id, role string }

var (
	kiosk = device{"kiosk-01", "kiosk"}
	staff = device{"staff-anna", "staff"}
	owner = device{"owner", "admin"}
)

var (
	hashOnce sync.Once
	hashes   = map[string]string{}
)

func devicesYAML() []byte {
	hashOnce.Do(func() {
		for _, d := range []device{kiosk, staff, owner} {
			h, err := bcrypt.GenerateFromPassword([]byte("pw-"+d.id), bcrypt.MinCost)
			if err != nil {
				panic(err)
			}
			hashes[d.id] = string(h)
		}
	})
	var b strings.Builder
	b.WriteString("devices:\n")
	for _, d := range []device{kiosk, staff, owner} {
		fmt.Fprintf(&b, "  - id: %s\n    role: %s\n    password_hash: %q\n", d.id, d.role, hashes[d.id])
	}
	return []byte(b.String())
}

type testEnv struct {
	srv    *mqtt.Server
	auth   *auth.Hook
	db     *store.DB
	router *Router
	addr   string
}

type envCfg struct {
	opts     Options
	sessions bool // add broker/mqtt/session's durable session hook
	setup    func(r *Router)
}

// startEnv runs an in-process mochi broker on 127.0.0.1:0 with the auth hook
// (and optionally the session hook) over a store in a temp dir, and a router
// whose ops setup registers.
func startEnv(t testing.TB, cfg envCfg) *testEnv {
	t.Helper()
	e := &testEnv{}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumMessageExpiryInterval = 0
	ms := mqtttest.New(t, mqtttest.Options{InlineClient: true, Logger: quiet, Capabilities: caps})
	e.srv = ms.Server
	var err error
	e.db, err = store.Open(store.Options{Path: filepath.Join(t.TempDir(), "store.db")})
	if err != nil {
		t.Fatal(err)
	}
	e.auth, err = auth.NewHook(auth.Options{Server: e.srv, Devices: devicesYAML(), ACL: configs.ACL, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ms.Add(t, e.auth)
	if cfg.sessions {
		sh, err := session.New(session.Options{DB: e.db, Server: e.srv, CanRead: e.auth.CanRead, MaxQueued: 1000, Log: quiet})
		if err != nil {
			t.Fatal(err)
		}
		ms.Add(t, sh)
	}
	ms.Serve(t)
	e.addr = ms.Addr

	o := cfg.opts
	o.Server, o.DB, o.Identify = e.srv, e.db, e.auth.Identity
	if o.Log == nil {
		o.Log = quiet
	}
	e.router, err = New(o)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.setup != nil {
		cfg.setup(e.router)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := e.router.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		e.router.Stop()
		_ = ms.Close()
		_ = e.db.Close()
	})
	return e
}

func mustHandle(t testing.TB, r *Router, service, op string, h Handler, opts ...OpOption) {
	t.Helper()
	if err := r.Handle(service, op, h, opts...); err != nil {
		t.Fatal(err)
	}
}

type client struct {
	c    *paho.Client
	id   string
	msgs chan *paho.Publish
}

type connOpts struct {
	dev      device
	clientID string
	expiry   uint32 // > 0: persistent session, clean start off
	// resume: the session exists and is subscribed already; subscribing
	// again could reuse a packet id the broker has in flight (0x91).
	resume bool
}

// connect opens an MQTT 5 paho connection as a device and subscribes to its
// own reply/{client id}/#.
func (e *testEnv) connect(t testing.TB, o connOpts) *client {
	t.Helper()
	if o.clientID == "" {
		o.clientID = o.dev.id
	}
	c := &client{id: o.clientID, msgs: make(chan *paho.Publish, 4096)}
	cp := &paho.Connect{
		ClientID: o.clientID, KeepAlive: 30, CleanStart: o.expiry == 0,
		Username: o.dev.id, UsernameFlag: true, Password: []byte("pw-" + o.dev.id), PasswordFlag: true,
	}
	if o.expiry > 0 {
		cp.Properties = &paho.ConnectProperties{SessionExpiryInterval: &o.expiry}
	}
	var ca *paho.Connack
	var err error
	c.c, ca, err = mqtttest.Dial(t, e.addr, cp, func(p *paho.Publish) {
		select {
		case c.msgs <- p:
		default:
		}
	})
	if err != nil {
		t.Fatalf("connect %s: %v (%+v)", o.clientID, err, ca)
	}
	if o.resume {
		return c
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sa, err := c.c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "reply/" + o.clientID + "/#", QoS: 1}}})
	if err != nil || len(sa.Reasons) != 1 || sa.Reasons[0] >= 0x80 {
		t.Fatalf("subscribe reply: %v %+v", err, sa)
	}
	return c
}

// request publishes a request (QoS 1) with a Response Topic under the
// client's own reply/ and the correlation data corr.
func (c *client) request(t testing.TB, topic, payload, corr string) {
	t.Helper()
	c.publish(t, topic, payload, "reply/"+c.id+"/r", corr)
}

func (c *client) publish(t testing.TB, topic, payload, respTopic, corr string) {
	t.Helper()
	p := &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(payload)}
	if respTopic != "" || corr != "" {
		p.Properties = &paho.PublishProperties{ResponseTopic: respTopic, CorrelationData: []byte(corr)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pr, err := c.c.Publish(ctx, p)
	if err != nil {
		t.Fatalf("%s publish %s: %v", c.id, topic, err)
	}
	if pr != nil && pr.ReasonCode >= 0x80 {
		t.Fatalf("%s publish %s: PUBACK 0x%02X", c.id, topic, pr.ReasonCode)
	}
}

// next waits for the next message.
func (c *client) next(t testing.TB) *paho.Publish {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no answer within 10 s", c.id)
		return nil
	}
}

// none asserts no message is waiting.
func (c *client) none(t testing.TB) {
	t.Helper()
	select {
	case m := <-c.msgs:
		t.Fatalf("%s: unexpected message on %s: %s", c.id, m.Topic, m.Payload)
	default:
	}
}

// poll waits until cond holds or the deadline passes.
func poll(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
