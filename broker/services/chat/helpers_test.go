package chat

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"github.com/storeedge/storeedge/internal/strictjson"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/accounts"
	"github.com/storeedge/storeedge/broker/blob"
	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/broker/mqtt/auth/customer"
	"github.com/storeedge/storeedge/broker/services/chat/faq"
	"github.com/storeedge/storeedge/broker/store"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/internal/seal"
	"github.com/storeedge/storeedge/internal/testkit/mqtttest"
	"github.com/storeedge/storeedge/internal/testkit/svctest"
	"github.com/storeedge/storeedge/internal/testkit/testclock"
	"github.com/storeedge/storeedge/proto"
)

// A test device; its password is "pw-<id>".
type device = svctest.Device

var (
	tablet  = device{ID: "tablet-01", Role: "chat-tablet"} // a customer's stand-in
	tablet2 = device{ID: "tablet-02", Role: "chat-tablet"}
	anna    = device{ID: "staff-anna", Role: "staff"}
	bo      = device{ID: "staff-bo", Role: "staff"}
	owner   = device{ID: "owner", Role: "admin"}
	devices = []device{tablet, tablet2, anna, bo, owner}
)

// testKeys is a fixed keyring: key id k1.
func testKeys(t testing.TB) *seal.Keyring { return svctest.Keys(t) }

// env is an in-process broker with the auth and session hooks, a svc Router
// and the chat service over a store file that survives restart.
//
// Every rig lets customers log in (a real customer.Store on the same
// database, see customerLogin) and decides the ACL's %m grants with the chat
// service, as the daemon does; withMedia and withTokens also hand the media
// blob store and the customer store to the chat service.
type env struct {
	path  string
	opts  Options
	clock *testclock.Clock

	wantMedia, wantTokens, wantColleagues bool

	rig    *svctest.Rig
	srv    *mqtttest.Server
	db     *store.DB
	hook   *auth.Hook
	router *svc.Router
	chat   *Service
	media  *blob.Store        // set with withMedia
	cust   *customer.Store    // customer logins (and the session op's Tokens with withTokens)
	staff  *accounts.Registry // set with withColleagues
	addr   string
}

// envOpt adds a real peer to the rig.
type envOpt func(*env)

// withMedia gives the chat service a media.Store on the rig's database
// (env.media), as Options.Media.
func withMedia(e *env) { e.wantMedia = true }

// withTokens gives the chat service the rig's customer.Store as Options.Tokens.
func withTokens(e *env) { e.wantTokens = true }

// withColleagues gives the chat service a staff account registry on the
// rig's database (env.staff) as Options.Colleagues.
func withColleagues(e *env) { e.wantColleagues = true }

// testPublicURL is the customer page of the rig's customer store.
const testPublicURL = svctest.PublicURL

func newEnv(t testing.TB, o Options, opts ...envOpt) *env {
	t.Helper()
	e := &env{path: filepath.Join(t.TempDir(), "store.db"), opts: o, clock: testclock.New(time.Date(2025, 3, 4, 23, 0, 0, 0, time.UTC))}
	for _, f := range opts {
		f(e)
	}
	if e.opts.Now == nil {
		e.opts.Now = e.clock.Now
	}
	if e.opts.Seal == nil {
		e.opts.Seal = testKeys(t)
	}
	e.start(t)
	t.Cleanup(e.stop)
	return e
}

// setClock moves the rig's clock (it only moves forward in these tests).
func (e *env) setClock(t testing.TB, to time.Time) {
	t.Helper()
	d := to.Sub(e.clock.Now())
	if d < 0 {
		t.Fatalf("setClock %v: the clock is at %v already", to, e.clock.Now())
	}
	e.clock.Advance(d)
}

