package hq_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/storeedge/storeedge/cloudsync"
	"github.com/storeedge/storeedge/cloudsync/hq"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	"github.com/storeedge/storeedge/proto"
)

// sent is one uplink message the test published.
type sent struct {
	store, origin string
	seq           uint64
	payload       string
}

// shared is what the consumers of one group saw together: one Dedup, the
// first copies, and each consumer's own count.
type shared struct {
	dedup   *hq.Dedup
	changed chan struct{} // signalled after every message

	mu    sync.Mutex
	got   map[string]int // consumer → messages received
	first []hq.Message
	bad   []error
}

func (s *shared) take(consumer string, p *paho.Publish) {
	m, err := hq.Parse(p)
	s.mu.Lock()
	s.got[consumer]++
	switch {
	case err != nil:
		s.bad = append(s.bad, err)
	case s.dedup.First(m.Store, m.Origin):
		s.first = append(s.first, m)
	}
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// total is how many messages the consumers received together.
func (s *shared) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.got {
		n += c
	}
	return n
}

// waitTotal waits until the consumers received n messages together; it is
// woken by every message, not by a timer.
func (s *shared) waitTotal(t *testing.T, n int, within time.Duration, mq *mosquittotest.Broker) {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for s.total() < n {
		select {
		case <-s.changed:
		case <-deadline.C:
			t.Fatalf("consumers received %d of %d messages within %s\n%s", s.total(), n, within, mq.Log())
		}
	}
}

// connect dials HQ's broker as a plain MQTT 5 client; each received
// message goes to take. The client is disconnected at cleanup.
func connect(t *testing.T, addr, id string, take func(*paho.Publish)) *paho.Client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg := paho.ClientConfig{Conn: conn, ClientID: id, PacketTimeout: 10 * time.Second, OnClientError: func(error) {}}
	if take != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			take(pr.Packet)
			return true, nil
		}}
	}
	c := paho.NewClient(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: id, KeepAlive: 30, CleanStart: true}); err != nil {
		_ = conn.Close()
		t.Fatalf("connect %s: %v", id, err)
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c
}

// uplinkPublish is m as a store's cloudsync publishes it.
func uplinkPublish(m sent, stored time.Time) *paho.Publish {
	return &paho.Publish{
		Topic:   "stores/" + m.store + "/up/devices/x/telemetry",
		QoS:     1,
		Payload: []byte(m.payload),
		Properties: &paho.PublishProperties{User: paho.UserProperties{
			{Key: cloudsync.PropStore, Value: m.store},
			{Key: cloudsync.PropOrigin, Value: m.origin},
			{Key: cloudsync.PropSeq, Value: strconv.FormatUint(m.seq, 10)},
			{Key: cloudsync.PropStored, Value: stored.UTC().Format(time.RFC3339Nano)},
		}},
	}
}

