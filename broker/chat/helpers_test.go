package chat

import (
	"github.com/storeedge/storeedge/internal/mochisafe"

	"github.com/storeedge/storeedge/internal/testclock"

	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/bcrypt"

	"github.com/storeedge/storeedge/broker/auth"
	"github.com/storeedge/storeedge/broker/session"
	"github.com/storeedge/storeedge/broker/store"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/internal/seal"
)

// A test device; its password is "pw-<id>".
type device struct{ id, role string }

var (
	tablet  = device{"tablet-01", "chat-tablet"} // a customer's stand-in
	tablet2 = device{"tablet-02", "chat-tablet"}
	anna    = device{"staff-anna", "staff"}
	bo      = device{"staff-bo", "staff"}
	owner   = device{"owner", "admin"}
	devices = []device{tablet, tablet2, anna, bo, owner}
)

var devicesYAML = sync.OnceValue(func() []byte {
	var b strings.Builder
	b.WriteString("devices:\n")
	for _, d := range devices {
		h, err := bcrypt.GenerateFromPassword([]byte("pw-"+d.id), bcrypt.MinCost)
		if err != nil {
			panic(err)
		}
		fmt.Fprintf(&b, "  - id: %s\n    role: %s\n    password_hash: %q\n", d.id, d.role, h)
	}
	return []byte(b.String())
})

