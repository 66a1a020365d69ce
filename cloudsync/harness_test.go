package cloudsync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/broker/store"
	"github.com/storeedge/storeedge/cloudsync"
	"github.com/storeedge/storeedge/cloudsync/hq"
	"github.com/storeedge/storeedge/cloudsync/topicmap"
	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/internal/testkit/faultproxy"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	"github.com/storeedge/storeedge/internal/testkit/mqtttest"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/proto"
)

func TestMain(m *testing.M) {
	storetest.Main()
	m.Run()
}

func startMosquitto(t *testing.T, o mosquittotest.Options) *mosquittotest.Broker {
	t.Helper()
	return mosquittotest.Start(t, o)
}

// link is the store's line to HQ: a fault proxy in front of HQ's broker.
func link(t testing.TB, hqAddr string) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.New("127.0.0.1:0", hqAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// cloudConfig points the store at HQ through addr with test-sized timings.
func cloudConfig(addr string, more func(*broker.Config)) func(*broker.Config) {
	return func(c *broker.Config) {
		c.Cloud.URL = "mqtt://" + addr
		c.Cloud.ReconnectMin = 20 * time.Millisecond
		c.Cloud.ReconnectMax = 200 * time.Millisecond
		c.Cloud.ConnectTimeout = 2 * time.Second
		c.Cloud.KeepAlive = 5 * time.Second
		c.Cloud.StatusInterval = 100 * time.Millisecond
		if more != nil {
			more(c)
		}
	}
}

// consumer is HQ's consumer: it records every uplink message and the first
// copy of each (store, origin).
type consumer struct {
	t     testing.TB
	c     *paho.Client
	dedup *hq.Dedup

	mu    sync.Mutex
	all   int
	first []hq.Message
	recv  []time.Time // receive time of each first copy
	bad   []string
	// hellos are the store's hellos (store/hello), every copy, kept apart
	// from the data the tests count.
	hellos []hq.Message
	// shops are the shop's entries (shop/info: catalogue, hours, staff),
	// which the store's first link files in its backfill; kept apart too.
	shops []hq.Message
}

func newConsumer(t *testing.T, addr, id, filter string) *consumer {
	t.Helper()
	return newConsumerTB(t, addr, id, filter)
}

func newConsumerTB(t testing.TB, addr, id, filter string) *consumer {
	t.Helper()
	k := &consumer{t: t, dedup: hq.NewDedup()}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	k.c = paho.NewClient(paho.ClientConfig{Conn: conn, ClientID: id,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			k.take(pr.Packet)
			return true, nil
		}}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := k.c.Connect(ctx, &paho.Connect{KeepAlive: 30, ClientID: id, CleanStart: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.c.Disconnect(&paho.Disconnect{}) })
	return k
}

func (k *consumer) take(p *paho.Publish) {
	now := time.Now()
	m, err := hq.Parse(p)
	k.mu.Lock()
	defer k.mu.Unlock()
	k.all++
	if err != nil {
		k.bad = append(k.bad, err.Error())
		return
	}
	if m.LocalTopic == proto.TopicHello {
		k.all--
		k.hellos = append(k.hellos, m)
		return
	}
	if m.LocalTopic == proto.TopicShopInfo {
		k.all--
		k.shops = append(k.shops, m)
		return
	}
	if k.dedup.First(m.Store, m.Origin) {
		k.first = append(k.first, m)
		k.recv = append(k.recv, now)
	}
}

func (k *consumer) counts() (all, first int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.all, len(k.first)
}

// waitFirst polls until n distinct messages arrived.
func (k *consumer) waitFirst(n int, within time.Duration) { k.t.Helper(); k.waitFirstTB(n, within) }

func (k *consumer) waitFirstTB(n int, within time.Duration) {
	k.t.Helper()
	deadline := time.Now().Add(within)
	for {
		_, f := k.counts()
		if f >= n {
			return
		}
		if time.Now().After(deadline) {
			k.t.Fatalf("HQ has %d distinct messages after %s, want %d", f, within, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (k *consumer) messages() []hq.Message {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]hq.Message(nil), k.first...)
}

// publisher is HQ sending to stores: a plain MQTT client on HQ's broker.
func hqPublisher(t *testing.T, addr string) *paho.Client { t.Helper(); return hqPublisherTB(t, addr) }

func hqPublisherTB(t testing.TB, addr string) *paho.Client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: conn, ClientID: fmt.Sprintf("hq-pub-%d", time.Now().UnixNano())})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{KeepAlive: 30, ClientID: c.ClientID(), CleanStart: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c
}

// startMochi runs an in-process mochi as HQ's broker (sessions in memory,
// anyone may connect) and returns its address.
func startMochi(t *testing.T) string {
	t.Helper()
	return mqtttest.Start(t, mqtttest.Options{InlineClient: true, Hooks: []mqtt.Hook{new(auth.AllowHook)}}).Addr
}

// originsWithPrefix counts distinct messages whose origin starts with p.
func (k *consumer) originsWithPrefix(p string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for _, m := range k.first {
		if _, o, _ := strings.Cut(m.Origin, "/"); strings.HasPrefix(o, p) {
			n++
		}
	}
	return n
}

// liveLatency is, for the distinct messages whose origin starts with p,
// the time from filing (the ts property) to arrival at HQ.
func (k *consumer) liveLatency(p string) []time.Duration {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []time.Duration
	for i, m := range k.first {
		if _, o, _ := strings.Cut(m.Origin, "/"); strings.HasPrefix(o, p) {
			out = append(out, k.recv[i].Sub(m.Stored))
		}
	}
	return out
}

// libraryBridge is cloudsync used as a library: a bridge over its own
// database (store "s1") on cfg (testCloudConfig), running until the test
// ends. deliver nil takes every message.
func libraryBridge(t testing.TB, cfg cloudsync.Config, deliver func(context.Context, cloudsync.Inbound) error) (*cloudsync.Bridge, *store.DB) {
	t.Helper()
	db, err := store.Open(store.Options{Path: filepath.Join(t.TempDir(), "store.db")})
	if err != nil {
		t.Fatal(err)
	}
	m, err := topicmap.Parse(configs.Cloud)
	if err != nil {
		t.Fatal(err)
	}
	if deliver == nil {
		deliver = func(context.Context, cloudsync.Inbound) error { return nil }
	}
	br, err := cloudsync.New(cloudsync.Options{Config: cfg, StoreID: "s1", DB: db, Map: m, Deliver: deliver})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = br.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; _ = db.Close() })
	return br, db
}