// Two consumers in one shared-subscription group split the stores' uplink;
// with one Dedup between them, the first copies are every (store, origin)
// exactly once, however many repeats came.
func TestSharedConsumers(t *testing.T) {
	const distinct, repeats = 2000, 200
	stores := []string{"s1", "s2", "s3"}
	mq := mosquittotest.Start(t, mosquittotest.Options{})

	s := &shared{dedup: hq.NewDedup(), changed: make(chan struct{}, 1), got: map[string]int{}}
	for _, id := range []string{"hq-consumer-1", "hq-consumer-2"} {
		c := connect(t, mq.Addr, id, func(p *paho.Publish) { s.take(id, p) })
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: hq.SharedFilter, QoS: 1}}})
		cancel()
		if err != nil {
			t.Fatalf("%s: subscribe %s: %v", id, hq.SharedFilter, err)
		}
	}

	// 2000 distinct messages over three stores, each store with its own
	// sequence (origin = seq, as cloudsync files them), then 200 of them
	// sent again as a store resends after a cut link: same properties,
	// same payload.
	var msgs []sent
	next := map[string]uint64{}
	for i := range distinct {
		st := stores[i%len(stores)]
		next[st]++
		seq := next[st]
		msgs = append(msgs, sent{store: st, origin: strconv.FormatUint(seq, 10), seq: seq, payload: fmt.Sprintf(`{"n":%d}`, i)})
	}
	for i := range repeats {
		msgs = append(msgs, msgs[(i*7)%distinct])
	}

	pub := connect(t, mq.Addr, "hq-test-publisher", nil)
	stored := time.Date(2026, 11, 24, 6, 0, 0, 123456789, time.UTC)
	const workers = 8
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(msgs); i += workers {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := pub.Publish(ctx, uplinkPublish(msgs[i], stored))
				cancel()
				if err != nil {
					errc <- fmt.Errorf("publish %d: %w", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	// And one message that is not from cloudsync: no user properties.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, err := pub.Publish(ctx, &paho.Publish{Topic: "stores/s1/up/devices/x/telemetry", QoS: 1, Payload: []byte(`{}`)})
	cancel()
	if err != nil {
		t.Fatal(err)
	}

	s.waitTotal(t, len(msgs)+1, 30*time.Second, mq)

	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.got) != 2 || s.got["hq-consumer-1"] == 0 || s.got["hq-consumer-2"] == 0 {
		t.Errorf("messages per consumer %v: want both consumers to get some (the group splits the load)", s.got)
	}
	t.Logf("messages per consumer: %v", s.got)

	want := map[[2]string]sent{}
	for _, m := range msgs[:distinct] {
		want[[2]string{m.store, m.origin}] = m
	}
	seen := map[[2]string]bool{}
	for _, m := range s.first {
		k := [2]string{m.Store, m.Origin}
		w, ok := want[k]
		switch {
		case !ok:
			t.Errorf("first copy of (%s, %s): never sent", m.Store, m.Origin)
		case seen[k]:
			t.Errorf("(%s, %s) handed on twice", m.Store, m.Origin)
		case m.Seq != w.seq || string(m.Payload) != w.payload || m.LocalTopic != "devices/x/telemetry" || !m.Stored.Equal(stored):
			t.Errorf("(%s, %s): got seq %d payload %s local topic %q stored %s, want seq %d payload %s devices/x/telemetry %s",
				m.Store, m.Origin, m.Seq, m.Payload, m.LocalTopic, m.Stored, w.seq, w.payload, stored)
		}
		seen[k] = true
	}
	if len(s.first) != distinct || len(seen) != distinct || s.dedup.Len() != distinct {
		t.Errorf("%d first copies (%d distinct), Dedup holds %d: want exactly %d", len(s.first), len(seen), s.dedup.Len(), distinct)
	}
	for k := range want {
		if !seen[k] {
			t.Errorf("(%s, %s) sent but never handed on", k[0], k[1])
		}
	}

	if len(s.bad) != 1 || !errors.Is(s.bad[0], hq.ErrNotUplink) {
		t.Errorf("Parse errors %v: want one ErrNotUplink, for the message without properties", s.bad)
	}
}

// Parse refuses a message that lacks cloudsync's user properties, or
// carries a seq or ts that does not parse.
func TestParseRejects(t *testing.T) {
	ok := uplinkPublish(sent{store: "s1", origin: "7", seq: 7, payload: "{}"}, time.Now())
	if _, err := hq.Parse(ok); err != nil {
		t.Fatalf("a well-formed message: %v", err)
	}
	without := func(key string) *paho.Publish {
		p := uplinkPublish(sent{store: "s1", origin: "7", seq: 7, payload: "{}"}, time.Now())
		var keep paho.UserProperties
		for _, u := range p.Properties.User {
			if u.Key != key {
				keep = append(keep, u)
			}
		}
		p.Properties.User = keep
		return p
	}
	set := func(key, value string) *paho.Publish {
		p := without(key)
		p.Properties.User = append(p.Properties.User, paho.UserProperty{Key: key, Value: value})
		return p
	}
	for name, p := range map[string]*paho.Publish{
		"no properties": {Topic: "stores/s1/up/devices/x/telemetry", Payload: []byte("{}")},
		"no store":      without(cloudsync.PropStore),
		"no origin":     without(cloudsync.PropOrigin),
		"no seq":        without(cloudsync.PropSeq),
		"bad seq":       set(cloudsync.PropSeq, "x"),
		"bad ts":        set(cloudsync.PropStored, "yesterday"),
	} {
		if _, err := hq.Parse(p); !errors.Is(err, hq.ErrNotUplink) {
			t.Errorf("%s: got %v, want ErrNotUplink", name, err)
		}
	}
}

// Parse reads the epoch, the stream and the stream's sequence; a message
// without them (a store from before epochs) still parses, with SSeq 0; an
// sseq that is not a positive number is refused.
func TestParseStreamProperties(t *testing.T) {
	p := uplinkPublish(sent{store: "s1", origin: "0123456789abcdef/7", seq: 7, payload: "{}"}, time.Now())
	p.Topic = "stores/s1/up/chat/c1/hq"
	p.Properties.User = append(p.Properties.User,
		paho.UserProperty{Key: proto.PropEpoch, Value: "0123456789abcdef"},
		paho.UserProperty{Key: proto.PropStream, Value: proto.StreamChat},
		paho.UserProperty{Key: proto.PropSSeq, Value: "42"})
	m, err := hq.Parse(p)
	if err != nil {
		t.Fatal(err)
	}
	if m.Epoch != "0123456789abcdef" || m.Stream != proto.StreamChat || m.SSeq != 42 || m.LocalTopic != "chat/c1/hq" || m.Seq != 7 {
		t.Fatalf("parsed %+v", m)
	}
	old := uplinkPublish(sent{store: "s1", origin: "8", seq: 8, payload: "{}"}, time.Now())
	if m, err := hq.Parse(old); err != nil || m.Epoch != "" || m.Stream != "" || m.SSeq != 0 {
		t.Fatalf("a message without stream properties: %+v %v", m, err)
	}
	for _, v := range []string{"0", "-1", "x", "1.5"} {
		bad := uplinkPublish(sent{store: "s1", origin: "9", seq: 9, payload: "{}"}, time.Now())
		bad.Properties.User = append(bad.Properties.User, paho.UserProperty{Key: proto.PropSSeq, Value: v})
		if _, err := hq.Parse(bad); !errors.Is(err, hq.ErrNotUplink) {
			t.Errorf("sseq %q: got %v, want ErrNotUplink", v, err)
		}
	}
}