func (e *env) start(t testing.TB) {
	t.Helper()
	e.rig = svctest.Start(t, svctest.Options{Path: e.path, Devices: devices, Now: e.clock.Now, Seal: e.opts.Seal})
	e.srv, e.db, e.hook, e.cust, e.addr = e.rig.Srv, e.rig.DB, e.rig.Auth, e.rig.Customers, e.rig.Addr
	e.router = e.rig.Route(t, svc.Options{})
	o := e.opts
	o.DB, o.Router, o.Log = e.db, e.router, e.rig.Log
	var err error
	if e.wantMedia {
		if e.media, err = blob.New(blob.Options{DB: e.db, Seal: e.opts.Seal, Now: e.clock.Now}); err != nil {
			t.Fatal(err)
		}
		o.Media = e.media
	}
	if e.wantTokens {
		o.Tokens = e.cust
	}
	if e.wantColleagues {
		// The registry is real; its accounts are not handed to the auth
		// hook, so the rig's test devices keep logging in.
		if e.staff, err = accounts.Open(context.Background(), accounts.Options{DB: e.db, Hook: loginsKept{e.hook}, Seal: e.opts.Seal, Log: e.rig.Log}); err != nil {
			t.Fatal(err)
		}
		o.Colleagues = e.staff
	}
	if e.chat, err = New(o); err != nil {
		t.Fatal(err)
	}
	e.hook.SetMembership(e.chat)
	if err := e.chat.Register(); err != nil {
		t.Fatal(err)
	}
	e.rig.Run(t)
}

// loginsKept is the auth hook as a staff registry sees it, except that the
// registry's accounts do not replace the rig's devices.
type loginsKept struct{ *auth.Hook }

func (loginsKept) SetAccounts([]auth.Account) (int, error) { return 0, nil }

// stop closes the router, the broker and the store; start opens them again
// on the same file.
func (e *env) stop() { e.rig.Stop() }

// client is a paho v5 client; answers are matched to calls by correlation
// data, the other messages it gets are decoded as events.
type client struct {
	*mqtttest.Requester
	c      *paho.Client
	id     string
	events chan Event
}

// connect logs in as dev (client id dev or dev:suffix) and subscribes to its
// reply topic.
func (e *env) connect(t testing.TB, dev device, suffix string) *client {
	t.Helper()
	return e.connectAs(t, dev.ID, "pw-"+dev.ID, suffix)
}

// connectAs logs in with username and password (a device, or a customer
// with its session secret), client id username or username:suffix.
func (e *env) connectAs(t testing.TB, username, password, suffix string) *client {
	t.Helper()
	c := &client{id: username, events: make(chan Event, 10000)}
	if suffix != "" {
		c.id += ":" + suffix
	}
	cp := &paho.Connect{ClientID: c.id, KeepAlive: 30, CleanStart: true,
		Username: username, UsernameFlag: true, Password: []byte(password), PasswordFlag: true}
	c.Requester = mqtttest.Connect(t, e.addr, cp, func(p *paho.Publish) {
		var ev Event
		if json.Unmarshal(p.Payload, &ev) == nil {
			select {
			case c.events <- ev:
			default:
			}
		}
	})
	c.c = c.Client
	return c
}

func (c *client) subscribe(t testing.TB, filter string) {
	t.Helper()
	if code := c.trySubscribe(t, filter); code >= 0x80 {
		t.Fatalf("%s subscribe %s: refused with 0x%02x", c.id, filter, code)
	}
}

// trySubscribe subscribes and returns the SUBACK reason code (≥ 0x80: refused).
func (c *client) trySubscribe(t testing.TB, filter string) byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sa, err := c.c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}})
	if sa == nil || len(sa.Reasons) != 1 { // paho also returns an error for a refusal, with the SUBACK
		t.Fatalf("%s subscribe %s: %v %+v", c.id, filter, err, sa)
	}
	return sa.Reasons[0]
}

// customerLogin does what a customer's phone does after scanning a
// scan-to-chat code: a token for id ("" = a new customer) is redeemed for a
// login, and the client connects with it (client id customer:suffix).
func (e *env) customerLogin(t testing.TB, id, suffix string) *client {
	t.Helper()
	username, password := e.rig.CustomerLogin(t, id)
	return e.connectAs(t, username, password, suffix)
}

