package mosquittotest

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// client is a paho client that records every message it receives.
type client struct {
	*paho.Client
	ack *paho.Connack

	mu   sync.Mutex
	got  map[string]int // "topic:payload" → deliveries
	dups int
}

// connect dials addr and sends CONNECT as id; edit adjusts the packet
// (credentials, session settings). The client is disconnected at cleanup.
func connect(t *testing.T, addr, id string, edit func(*paho.Connect)) (*client, error) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &client{got: map[string]int{}}
	c.Client = paho.NewClient(paho.ClientConfig{
		Conn:          conn,
		PacketTimeout: 10 * time.Second,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			c.mu.Lock()
			defer c.mu.Unlock()
			k := pr.Packet.Topic + ":" + string(pr.Packet.Payload)
			if c.got[k] > 0 {
				c.dups++
			}
			c.got[k]++
			return true, nil
		}},
		OnClientError: func(error) {},
	})
	cp := &paho.Connect{ClientID: id, KeepAlive: 30, CleanStart: true}
	if edit != nil {
		edit(cp)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.ack, err = c.Connect(ctx, cp)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("connect %s: %w (%+v)", id, err, c.ack)
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c, nil
}

func mustConnect(t *testing.T, addr, id string, edit func(*paho.Connect)) *client {
	t.Helper()
	c, err := connect(t, addr, id, edit)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// persistent asks for a session that outlives the connection by an hour.
func persistent(cp *paho.Connect) {
	cp.CleanStart = false
	expiry := uint32(3600)
	cp.Properties = &paho.ConnectProperties{SessionExpiryInterval: &expiry}
}

func (c *client) subscribe(t *testing.T, filter string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}}); err != nil {
		t.Fatalf("subscribe %s: %v", filter, err)
	}
}

// publish sends n QoS 1 messages "0".."n-1" to topic, several at a time so
// that a large backlog builds quickly; each waits for its PUBACK.
func (c *client) publish(t *testing.T, topic string, n int) {
	t.Helper()
	const workers = 16
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(strconv.Itoa(i))})
				cancel()
				if err != nil {
					errc <- fmt.Errorf("publish %d: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
}

// distinct is how many different messages arrived.
func (c *client) distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got)
}

// waitDistinct polls until n different messages arrived or the deadline passes.
func (c *client) waitDistinct(t *testing.T, n int, within time.Duration, b *Broker) {
	t.Helper()
	deadline := time.Now().Add(within)
	for c.distinct() < n {
		if time.Now().After(deadline) {
			t.Fatalf("received %d of %d messages within %v\n%s", c.distinct(), n, within, tail(b.Log(), 40))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// tail keeps the last n lines of a log for a failure message.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func TestPublishSubscribe(t *testing.T) {
	b := Start(t, Options{})
	sub := mustConnect(t, b.Addr, "hq-sub", nil)
	sub.subscribe(t, "stores/+/sales")
	pub := mustConnect(t, b.Addr, "store-1", nil)
	pub.publish(t, "stores/1/sales", 10)
	sub.waitDistinct(t, 10, 10*time.Second, b)
	if !strings.Contains(b.Log(), "New client connected") {
		t.Fatalf("log does not show the connections:\n%s", b.Log())
	}
}

func TestPersistentSessionSurvivesRestart(t *testing.T) {
	testBacklogSurvivesRestart(t, 2000)
}

// TestLargeBacklogSurvivesRestart is the size of backlog a store can build
// while its link to HQ is down; mosquitto's default queue limit would keep
// only the first thousand.
func TestLargeBacklogSurvivesRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("publishes 100 000 messages")
	}
	testBacklogSurvivesRestart(t, 100_000)
}

func testBacklogSurvivesRestart(t *testing.T, n int) {
	b := Start(t, Options{Persistence: true})
	sub := mustConnect(t, b.Addr, "hq-sub", persistent)
	sub.subscribe(t, "stores/#")
	if err := sub.Disconnect(&paho.Disconnect{}); err != nil {
		t.Fatal(err)
	}

	pub := mustConnect(t, b.Addr, "store-1", nil)
	start := time.Now()
	pub.publish(t, "stores/1/sales", n)
	t.Logf("published %d in %v", n, time.Since(start))

	start = time.Now()
	b.Restart(t)
	t.Logf("restarted in %v", time.Since(start))

	sub = mustConnect(t, b.Addr, "hq-sub", persistent)
	if !sub.ack.SessionPresent {
		t.Fatalf("session lost across restart\n%s", tail(b.Log(), 40))
	}
	start = time.Now()
	sub.waitDistinct(t, n, 60*time.Second, b)
	t.Logf("drained %d in %v", n, time.Since(start))
	sub.mu.Lock()
	defer sub.mu.Unlock()
	for i := range n {
		if sub.got["stores/1/sales:"+strconv.Itoa(i)] == 0 {
			t.Fatalf("message %d missing", i)
		}
	}
	if sub.dups > 0 {
		t.Logf("%d duplicates (allowed at QoS 1)", sub.dups)
	}
}

