package home

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/storeedge/storeedge/cloudsync"
	"github.com/storeedge/storeedge/cloudsync/hq"
	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/hq/downlink"
	"github.com/storeedge/storeedge/hq/replica"
	"github.com/storeedge/storeedge/internal/seal"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	"github.com/storeedge/storeedge/internal/testkit/pgtest"
	"github.com/storeedge/storeedge/proto"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// t0 is the tests' time: Monday 7 Dec 2026 11:00 in Shanghai (open).
var t0 = time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// got is one message a store would receive from HQ's broker.
type got struct {
	Topic, ID string
	Payload   []byte
}

// storesSide subscribes on HQ's broker to everything sent down to stores,
// as the stores' links do.
type storesSide struct {
	mu  sync.Mutex
	msg []got
}

func listenDown(t testing.TB, addr string) *storesSide {
	t.Helper()
	s := &storesSide{}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: conn, ClientID: "stores-side",
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			id := ""
			if pr.Packet.Properties != nil {
				id = pr.Packet.Properties.User.Get(cloudsync.PropID)
			}
			s.mu.Lock()
			s.msg = append(s.msg, got{Topic: pr.Packet.Topic, ID: id, Payload: pr.Packet.Payload})
			s.mu.Unlock()
			return true, nil
		}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{KeepAlive: 30, ClientID: "stores-side", CleanStart: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "stores/+/down/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return s
}