// answer is a decoded answer with the fields of every chat op.
type answer struct {
	V     int        `json:"v"`
	ID    string     `json:"id"`
	OK    bool       `json:"ok"`
	Error *svc.Error `json:"error"`

	Conversation  string     `json:"conversation"`
	Members       []string   `json:"members"`
	New           bool       `json:"new"`
	Seq           uint64     `json:"seq"`
	TS            time.Time  `json:"ts"`
	Messages      []Message  `json:"messages"`
	Next          any        `json:"next"`
	More          bool       `json:"more"`
	LastSeq       uint64     `json:"last_seq"`
	ReadUpTo      uint64     `json:"read_up_to"`
	Unread        uint64     `json:"unread"`
	UpTo          uint64     `json:"up_to"`
	Recalled      time.Time  `json:"recalled"`
	Conversations []convView `json:"conversations"`

	// conversation views (open, group ops, handoff, assign)
	Kind      string     `json:"kind"`
	Title     string     `json:"title"`
	Assistant bool       `json:"assistant"`
	Waiting   *time.Time `json:"waiting"`
	Assigned  []string   `json:"assigned"`
	Receipts  []Receipt  `json:"receipts"`
	Added     []string   `json:"added"`
	Removed   []string   `json:"removed"`
	// transfer, transfer_answer, open
	Agent     string              `json:"agent"`
	AgentName string              `json:"agent_name"`
	Transfer  *proto.TransferView `json:"transfer"`
	// quick_replies
	QuickReplies []quickReply `json:"quick_replies"`
	Open         bool         `json:"open"`
	NextOpen     *time.Time   `json:"next_open"`
	// session
	Customer string    `json:"customer"`
	URL      string    `json:"url"`
	Expires  time.Time `json:"expires"`
	QRPNG    []byte    `json:"qr_png"`
	// presence ops
	Code   string     `json:"code"`
	Device string     `json:"device"`
	Until  *time.Time `json:"until"`
	Ended  bool       `json:"ended"`

	raw string
}

// call sends svc/chat/{op} with the fields of body (a JSON object without id
// and v) under request id reqID ("" = a fresh one) and waits for the answer.
func (c *client) call(t testing.TB, op, reqID, body string) answer {
	t.Helper()
	a, err := c.try(op, reqID, body)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (c *client) try(op, reqID, body string) (answer, error) {
	if reqID == "" {
		// svc remembers answers per device: clients of one device need distinct ids.
		reqID = fmt.Sprintf("%s-r%d", c.id, c.Seq())
	}
	payload := svctest.Payload(reqID, body)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	raw, err := c.Request(ctx, "svc/chat/"+op, []byte(payload))
	if err != nil {
		return answer{}, err
	}
	var a answer
	if err := json.Unmarshal(raw, &a); err != nil {
		return a, fmt.Errorf("answer to %s is not JSON: %w: %s", op, err, raw)
	}
	a.raw = string(raw)
	return a, nil
}

// ok asserts a successful answer.
func ok(t testing.TB, a answer) answer {
	t.Helper()
	if !a.OK || a.V != 1 {
		t.Fatalf("want ok, got %s", a.raw)
	}
	return a
}

// fails asserts an error answer with code.
func fails(t testing.TB, a answer, code string) {
	t.Helper()
	if a.OK || a.Error == nil || a.Error.Code != code {
		t.Fatalf("want error %s, got %s", code, a.raw)
	}
}

// event waits for the next event matching pred, with a deadline.
func (c *client) event(t testing.TB, pred func(Event) bool) Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-c.events:
			if pred(ev) {
				return ev
			}
		case <-deadline:
			t.Fatalf("%s: no matching event within 10 s", c.id)
			return Event{}
		}
	}
}

// request builds a request as the router hands it to a handler, for calling
// a handler directly.
func (e *env) request(t testing.TB, dev device, op, reqID, body string) *svc.Request {
	t.Helper()
	return e.requestAs(t, auth.Identity{Device: dev.ID, Role: dev.Role, ClientID: dev.ID}, op, reqID, body)
}

// requestAs is request for any identity (a customer, say).
func (e *env) requestAs(t testing.TB, who auth.Identity, op, reqID, body string) *svc.Request {
	t.Helper()
	payload := svctest.Payload(reqID, body)
	return &svc.Request{Service: ServiceName, Op: op, ID: reqID, V: 1, Body: json.RawMessage(payload),
		From: who, Received: e.clock.Now()}
}

// storedMsg reads a message record straight from the database.
func (e *env) storedMsg(t testing.TB, convID string, seq uint64) *msg {
	t.Helper()
	var m *msg
	if err := e.db.View(func(tx *bolt.Tx) error {
		var err error
		m, err = getMsg(tx, convID, seq)
		return err
	}); err != nil || m == nil {
		t.Fatalf("stored message %s#%d: %v %v", convID, seq, m, err)
	}
	return m
}

