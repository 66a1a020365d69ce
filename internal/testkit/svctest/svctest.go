// Package svctest is the rig of a store service's own tests (chat, media):
// a bare mochi server (mqtttest) with the store's auth hook over a devices
// registry and the shipped ACL, customer logins, the durable session hook
// and a svc.Router, on a store file that survives a restart. The service
// builds its router with Route, registers its ops, then Run starts it. Tests that need the
// whole store broker use internal/testkit/storetest instead; the packages this one
// imports (auth, session, store, svc) cannot use it.
package svctest

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"golang.org/x/crypto/bcrypt"

	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/broker/mqtt/auth/customer"
	"github.com/storeedge/storeedge/broker/mqtt/session"
	"github.com/storeedge/storeedge/broker/store"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/internal/seal"
	"github.com/storeedge/storeedge/internal/testkit/mqtttest"
)

// PublicURL is the customer page of the rig's customer store.
const PublicURL = "http://storeedge.local:8080/chat"

// Device is a registered device; its password is "pw-"+ID.
type Device struct{ ID, Role string }

var (
	hashMu sync.Mutex
	hashes = map[string][]byte{}
)

// DevicesYAML is a devices registry of devs (bcrypt at the minimum cost,
// each hash made once per test process).
func DevicesYAML(devs []Device) []byte {
	var b strings.Builder
	b.WriteString("devices:\n")
	hashMu.Lock()
	defer hashMu.Unlock()
	for _, d := range devs {
		h, ok := hashes[d.ID]
		if !ok {
			var err error
			if h, err = bcrypt.GenerateFromPassword([]byte("pw-"+d.ID), bcrypt.MinCost); err != nil {
				panic(err) // only for a password longer than 72 bytes
			}
			hashes[d.ID] = h
		}
		fmt.Fprintf(&b, "  - id: %s\n    role: %s\n    password_hash: %q\n", d.ID, d.Role, h)
	}
	return []byte(b.String())
}

// Keys is a fixed keyring: key id k1.
func Keys(tb testing.TB) *seal.Keyring {
	tb.Helper()
	key := make([]byte, seal.KeySize)
	for i := range key {
		key[i] = byte(i*7 + 3)
	}
	kr, err := seal.ParseKeys("k1:" + base64.StdEncoding.EncodeToString(key))
	if err != nil {
		tb.Fatal(err)
	}
	return kr
}

// Options configure Start.
type Options struct {
	Path    string   // the store file
	Devices []Device // the registry
	// Now is the customer store's clock.
	Now func() time.Time
	// Seal, when set, seals the session hook's records and the router's
	// stored answers.
	Seal svc.Sealer
}

// Rig is a running service rig.
type Rig struct {
	Srv       *mqtttest.Server
	Addr      string // MQTT over TCP
	DB        *store.DB
	Auth      *auth.Hook
	Customers *customer.Store
	Router    *svc.Router  // set by Route
	Log       *slog.Logger // discards

	seal   svc.Sealer
	cancel context.CancelFunc
}

// Start opens the store and serves the broker; the caller builds the
// router with Route, registers its service, then calls Run. Stop (or the
// end of the test) stops it all.
func Start(tb testing.TB, o Options) *Rig {
	tb.Helper()
	r := &Rig{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), seal: o.Seal, cancel: func() {}}
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumMessageExpiryInterval = 0
	r.Srv = mqtttest.New(tb, mqtttest.Options{InlineClient: true, Logger: r.Log, Capabilities: caps})
	var err error
	if r.DB, err = store.Open(store.Options{Path: o.Path}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(r.Stop)
	if r.Auth, err = auth.NewHook(auth.Options{Server: r.Srv.Server, Devices: DevicesYAML(o.Devices), ACL: configs.ACL, Log: r.Log}); err != nil {
		tb.Fatal(err)
	}
	r.Srv.Add(tb, r.Auth)
	if r.Customers, err = customer.New(customer.Options{DB: r.DB, PublicURL: PublicURL, Now: o.Now}); err != nil {
		tb.Fatal(err)
	}
	if err := r.Auth.SetCustomers(r.Customers); err != nil {
		tb.Fatal(err)
	}
	sh, err := session.New(session.Options{DB: r.DB, Server: r.Srv.Server, CanRead: r.Auth.CanRead, MaxQueued: 10000, Seal: o.Seal, Log: r.Log})
	if err != nil {
		tb.Fatal(err)
	}
	r.Srv.Add(tb, sh)
	r.Srv.Serve(tb)
	r.Addr = r.Srv.Addr
	return r
}

// Route builds the rig's router with o, its Server, DB, Identify (the auth
// hook's) and, where o leaves them unset, the rig's Seal and Log.
func (r *Rig) Route(tb testing.TB, o svc.Options) *svc.Router {
	tb.Helper()
	o.Server, o.DB, o.Identify = r.Srv.Server, r.DB, r.Auth.Identity
	if o.Seal == nil {
		o.Seal = r.seal
	}
	if o.Log == nil {
		o.Log = r.Log
	}
	var err error
	if r.Router, err = svc.New(o); err != nil {
		tb.Fatal(err)
	}
	return r.Router
}

// Run starts the router (built by Route).
func (r *Rig) Run(tb testing.TB) {
	tb.Helper()
	var ctx context.Context
	ctx, r.cancel = context.WithCancel(context.Background())
	if err := r.Router.Start(ctx); err != nil {
		tb.Fatal(err)
	}
}

// Stop stops the router, the broker and the store, in that order (once).
func (r *Rig) Stop() {
	if r.DB == nil {
		return
	}
	r.cancel()
	if r.Router != nil {
		r.Router.Stop()
	}
	_ = r.Srv.Close()
	_ = r.DB.Close()
	r.DB = nil
}

// CustomerLogin does what a customer's phone does after scanning a
// scan-to-chat code: a token for customer id ("" = a new customer) is
// redeemed for a login. It returns the username and password.
func (r *Rig) CustomerLogin(tb testing.TB, id string) (username, password string) {
	tb.Helper()
	tk, err := r.Customers.Issue(tb.Context(), id, "test-rig")
	if err != nil {
		tb.Fatal(err)
	}
	l, err := r.Customers.Redeem(tb.Context(), tk.Token)
	if err != nil {
		tb.Fatal(err)
	}
	return l.Username, l.Password
}

// Payload is a request's payload: {"id":reqID,"v":1} with the fields of
// body (a JSON object, "" for none) after them.
func Payload(reqID, body string) string {
	payload := fmt.Sprintf(`{"id":%q,"v":1`, reqID)
	if body = strings.TrimSpace(body); body != "" && body != "{}" {
		return payload + "," + body[1:]
	}
	return payload + "}"
}