// wait returns the messages once there are n on topics with suffix.
func (s *storesSide) wait(t testing.TB, suffix string, n int) []got {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := s.on(suffix)
		if len(m) >= n {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("stores got %d messages on …%s, want %d: %+v", len(m), suffix, n, s.on(""))
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
}

// waitIDs returns the distinct ids on topics with suffix, in order of first
// arrival, once there are n: what a store that takes each id once sees.
func (s *storesSide) waitIDs(t testing.TB, suffix string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var ids []string
		seen := map[string]bool{}
		for _, g := range s.on(suffix) {
			if !seen[g.ID] {
				seen[g.ID] = true
				ids = append(ids, g.ID)
			}
		}
		if len(ids) >= n {
			return ids
		}
		if time.Now().After(deadline) {
			t.Fatalf("stores got %d distinct messages on …%s, want %d: %+v", len(ids), suffix, n, s.on(""))
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
}

func (s *storesSide) on(suffix string) []got {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []got
	for _, g := range s.msg {
		if strings.HasSuffix(g.Topic, suffix) {
			out = append(out, g)
		}
	}
	return out
}

// env is HQ with the page at home: a replica in PostgreSQL, HQ's broker
// (mosquitto) with the stores' side listening, and the stores' uplink
// applied as their cloudsync would.
type env struct {
	rep    *replica.Replica
	keys   *seal.Keyring
	srv    *Server
	web    *httptest.Server
	down   *storesSide
	broker *mosquittotest.Broker
	clock  *clock
	// stopRun ends the server's Run and waits for it.
	stopRun func()
	ups     map[string]*up
}

// up is a store's uplink: its signing key and sequence numbers.
type up struct {
	key  ed25519.PrivateKey
	seq  uint64
	sseq map[string]uint64
}

func start(t *testing.T, cfg Config) *env {
	t.Helper()
	url := pgtest.Start(t).NewDB(t)
	var k [32]byte
	_, _ = rand.Read(k[:])
	keys, err := seal.ParseKeys("t1:" + base64.StdEncoding.EncodeToString(k[:]))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	hs, err := Handlers(log, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := replica.Open(context.Background(), url, replica.Options{Keys: keys, Handlers: hs, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rep.Close)
	broker := mosquittotest.Start(t, mosquittotest.Options{})
	e := &env{rep: rep, keys: keys, broker: broker, clock: &clock{t: t0}, ups: map[string]*up{}}
	e.down = listenDown(t, broker.Addr)
	pub, err := downlink.NewMQTTPublisher(context.Background(), downlink.MQTTOptions{URL: "mqtt://" + broker.Addr, ClientID: "hq-home-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close(context.Background()) })
	e.srv, err = New(Options{Pool: rep.Pool(), Keys: keys, Publisher: pub, Config: cfg, Logger: log, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = e.srv.Run(ctx); close(done) }()
	e.stopRun = func() { cancel(); <-done }
	t.Cleanup(e.stopRun)
	deadline := time.Now().Add(10 * time.Second)
	for !e.srv.Listening() {
		if time.Now().After(deadline) {
			t.Fatal("the server does not listen for notifications")
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
	mux := http.NewServeMux()
	mux.Handle("/home/", e.srv.Handler())
	e.web = httptest.NewServer(mux)
	t.Cleanup(e.web.Close)
	return e
}

func (e *env) store(name string) *up {
	if e.ups[name] == nil {
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		e.ups[name] = &up{key: priv, sseq: map[string]uint64{}}
	}
	return e.ups[name]
}

// send applies a store's uplink message to the replica; it returns the
// error of a message the replica refused (replica.ErrBadMessage).
func (e *env) send(t *testing.T, store, local string, payload any) error {
	t.Helper()
	u := e.store(store)
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	u.seq++
	stream := proto.StreamBooking
	switch {
	case strings.HasPrefix(local, "chat/"):
		stream = proto.StreamChat
	case local == proto.TopicShopInfo:
		stream = proto.StreamBooking
	}
	u.sseq[stream]++
	epoch := "e-" + store
	m := hq.Message{Store: store, Origin: fmt.Sprintf("%s/%d", epoch, u.seq), Seq: u.seq, Stored: e.clock.Now(),
		Epoch: epoch, Stream: stream, SSeq: u.sseq[stream], Topic: proto.CloudUpTopic(store, local), LocalTopic: local, Payload: b}
	_, err = e.rep.Apply(context.Background(), m)
	if err != nil && !errors.Is(err, replica.ErrBadMessage) {
		t.Fatalf("apply %s %s: %v", store, local, err)
	}
	return err
}

// vouch is store's signed vouch for customer's code (signed with key, the
// store's own when nil).
func (e *env) vouch(store, customer, code string, replace bool, expires time.Time, key ed25519.PrivateKey) proto.HomeVouch {
	if key == nil {
		key = e.store(store).key
	}
	sum := sha256.Sum256([]byte(code))
	v := proto.HomeVouch{V: 1, ID: "hv-" + code[:6], Store: store, Customer: customer, CodeHash: hex.EncodeToString(sum[:]),
		Expires: expires, Replace: replace, Name: "Lin", Key: base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))}
	v.Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(key, proto.HomeVouchSigned(v)))
	return v
}

func (e *env) revoke(store, customer string) proto.HomeRevoke {
	key := e.store(store).key
	v := proto.HomeRevoke{V: 1, ID: "hr-" + customer, Store: store, Customer: customer, TS: e.clock.Now(),
		Key: base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))}
	v.Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(key, proto.HomeRevokeSigned(v)))
	return v
}

// status sets the store's presence.
func (e *env) status(t *testing.T, store string, online bool) {
	t.Helper()
	st := proto.StoreStatus{V: 1, Store: store, Online: online, Epoch: "e-" + store, TS: e.clock.Now()}
	if err := e.rep.ApplyStatus(context.Background(), store, st, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
}

// shop files the store's shop info: Shanghai, open 09:30-21:00 weekdays,
// the default FAQ, staff-anna named Anna.
func (e *env) shop(t *testing.T, store string) {
	t.Helper()
	wk := proto.Week{Mon: []string{"09:30-21:00"}, Tue: []string{"09:30-21:00"}, Wed: []string{"09:30-21:00"},
		Thu: []string{"09:30-21:00"}, Fri: []string{"09:30-21:00"}, Sat: []string{"09:00-21:30"}, Sun: []string{"09:00-21:30"}}
	faqJSON, _ := json.Marshal(string(configs.FAQ))
	e.send(t, store, proto.TopicShopInfo, proto.ShopInfo{V: 1, Version: 1, TimeZone: "Asia/Shanghai",
		Catalog: proto.ShopCatalog{TimeZone: "Asia/Shanghai", Hours: wk}, Staff: []proto.StaffMember{{ID: "staff-anna", Name: "Anna", Role: "staff"}},
		FAQ: faqJSON, TS: e.clock.Now()})
}

// chat files a message of the conversation conv as the store does.
func (e *env) chat(t *testing.T, store, conv string, seq uint64, id, from, text string, auto bool) {
	t.Helper()
	e.send(t, store, "chat/"+conv+"/hq", proto.HQChatEntry{V: 1, Type: "message", Origin: fmt.Sprintf("%s/%d", conv, seq),
		Conversation: conv, Customer: conv, Seq: seq, ID: id, From: from, Kind: "text", TS: e.clock.Now(), Text: text, Auto: auto})
}

// signIn makes a vouched link for customer at store and redeems it.
func (e *env) signIn(t *testing.T, store, customer string) string {
	t.Helper()
	code := "code" + customer + randomHex(4)
	e.send(t, store, proto.TopicHomeVouch, e.vouch(store, customer, code, false, e.clock.Now().Add(15*time.Minute), nil))
	var ans struct{ Token string }
	e.call(t, "POST", "/login", "", map[string]string{"store": store, "code": code, "device": "phone"}, 200, &ans)
	return ans.Token
}

// call makes an API request with token and checks the status (0: any);
// out (may be nil) gets the answer's JSON.
func (e *env) call(t *testing.T, method, path, token string, body any, want int, out any) []byte {
	t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case rawBody:
		rd, ct = bytes.NewReader(b.data), b.typ
	default:
		j, _ := json.Marshal(b)
		rd, ct = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequest(method, e.web.URL+"/home/api/v1"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if want != 0 && res.StatusCode != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, res.StatusCode, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return b
}

// client bounds every request: a stuck handler fails the test, naming it.
var client = &http.Client{Timeout: time.Minute}

type rawBody struct {
	typ  string
	data []byte
}

// errCode is the code of an error answer.
func errCode(b []byte) string {
	var e struct {
		Error struct{ Code, Message string }
	}
	_ = json.Unmarshal(b, &e)
	return e.Error.Code
}

type viewJSON struct {
	Version  string
	Messages []Msg
	Store    StoreState
}

func (e *env) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := e.rep.Pool().Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// waiting returns once a long-poll waits on the conversation.
func (e *env) waiting(t *testing.T, store, conv string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		e.srv.waitMu.Lock()
		n := len(e.srv.waiters[store+"\x00"+conv])
		e.srv.waitMu.Unlock()
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no long-poll waits")
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
}