// hqDeliver has HQ send one message to the store (topic on HQ's broker,
// user property id) and sends it again, with the same id, every 300 ms
// until taken says the store has it: HQ's broker drops a message sent
// before the store's downlink subscribed (mochi without saying so), and
// the store takes each id once.
func hqDeliver(t testing.TB, pub *paho.Client, topic, id string, payload []byte, taken func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for sent := 1; ; sent++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := pub.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: payload,
			Properties: &paho.PublishProperties{User: paho.UserProperties{{Key: cloudsync.PropID, Value: id}}}})
		cancel()
		if err != nil {
			t.Fatalf("HQ publish %s (id %s): %v", topic, id, err)
		}
		for retry := time.Now().Add(300 * time.Millisecond); time.Now().Before(retry); time.Sleep(10 * time.Millisecond) {
			if taken() {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("HQ's message %s (id %s) did not reach the store within 20 s (sent %d times)", topic, id, sent)
		}
	}
}

// hasConversation reports whether staff can read conversation conv and it
// holds a message. HQ's first message opens the conversation in a commit of
// its own before the message (with any assistant reply, in one commit) is
// stored: an open but empty conversation is not there yet.
func hasConversation(staff *storetest.Client, conv string) bool {
	a, err := staff.TryCall("chat", "history", fmt.Sprintf("has-%s-%d", conv, time.Now().UnixNano()), fmt.Sprintf(`{"conversation":%q}`, conv))
	if err != nil || !a.OK {
		return false
	}
	var h struct {
		LastSeq uint64 `json:"last_seq"`
	}
	return json.Unmarshal(a.Raw, &h) == nil && h.LastSeq > 0
}
