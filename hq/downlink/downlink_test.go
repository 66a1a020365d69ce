package downlink_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/storeedge/storeedge/cloudsync"
	"github.com/storeedge/storeedge/cloudsync/hq"
	"github.com/storeedge/storeedge/hq/downlink"
	"github.com/storeedge/storeedge/hq/replica"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	"github.com/storeedge/storeedge/proto"
)

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

func listen(t testing.TB, addr string) *storesSide {
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
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: "stores/+/down/#", QoS: 1}, {Topic: "hq/broadcast/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return s
}

// wait returns the first n messages, failing after 10 s without them.
func (s *storesSide) wait(t testing.TB, n int) []got {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		m := append([]got(nil), s.msg...)
		s.mu.Unlock()
		if len(m) >= n {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("stores got %d messages, want %d: %+v", len(m), n, m)
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
}

func (s *storesSide) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msg)
}

type hqEnv struct {
	t    *testing.T
	pool *pgxpool.Pool
	rep  *replica.Replica
	svc  *downlink.Service
	web  *httptest.Server
	down *storesSide
	now  time.Time
	sseq map[string]uint64 // the stores' booking stream
}

var t0 = time.Date(2026, 12, 7, 2, 0, 0, 0, time.UTC)

func start(t *testing.T, limits downlink.Limits, stores ...string) *hqEnv {
	t.Helper()
	broker := mosquittotest.Start(t, mosquittotest.Options{})
	e := &hqEnv{t: t, now: t0}
	clock := func() time.Time { return e.now }
	e.rep = openReplica(t, downlink.NewAnswers(clock, nil), stores...)
	e.pool = e.rep.Pool()
	e.down = listen(t, broker.Addr)
	ctx := context.Background()
	pub, err := downlink.NewMQTTPublisher(ctx, downlink.MQTTOptions{URL: "mqtt://" + broker.Addr, ClientID: "hq-downlink-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close(context.Background()) })
	e.svc, err = downlink.New(downlink.Options{Pool: e.pool, Publisher: pub, Now: clock, Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	e.web = httptest.NewServer(e.svc.Handler())
	t.Cleanup(e.web.Close)
	return e
}

// call sends an API request as actor ("" for none) and decodes the answer.
func (e *hqEnv) call(method, path, actor, body string, out any) int {
	e.t.Helper()
	req, err := http.NewRequest(method, e.web.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if actor != "" {
		req.Header.Set(downlink.ActorHeader, actor)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: %d %s: %v", method, path, res.StatusCode, b, err)
		}
	}
	return res.StatusCode
}

type apiError struct {
	Error struct{ Code, Message string } `json:"error"`
}

func (e *hqEnv) refused(method, path, actor, body string, status int, code string) {
	e.t.Helper()
	var a apiError
	if got := e.call(method, path, actor, body, &a); got != status || a.Error.Code != code || a.Error.Message == "" {
		e.t.Fatalf("%s %s %s: %d %+v, want %d %s", method, path, body, got, a, status, code)
	}
}

func (e *hqEnv) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// ack has the replica apply a store's answer, as the next message of the
// store's booking stream.
func (e *hqEnv) ack(store, topic string, v any) {
	e.t.Helper()
	p, _ := json.Marshal(v)
	e.ackRaw(store, topic, p)
}

func (e *hqEnv) ackRaw(store, topic string, p []byte) {
	e.t.Helper()
	if e.sseq == nil {
		e.sseq = map[string]uint64{}
	}
	e.sseq[store]++
	n := e.sseq[store]
	out, err := e.rep.Apply(context.Background(), hq.Message{Store: store, Origin: fmt.Sprintf("e1/%d", n), Seq: n, Epoch: "e1",
		Stream: proto.StreamBooking, SSeq: n, LocalTopic: topic, Topic: proto.CloudUpTopic(store, topic), Payload: p, Stored: e.now})
	if err != nil || !out.Applied {
		e.t.Fatalf("apply %s from %s: %+v %v", topic, store, out, err)
	}
}

// HQ's marketing sends a promotion to two stores: each store's topic on
// HQ's broker carries it once with its id (what the stores' links
// deduplicate on), the notice and its audit row (who, what, to whom) are in
// PostgreSQL; the same request again changes nothing and publishes again;
// a different notice under the same id, a store HQ never heard of, a title
// too long or a request without an actor are refused and store nothing.
func TestNoticeToAListOfStores(t *testing.T) {
	e := start(t, downlink.Limits{MaxTitle: 20}, "s1", "s2", "s3")
	body := `{"id":"promo-1","kind":"promotion","title":"Spa week -20%","body":"Every bath and groom,\nMon-Fri.","stores":["s2","s1"]}`
	var sent downlink.NoticeSent
	if st := e.call("POST", "/api/v1/notices", "marketing", body, &sent); st != 201 || !sent.Created || !sent.Published {
		t.Fatalf("send: %d %+v", st, sent)
	}
	msgs := e.down.wait(t, 2)
	topics := map[string]bool{}
	for _, m := range msgs {
		topics[m.Topic] = true
		var n proto.Notice
		if err := json.Unmarshal(m.Payload, &n); err != nil || m.ID != "promo-1" || n.ID != "promo-1" || n.Kind != "promotion" ||
			n.Title != "Spa week -20%" || n.From != "marketing" || !n.SentAt.Equal(t0) {
			t.Fatalf("down: %+v %s %v", m, m.Payload, err)
		}
	}
	if !topics["stores/s1/down/notice"] || !topics["stores/s2/down/notice"] || len(topics) != 2 {
		t.Fatalf("topics: %v", topics)
	}
	var actor, action, target, detail string
	if err := e.pool.QueryRow(context.Background(), `SELECT actor, action, target, detail::text FROM hq_audit`).Scan(&actor, &action, &target, &detail); err != nil {
		t.Fatal(err)
	}
	if actor != "marketing" || action != "notice.send" || target != "s1,s2" || !strings.Contains(detail, `"promo-1"`) {
		t.Fatalf("audit: %s %s %s %s", actor, action, target, detail)
	}

	// Sent again (the caller did not see the answer): the same notice,
	// nothing new stored, published again.
	var again downlink.NoticeSent
	if st := e.call("POST", "/api/v1/notices", "marketing", body, &again); st != 200 || again.Created || !again.Published || again.Notice.ID != "promo-1" {
		t.Fatalf("repeat: %d %+v", st, again)
	}
	e.down.wait(t, 4)
	if n := e.count(`SELECT count(*) FROM notices`) + e.count(`SELECT count(*) FROM hq_audit`); n != 2 {
		t.Fatalf("the repeat stored something: %d rows", n)
	}

	before := e.down.count()
	e.refused("POST", "/api/v1/notices", "marketing", strings.Replace(body, "Spa week", "Spa days", 1), 409, "conflict")
	e.refused("POST", "/api/v1/notices", "marketing", `{"id":"promo-2","kind":"promotion","title":"x","stores":["s1","s9"]}`, 400, "unknown_store")
	e.refused("POST", "/api/v1/notices", "marketing", `{"id":"promo-3","kind":"promotion","title":"twenty-one characters","stores":["s1"]}`, 400, "bad_request")
	e.refused("POST", "/api/v1/notices", "marketing", `{"id":"promo-4","kind":"ad","title":"x","stores":["s1"]}`, 400, "bad_request")
	e.refused("POST", "/api/v1/notices", "marketing", `{"id":"promo-5","kind":"notice","title":"x"}`, 400, "bad_request")
	e.refused("POST", "/api/v1/notices", "marketing", `{"id":"promo-6","kind":"notice","title":"x","stores":["s1"],"all":true}`, 400, "bad_request")
	e.refused("POST", "/api/v1/notices", "marketing", `{"id":"promo-7","kind":"notice","title":"x","stores":["s1"],"expires":"2026-12-01T00:00:00Z"}`, 400, "bad_request")
	e.refused("POST", "/api/v1/notices", "marketing", `{"id":"promo-8","kind":"notice","title":"x","stores":["s1"],"colour":"red"}`, 400, "bad_request")
	e.refused("POST", "/api/v1/notices", "", `{"id":"promo-9","kind":"notice","title":"x","stores":["s1"]}`, 401, "unauthorized")
	e.refused("GET", "/api/v1/notices", "", "", 401, "unauthorized")
	if n := e.count(`SELECT count(*) FROM notices`) + e.count(`SELECT count(*) FROM hq_audit`); n != 2 {
		t.Fatalf("a refused send stored something: %d rows", n)
	}
	if e.down.count() != before {
		t.Fatalf("a refused send was published: %+v", e.down.wait(t, 0)[before:])
	}
}

// A notice to all is one message on hq/broadcast/notice. The stores'
// acknowledgements (notice/ack, through the replica) fill its deliveries:
// once per store however often they come; an ack for a notice HQ never
// sent changes nothing and is in the audit.
func TestNoticeToAllAndItsDeliveries(t *testing.T) {
	e := start(t, downlink.Limits{}, "s1", "s2", "s3")
	exp := t0.Add(72 * time.Hour)
	var sent downlink.NoticeSent
	if st := e.call("POST", "/api/v1/notices", "ops", fmt.Sprintf(`{"id":"n-closed","kind":"notice","title":"Inventory on Sunday","all":true,"expires":%q}`,
		exp.Format(time.RFC3339)), &sent); st != 201 || !sent.Notice.All || !sent.Published {
		t.Fatalf("send: %d %+v", st, sent)
	}
	m := e.down.wait(t, 1)
	var n proto.Notice
	if err := json.Unmarshal(m[0].Payload, &n); err != nil || m[0].Topic != "hq/broadcast/notice" || m[0].ID != "n-closed" || !n.Expires.Equal(exp) {
		t.Fatalf("broadcast: %+v %s", m, m[0].Payload)
	}

	e.now = t0.Add(time.Minute)
	e.ack("s1", proto.TopicNoticeAck, proto.NoticeAck{V: 1, ID: "n-closed", TS: t0})
	e.ack("s1", proto.TopicNoticeAck, proto.NoticeAck{V: 1, ID: "n-closed", TS: t0}) // the store sent it again
	e.ack("s3", proto.TopicNoticeAck, proto.NoticeAck{V: 1, ID: "n-closed", TS: t0})
	e.ack("s2", proto.TopicNoticeAck, proto.NoticeAck{V: 1, ID: "n-never", TS: t0})
	e.ackRaw("s2", proto.TopicNoticeAck, []byte(`{"id":`))

	var d downlink.NoticeDetail
	if st := e.call("GET", "/api/v1/notices/n-closed", "ops", "", &d); st != 200 {
		t.Fatalf("get: %d", st)
	}
	if len(d.Deliveries) != 2 || d.Deliveries[0].Store != "s1" || d.Deliveries[1].Store != "s3" || !d.Deliveries[0].AckedAt.Equal(e.now) ||
		len(d.Pending) != 1 || d.Pending[0] != "s2" || d.Notice.Acked != 2 {
		t.Fatalf("deliveries: %+v", d)
	}
	if n := e.count(`SELECT count(*) FROM hq_audit WHERE action = 'uplink.rejected' AND actor = 'store:s2'`); n != 2 {
		t.Fatalf("rejected acks in the audit: %d", n)
	}
	e.refused("GET", "/api/v1/notices/n-nope", "ops", "", 404, "not_found")

	// The list, newest first, paged.
	e.now = t0.Add(2 * time.Minute)
	e.call("POST", "/api/v1/notices", "ops", `{"id":"n-2","kind":"promotion","title":"Second","stores":["s2"]}`, nil)
	var page downlink.NoticePage
	e.call("GET", "/api/v1/notices?limit=1", "ops", "", &page)
	if len(page.Notices) != 1 || page.Notices[0].ID != "n-2" || page.Next != "n-2" {
		t.Fatalf("page 1: %+v", page)
	}
	e.call("GET", "/api/v1/notices?limit=1&before=n-2", "ops", "", &page)
	if len(page.Notices) != 1 || page.Notices[0].ID != "n-closed" || page.Notices[0].Acked != 2 {
		t.Fatalf("page 2: %+v", page)
	}
	// A store the notice was not sent to cannot acknowledge it.
	e.ack("s1", proto.TopicNoticeAck, proto.NoticeAck{V: 1, ID: "n-2", TS: t0})
	if n := e.count(`SELECT count(*) FROM notice_deliveries WHERE notice = 'n-2'`); n != 0 {
		t.Fatalf("an ack from a store not addressed counted: %d", n)
	}
}

// Config pushes are versioned per store, one after the other even when
// sent at once; the store's answer moves a push to applied or refused
// (with the store's code, reason and errors, visible at HQ); the first
// answer counts; bad pushes are refused before anything is stored.
func TestConfigPushVersionsAndAnswers(t *testing.T) {
	e := start(t, downlink.Limits{MaxConfigBytes: 2048}, "s1", "s2")
	faq := `{"entries":[{"q":"Parking?","a":"Behind the shop."}]}`
	var p1 downlink.ConfigSent
	if st := e.call("POST", "/api/v1/stores/s1/config", "catalog-team", `{"id":"cfg-1","faq":`+faq+`}`, &p1); st != 201 || p1.Push.Version != 1 || !p1.Published {
		t.Fatalf("push 1: %d %+v", st, p1)
	}
	m := e.down.wait(t, 1)[0]
	var wire proto.ConfigPush
	if err := json.Unmarshal(m.Payload, &wire); err != nil || m.Topic != "stores/s1/down/config/push" || m.ID != "cfg-1" ||
		wire.Version != 1 || wire.ID != "cfg-1" || wire.By != "catalog-team" || !bytes.Contains(wire.FAQ, []byte("Behind the shop.")) || wire.Catalog != nil {
		t.Fatalf("down: %+v %s", m, m.Payload)
	}
	// The same request again: the same version, published again.
	var rep downlink.ConfigSent
	if st := e.call("POST", "/api/v1/stores/s1/config", "catalog-team", `{"id":"cfg-1","faq":`+faq+`}`, &rep); st != 200 || rep.Created || rep.Push.Version != 1 {
		t.Fatalf("repeat: %d %+v", st, rep)
	}
	e.down.wait(t, 2)
	e.refused("POST", "/api/v1/stores/s1/config", "catalog-team", `{"id":"cfg-1","faq":{"entries":[]}}`, 409, "conflict")
	e.refused("POST", "/api/v1/stores/s2/config", "catalog-team", `{"id":"cfg-1","faq":`+faq+`}`, 409, "conflict")

	// Eight pushes at once: versions 2-9, each once.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out downlink.ConfigSent
			if st := e.call("POST", "/api/v1/stores/s1/config", "catalog-team", fmt.Sprintf(`{"id":"cfg-c%d","catalog":{"hours":{},"resources":[],"services":[]}}`, i), &out); st != 201 {
				t.Errorf("concurrent push %d: %d", i, st)
			}
		}()
	}
	wg.Wait()
	if n := e.count(`SELECT count(DISTINCT version) FROM config_pushes WHERE store = 's1' AND version BETWEEN 1 AND 9`); n != 9 {
		t.Fatalf("versions: %d distinct of 9", n)
	}
	if n := e.count(`SELECT count(*) FROM hq_audit WHERE action = 'config.push' AND actor = 'catalog-team' AND target = 's1'`); n != 9 {
		t.Fatalf("audit rows: %d", n)
	}

	// The store answers: v1 applied; cfg-c0 refused with its reasons.
	e.now = t0.Add(time.Minute)
	e.ack("s1", proto.TopicConfigAck, proto.ConfigAck{V: 1, ID: "cfg-1", Version: 1, OK: true, TS: t0})
	var c0 int64
	_ = e.pool.QueryRow(context.Background(), `SELECT version FROM config_pushes WHERE id = 'cfg-c0'`).Scan(&c0)
	e.ack("s1", proto.TopicConfigAck, proto.ConfigAck{V: 1, ID: "cfg-c0", Version: c0, OK: false, Code: "invalid",
		Reason: "the catalogue has no services", Errors: []string{"services: at least one"}, TS: t0})
	e.ack("s1", proto.TopicConfigAck, proto.ConfigAck{V: 1, ID: "cfg-c0", Version: c0, OK: true, TS: t0}) // a later answer does not count
	e.ack("s2", proto.TopicConfigAck, proto.ConfigAck{V: 1, ID: "cfg-1", Version: 1, OK: false, TS: t0})  // not s2's push
	var page downlink.ConfigPage
	if st := e.call("GET", "/api/v1/stores/s1/config?limit=20", "ops", "", &page); st != 200 || len(page.Pushes) != 9 || page.Pushes[0].Version != 9 {
		t.Fatalf("list: %d %+v", st, page)
	}
	for _, p := range page.Pushes {
		switch p.ID {
		case "cfg-1":
			if p.State != "applied" || p.AnsweredAt == nil || !p.AnsweredAt.Equal(e.now) {
				t.Fatalf("cfg-1: %+v", p)
			}
		case "cfg-c0":
			if p.State != "refused" || p.Code != "invalid" || p.Reason != "the catalogue has no services" || len(p.Errors) != 1 {
				t.Fatalf("cfg-c0: %+v", p)
			}
		default:
			if p.State != "sent" {
				t.Fatalf("%s: %+v", p.ID, p)
			}
		}
	}
	if n := e.count(`SELECT count(*) FROM config_pushes WHERE store = 's2'`); n != 0 {
		t.Fatalf("s2 has pushes: %d", n)
	}
	if n := e.count(`SELECT count(*) FROM hq_audit WHERE actor = 'store:s1' AND action IN ('config.applied', 'config.refused')`); n != 2 {
		t.Fatalf("answers in the audit: %d", n)
	}
	if n := e.count(`SELECT count(*) FROM hq_audit WHERE actor = 'store:s2' AND action = 'uplink.rejected'`); n != 1 {
		t.Fatalf("s2's stray answer in the audit: %d", n)
	}

	rows := e.count(`SELECT count(*) FROM config_pushes`)
	e.refused("POST", "/api/v1/stores/s1/config", "catalog-team", `{"id":"cfg-x"}`, 400, "bad_request")
	e.refused("POST", "/api/v1/stores/s9/config", "catalog-team", `{"id":"cfg-y","faq":`+faq+`}`, 404, "unknown_store")
	e.refused("POST", "/api/v1/stores/s1/config", "catalog-team", `{"id":"cfg-z","faq":{"a":"`+strings.Repeat("x", 3000)+`"}}`, 413, "too_large")
	e.refused("POST", "/api/v1/stores/s1/config", "", `{"id":"cfg-w","faq":`+faq+`}`, 401, "unauthorized")
	if n := e.count(`SELECT count(*) FROM config_pushes`); n != rows {
		t.Fatalf("a refused push was stored: %d rows, want %d", n, rows)
	}
}
