package ingest_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/storeedge/storeedge/cloudsync/hq"
	"github.com/storeedge/storeedge/hq/ingest"
	"github.com/storeedge/storeedge/hq/replica"
	"github.com/storeedge/storeedge/internal/seal"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	"github.com/storeedge/storeedge/internal/testkit/pgtest"
	"github.com/storeedge/storeedge/internal/testkit/testpki"
	"github.com/storeedge/storeedge/proto"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// orderTopic is a local topic whose handler records the order in which
// its messages apply.
const orderTopic = "test/order"

type orderLog struct{}

func (orderLog) ApplyUplink(ctx context.Context, tx pgx.Tx, m hq.Message) error {
	_, err := tx.Exec(ctx, `INSERT INTO test_order (store, epoch, sseq) VALUES ($1, $2, $3)`, m.Store, m.Epoch, int64(m.SSeq))
	return err
}

func keys(t testing.TB) *seal.Keyring {
	k := make([]byte, seal.KeySize)
	_, _ = rand.Read(k)
	kr, err := seal.ParseKeys("hq1:" + base64.StdEncoding.EncodeToString(k))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func openReplica(t testing.TB, dbURL string) *replica.Replica {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := replica.Open(ctx, dbURL, replica.Options{Keys: keys(t), MaxConns: 8,
		Handlers: map[string]replica.TopicHandler{orderTopic: orderLog{}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	if _, err := r.Pool().Exec(ctx, `CREATE TABLE IF NOT EXISTS test_order (n bigserial, store text, epoch text, sseq bigint)`); err != nil {
		t.Fatal(err)
	}
	return r
}

// consumer runs one instance until the test ends (or stop is called).
type consumer struct {
	*ingest.Consumer
	stop func()
}

func startConsumer(t testing.TB, r *replica.Replica, addr, id string, gapWait time.Duration) *consumer {
	t.Helper()
	u, _ := url.Parse("mqtt://" + addr)
	c, err := ingest.New(ingest.Options{Replica: r, Brokers: []*url.URL{u}, ClientID: id, Workers: 4,
		GapWait: gapWait, SessionExpiry: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("consumer %s: %v", id, err)
			}
		})
	}
	t.Cleanup(stop)
	waitFor(t, 20*time.Second, id+" subscribed", c.Ready)
	return &consumer{Consumer: c, stop: stop}
}

func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

// publisher is a store's side: a plain MQTT 5 client on HQ's broker.
func publisher(t testing.TB, addr, id string, take func(*paho.Publish)) *paho.Client {
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
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c
}

// up publishes one uplink message as cloudsync does.
func up(t testing.TB, c *paho.Client, store, epoch, stream string, seq, sseq uint64, local string, payload []byte) {
	t.Helper()
	props := paho.UserProperties{
		{Key: proto.PropStore, Value: store},
		{Key: proto.PropOrigin, Value: epoch + "/" + strconv.FormatUint(seq, 10)},
		{Key: proto.PropSeq, Value: strconv.FormatUint(seq, 10)},
		{Key: proto.PropStored, Value: time.Now().UTC().Format(time.RFC3339Nano)},
		{Key: proto.PropEpoch, Value: epoch},
		{Key: proto.PropStream, Value: stream},
	}
	if sseq > 0 {
		props = append(props, paho.UserProperty{Key: proto.PropSSeq, Value: strconv.FormatUint(sseq, 10)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Publish(ctx, &paho.Publish{QoS: 1, Topic: proto.CloudUpTopic(store, local), Payload: payload,
		Properties: &paho.PublishProperties{User: props}}); err != nil {
		t.Fatal(err)
	}
}

func count(t testing.TB, pool *pgxpool.Pool, q string, args ...any) int {
	t.Helper()
	var n int
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := pool.QueryRow(ctx, q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// checkOrder asserts every store's test_order is 1..n, each once.
func checkOrder(t testing.TB, pool *pgxpool.Pool, stores, n int) {
	t.Helper()
	for s := range stores {
		rows, err := pool.Query(context.Background(), `SELECT sseq FROM test_order WHERE store = $1 ORDER BY n`, fmt.Sprint("s", s))
		if err != nil {
			t.Fatal(err)
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[int])
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != n {
			t.Fatalf("store s%d: %d applied, want %d", s, len(got), n)
		}
		for i, v := range got {
			if v != i+1 {
				t.Fatalf("store s%d: position %d applied sseq %d", s, i, v)
			}
		}
	}
}

// Two instances in one group split many stores: every message applies
// once, in order per store, repeats included.
func TestTwoConsumersManyStores(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Options{})
	pg := pgtest.Start(t)
	r1, r2 := openReplica(t, pg.URL), openReplica(t, pg.URL)
	c1 := startConsumer(t, r1, mq.Addr, "hq-1", time.Hour)
	c2 := startConsumer(t, r2, mq.Addr, "hq-2", time.Hour)
	const stores, n = 40, 25
	pub := publisher(t, mq.Addr, "stores", nil)
	for i := uint64(1); i <= n; i++ {
		for s := range stores {
			store := fmt.Sprint("s", s)
			up(t, pub, store, "e1", proto.StreamBooking, i, i, orderTopic, []byte(`{}`))
			if i%10 == 0 { // a resend after a cut link
				up(t, pub, store, "e1", proto.StreamBooking, i, i, orderTopic, []byte(`{}`))
			}
		}
	}
	waitFor(t, 60*time.Second, "all applied", func() bool {
		return count(t, r1.Pool(), `SELECT count(*) FROM test_order`) >= stores*n &&
			c1.Stats().Acked+c2.Stats().Acked >= stores*(n+n/10)
	})
	checkOrder(t, r1.Pool(), stores, n)
	s1, s2 := c1.Stats(), c2.Stats()
	t.Logf("instance 1 %+v", s1)
	t.Logf("instance 2 %+v", s2)
	if s1.Applied+s1.Drained == 0 || s2.Applied+s2.Drained == 0 {
		t.Fatalf("one instance did nothing: %+v %+v", s1, s2)
	}
	if d := s1.Duplicates + s2.Duplicates; d != stores*(n/10) {
		t.Fatalf("%d duplicates, want %d", d, stores*(n/10))
	}
	if s1.Bad+s2.Bad+s1.DBErrors+s2.DBErrors != 0 {
		t.Fatalf("errors: %+v %+v", s1, s2)
	}
}

// PostgreSQL stopped mid-run: nothing is acknowledged while it is down,
// and after it is back every message is in the replica once, in order.
func TestPostgresDownLosesAndDoublesNothing(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Options{})
	pg := pgtest.StartPrivate(t)
	r := openReplica(t, pg.URL)
	c := startConsumer(t, r, mq.Addr, "hq-1", time.Hour)
	const stores, n = 5, 40
	pub := publisher(t, mq.Addr, "stores", nil)
	send := func(from, to uint64) {
		for i := from; i <= to; i++ {
			for s := range stores {
				up(t, pub, fmt.Sprint("s", s), "e1", proto.StreamChat, i, i, orderTopic, []byte(`{}`))
			}
		}
	}
	send(1, n/2)
	waitFor(t, 30*time.Second, "first half", func() bool { return c.Stats().Acked == stores*n/2 })
	pg.Stop()
	send(n/2+1, n)
	waitFor(t, 30*time.Second, "database errors seen", func() bool { return c.Stats().DBErrors > 0 })
	if a := c.Stats().Acked; a != stores*n/2 {
		t.Fatalf("%d acknowledged while PostgreSQL was down, want %d", a, stores*n/2)
	}
	pg.Start()
	waitFor(t, 60*time.Second, "second half", func() bool {
		return c.Stats().Acked == stores*n && count(t, r.Pool(), `SELECT count(*) FROM test_order`) >= stores*n
	})
	checkOrder(t, r.Pool(), stores, n)
}

// A message that can never apply is acknowledged (a restarted instance
// does not get it again) and its stream moves on.
func TestBadMessageIsAcknowledged(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Options{})
	pg := pgtest.Start(t)
	r := openReplica(t, pg.URL)
	c := startConsumer(t, r, mq.Addr, "hq-1", time.Hour)
	pub := publisher(t, mq.Addr, "stores", nil)
	up(t, pub, "s0", "e1", proto.StreamBooking, 1, 1, "booking/changes", []byte(`{oops`))
	up(t, pub, "s0", "e1", proto.StreamBooking, 2, 2, orderTopic, []byte(`{}`))
	// Not from a store's cloudsync at all (no properties).
	ctx := context.Background()
	if _, err := pub.Publish(ctx, &paho.Publish{QoS: 1, Topic: "stores/s0/up/x", Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "handled", func() bool { s := c.Stats(); return s.Bad == 2 && s.Applied == 1 })
	waitFor(t, 20*time.Second, "acknowledged", func() bool { return c.Stats().Acked == 3 })
	c.stop()
	c2 := startConsumer(t, r, mq.Addr, "hq-1", time.Hour)
	up(t, pub, "s0", "e1", proto.StreamBooking, 3, 3, orderTopic, []byte(`{}`))
	waitFor(t, 20*time.Second, "next message", func() bool { return c2.Stats().Applied == 1 })
	if s := c2.Stats(); s.Bad != 0 || s.Acked != 1 {
		t.Fatalf("the restarted instance got old messages again: %+v", s)
	}
	if n := count(t, r.Pool(), `SELECT count(*) FROM test_order WHERE store = 's0'`); n != 2 {
		t.Fatalf("%d applied, want 2", n)
	}
}

// A gap older than the gap wait makes HQ ask the store for the range; a
// "gone" answer moves the stream on and asks for a snapshot.
func TestGapAsksTheStore(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Options{})
	pg := pgtest.Start(t)
	r := openReplica(t, pg.URL)
	startConsumer(t, r, mq.Addr, "hq-1", time.Second)
	asks := make(chan *paho.Publish, 10)
	pub := publisher(t, mq.Addr, "store-s0", func(p *paho.Publish) { asks <- p })
	ctx := context.Background()
	if _, err := pub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "stores/s0/down/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	up(t, pub, "s0", "e1", proto.StreamBooking, 1, 1, orderTopic, []byte(`{}`))
	up(t, pub, "s0", "e1", proto.StreamBooking, 4, 4, orderTopic, []byte(`{}`))
	var req proto.ResyncRequest
	select {
	case p := <-asks:
		if p.Topic != "stores/s0/down/sync/resync" {
			t.Fatalf("topic %s", p.Topic)
		}
		if err := json.Unmarshal(p.Payload, &req); err != nil {
			t.Fatal(err)
		}
		if p.Properties == nil || p.Properties.User.Get(ingest.PropID) != req.ID || req.ID == "" {
			t.Fatalf("request without its id property: %+v", p.Properties)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no resync request")
	}
	if req.Stream != proto.StreamBooking || req.From != 2 || req.To != 3 || req.Snapshot {
		t.Fatalf("request %+v", req)
	}
	ans, _ := json.Marshal(proto.ResyncAnswer{V: 1, ID: req.ID, Status: proto.ResyncGone, Stream: req.Stream, From: 2, To: 3, TS: time.Now()})
	up(t, pub, "s0", "e1", proto.StreamBooking, 5, 5, proto.TopicSyncAnswer, ans)
	select {
	case p := <-asks:
		var snap proto.ResyncRequest
		if err := json.Unmarshal(p.Payload, &snap); err != nil || !snap.Snapshot {
			t.Fatalf("after gone: %s %v", p.Payload, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no snapshot request")
	}
	waitFor(t, 10*time.Second, "stream moved on", func() bool {
		return count(t, r.Pool(), `SELECT applied FROM streams WHERE store = 's0' AND stream = 'booking'`) == 5
	})
}

// A store's retained status lands in stores with HQ's receive time.
func TestStatus(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Options{})
	pg := pgtest.Start(t)
	r := openReplica(t, pg.URL)
	startConsumer(t, r, mq.Addr, "hq-1", time.Hour)
	pub := publisher(t, mq.Addr, "store-s7", nil)
	st, _ := json.Marshal(proto.StoreStatus{V: 1, Store: "s7", Online: true, Epoch: "e1", Backlog: 12, TS: time.Now().Add(-3 * time.Second)})
	if _, err := pub.Publish(context.Background(), &paho.Publish{QoS: 1, Retain: true, Topic: proto.CloudStatusTopic("s7"), Payload: st}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "status applied", func() bool {
		return count(t, r.Pool(), `SELECT count(*) FROM stores WHERE store = 's7' AND online AND backlog = 12 AND clock_skew_ms >= 3000`) == 1
	})
}

// slowLog holds the messages of test/slow until released.
type slowLog struct {
	entered chan struct{}
	release chan struct{}
}

func (s *slowLog) ApplyUplink(ctx context.Context, tx pgx.Tx, m hq.Message) error {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	select {
	case <-s.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	_, err := tx.Exec(ctx, `INSERT INTO test_order (store, epoch, sseq) VALUES ($1, $2, $3)`, m.Store, m.Epoch, int64(m.SSeq))
	return err
}

// workerOf is the worker a store's messages go to among n (as Consumer
// routes them).
func workerOf(store string, n int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(store))
	return int(h.Sum32() % uint32(n))
}

// A store whose message is slow to apply holds back only itself: the other
// stores' messages apply meanwhile. On shutdown the held message is still
// applied and acknowledged (a restarted instance does not get it again).
func TestSlowStoreDoesNotBlockOthersAndShutdownFinishesHeld(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Options{})
	pg := pgtest.Start(t)
	slow := &slowLog{entered: make(chan struct{}, 1), release: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := replica.Open(ctx, pg.URL, replica.Options{Keys: keys(t), MaxConns: 8,
		Handlers: map[string]replica.TopicHandler{orderTopic: orderLog{}, "test/slow": slow}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	if _, err := r.Pool().Exec(ctx, `CREATE TABLE IF NOT EXISTS test_order (n bigserial, store text, epoch text, sseq bigint)`); err != nil {
		t.Fatal(err)
	}
	c := startConsumer(t, r, mq.Addr, "hq-1", time.Hour)
	pub := publisher(t, mq.Addr, "stores", nil)
	// Stores on other workers than the slow one (4 workers: startConsumer).
	var others []string
	for s := 0; len(others) < 5; s++ {
		if name := fmt.Sprint("o", s); workerOf(name, 4) != workerOf("slow", 4) {
			others = append(others, name)
		}
	}
	up(t, pub, "slow", "e1", proto.StreamBooking, 1, 1, "test/slow", []byte(`{}`))
	select {
	case <-slow.entered:
	case <-time.After(20 * time.Second):
		t.Fatal("the slow message was not taken")
	}
	for i := uint64(1); i <= 20; i++ {
		for _, s := range others {
			up(t, pub, s, "e1", proto.StreamBooking, i, i, orderTopic, []byte(`{}`))
		}
	}
	waitFor(t, 30*time.Second, "other stores applied while one is held", func() bool {
		return count(t, r.Pool(), `SELECT count(*) FROM test_order WHERE store <> 'slow'`) == 20*len(others)
	})
	// Shut down while the slow message is held, then let it finish.
	stopped := make(chan struct{})
	go func() { c.stop(); close(stopped) }()
	close(slow.release)
	select {
	case <-stopped:
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after the held message finished")
	}
	if n := count(t, r.Pool(), `SELECT count(*) FROM test_order WHERE store = 'slow'`); n != 1 {
		t.Fatalf("the held message applied %d times", n)
	}
	if a := c.Stats().Acked; a != uint64(20*len(others)+1) {
		t.Fatalf("%d acknowledged, want %d", a, 20*len(others)+1)
	}
	// Restarted under the same client id: nothing comes again.
	c2 := startConsumer(t, r, mq.Addr, "hq-1", time.Hour)
	up(t, pub, "slow", "e1", proto.StreamBooking, 2, 2, orderTopic, []byte(`{}`))
	waitFor(t, 20*time.Second, "next message", func() bool { return c2.Stats().Acked == 1 })
	if s := c2.Stats(); s.Duplicates != 0 || s.Applied != 1 {
		t.Fatalf("after restart: %+v", s)
	}
}

// QoS 0 messages (device telemetry) that find their worker's queue full
// are dropped and counted; the consumer does not stall and QoS 1 messages
// are all kept.
func TestQoS0DroppedWhenQueueFull(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Options{})
	pg := pgtest.Start(t)
	slow := &slowLog{entered: make(chan struct{}, 1), release: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, err := replica.Open(ctx, pg.URL, replica.Options{Keys: keys(t), MaxConns: 4,
		Handlers: map[string]replica.TopicHandler{"test/slow": slow}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	if _, err := r.Pool().Exec(ctx, `CREATE TABLE IF NOT EXISTS test_order (n bigserial, store text, epoch text, sseq bigint)`); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("mqtt://" + mq.Addr)
	c, err := ingest.New(ingest.Options{Replica: r, Brokers: []*url.URL{u}, ClientID: "hq-q", Workers: 1, ReceiveMaximum: 5, Batch: 1})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx) }()
	defer func() { stop(); <-done }()
	waitFor(t, 20*time.Second, "subscribed", c.Ready)
	pub := publisher(t, mq.Addr, "stores", nil)
	up(t, pub, "s1", "e1", proto.StreamBooking, 1, 1, "test/slow", []byte(`{}`))
	<-slow.entered
	const n = 40
	for i := range n {
		b, _ := json.Marshal(map[string]any{"v": 1, "battery": float64(i) / n})
		props := paho.UserProperties{{Key: proto.PropStore, Value: "s1"}, {Key: proto.PropOrigin, Value: fmt.Sprint("t", i)},
			{Key: proto.PropSeq, Value: fmt.Sprint(100 + i)}, {Key: proto.PropStored, Value: time.Now().UTC().Format(time.RFC3339Nano)}}
		if _, err := pub.Publish(ctx, &paho.Publish{QoS: 0, Topic: proto.CloudUpTopic("s1", "devices/k1/telemetry"), Payload: b,
			Properties: &paho.PublishProperties{User: props}}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 20*time.Second, "drops counted", func() bool { return c.Stats().Dropped > 0 })
	close(slow.release)
	waitFor(t, 20*time.Second, "the rest applied", func() bool {
		s := c.Stats()
		return s.Applied+s.Dropped == n+1
	})
	if got := count(t, r.Pool(), `SELECT COALESCE(sum(n), 0)::int FROM telemetry_hourly`); got != int(n-c.Stats().Dropped) {
		t.Fatalf("%d readings aggregated, %d dropped of %d", got, c.Stats().Dropped, n)
	}
}

// To a broker over TLS (mqtts://), verified against the configured CA.
func TestTLS(t *testing.T) {
	ca := testpki.New(t)
	caFile, certFile, keyFile := ca.Files(t, t.TempDir())
	tlsAddr := freeTCP(t)
	_, port, _ := net.SplitHostPort(tlsAddr)
	mq := mosquittotest.Start(t, mosquittotest.Options{Extra: fmt.Sprintf(
		"listener %s 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\n", port, caFile, certFile, keyFile)})
	pg := pgtest.Start(t)
	r := openReplica(t, pg.URL)
	u, _ := url.Parse("mqtts://" + tlsAddr)
	c, err := ingest.New(ingest.Options{Replica: r, Brokers: []*url.URL{u}, ClientID: "hq-tls",
		TLS: &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { stop(); <-done }()
	waitFor(t, 20*time.Second, "subscribed over TLS", c.Ready)
	pub := publisher(t, mq.Addr, "stores", nil)
	up(t, pub, "s1", "e1", proto.StreamBooking, 1, 1, orderTopic, []byte(`{}`))
	waitFor(t, 20*time.Second, "applied", func() bool { return c.Stats().Applied == 1 })
}

func freeTCP(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
