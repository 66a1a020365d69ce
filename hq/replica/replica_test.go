package replica

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/storeedge/storeedge/cloudsync/hq"
	"github.com/storeedge/storeedge/internal/seal"
	"github.com/storeedge/storeedge/internal/testkit/pgtest"
	"github.com/storeedge/storeedge/proto"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func testKeys(t testing.TB) *seal.Keyring {
	t.Helper()
	k := make([]byte, seal.KeySize)
	_, _ = rand.Read(k)
	kr, err := seal.ParseKeys("hq1:" + base64.StdEncoding.EncodeToString(k))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func openAt(t testing.TB, url string, o Options) *Replica {
	t.Helper()
	if o.Keys == nil {
		o.Keys = testKeys(t)
	}
	r, err := Open(ctxT(t), url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

func newReplica(t testing.TB) *Replica {
	t.Helper()
	return openAt(t, pgtest.Start(t).URL, Options{})
}

// msg builds an uplink message as cloudsync sends it; sseq 0 for the
// streams without one.
func msg(store, epoch, stream string, seq, sseq uint64, local string, payload any) hq.Message {
	b, ok := payload.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(payload); err != nil {
			panic(err)
		}
	}
	return hq.Message{Store: store, Origin: fmt.Sprintf("%s/%d", epoch, seq), Seq: seq,
		Stored: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC).Add(time.Duration(seq) * time.Second),
		Epoch:  epoch, Stream: stream, SSeq: sseq,
		Topic: proto.CloudUpTopic(store, local), LocalTopic: local, Payload: b}
}

func apply(t testing.TB, r *Replica, m hq.Message) Outcome {
	t.Helper()
	out, err := r.Apply(ctxT(t), m)
	if err != nil {
		t.Fatalf("apply %s %s: %v", m.Origin, m.LocalTopic, err)
	}
	return out
}

func count(t testing.TB, r *Replica, q string, args ...any) int {
	t.Helper()
	var n int
	if err := r.pool.QueryRow(ctxT(t), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func applied(t testing.TB, r *Replica, store, epoch, stream string) int {
	t.Helper()
	return count(t, r, `SELECT applied FROM streams WHERE store = $1 AND epoch = $2 AND stream = $3`, store, epoch, stream)
}

func chatMsg(conv, customer, from string, seq uint64, text string, auto bool) proto.HQChatEntry {
	return proto.HQChatEntry{V: 1, Type: "message", Origin: fmt.Sprintf("%s/%d", conv, seq), Conversation: conv,
		Customer: customer, Seq: seq, ID: fmt.Sprintf("m%d", seq), From: from, Kind: "text",
		TS: time.Date(2026, 12, 1, 10, 0, int(seq), 0, time.UTC), Text: text, Auto: auto}
}

// --- migrations ---

func schemaVersion(t testing.TB, pool *pgxpool.Pool) int {
	t.Helper()
	var v int
	if err := pool.QueryRow(ctxT(t), "SELECT max(version) FROM schema_migrations").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMigrationsFromEmptyAndTwice(t *testing.T) {
	pg := pgtest.Start(t)
	r := openAt(t, pg.URL, Options{})
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 2 || schemaVersion(t, r.pool) != len(ms) || SchemaVersion() != len(ms) {
		t.Fatalf("schema version %d, migrations %d", schemaVersion(t, r.pool), len(ms))
	}
	for _, table := range []string{"stores", "streams", "parked", "seen", "messages", "bookings", "notices",
		"config_pushes", "resync_requests", "api_keys", "conversation_reads"} {
		if count(t, r, "SELECT count(*) FROM pg_tables WHERE tablename = $1", table) != 1 {
			t.Errorf("table %s missing", table)
		}
	}
	r.Close()
	// Again: nothing to do, nothing fails.
	r2 := openAt(t, pg.URL, Options{})
	if n := count(t, r2, "SELECT count(*) FROM schema_migrations"); n != len(ms) {
		t.Fatalf("%d rows in schema_migrations after a second open, want %d", n, len(ms))
	}
}

func TestMigrationsFromEveryEarlierVersion(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	pg := pgtest.Start(t)
	for k := 1; k < len(ms); k++ {
		t.Run(fmt.Sprint("from", k), func(t *testing.T) {
			url := pg.NewDB(t)
			pool, err := pgxpool.New(ctxT(t), url)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			if err := migrateTo(ctxT(t), pool, ms[:k]); err != nil {
				t.Fatal(err)
			}
			if v := schemaVersion(t, pool); v != k {
				t.Fatalf("prefix version %d, want %d", v, k)
			}
			// Data written under the old schema survives.
			if _, err := pool.Exec(ctxT(t), `INSERT INTO stores (store) VALUES ('s-old')`); err != nil {
				t.Fatal(err)
			}
			r := openAt(t, url, Options{})
			if v := schemaVersion(t, r.pool); v != len(ms) {
				t.Fatalf("after Open: version %d, want %d", v, len(ms))
			}
			if count(t, r, `SELECT count(*) FROM stores WHERE store = 's-old'`) != 1 {
				t.Fatal("a store written before the migration is gone")
			}
		})
	}
}

func TestMigrationsTwoInstancesAtOnce(t *testing.T) {
	url := pgtest.Start(t).NewDB(t)
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			r, err := Open(ctxT(t), url, Options{Keys: testKeys(t)})
			if err == nil {
				r.Close()
			}
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestNewerDatabaseRefused(t *testing.T) {
	pg := pgtest.Start(t)
	r := openAt(t, pg.URL, Options{})
	if _, err := r.pool.Exec(ctxT(t), `INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_future.sql')`); err != nil {
		t.Fatal(err)
	}
	_, err := Open(ctxT(t), pg.URL, Options{Keys: testKeys(t)})
	if err == nil || !strings.Contains(err.Error(), "newer than this binary") {
		t.Fatalf("Open on a newer schema: %v", err)
	}
}

func TestOpenWithoutKeys(t *testing.T) {
	_, err := Open(ctxT(t), "postgres://127.0.0.1:1/x", Options{})
	if !errors.Is(err, errNoKeys) {
		t.Fatalf("err %v", err)
	}
}

// --- chat ---

func TestChatConversationAndSealedBodies(t *testing.T) {
	r := newReplica(t)
	const conv = "c1"
	topic := "chat/" + conv + "/hq"
	e := "e1"
	// A greeting before the customer wrote is no reply; an automatic
	// answer neither; the first staff message after the customer's is.
	steps := []proto.HQChatEntry{
		chatMsg(conv, "cust-1", "staff-1", 1, "welcome", false),
		chatMsg(conv, "cust-1", "cust-1", 2, "is 3pm free for Mochi?", false),
		chatMsg(conv, "cust-1", "bot", 3, "we will answer soon", true),
		chatMsg(conv, "cust-1", "staff-2", 4, "yes, 3pm is free", false),
		chatMsg(conv, "cust-1", "staff-1", 5, "see you", false),
	}
	for i, s := range steps {
		out := apply(t, r, msg("s1", e, proto.StreamChat, uint64(i+1), uint64(i+1), topic, s))
		if !out.Applied {
			t.Fatalf("step %d: %+v", i, out)
		}
	}
	var customer string
	var firstCust, firstReply time.Time
	var lastSeq int
	err := r.pool.QueryRow(ctxT(t), `SELECT customer, first_customer_at, first_reply_at, last_seq FROM conversations
		WHERE store = 's1' AND conversation = $1`, conv).Scan(&customer, &firstCust, &firstReply, &lastSeq)
	if err != nil {
		t.Fatal(err)
	}
	if customer != "cust-1" || !firstCust.Equal(steps[1].TS) || !firstReply.Equal(steps[3].TS) || lastSeq != 5 {
		t.Fatalf("conversation: %s first customer %v first reply %v last %d", customer, firstCust, firstReply, lastSeq)
	}
	// Bodies are sealed at rest: the text is not in the column, and opens
	// with the replica's keys.
	var body []byte
	if err := r.pool.QueryRow(ctxT(t), `SELECT body FROM messages WHERE store = 's1' AND conversation = $1 AND seq = 2`, conv).Scan(&body); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(body), "3pm") {
		t.Fatal("message body stored in clear")
	}
	plain, err := r.openBody(body)
	if err != nil {
		t.Fatal(err)
	}
	var cb chatBody
	if err := json.Unmarshal(plain, &cb); err != nil || cb.Text != "is 3pm free for Mochi?" {
		t.Fatalf("opened body %s %v", plain, err)
	}
	// Recall drops the body; read receipts keep the highest.
	rec := proto.HQChatEntry{V: 1, Type: "recall", Conversation: conv, Seq: 2, TS: time.Now()}
	apply(t, r, msg("s1", e, proto.StreamChat, 6, 6, topic, rec))
	if count(t, r, `SELECT count(*) FROM messages WHERE seq = 2 AND recalled AND body IS NULL`) != 1 {
		t.Fatal("recalled message keeps its body")
	}
	apply(t, r, msg("s1", e, proto.StreamChat, 7, 7, topic, proto.HQChatEntry{V: 1, Type: "read", Conversation: conv, Member: "cust-1", UpTo: 5}))
	apply(t, r, msg("s1", e, proto.StreamChat, 8, 8, topic, proto.HQChatEntry{V: 1, Type: "read", Conversation: conv, Member: "cust-1", UpTo: 3}))
	if n := count(t, r, `SELECT up_to FROM conversation_reads WHERE member = 'cust-1'`); n != 5 {
		t.Fatalf("read up to %d, want 5", n)
	}
	if n := count(t, r, `SELECT count(*) FROM messages WHERE store = 's1'`); n != 5 {
		t.Fatalf("%d messages, want 5", n)
	}
}

// --- dedup and order ---

func TestDuplicateChangesNothing(t *testing.T) {
	r := newReplica(t)
	c := proto.Change{V: 1, Seq: 1, Type: proto.ChangeCreated, Booking: "b1", Customer: "cust-1", Rev: 1, Status: "booked", TS: time.Now().UTC()}
	m := msg("s1", "e1", proto.StreamBooking, 1, 1, "booking/changes", c)
	if out := apply(t, r, m); !out.Applied {
		t.Fatalf("%+v", out)
	}
	if out := apply(t, r, m); !out.Duplicate || out.Applied {
		t.Fatalf("repeat: %+v", out)
	}
	// A repeat without sseq (telemetry) is a duplicate too.
	tm := msg("s1", "e1", "telemetry", 2, 0, "devices/k1/telemetry", map[string]any{"v": 1, "battery": 0.5})
	apply(t, r, tm)
	if out := apply(t, r, tm); !out.Duplicate {
		t.Fatalf("telemetry repeat: %+v", out)
	}
	if n := count(t, r, `SELECT count(*) FROM booking_changes`); n != 1 {
		t.Fatalf("%d changes", n)
	}
	if n := count(t, r, `SELECT n FROM telemetry_hourly`); n != 1 {
		t.Fatalf("telemetry counted %d times", n)
	}
	if a := applied(t, r, "s1", "e1", proto.StreamBooking); a != 1 {
		t.Fatalf("applied %d", a)
	}
}

// orderLog is a handler for a test topic that records the order in
// which its messages apply.
type orderLog struct{ calls atomic.Int64 }

func (o *orderLog) ApplyUplink(ctx context.Context, tx pgx.Tx, m hq.Message) error {
	o.calls.Add(1)
	_, err := tx.Exec(ctx, `INSERT INTO test_order (store, epoch, sseq) VALUES ($1, $2, $3)`, m.Store, m.Epoch, int64(m.SSeq))
	return err
}

func orderReplica(t testing.TB, url string, h *orderLog) *Replica {
	t.Helper()
	r := openAt(t, url, Options{Handlers: map[string]TopicHandler{"test/order": h}})
	if _, err := r.pool.Exec(ctxT(t), `CREATE TABLE IF NOT EXISTS test_order (n bigserial, store text, epoch text, sseq bigint)`); err != nil {
		t.Fatal(err)
	}
	return r
}

func orderOf(t testing.TB, r *Replica, store, epoch string) []int {
	t.Helper()
	rows, err := r.pool.Query(ctxT(t), `SELECT sseq FROM test_order WHERE store = $1 AND epoch = $2 ORDER BY n`, store, epoch)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestOutOfOrderAppliesInOrder(t *testing.T) {
	h := &orderLog{}
	r := orderReplica(t, pgtest.Start(t).URL, h)
	m := func(n uint64) hq.Message {
		return msg("s1", "e1", proto.StreamBooking, n, n, "test/order", []byte(`{}`))
	}
	if out := apply(t, r, m(3)); !out.Parked {
		t.Fatalf("3: %+v", out)
	}
	if out := apply(t, r, m(1)); !out.Applied || out.Drained != 0 {
		t.Fatalf("1: %+v", out)
	}
	var gapSince *time.Time
	_ = r.pool.QueryRow(ctxT(t), `SELECT gap_since FROM streams`).Scan(&gapSince)
	if gapSince == nil {
		t.Fatal("no gap_since while 3 waits for 2")
	}
	if out := apply(t, r, m(2)); !out.Applied || out.Drained != 1 {
		t.Fatalf("2: %+v", out)
	}
	if got := fmt.Sprint(orderOf(t, r, "s1", "e1")); got != "[1 2 3]" {
		t.Fatalf("order %s", got)
	}
	if count(t, r, `SELECT count(*) FROM parked`) != 0 || applied(t, r, "s1", "e1", proto.StreamBooking) != 3 {
		t.Fatal("parked left or applied wrong")
	}
	_ = r.pool.QueryRow(ctxT(t), `SELECT gap_since FROM streams`).Scan(&gapSince)
	if gapSince != nil {
		t.Fatal("gap_since stays after the gap closed")
	}
	// A repeat of a parked-then-drained message is a duplicate.
	if out := apply(t, r, m(3)); !out.Duplicate {
		t.Fatalf("repeat of 3: %+v", out)
	}
}

// Two instances (two pools) take one store's messages in a scrambled
// order at once: each applies once, in sseq order.
func TestParkAndDrainAcrossTwoInstances(t *testing.T) {
	url := pgtest.Start(t).URL
	h1, h2 := &orderLog{}, &orderLog{}
	r1 := orderReplica(t, url, h1)
	r2 := orderReplica(t, url, h2)
	const n = 200
	const stores = 3
	var msgs []hq.Message
	for s := range stores {
		for i := uint64(1); i <= n; i++ {
			msgs = append(msgs, msg(fmt.Sprint("s", s), "e1", proto.StreamChat, i, i, "test/order", []byte(`{}`)))
		}
	}
	// Scramble: reversed blocks of 7, alternating between instances,
	// every message given twice (a redelivery to the other instance).
	var order []hq.Message
	for i := 0; i < len(msgs); i += 7 {
		end := min(i+7, len(msgs))
		for j := end - 1; j >= i; j-- {
			order = append(order, msgs[j])
		}
	}
	errs := make(chan error, 2)
	var took [2]atomic.Int64 // messages each instance applied or parked
	for k, r := range []*Replica{r1, r2} {
		go func() {
			for i, m := range order {
				if i%2 == k || i%5 == 0 {
					out, err := r.Apply(context.Background(), m)
					if err != nil {
						errs <- err
						return
					}
					if out.Applied || out.Parked {
						took[k].Add(1)
					}
				}
			}
			errs <- nil
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for s := range stores {
		got := orderOf(t, r1, fmt.Sprint("s", s), "e1")
		if len(got) != n {
			t.Fatalf("store s%d: %d applied, want %d", s, len(got), n)
		}
		for i, v := range got {
			if v != i+1 {
				t.Fatalf("store s%d: position %d has sseq %d", s, i, v)
			}
		}
	}
	if took[0].Load() == 0 || took[1].Load() == 0 {
		t.Fatalf("one instance took nothing: %d %d", took[0].Load(), took[1].Load())
	}
	if calls := h1.calls.Load() + h2.calls.Load(); calls < stores*n {
		t.Fatalf("handler called %d times for %d messages", calls, stores*n)
	}
	if count(t, r1, `SELECT count(*) FROM parked`) != 0 {
		t.Fatal("parked left")
	}
}

// A new box starts its sequences again at 1 under a new epoch; the old
// epoch's rows do not make its messages look old.
func TestNewEpochStartsAgain(t *testing.T) {
	h := &orderLog{}
	r := orderReplica(t, pgtest.Start(t).URL, h)
	for i := uint64(1); i <= 3; i++ {
		apply(t, r, msg("s1", "aaaaaaaaaaaaaaaa", proto.StreamBooking, i, i, "test/order", []byte(`{}`)))
	}
	hello := proto.StoreHello{V: 1, Epoch: "bbbbbbbbbbbbbbbb", Version: "2.0", Started: time.Now().UTC(), Reason: proto.HelloRestored, TS: time.Now().UTC()}
	out := apply(t, r, msg("s1", "bbbbbbbbbbbbbbbb", proto.StreamBooking, 1, 1, proto.TopicHello, hello))
	if !out.Applied || out.Duplicate || out.Stale {
		t.Fatalf("new epoch's first message: %+v", out)
	}
	apply(t, r, msg("s1", "bbbbbbbbbbbbbbbb", proto.StreamBooking, 2, 2, "test/order", []byte(`{}`)))
	if a := applied(t, r, "s1", "bbbbbbbbbbbbbbbb", proto.StreamBooking); a != 2 {
		t.Fatalf("new epoch applied %d", a)
	}
	if a := applied(t, r, "s1", "aaaaaaaaaaaaaaaa", proto.StreamBooking); a != 3 {
		t.Fatalf("old epoch applied %d", a)
	}
	var epoch, version, reason string
	if err := r.pool.QueryRow(ctxT(t), `SELECT s.epoch, s.version, e.reason FROM stores s JOIN store_epochs e
		ON e.store = s.store AND e.epoch = s.epoch WHERE s.store = 's1'`).Scan(&epoch, &version, &reason); err != nil {
		t.Fatal(err)
	}
	if epoch != "bbbbbbbbbbbbbbbb" || version != "2.0" || reason != proto.HelloRestored {
		t.Fatalf("store epoch %s version %s reason %s", epoch, version, reason)
	}
	if got := fmt.Sprint(orderOf(t, r, "s1", "bbbbbbbbbbbbbbbb")); got != "[2]" {
		t.Fatalf("new epoch order %s", got)
	}
}

// --- topics ---

func TestBookingsByRevAndHistory(t *testing.T) {
	r := newReplica(t)
	start := time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)
	ch := []proto.Change{
		{V: 1, Seq: 1, Type: proto.ChangeCreated, Booking: "b1", Customer: "cust-1", Service: "bath", Start: start,
			End: start.Add(time.Hour), Status: "booked", Resources: []string{"table-1"}, Source: "app", Rev: 1, TS: start.Add(-time.Hour)},
		{V: 1, Seq: 2, Type: proto.ChangeRescheduled, Booking: "b1", Start: start.Add(time.Hour), End: start.Add(2 * time.Hour), Rev: 2, TS: start},
		{V: 1, Seq: 3, Type: proto.ChangeReminder, Booking: "b1", Reminder: "24h", TS: start},
	}
	for i, c := range ch {
		apply(t, r, msg("s1", "e1", proto.StreamBooking, uint64(i+1), uint64(i+1), "booking/changes", c))
	}
	// A snapshot with an older rev changes nothing and is no history.
	snap := proto.Change{V: 1, Type: proto.ChangeSnapshot, Booking: "b1", Customer: "cust-1", Start: start, Rev: 1, TS: start}
	apply(t, r, msg("s1", "e1", proto.StreamBooking, 4, 4, "booking/changes", snap))
	var cust, service, status string
	var at time.Time
	var rev int
	var res []string
	if err := r.pool.QueryRow(ctxT(t), `SELECT customer, service, status, start_at, rev, resources FROM bookings WHERE booking = 'b1'`).
		Scan(&cust, &service, &status, &at, &rev, &res); err != nil {
		t.Fatal(err)
	}
	if cust != "cust-1" || service != "bath" || status != "booked" || !at.Equal(start.Add(time.Hour)) || rev != 2 || fmt.Sprint(res) != "[table-1]" {
		t.Fatalf("booking %s %s %s %v rev %d %v", cust, service, status, at, rev, res)
	}
	if n := count(t, r, `SELECT count(*) FROM booking_changes WHERE store = 's1'`); n != 3 {
		t.Fatalf("%d changes in the history, want 3", n)
	}
	// A snapshot of a booking HQ never saw makes it.
	snap2 := proto.Change{V: 1, Type: proto.ChangeSnapshot, Booking: "b0", Customer: "cust-0", Start: start, Status: "booked", Rev: 4, TS: start}
	apply(t, r, msg("s1", "e1", proto.StreamBooking, 5, 5, "booking/changes", snap2))
	if n := count(t, r, `SELECT rev FROM bookings WHERE booking = 'b0'`); n != 4 {
		t.Fatalf("snapshot booking rev %d", n)
	}
	// Outcome of an HQ request, with the booking it made.
	o := proto.HQBookingOutcome{V: 1, Request: "req-1", Customer: "cust-9", OK: true, TS: start,
		Booking: &proto.Booking{ID: "b9", Customer: "cust-9", Service: "cut", Start: start, End: start.Add(time.Hour), Status: "booked", Source: "hq", Rev: 1, HQRequest: "req-1", Updated: start,
			Notes: "allergic to lavender", Contact: &proto.Contact{Phone: "+86 138 0000 0000"}}}
	apply(t, r, msg("s1", "e1", proto.StreamBooking, 6, 6, "booking/hq/outcome", o))
	if n := count(t, r, `SELECT count(*) FROM hq_outcomes o JOIN bookings b ON b.store = o.store AND b.booking = o.booking
		WHERE o.request = 'req-1' AND o.ok AND b.hq_request = 'req-1'`); n != 1 {
		t.Fatal("outcome or its booking missing")
	}
	if n := count(t, r, `SELECT count(*) FROM hq_outcomes WHERE outcome::text LIKE '%lavender%' OR outcome::text LIKE '%138%'`); n != 0 {
		t.Fatal("HQ kept a customer's notes or contact")
	}
	// Audit entries.
	apply(t, r, msg("s1", "e1", proto.StreamBooking, 7, 7, "audit/entries", proto.AuditEntry{V: 1, Seq: 12, Actor: "admin", Action: "booking.book", TS: start,
		After: json.RawMessage(`{"id":"b7","service":"bath","contact":{"name":"Wang Fangfang","phone":"138"},"notes":"shy"}`)}))
	if n := count(t, r, `SELECT count(*) FROM audit_entries WHERE seq = 12 AND entry->>'action' = 'booking.book'
		AND entry->'after'->>'id' = 'b7' AND entry->'after'->>'service' = 'bath'`); n != 1 {
		t.Fatal("audit entry missing")
	}
	if n := count(t, r, `SELECT count(*) FROM audit_entries WHERE entry::text LIKE '%Wang%' OR entry::text LIKE '%shy%'`); n != 0 {
		t.Fatal("HQ kept a customer's contact or notes from the activity log")
	}
}

func TestShopInfoNewestWins(t *testing.T) {
	r := newReplica(t)
	t1 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	info := func(v int64, ts time.Time) proto.ShopInfo {
		return proto.ShopInfo{V: 1, Version: v, TimeZone: "Asia/Shanghai", TS: ts,
			Staff: []proto.StaffMember{{ID: "st1", Name: "Li", Role: "groomer"}}}
	}
	apply(t, r, msg("s1", "e1", proto.StreamBooking, 1, 1, proto.TopicShopInfo, info(5, t1.Add(time.Hour))))
	apply(t, r, msg("s1", "e1", proto.StreamBooking, 2, 2, proto.TopicShopInfo, info(4, t1))) // older: kept out
	if v := count(t, r, `SELECT version FROM shop_info WHERE store = 's1'`); v != 5 {
		t.Fatalf("shop info version %d, want 5", v)
	}
	if n := count(t, r, `SELECT count(*) FROM stores WHERE store = 's1' AND time_zone = 'Asia/Shanghai'`); n != 1 {
		t.Fatal("time zone not recorded")
	}

	// The store's name as customers see it comes with the shop; a shop
	// from a store that has no name yet keeps the one HQ has.
	named := info(6, t1.Add(2*time.Hour))
	named.Name = "汪汪洗护 Paws"
	apply(t, r, msg("s1", "e1", proto.StreamBooking, 3, 3, proto.TopicShopInfo, named))
	unnamed := info(7, t1.Add(3*time.Hour))
	apply(t, r, msg("s1", "e1", proto.StreamBooking, 4, 4, proto.TopicShopInfo, unnamed))
	if n := count(t, r, `SELECT count(*) FROM stores WHERE store = 's1' AND name = '汪汪洗护 Paws'`); n != 1 {
		t.Fatal("the store's name from its shop is not HQ's name of it")
	}
}

func TestMediaMustMatchItsHash(t *testing.T) {
	r := newReplica(t)
	data := []byte("a small photo")
	sum := sha256Hex(data)
	good := proto.MediaBlob{V: 1, Hash: sum, Mime: "image/jpeg", Size: int64(len(data)), Data: data}
	apply(t, r, msg("s1", "e1", "media", 1, 0, proto.TopicMediaPrefix+sum, good))
	if n := count(t, r, `SELECT size FROM media WHERE hash = $1`, sum); n != len(data) {
		t.Fatalf("media size %d", n)
	}
	forged := proto.MediaBlob{V: 1, Hash: sum, Mime: "image/jpeg", Size: 5, Data: []byte("other")}
	forgedHash := sha256Hex([]byte("x"))
	forged.Hash = forgedHash
	_, err := r.Apply(ctxT(t), msg("s1", "e1", "media", 2, 0, proto.TopicMediaPrefix+forgedHash, forged))
	if !errors.Is(err, ErrBadMessage) {
		t.Fatalf("forged media: %v", err)
	}
	if n := count(t, r, `SELECT count(*) FROM media`); n != 1 {
		t.Fatalf("%d media rows", n)
	}
}

func TestDevicesAndTelemetryAggregates(t *testing.T) {
	r := newReplica(t)
	base := time.Date(2026, 12, 1, 10, 5, 0, 0, time.UTC)
	st := func(seq uint64, state string, at time.Time) hq.Message {
		return msg("s1", "e1", "telemetry", seq, 0, "devices/kiosk-1/status", proto.DeviceStatus{V: 1, State: state, TS: at.Format(time.RFC3339)})
	}
	apply(t, r, st(1, "online", base.Add(time.Minute)))
	apply(t, r, st(2, "offline", base)) // older: kept out
	if n := count(t, r, `SELECT count(*) FROM devices WHERE device = 'kiosk-1' AND online`); n != 1 {
		t.Fatal("an older device status overwrote a newer one")
	}
	for i, v := range []float64{0.9, 0.4, 0.7} {
		apply(t, r, msg("s1", "e1", "telemetry", uint64(10+i), 0, "devices/kiosk-1/telemetry",
			map[string]any{"v": 1, "ts": base.Add(time.Duration(i) * time.Minute).Format(time.RFC3339), "battery": v, "mode": "x"}))
	}
	// The next hour is another row.
	apply(t, r, msg("s1", "e1", "telemetry", 20, 0, "devices/kiosk-1/telemetry",
		map[string]any{"v": 1, "ts": base.Add(time.Hour).Format(time.RFC3339), "battery": 0.1}))
	var n int
	var agg map[string]aggField
	if err := r.pool.QueryRow(ctxT(t), `SELECT n, agg FROM telemetry_hourly WHERE hour = '2026-12-01T10:00:00Z'`).Scan(&n, &agg); err != nil {
		t.Fatal(err)
	}
	b := agg["battery"]
	if n != 3 || b.Min != 0.4 || b.Max != 0.9 || b.Last != 0.7 || len(agg) != 1 {
		t.Fatalf("hour aggregate n=%d %+v", n, agg)
	}
	if c := count(t, r, `SELECT count(*) FROM telemetry_hourly`); c != 2 {
		t.Fatalf("%d hourly rows, want 2", c)
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// --- bad messages and unhandled topics ---

func TestBadMessagesDoNotStopTheStream(t *testing.T) {
	h := &orderLog{}
	r := orderReplica(t, pgtest.Start(t).URL, h)
	// 2 is bad JSON and arrives after 3 is parked: 1 applies, 2 is
	// rejected (its stream moves on), 3 drains.
	apply(t, r, msg("s1", "e1", proto.StreamBooking, 3, 3, "test/order", []byte(`{}`)))
	apply(t, r, msg("s1", "e1", proto.StreamBooking, 1, 1, "test/order", []byte(`{}`)))
	out, err := r.Apply(ctxT(t), msg("s1", "e1", proto.StreamBooking, 2, 2, "booking/changes", []byte(`{not json`)))
	if !errors.Is(err, ErrBadMessage) || out.Drained != 1 || out.Applied || len(out.Rejected) != 0 {
		t.Fatalf("bad message: %+v %v", out, err)
	}
	if a := applied(t, r, "s1", "e1", proto.StreamBooking); a != 3 {
		t.Fatalf("applied %d, want 3", a)
	}
	// A bad message that was parked is skipped during the drain.
	apply(t, r, msg("s1", "e1", proto.StreamBooking, 5, 5, "booking/changes", []byte(`"a string"`)))
	apply(t, r, msg("s1", "e1", proto.StreamBooking, 6, 6, "test/order", []byte(`{}`)))
	out = apply(t, r, msg("s1", "e1", proto.StreamBooking, 4, 4, "test/order", []byte(`{}`)))
	if out.Drained != 2 || len(out.Rejected) != 1 || !errors.Is(out.Rejected[0], ErrBadMessage) {
		t.Fatalf("drain over a bad message: %+v", out)
	}
	if got := fmt.Sprint(orderOf(t, r, "s1", "e1")); got != "[1 3 4 6]" {
		t.Fatalf("order %s", got)
	}
	// Not an uplink at all.
	if _, err := r.Apply(ctxT(t), hq.Message{Store: "s1", Origin: "x", Topic: "elsewhere"}); !errors.Is(err, ErrBadMessage) {
		t.Fatalf("not under up/: %v", err)
	}
}

func TestUnhandledTopicAdvancesItsStream(t *testing.T) {
	r := newReplica(t)
	out := apply(t, r, msg("s1", "e1", proto.StreamBooking, 1, 1, proto.TopicConfigAck, proto.ConfigAck{V: 1, ID: "p1", OK: true}))
	if !out.Applied || fmt.Sprint(out.Unhandled) != "[config/ack]" {
		t.Fatalf("%+v", out)
	}
	apply(t, r, msg("s1", "e1", proto.StreamBooking, 2, 2, proto.TopicConfigAck, proto.ConfigAck{V: 1, ID: "p2", OK: true}))
	if a := applied(t, r, "s1", "e1", proto.StreamBooking); a != 2 {
		t.Fatalf("applied %d", a)
	}
	if u := r.Unhandled()["config/ack"]; u != 2 {
		t.Fatalf("unhandled count %d", u)
	}
}

// --- gaps and resync ---

func TestGapResyncGoneSkipsAndAsksForASnapshot(t *testing.T) {
	h := &orderLog{}
	r := orderReplica(t, pgtest.Start(t).URL, h)
	ctx := ctxT(t)
	e := "e1"
	apply(t, r, msg("s1", e, proto.StreamChat, 1, 1, "test/order", []byte(`{}`)))
	apply(t, r, msg("s1", e, proto.StreamChat, 4, 4, "test/order", []byte(`{}`)))
	if _, err := r.pool.Exec(ctx, `UPDATE stores SET epoch = $1`, e); err != nil {
		t.Fatal(err)
	}
	gaps, err := r.Gaps(ctx, time.Hour)
	if err != nil || len(gaps) != 0 {
		t.Fatalf("a fresh gap listed as old: %v %v", gaps, err)
	}
	gaps, err = r.Gaps(ctx, 0)
	if err != nil || len(gaps) != 1 || gaps[0].From != 2 || gaps[0].To != 3 || !gaps[0].Current {
		t.Fatalf("gaps %+v %v", gaps, err)
	}
	reqs, err := r.PlanResyncs(ctx, 0)
	if err != nil || len(reqs) != 1 || reqs[0].Stream != proto.StreamChat || reqs[0].From != 2 || reqs[0].To != 3 || reqs[0].Snapshot {
		t.Fatalf("plan: %+v %v", reqs, err)
	}
	// Planned again at once: the request is open, nothing new.
	if again, err := r.PlanResyncs(ctx, time.Hour); err != nil || len(again) != 0 {
		t.Fatalf("plan again: %+v %v", again, err)
	}
	// The store answers gone, on its booking stream.
	ans := proto.ResyncAnswer{V: 1, ID: reqs[0].ID, Status: proto.ResyncGone, Stream: proto.StreamChat, From: 2, To: 3, TS: time.Now()}
	out := apply(t, r, msg("s1", e, proto.StreamBooking, 9, 1, proto.TopicSyncAnswer, ans))
	if !out.Snapshot || out.Drained != 1 {
		t.Fatalf("gone answer: %+v", out)
	}
	if a := applied(t, r, "s1", e, proto.StreamChat); a != 4 {
		t.Fatalf("chat applied %d, want 4", a)
	}
	if n := count(t, r, `SELECT count(*) FROM stream_skips WHERE from_sseq = 2 AND to_sseq = 3 AND stream = 'chat'`); n != 1 {
		t.Fatal("skip not recorded")
	}
	if n := count(t, r, `SELECT count(*) FROM resync_requests WHERE id = $1 AND status = 'gone'`, reqs[0].ID); n != 1 {
		t.Fatal("answer not recorded")
	}
	snaps, err := r.PlanResyncs(ctx, time.Hour)
	if err != nil || len(snaps) != 1 || !snaps[0].Snapshot {
		t.Fatalf("snapshot request: %+v %v", snaps, err)
	}
	// Late copies of the skipped range change nothing.
	if out := apply(t, r, msg("s1", e, proto.StreamChat, 2, 2, "test/order", []byte(`{}`))); !out.Stale {
		t.Fatalf("late skipped message: %+v", out)
	}
	if got := fmt.Sprint(orderOf(t, r, "s1", e)); got != "[1 4]" {
		t.Fatalf("order %s", got)
	}
}

// An answer parked behind the gap it answers still resolves it.
func TestGoneAnswerBehindItsOwnGap(t *testing.T) {
	h := &orderLog{}
	r := orderReplica(t, pgtest.Start(t).URL, h)
	ctx := ctxT(t)
	apply(t, r, msg("s1", "e1", proto.StreamBooking, 1, 1, "test/order", []byte(`{}`)))
	apply(t, r, msg("s1", "e1", proto.StreamBooking, 3, 3, "test/order", []byte(`{}`)))
	reqs, err := r.PlanResyncs(ctx, 0)
	if err != nil || len(reqs) != 1 {
		t.Fatalf("%+v %v", reqs, err)
	}
	ans := proto.ResyncAnswer{V: 1, ID: reqs[0].ID, Status: proto.ResyncGone, Stream: proto.StreamBooking, From: 2, To: 2}
	out := apply(t, r, msg("s1", "e1", proto.StreamBooking, 4, 4, proto.TopicSyncAnswer, ans))
	if !out.Applied || out.Parked || !out.Snapshot {
		t.Fatalf("answer: %+v", out)
	}
	if a := applied(t, r, "s1", "e1", proto.StreamBooking); a != 4 {
		t.Fatalf("applied %d, want 4", a)
	}
}

// A gap of an old epoch (the box was replaced) is given up without asking
// the new box.
func TestOldEpochGapIsSkipped(t *testing.T) {
	h := &orderLog{}
	r := orderReplica(t, pgtest.Start(t).URL, h)
	ctx := ctxT(t)
	apply(t, r, msg("s1", "old", proto.StreamBooking, 1, 1, "test/order", []byte(`{}`)))
	apply(t, r, msg("s1", "old", proto.StreamBooking, 3, 3, "test/order", []byte(`{}`)))
	hello := proto.StoreHello{V: 1, Epoch: "new", Started: time.Now().UTC(), Reason: proto.HelloRestored, TS: time.Now().UTC()}
	apply(t, r, msg("s1", "new", proto.StreamBooking, 1, 1, proto.TopicHello, hello))
	reqs, err := r.PlanResyncs(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 1 || !reqs[0].Snapshot {
		t.Fatalf("requests %+v", reqs)
	}
	if a := applied(t, r, "s1", "old", proto.StreamBooking); a != 3 {
		t.Fatalf("old epoch applied %d", a)
	}
}

// --- presence ---

func TestStatusAndLastWill(t *testing.T) {
	r := newReplica(t)
	ctx := ctxT(t)
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	oldest := t0.Add(-time.Hour)
	on := func(ts time.Time, backlog int64) proto.StoreStatus {
		return proto.StoreStatus{V: 1, Store: "s1", Online: true, Epoch: "e1", Version: "1.2", Backlog: backlog,
			BacklogBytes: backlog * 100, OldestAt: &oldest, Errors: 2, LastError: "tls: timeout", TS: ts}
	}
	will := func(ts time.Time) proto.StoreStatus { return proto.StoreStatus{V: 1, Store: "s1", TS: ts} }
	// Connected at t0 (store clock 1.5 s behind HQ).
	must(t, r.ApplyStatus(ctx, "s1", on(t0, 10), t0.Add(1500*time.Millisecond)))
	must(t, r.ApplyStatus(ctx, "s1", on(t0.Add(30*time.Second), 4), t0.Add(31500*time.Millisecond)))
	must(t, r.ApplyStatus(ctx, "s1", on(t0.Add(10*time.Second), 9), t0.Add(40*time.Second))) // late, older: ignored
	var online bool
	var backlog, skew int64
	var lastSeen time.Time
	get := func() {
		t.Helper()
		if err := r.pool.QueryRow(ctx, `SELECT online, backlog, clock_skew_ms, last_seen FROM stores WHERE store = 's1'`).
			Scan(&online, &backlog, &skew, &lastSeen); err != nil {
			t.Fatal(err)
		}
	}
	get()
	if !online || backlog != 4 || skew != 1500 || !lastSeen.Equal(t0.Add(31500*time.Millisecond)) {
		t.Fatalf("online %v backlog %d skew %d last seen %v", online, backlog, skew, lastSeen)
	}
	// The Will of an older connection does not take the store offline.
	must(t, r.ApplyStatus(ctx, "s1", will(t0.Add(-time.Hour)), t0.Add(time.Minute)))
	get()
	if !online {
		t.Fatal("an old connection's Will took the store offline")
	}
	// This connection's Will does; its zero backlog is not recorded.
	must(t, r.ApplyStatus(ctx, "s1", will(t0), t0.Add(2*time.Minute)))
	get()
	if online || backlog != 4 {
		t.Fatalf("after its Will: online %v backlog %d", online, backlog)
	}
	// A store that says when its connection began (Since, as cloudsync
	// does): its Will, stamped with that time, takes it offline although
	// its first status came later; after a quick reconnect, the old
	// connection's Will, published late, does not.
	t1 := t0.Add(time.Hour)
	conn := func(since, ts time.Time) proto.StoreStatus {
		st := on(ts, 1)
		st.Since = &since
		return st
	}
	must(t, r.ApplyStatus(ctx, "s1", conn(t1, t1.Add(200*time.Millisecond)), t1.Add(time.Second)))
	must(t, r.ApplyStatus(ctx, "s1", will(t1), t1.Add(time.Minute)))
	get()
	if online {
		t.Fatal("the connection's own Will, stamped before its first status, left the store online")
	}
	t2, t3 := t1.Add(10*time.Minute), t1.Add(11*time.Minute)
	must(t, r.ApplyStatus(ctx, "s1", conn(t2, t2.Add(300*time.Millisecond)), t2.Add(time.Second)))
	must(t, r.ApplyStatus(ctx, "s1", conn(t3, t3.Add(300*time.Millisecond)), t3.Add(time.Second)))
	must(t, r.ApplyStatus(ctx, "s1", will(t2), t3.Add(2*time.Second)))
	get()
	if !online {
		t.Fatal("the Will of the connection before a quick reconnect took the store offline")
	}
	must(t, r.ApplyStatus(ctx, "s1", will(t3), t3.Add(time.Minute)))
	get()
	if online {
		t.Fatal("the current connection's Will left the store online")
	}
	if err := r.ApplyStatus(ctx, "s1", proto.StoreStatus{Store: "s2", TS: t0}, t0); !errors.Is(err, ErrBadMessage) {
		t.Fatalf("status of another store: %v", err)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A batch of many stores' messages commits once; its bad messages are
// reported one by one and the rest apply, in order per stream.
func TestApplyBatch(t *testing.T) {
	h := &orderLog{}
	r := orderReplica(t, pgtest.Start(t).URL, h)
	var ms []hq.Message
	for i := uint64(1); i <= 5; i++ {
		for _, s := range []string{"s2", "s1"} {
			var p any = []byte(`{}`)
			if i == 3 {
				p = proto.Change{V: 1, Seq: 3, Type: proto.ChangeCreated, Booking: "b-" + s, Rev: 1}
			}
			ms = append(ms, msg(s, "e1", proto.StreamBooking, i, i, orderTopic(i), p))
		}
	}
	ms[4].Payload = []byte(`{bad`) // s2's sseq 3, a booking change
	ms = append(ms, ms[0])         // a repeat in the same batch
	ms = append(ms, hq.Message{Store: "s1", Origin: "x", Topic: "elsewhere"})
	res, err := r.ApplyBatch(ctxT(t), ms)
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range res {
		switch {
		case i == 4 || i == len(ms)-1:
			if !errors.Is(x.Err, ErrBadMessage) || x.Applied {
				t.Errorf("message %d: %+v", i, x)
			}
		case i == len(ms)-2:
			if !x.Duplicate {
				t.Errorf("repeat: %+v", x)
			}
		default:
			if x.Err != nil || !x.Applied {
				t.Errorf("message %d: %+v", i, x)
			}
		}
	}
	if got := fmt.Sprint(orderOf(t, r, "s1", "e1")); got != "[1 2 4 5]" {
		t.Fatalf("s1 order %s", got)
	}
	if got := fmt.Sprint(orderOf(t, r, "s2", "e1")); got != "[1 2 4 5]" {
		t.Fatalf("s2 order %s", got)
	}
	if n := count(t, r, `SELECT count(*) FROM booking_changes`); n != 1 {
		t.Fatalf("%d booking changes, want s1's sseq 3", n)
	}
}

// orderTopic sends sseq 3 to booking/changes (a real topic), the others to
// the order log.
func orderTopic(i uint64) string {
	if i == 3 {
		return "booking/changes"
	}
	return "test/order"
}

// Pruned dedup keys: a stream still drops what it has moved past.
func TestPruneSeen(t *testing.T) {
	r := newReplica(t)
	c := proto.Change{V: 1, Seq: 1, Type: proto.ChangeCreated, Booking: "b1", Rev: 1}
	m := msg("s1", "e1", proto.StreamBooking, 1, 1, "booking/changes", c)
	apply(t, r, m)
	if n, err := r.PruneSeen(ctxT(t), time.Hour); err != nil || n != 0 {
		t.Fatalf("pruned %d young keys: %v", n, err)
	}
	if n, err := r.PruneSeen(ctxT(t), -time.Hour); err != nil || n != 1 {
		t.Fatalf("pruned %d: %v", n, err)
	}
	if out := apply(t, r, m); !out.Stale {
		t.Fatalf("a repeat after pruning: %+v", out)
	}
	if n := count(t, r, `SELECT count(*) FROM booking_changes`); n != 1 {
		t.Fatalf("%d changes", n)
	}
}

// A long run parked behind one gap (more than one read's worth) drains
// whole, in order, when the gap fills.
func TestLongDrain(t *testing.T) {
	h := &orderLog{}
	r := orderReplica(t, pgtest.Start(t).URL, h)
	n := uint64(2*drainChunk + 10)
	var ms []hq.Message
	for i := uint64(2); i <= n; i++ {
		ms = append(ms, msg("s1", "e1", proto.StreamChat, i, i, "test/order", []byte(`{}`)))
	}
	if _, err := r.ApplyBatch(ctxT(t), ms); err != nil {
		t.Fatal(err)
	}
	out := apply(t, r, msg("s1", "e1", proto.StreamChat, 1, 1, "test/order", []byte(`{}`)))
	if out.Drained != int(n-1) {
		t.Fatalf("drained %d, want %d", out.Drained, n-1)
	}
	got := orderOf(t, r, "s1", "e1")
	for i, v := range got {
		if v != i+1 {
			t.Fatalf("position %d has %d", i, v)
		}
	}
	if len(got) != int(n) || count(t, r, `SELECT count(*) FROM parked`) != 0 {
		t.Fatalf("%d applied, parked left %d", len(got), count(t, r, `SELECT count(*) FROM parked`))
	}
}

// A message whose stream another transaction holds is parked at once
// (committed without waiting), then drained once that transaction ends.
func TestDeferredWhileAnotherHoldsTheStream(t *testing.T) {
	h := &orderLog{}
	r := orderReplica(t, pgtest.Start(t).URL, h)
	ctx := ctxT(t)
	apply(t, r, msg("s1", "e1", proto.StreamBooking, 1, 1, "test/order", []byte(`{}`)))
	other, err := r.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback(ctx)
	if _, err := other.Exec(ctx, `SELECT 1 FROM streams WHERE store = 's1' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	type result struct {
		out Outcome
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := r.Apply(context.Background(), msg("s1", "e1", proto.StreamBooking, 2, 2, "test/order", []byte(`{}`)))
		done <- result{out, err}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for count(t, r, `SELECT count(*) FROM parked WHERE sseq = 2`) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the message was not parked while its stream was held")
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
	select {
	case res := <-done:
		t.Fatalf("Apply returned while the other transaction still held the stream: %+v %v", res.out, res.err)
	default:
	}
	if err := other.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.err != nil || !res.out.Deferred || res.out.Drained != 1 {
		t.Fatalf("%+v %v", res.out, res.err)
	}
	if a := applied(t, r, "s1", "e1", proto.StreamBooking); a != 2 {
		t.Fatalf("applied %d", a)
	}
	if got := fmt.Sprint(orderOf(t, r, "s1", "e1")); got != "[1 2]" {
		t.Fatalf("order %s", got)
	}
}

// A deferral whose instance stopped before draining is drained by the
// next resync planning.
func TestStuckStreamIsNudged(t *testing.T) {
	h := &orderLog{}
	r := orderReplica(t, pgtest.Start(t).URL, h)
	ctx := ctxT(t)
	apply(t, r, msg("s1", "e1", proto.StreamBooking, 1, 1, "test/order", []byte(`{}`)))
	m := msg("s1", "e1", proto.StreamBooking, 2, 2, "test/order", []byte(`{}`))
	if _, err := r.pool.Exec(ctx, `INSERT INTO parked (store, epoch, stream, sseq, topic, origin, seq, payload)
		VALUES ('s1', 'e1', 'booking', 2, $1, $2, 2, '{}')`, m.Topic, m.Origin); err != nil {
		t.Fatal(err)
	}
	if _, err := r.PlanResyncs(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	if a := applied(t, r, "s1", "e1", proto.StreamBooking); a != 2 {
		t.Fatalf("applied %d, want 2", a)
	}
}