func TestMaxQueuedDropsBeyondTheLimit(t *testing.T) {
	b := Start(t, Options{MaxQueued: 50})
	sub := mustConnect(t, b.Addr, "hq-sub", persistent)
	sub.subscribe(t, "stores/#")
	if err := sub.Disconnect(&paho.Disconnect{}); err != nil {
		t.Fatal(err)
	}
	pub := mustConnect(t, b.Addr, "store-1", nil)
	pub.publish(t, "stores/1/sales", 200)

	sub = mustConnect(t, b.Addr, "hq-sub", persistent)
	// mosquitto delivers a topic's messages in order, so once a marker
	// published now arrives, everything queued before it has too.
	pub.publish(t, "stores/1/marker", 1)
	sub.waitDistinct(t, 51, 10*time.Second, b)
	if got := sub.distinct() - 1; got != 50 {
		t.Fatalf("received %d queued messages, want exactly max_queued_messages 50", got)
	}
}

// TestKillKeepsOnlyWhatWasSaved pins the documented crash behaviour: a
// SIGKILL loses the session unless Extra makes mosquitto save on change.
func TestKillKeepsOnlyWhatWasSaved(t *testing.T) {
	for _, tc := range []struct {
		extra string
		kept  bool
	}{
		{"", false},
		{"autosave_interval 1\nautosave_on_changes true\n", true},
	} {
		b := Start(t, Options{Persistence: true, Extra: tc.extra})
		sub := mustConnect(t, b.Addr, "hq-sub", persistent)
		sub.subscribe(t, "stores/#")
		if err := sub.Disconnect(&paho.Disconnect{}); err != nil {
			t.Fatal(err)
		}
		pub := mustConnect(t, b.Addr, "store-1", nil)
		pub.publish(t, "stores/1/sales", 10)
		// mosquitto saves on changes at the end of a loop turn, after it
		// has sent that turn's PUBACKs: a kill right after the tenth PUBACK
		// can come before the save. One more publish, acknowledged in a
		// later turn, comes after the save that holds all ten.
		pub.publish(t, "stores/1/after", 1)
		b.Kill()
		b.Restart(t)
		sub = mustConnect(t, b.Addr, "hq-sub", persistent)
		if sub.ack.SessionPresent != tc.kept {
			t.Fatalf("extra %q: session present %v after Kill, want %v", tc.extra, sub.ack.SessionPresent, tc.kept)
		}
		if tc.kept {
			sub.waitDistinct(t, 10, 10*time.Second, b)
			sub.mu.Lock()
			for i := range 10 {
				if sub.got["stores/1/sales:"+strconv.Itoa(i)] == 0 {
					t.Errorf("message %d lost in the kill", i)
				}
			}
			sub.mu.Unlock()
		}
	}
}

func TestUsers(t *testing.T) {
	b := Start(t, Options{Users: map[string]string{"store-1": "s3cret", "hq": "other"}})
	login := func(user, pass string) func(*paho.Connect) {
		return func(cp *paho.Connect) {
			cp.Username, cp.UsernameFlag = user, true
			cp.Password, cp.PasswordFlag = []byte(pass), true
		}
	}
	mustConnect(t, b.Addr, "store-1", login("store-1", "s3cret"))
	if _, err := connect(t, b.Addr, "store-1b", login("store-1", "wrong")); err == nil {
		t.Fatal("wrong password accepted")
	}
	if _, err := connect(t, b.Addr, "anon", nil); err == nil {
		t.Fatal("anonymous client accepted")
	}
}

func TestKillAndRestart(t *testing.T) {
	b := Start(t, Options{})
	b.Kill()
	if _, err := net.DialTimeout("tcp", b.Addr, time.Second); err == nil {
		t.Fatal("still listening after Kill")
	}
	b.Restart(t)
	mustConnect(t, b.Addr, "after", nil)
}
