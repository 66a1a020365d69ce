package homebook_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/hq/downlink"
	"github.com/storeedge/storeedge/hq/home"
	"github.com/storeedge/storeedge/hq/homebook"
	"github.com/storeedge/storeedge/hq/ingest"
	"github.com/storeedge/storeedge/hq/replica"
	"github.com/storeedge/storeedge/internal/seal"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	"github.com/storeedge/storeedge/internal/testkit/pgtest"
	st "github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/proto"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The test store's clock starts on Monday 2026-11-23 08:00 (+08:00);
// Tuesday it grooms dogs on two tables from 09:30.
const tue = "2026-11-24"

func at(day, clock string) string { return day + "T" + clock + ":00+08:00" }

var (
	anna = st.Device{ID: "staff-anna", Role: "staff"}
	boss = st.Device{ID: "admin-li", Role: "admin"}
)

// rig is HQ (PostgreSQL, its broker, the consumers applying the uplink,
// the publisher sending down) with a real store linked to it, and the
// bookings part of the page at home served over HTTP for two customers
// of that store.
type rig struct {
	t     *testing.T
	pool  *pgxpool.Pool
	store *st.Store
	staff *st.Client
	srv   *httptest.Server
	mux   *http.ServeMux
	book  *homebook.Book
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

func startRig(t *testing.T, cfg homebook.Config, opts ...func(*homebook.Options)) *rig {
	t.Helper()
	ctx := context.Background()
	mq := mosquittotest.Start(t, mosquittotest.Options{})
	k := make([]byte, seal.KeySize)
	_, _ = rand.Read(k)
	keys, err := seal.ParseKeys("hq1:" + base64.StdEncoding.EncodeToString(k))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := replica.Open(ctx, pgtest.Start(t).NewDB(t), replica.Options{Keys: keys, MaxConns: 12,
		Handlers: map[string]replica.TopicHandler{proto.TopicAvailabilityAnswer: homebook.AvailabilityHandler{}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rep.Close)
	u, _ := url.Parse("mqtt://" + mq.Addr)
	cons, err := ingest.New(ingest.Options{Replica: rep, Brokers: []*url.URL{u}, ClientID: "hq-ingest", Workers: 2, SessionExpiry: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cons.Run(cctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, 20*time.Second, "HQ's consumer subscribed", cons.Ready)
	pub, err := downlink.NewMQTTPublisher(ctx, downlink.MQTTOptions{URL: "mqtt://" + mq.Addr, ClientID: "hq-pub"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close(context.Background()) })

	s := st.Start(t, st.Options{Devices: []st.Device{anna, boss}, Config: func(c *broker.Config) {
		c.Cloud.URL = "mqtt://" + mq.Addr
		c.Cloud.ReconnectMin, c.Cloud.ReconnectMax = 20*time.Millisecond, 200*time.Millisecond
	}})
	r := &rig{t: t, pool: rep.Pool(), store: s}
	r.staff = s.Connect(t, anna, "")
	for _, c := range []struct{ id, cust string }{{"hc-amy", "cust-amy"}, {"hc-bob", "cust-bob"}} {
		if _, err := r.pool.Exec(ctx, `INSERT INTO home_customers (id, store, customer) VALUES ($1, 'demo-store', $2)`, c.id, c.cust); err != nil {
			t.Fatal(err)
		}
	}
	// A closure far ahead makes the store send its shop to HQ now.
	st.OK(t, s.Connect(t, boss, "").Call(t, "booking", "closure_add", `{"date":"2026-12-30","reason":{"zh":"盘点","en":"Stocktaking"}}`))
	waitFor(t, 30*time.Second, "the store's shop and presence at HQ", func() bool {
		return r.count(`SELECT count(*) FROM shop_info WHERE store = 'demo-store'`) == 1 && r.online()
	})

	state := func(ctx context.Context, store string) (home.StoreState, error) {
		var online bool
		err := r.pool.QueryRow(ctx, `SELECT online FROM stores WHERE store = $1`, store).Scan(&online)
		return home.StoreState{Store: store, Online: online, Zone: "Asia/Shanghai"}, err
	}
	o := homebook.Options{Pool: r.pool, Publisher: pub, State: state, Config: cfg, Now: s.Now}
	for _, f := range opts {
		f(&o)
	}
	b, err := homebook.New(o)
	if err != nil {
		t.Fatal(err)
	}
	b.Start(ctx)
	t.Cleanup(func() { _ = b.Stop(context.Background()) })
	r.book = b
	mux := http.NewServeMux()
	// The test's sign-in: the customer named by a header.
	b.Mount(mux, func(h home.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, req *http.Request) {
			id := req.Header.Get("X-Test-Customer")
			if id == "" { // the page's login: the test's token is the customer's id
				id = strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
			}
			var c home.Customer
			if err := r.pool.QueryRow(req.Context(), `SELECT id, store, customer FROM home_customers WHERE id = $1`, id).
				Scan(&c.ID, &c.Store, &c.Customer); err != nil {
				http.Error(w, `{"error":{"code":"unauthorized","message":"sign in"}}`, http.StatusUnauthorized)
				return
			}
			h(w, req, c)
		}
	})
	r.mux = mux
	r.srv = httptest.NewServer(mux)
	t.Cleanup(r.srv.Close)
	return r
}

func (r *rig) count(q string, args ...any) int {
	r.t.Helper()
	var n int
	if err := r.pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		r.t.Fatalf("%s: %v", q, err)
	}
	return n
}

func (r *rig) online() bool {
	return r.count(`SELECT count(*) FROM stores WHERE store = 'demo-store' AND online`) == 1
}

// call makes an API call as customer and decodes the answer into out.
func (r *rig) call(customer, method, path string, body any, out any) int {
	r.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, r.srv.URL+"/home/api/v1"+path, rd)
	req.Header.Set("X-Test-Customer", customer)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			r.t.Fatalf("%s %s: %d %s: %v", method, path, res.StatusCode, b, err)
		}
	}
	return res.StatusCode
}