// counts is the number of keys in each chat bucket.
func (e *env) counts(t testing.TB) map[string]int {
	t.Helper()
	n := map[string]int{}
	if err := e.db.View(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if b := tx.Bucket(name); b != nil {
				n[string(name)] = b.Stats().KeyN
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// receipt returns member's receipt in rs, failing the test when it has none.
func receipt(t testing.TB, rs []Receipt, member string) Receipt {
	t.Helper()
	for _, r := range rs {
		if r.Member == member {
			return r
		}
	}
	t.Fatalf("no receipt of %s in %+v", member, rs)
	return Receipt{}
}

// history fetches every message of a conversation (all pages) as c sees it;
// the answer is the last page's, with all messages.
func (c *client) history(t testing.TB, conv string) answer {
	t.Helper()
	var all []Message
	for after := uint64(0); ; {
		h := ok(t, c.call(t, "history", "", fmt.Sprintf(`{"conversation":%q,"after":%d}`, conv, after)))
		all = append(all, h.Messages...)
		if !h.More {
			h.Messages = all
			return h
		}
		after = uint64(h.Next.(float64))
	}
}

// noEvent drains c's events until one matching until arrives and fails the
// test if any event before it matches bad. The marker must be published
// after the events that must not arrive: one subscriber gets the broker's
// publishes in order, so when the marker is here the others would be too.
func (c *client) noEvent(t testing.TB, bad, until func(Event) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-c.events:
			if bad(ev) {
				t.Fatalf("%s got an event it must not: %+v", c.id, ev)
			}
			if until(ev) {
				return
			}
		case <-deadline:
			t.Fatalf("%s: no marker event within 10 s", c.id)
		}
	}
}

// outbox is a fake Outbox (cloudsync's side of the interface): it files each
// entry in its own bucket inside the transaction that stores the change, so
// an entry exists exactly when its change committed.
type outbox struct{}

var bucketTestOutbox = []byte("test_outbox")

func (outbox) Put(tx *bolt.Tx, topic string, payload []byte) error {
	b, err := tx.CreateBucketIfNotExists(bucketTestOutbox)
	if err != nil {
		return err
	}
	n, err := b.NextSequence()
	if err != nil {
		return err
	}
	v, err := json.Marshal(struct {
		Topic   string          `json:"topic"`
		Payload json.RawMessage `json:"payload"`
	}{topic, payload})
	if err != nil {
		return err
	}
	return b.Put(binary.BigEndian.AppendUint64(nil, n), v)
}

// outboxEntry is one filed entry, decoded.
type outboxEntry struct {
	Topic string
	HQEntry
}

// outbox returns the entries filed so far, in order.
func (e *env) outbox(t testing.TB) []outboxEntry {
	t.Helper()
	var out []outboxEntry
	if err := e.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTestOutbox)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			var raw struct {
				Topic   string          `json:"topic"`
				Payload json.RawMessage `json:"payload"`
			}
			if err := json.Unmarshal(v, &raw); err != nil {
				return err
			}
			if !strings.HasSuffix(raw.Topic, "/hq") {
				return nil // closings and ratings: see outboxRaw
			}
			var en HQEntry
			if err := strictjson.Decode(raw.Payload, &en); err != nil {
				return fmt.Errorf("outbox entry %s: %w", raw.Payload, err)
			}
			out = append(out, outboxEntry{raw.Topic, en})
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// loadFAQ is the store's FAQ assistant from configs/faq.yaml (immutable,
// shared by the tests).
var loadFAQ = sync.OnceValues(func() (*faq.Assistant, error) { return faq.Load(configs.FAQ) })

func testAssistant(t testing.TB) *faq.Assistant {
	t.Helper()
	a, err := loadFAQ()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// outboxRaw returns the payloads filed on topic so far, in order.
func (e *env) outboxRaw(t testing.TB, topic string) []json.RawMessage {
	t.Helper()
	var out []json.RawMessage
	if err := e.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTestOutbox)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			var raw struct {
				Topic   string          `json:"topic"`
				Payload json.RawMessage `json:"payload"`
			}
			if err := json.Unmarshal(v, &raw); err != nil {
				return err
			}
			if raw.Topic == topic {
				out = append(out, raw.Payload)
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	return out
}