// testKeys is a fixed keyring: key id k1.
func testKeys(t testing.TB) *seal.Keyring {
	t.Helper()
	key := make([]byte, seal.KeySize)
	for i := range key {
		key[i] = byte(i*7 + 3)
	}
	kr, err := seal.ParseKeys("k1:" + base64.StdEncoding.EncodeToString(key))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// env is an in-process broker with the auth and session hooks, a svc Router
// and the chat service over a store file that survives restart.
type env struct {
	path  string
	opts  Options
	clock *testclock.Clock

	srv    *mqtt.Server
	db     *store.DB
	router *svc.Router
	chat   *Service
	addr   string
	cancel context.CancelFunc
}

func newEnv(t testing.TB, o Options) *env {
	t.Helper()
	e := &env{path: filepath.Join(t.TempDir(), "store.db"), opts: o, clock: testclock.New(time.Date(2025, 3, 4, 23, 0, 0, 0, time.UTC))}
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

func (e *env) start(t testing.TB) {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumMessageExpiryInterval = 0
	e.srv = mqtt.New(&mqtt.Options{InlineClient: true, Logger: quiet, Capabilities: caps})
	var err error
	if e.db, err = store.Open(store.Options{Path: e.path}); err != nil {
		t.Fatal(err)
	}
	ah, err := auth.NewHook(auth.Options{Server: e.srv, Devices: devicesYAML(), ACL: configs.ACL, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.AddHook(ah, nil); err != nil {
		t.Fatal(err)
	}
	sh, err := session.New(session.Options{DB: e.db, Server: e.srv, CanRead: ah.CanRead, MaxQueued: 10000, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.AddHook(sh, nil); err != nil {
		t.Fatal(err)
	}
	l := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0"})
	if err := e.srv.AddListener(l); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Serve(); err != nil {
		t.Fatal(err)
	}
	e.addr = l.Address()
	if e.router, err = svc.New(svc.Options{Server: e.srv, DB: e.db, Identify: ah.Identity, Log: quiet}); err != nil {
		t.Fatal(err)
	}
	o := e.opts
	o.DB, o.Router, o.Log = e.db, e.router, quiet
	if e.chat, err = New(o); err != nil {
		t.Fatal(err)
	}
	if err := e.chat.Register(); err != nil {
		t.Fatal(err)
	}
	var ctx context.Context
	ctx, e.cancel = context.WithCancel(context.Background())
	if err := e.router.Start(ctx); err != nil {
		t.Fatal(err)
	}
}

// stop closes the router, the broker and the store; start opens them again
// on the same file.
func (e *env) stop() {
	if e.srv == nil {
		return
	}
	e.cancel()
	e.router.Stop()
	_ = mochisafe.Close(e.srv)
	_ = e.db.Close()
	e.srv = nil
}

// client is a paho v5 client; answers are matched to calls by correlation data.
type client struct {
	c      *paho.Client
	id     string
	n      atomic.Int64
	mu     sync.Mutex
	wait   map[string]chan []byte
	events chan Event
}

// connect logs in as dev (client id dev or dev:suffix) and subscribes to its
// reply topic.
func (e *env) connect(t testing.TB, dev device, suffix string) *client {
	t.Helper()
	conn, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{id: dev.id, wait: map[string]chan []byte{}, events: make(chan Event, 10000)}
	if suffix != "" {
		c.id += ":" + suffix
	}
	c.c = paho.NewClient(paho.ClientConfig{
		Conn:          conn,
		PacketTimeout: 10 * time.Second,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			p := pr.Packet
			if strings.HasPrefix(p.Topic, "reply/") {
				if p.Properties != nil {
					c.mu.Lock()
					ch := c.wait[string(p.Properties.CorrelationData)]
					c.mu.Unlock()
					if ch != nil {
						ch <- p.Payload
					}
				}
				return true, nil
			}
			var ev Event
			if json.Unmarshal(p.Payload, &ev) == nil {
				select {
				case c.events <- ev:
				default:
				}
			}
			return true, nil
		}},
		OnClientError: func(error) {},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cp := &paho.Connect{ClientID: c.id, KeepAlive: 30, CleanStart: true,
		Username: dev.id, UsernameFlag: true, Password: []byte("pw-" + dev.id), PasswordFlag: true}
	if ca, err := c.c.Connect(ctx, cp); err != nil {
		t.Fatalf("connect %s: %v (%+v)", c.id, err, ca)
	}
	t.Cleanup(func() { _ = c.c.Disconnect(&paho.Disconnect{}) })
	c.subscribe(t, "reply/"+c.id+"/#")
	return c
}

func (c *client) subscribe(t testing.TB, filter string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sa, err := c.c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}})
	if err != nil || len(sa.Reasons) != 1 || sa.Reasons[0] >= 0x80 {
		t.Fatalf("%s subscribe %s: %v %+v", c.id, filter, err, sa)
	}
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
	n := c.n.Add(1)
	if reqID == "" {
		// svc remembers answers per device: clients of one device need distinct ids.
		reqID = fmt.Sprintf("%s-r%d", c.id, n)
	}
	corr := fmt.Sprint(n)
	payload := fmt.Sprintf(`{"id":%q,"v":1`, reqID)
	if body = strings.TrimSpace(body); body != "" && body != "{}" {
		payload += "," + body[1:]
	} else {
		payload += "}"
	}
	ch := make(chan []byte, 1)
	c.mu.Lock()
	c.wait[corr] = ch
	c.mu.Unlock()
	defer func() { c.mu.Lock(); delete(c.wait, corr); c.mu.Unlock() }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.c.Publish(ctx, &paho.Publish{Topic: "svc/chat/" + op, QoS: 1, Payload: []byte(payload),
		Properties: &paho.PublishProperties{ResponseTopic: "reply/" + c.id + "/r", CorrelationData: []byte(corr)}})
	if err != nil {
		return answer{}, fmt.Errorf("%s publish %s: %w", c.id, op, err)
	}
	select {
	case raw := <-ch:
		var a answer
		if err := json.Unmarshal(raw, &a); err != nil {
			return a, fmt.Errorf("answer to %s is not JSON: %w: %s", op, err, raw)
		}
		a.raw = string(raw)
		return a, nil
	case <-ctx.Done():
		return answer{}, fmt.Errorf("%s: no answer to %s %s within 10 s", c.id, op, payload)
	}
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
	payload := fmt.Sprintf(`{"id":%q,"v":1,%s`, reqID, strings.TrimPrefix(strings.TrimSpace(body), "{"))
	return &svc.Request{Service: ServiceName, Op: op, ID: reqID, V: 1, Body: json.RawMessage(payload),
		From: auth.Identity{Device: dev.id, Role: dev.role, ClientID: dev.id}, Received: e.clock.Now()}
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