type slotsAnswer struct {
	Source string       `json:"source"`
	AsOf   time.Time    `json:"as_of"`
	Slots  []proto.Slot `json:"slots"`
	Note   string       `json:"note"`
}

type bookingsAnswer struct {
	Bookings []homebook.BookingJSON `json:"bookings"`
	Requests []homebook.Request     `json:"requests"`
}

type errAnswer struct {
	Error struct{ Code, Message string } `json:"error"`
}

func starts(ss []proto.Slot) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		out = append(out, s.Start.Format(time.RFC3339))
	}
	return out
}

func has(ss []proto.Slot, start string) bool {
	for _, s := range starts(ss) {
		if s == start {
			return true
		}
	}
	return false
}

// request waits until her request id is decided and returns it.
func (r *rig) decided(customer, id string) homebook.Request {
	r.t.Helper()
	var got homebook.Request
	waitFor(r.t, 30*time.Second, "the store's decision on "+id, func() bool {
		var a bookingsAnswer
		if r.call(customer, "GET", "/bookings", nil, &a) != 200 {
			return false
		}
		for _, q := range a.Requests {
			if q.ID == id && q.State != homebook.StateWaiting {
				got = q
				return true
			}
		}
		return false
	})
	return got
}

// Free times come live from the store when it is online; a request for a
// taken time is rejected with alternatives she can take; a request for one
// of them is confirmed and her booking shows; she moves it. Another
// customer sees none of it and cannot touch it. With the store offline the
// free times are the replica's (marked, the same the store gave), and a
// request made then is decided when the store is back.
func TestBookFromHome(t *testing.T) {
	// The process's one listener, shared (as storeedge-hq may share it
	// with the live view).
	var l *homebook.Listener
	r := startRig(t, homebook.Config{LiveWait: 5 * time.Second}, func(o *homebook.Options) {
		l = homebook.NewListener(o.Pool, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { l.Run(ctx, time.Hour); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
		o.Listener = l
	})
	// Both tables are taken at 15:00.
	for _, c := range []string{"cust-x", "cust-y"} {
		st.OK(t, r.staff.Call(t, "booking", "book", fmt.Sprintf(`{"service":"dog-groom","start":%q,"customer":%q}`, at(tue, "15:00"), c)))
	}

	var shop struct {
		Services []homebook.ServiceJSON `json:"services"`
		Zone     string                 `json:"zone"`
	}
	if code := r.call("hc-amy", "GET", "/shop", nil, &shop); code != 200 || len(shop.Services) == 0 || shop.Zone != "Asia/Shanghai" {
		t.Fatalf("shop: %d %+v", code, shop)
	}
	var live slotsAnswer
	if code := r.call("hc-amy", "GET", "/slots?service=dog-groom&day="+tue, nil, &live); code != 200 || live.Source != "live" ||
		len(live.Slots) == 0 || has(live.Slots, at(tue, "15:00")) || live.AsOf.IsZero() {
		t.Fatalf("live slots: %d %+v", code, live)
	}
	// How long a live answer takes: HQ's broker, the store, its outbox,
	// the consumers, PostgreSQL's announcement, and back.
	var took []time.Duration
	for range 10 {
		t0 := time.Now()
		var a slotsAnswer
		if r.call("hc-amy", "GET", "/slots?service=dog-groom&day="+tue, nil, &a); a.Source != "live" {
			t.Fatalf("live slots: %+v", a)
		}
		took = append(took, time.Since(t0))
	}
	slices.Sort(took)
	t.Logf("live free times from the store: median %v, worst %v of %d", took[len(took)/2], took[len(took)-1], len(took))
	if r.count(`SELECT count(*) FROM home_answers`) != 0 {
		t.Fatal("a live answer is kept after it was used")
	}
	// The listening connection is cut: the answer still comes live.
	waitFor(t, 10*time.Second, "the listener up", l.Listening)
	if n := r.count(`SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'LISTEN hq_home_answers') x`); n != 1 {
		t.Fatalf("listening connections: %d, want 1", n)
	}
	live = slotsAnswer{}
	if code := r.call("hc-amy", "GET", "/slots?service=dog-groom&day="+tue, nil, &live); code != 200 || live.Source != "live" {
		t.Fatalf("slots after the listener's connection was cut: %d %+v", code, live)
	}

	// She asks for the taken 15:00 (her page was old): rejected, with alternatives.
	var sent struct {
		Request homebook.Request `json:"request"`
	}
	if code := r.call("hc-amy", "POST", "/bookings", map[string]string{"id": "req-1", "service": "dog-groom", "start": at(tue, "15:00")}, &sent); code != 202 ||
		sent.Request.State != homebook.StateWaiting || sent.Request.Kind != "book" {
		t.Fatalf("request: %d %+v", code, sent)
	}
	rej := r.decided("hc-amy", "req-1")
	if rej.State != homebook.StateRejected || rej.Code != "conflict" || rej.Message == "" || len(rej.Alternatives) == 0 || rej.Decided == nil {
		t.Fatalf("rejection: %+v", rej)
	}
	// She takes the first alternative with one tap: confirmed, and her booking shows.
	alt := rej.Alternatives[0].Start.Format(time.RFC3339)
	r.call("hc-amy", "POST", "/bookings", map[string]string{"id": "req-2", "service": "dog-groom", "start": alt}, nil)
	ok := r.decided("hc-amy", "req-2")
	if ok.State != homebook.StateConfirmed || ok.Booking == "" {
		t.Fatalf("confirmation: %+v", ok)
	}
	var mine bookingsAnswer
	r.call("hc-amy", "GET", "/bookings", nil, &mine)
	if len(mine.Bookings) != 1 || mine.Bookings[0].ID != ok.Booking || !mine.Bookings[0].Start.Equal(rej.Alternatives[0].Start) ||
		mine.Bookings[0].ServiceName == "" || mine.Bookings[0].Status != "booked" {
		t.Fatalf("her bookings: %+v", mine.Bookings)
	}
	// The same request again (a retry) is the same request.
	if code := r.call("hc-amy", "POST", "/bookings", map[string]string{"id": "req-2", "service": "dog-groom", "start": alt}, &sent); code != 202 ||
		sent.Request.State != homebook.StateConfirmed {
		t.Fatalf("retried request: %d %+v", code, sent)
	}

	// Bob sees none of it, and her booking does not exist for him.
	var his bookingsAnswer
	r.call("hc-bob", "GET", "/bookings", nil, &his)
	if len(his.Bookings) != 0 || len(his.Requests) != 0 {
		t.Fatalf("another customer sees: %+v", his)
	}
	var e errAnswer
	for _, op := range []string{"cancel", "move"} {
		if code := r.call("hc-bob", "POST", "/bookings/"+ok.Booking+"/"+op, map[string]string{"id": "bob-" + op, "start": at(tue, "18:00")}, &e); code != 404 || e.Error.Code != "not_found" {
			t.Fatalf("bob %s of her booking: %d %+v", op, code, e)
		}
	}
	// He cannot reuse her request id either.
	if code := r.call("hc-bob", "POST", "/bookings", map[string]string{"id": "req-2", "service": "dog-groom", "start": at(tue, "18:00")}, &e); code != 409 {
		t.Fatalf("bob reusing her id: %d %+v", code, e)
	}

	// She moves it to 18:00.
	r.call("hc-amy", "POST", "/bookings/"+ok.Booking+"/move", map[string]string{"id": "mv-1", "start": at(tue, "18:00")}, nil)
	if mv := r.decided("hc-amy", "mv-1"); mv.State != homebook.StateConfirmed || mv.Kind != "move" || mv.Booking != ok.Booking {
		t.Fatalf("move: %+v", mv)
	}
	waitFor(t, 30*time.Second, "the moved booking in the replica", func() bool {
		return r.count(`SELECT count(*) FROM bookings WHERE booking = $1 AND start_at = $2`, ok.Booking, at(tue, "18:00")) == 1
	})

	// What the store says now, live; then it goes offline.
	r.call("hc-amy", "GET", "/slots?service=dog-groom&day="+tue, nil, &live)
	if live.Source != "live" || has(live.Slots, at(tue, "15:00")) {
		t.Fatalf("live slots after the move: %+v", live)
	}
	r.store.Stop()
	waitFor(t, 30*time.Second, "the store offline at HQ", func() bool { return !r.online() })
	var off slotsAnswer
	if code := r.call("hc-amy", "GET", "/slots?service=dog-groom&day="+tue, nil, &off); code != 200 || off.Source != "replica" || off.Note == "" || off.AsOf.IsZero() {
		t.Fatalf("offline slots: %d %+v", code, off)
	}
	if fmt.Sprint(starts(off.Slots)) != fmt.Sprint(starts(live.Slots)) {
		t.Fatalf("the replica's free times differ from the store's:\nreplica %v\nstore   %v", starts(off.Slots), starts(live.Slots))
	}
	// She books while it is offline: waiting, then decided when it is back.
	r.call("hc-amy", "POST", "/bookings", map[string]string{"id": "req-3", "service": "dog-groom", "start": off.Slots[0].Start.Format(time.RFC3339)}, &sent)
	if sent.Request.State != homebook.StateWaiting {
		t.Fatalf("request while offline: %+v", sent)
	}
	r.store.Up()
	if q := r.decided("hc-amy", "req-3"); q.State != homebook.StateConfirmed {
		t.Fatalf("request made while offline: %+v", q)
	}
}

// Bad input is refused with a clear code and changes nothing; the hourly
// limit holds.
func TestBookingInputAndLimits(t *testing.T) {
	r := startRig(t, homebook.Config{RequestsPerHour: 2, MaxNotesBytes: 10})
	var e errAnswer
	for _, c := range []struct {
		method, path string
		body         any
		status       int
		code         string
	}{
		{"GET", "/slots?service=dog-groom&day=tomorrow", nil, 400, "bad_request"},
		{"GET", "/slots?service=unicorn-wash&day=" + tue, nil, 404, "not_found"},
		{"POST", "/bookings", map[string]string{"id": "a b", "service": "dog-groom", "start": at(tue, "10:00")}, 400, "bad_request"},
		{"POST", "/bookings", map[string]string{"id": "q1", "service": "dog-groom", "start": "Tuesday"}, 400, "bad_request"},
		{"POST", "/bookings", map[string]string{"id": "q1", "service": "dog-groom", "start": at(tue, "10:00"), "notes": "far too long notes"}, 413, "too_large"},
		{"POST", "/bookings/bk-nope/cancel", map[string]string{"id": "q1"}, 404, "not_found"},
	} {
		if code := r.call("hc-amy", c.method, c.path, c.body, &e); code != c.status || e.Error.Code != c.code || e.Error.Message == "" {
			t.Errorf("%s %s: %d %+v, want %d %s", c.method, c.path, code, e, c.status, c.code)
		}
	}
	if n := r.count(`SELECT count(*) FROM home_requests`); n != 0 {
		t.Fatalf("refused input left %d requests", n)
	}
	for i := range 2 {
		if code := r.call("hc-amy", "POST", "/bookings", map[string]string{"id": fmt.Sprint("ok-", i), "service": "dog-groom", "start": at(tue, "10:00")}, nil); code != 202 {
			t.Fatalf("request %d: %d", i, code)
		}
	}
	if code := r.call("hc-amy", "POST", "/bookings", map[string]string{"id": "ok-3", "service": "dog-groom", "start": at(tue, "10:00")}, &e); code != 429 || e.Error.Code != "quota_exceeded" {
		t.Fatalf("third request in an hour: %d %+v", code, e)
	}
	// A store HQ's broker has no link for: the request is kept, said to be
	// unsent (503), and the same id again is the same one request.
	if _, err := r.pool.Exec(context.Background(), `INSERT INTO home_customers (id, store, customer) VALUES ('hc-ghost', 'ghost-store', 'cust-g')`); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if code := r.call("hc-ghost", "POST", "/bookings", map[string]string{"id": "g-1", "service": "dog-groom", "start": at(tue, "10:00")}, &e); code != 503 || e.Error.Code != "unavailable" || e.Error.Message == "" {
			t.Fatalf("request to an unlinked store: %d %+v", code, e)
		}
	}
	var ghost bookingsAnswer
	r.call("hc-ghost", "GET", "/bookings", nil, &ghost)
	if len(ghost.Requests) != 1 || !ghost.Requests[0].Unsent || ghost.Requests[0].State != homebook.StateWaiting {
		t.Fatalf("the unsent request: %+v", ghost.Requests)
	}
	var sent bookingsAnswer
	r.call("hc-amy", "GET", "/bookings", nil, &sent)
	if len(sent.Requests) != 2 || sent.Requests[0].Unsent || sent.Requests[1].Unsent {
		t.Fatalf("requests the store's link took are not unsent: %+v", sent.Requests)
	}

	// Another customer has her own limit.
	if code := r.call("hc-bob", "POST", "/bookings", map[string]string{"id": "bob-1", "service": "dog-groom", "start": at(tue, "10:00")}, nil); code != 202 {
		t.Fatalf("bob's request: %d", code)
	}
}
