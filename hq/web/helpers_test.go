package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storeedge/storeedge/cloudsync/hq"
	"github.com/storeedge/storeedge/hq/replica"
	"github.com/storeedge/storeedge/internal/seal"
	"github.com/storeedge/storeedge/internal/testkit/pgtest"
	"github.com/storeedge/storeedge/proto"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// downSeen is what the downlink stand-in saw: the requests handed to it
// and the actor each carried.
type downSeen struct {
	mu    sync.Mutex
	calls []downCall
}

type downCall struct {
	Method, Path, Actor string
	Body                []byte
}

func (d *downSeen) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	d.mu.Lock()
	d.calls = append(d.calls, downCall{r.Method, r.URL.Path, r.Header.Get(ActorHeader), b})
	d.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodPost && r.URL.Path == "/api/v1/notices" {
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"notice":{"id":"n-1"},"created":true,"published":true}`)
		return
	}
	_, _ = io.WriteString(w, `{"store":"s-a","pushes":[{"store":"s-a","version":2,"id":"p2","state":"refused","code":"bad_request","reason":"price below zero","sent_by":"ops","sent_at":"2026-12-07T09:00:00Z"},{"store":"s-a","version":1,"id":"p1","state":"applied","sent_by":"ops","sent_at":"2026-12-06T09:00:00Z"}]}`)
}

func (d *downSeen) list() []downCall {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]downCall(nil), d.calls...)
}

type fixture struct {
	r     *replica.Replica
	keys  *seal.Keyring
	clock *clock
	down  *downSeen
	srv   *httptest.Server
	key   string // a live key named "ops-li"
	url   string // the database
	ups   map[string]*uplink
}

// now is the tests' time: 17:30 UTC, 01:30 the next day in Shanghai.
var now = time.Date(2026, 12, 7, 17, 30, 0, 0, time.UTC)

func newFixture(t *testing.T, o Options) *fixture {
	t.Helper()
	url := pgtest.Start(t).URL
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		t.Fatal(err)
	}
	keys, err := seal.ParseKeys("t1:" + base64.StdEncoding.EncodeToString(k[:]))
	if err != nil {
		t.Fatal(err)
	}
	r, err := replica.Open(context.Background(), url, replica.Options{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	f := &fixture{r: r, keys: keys, clock: &clock{t: now}, down: &downSeen{}, url: url}
	o.Replica = r
	o.Now = f.clock.Now
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	if o.Down == nil {
		o.Down = f.down
	}
	f.srv = httptest.NewServer(New(o))
	t.Cleanup(f.srv.Close)
	if f.key, err = r.AddKey(context.Background(), "ops-li"); err != nil {
		t.Fatal(err)
	}
	seed(t, f)
	return f
}

func (f *fixture) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := f.r.Pool().Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// uplink files a store's messages as its cloudsync would (one epoch, the
// outbox seq, gap-free stream sequences for chat and booking) and applies
// them to the replica.
type uplink struct {
	store string
	seq   uint64
	sseq  map[string]uint64
}

func (f *fixture) uplink(store string) *uplink {
	if f.ups == nil {
		f.ups = map[string]*uplink{}
	}
	if f.ups[store] == nil {
		f.ups[store] = &uplink{store: store, sseq: map[string]uint64{}}
	}
	return f.ups[store]
}

func (f *fixture) send(t *testing.T, store, local string, payload any) {
	t.Helper()
	u := f.uplink(store)
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	u.seq++
	stream := proto.StreamBooking
	switch {
	case strings.HasPrefix(local, "chat/"):
		stream = proto.StreamChat
	case strings.HasPrefix(local, "devices/"):
		stream = "telemetry"
	}
	var sseq uint64
	if stream == proto.StreamChat || stream == proto.StreamBooking {
		u.sseq[stream]++
		sseq = u.sseq[stream]
	}
	epoch := "e0" + store
	m := hq.Message{Store: store, Origin: fmt.Sprintf("%s/%d", epoch, u.seq), Seq: u.seq, Stored: now.Add(-time.Minute),
		Epoch: epoch, Stream: stream, SSeq: sseq, Topic: proto.CloudUpTopic(store, local), LocalTopic: local, Payload: b}
	out, err := f.r.Apply(context.Background(), m)
	if err != nil || !out.Applied {
		t.Fatalf("apply %s %s: %+v %v", store, local, out, err)
	}
}

func (f *fixture) chat(t *testing.T, store, conv, customer string, seq uint64, from string, at time.Time, text string) {
	t.Helper()
	f.send(t, store, "chat/"+conv+"/hq", proto.HQChatEntry{V: 1, Type: "message", Origin: fmt.Sprintf("%s/%d", conv, seq),
		Conversation: conv, Customer: customer, Seq: seq, ID: fmt.Sprintf("m%d", seq), From: from, Kind: "text", TS: at, Text: text})
}

// status records a store's presence as HQ receives it at received, the
// store's clock behind HQ's by skew.
func (f *fixture) status(t *testing.T, store string, st proto.StoreStatus, received time.Time, skew time.Duration) {
	t.Helper()
	st.V, st.Store, st.TS = 1, store, received.Add(-skew)
	if err := f.r.ApplyStatus(context.Background(), store, st, received); err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }

// seed fills the replica through the uplink: three stores (s-b offline
// for 5 h with 120 entries waiting), s-a in Shanghai with devices, bookings
// and a conversation.
func seed(t *testing.T, f *fixture) {
	t.Helper()
	f.status(t, "s-a", proto.StoreStatus{Online: true, Epoch: "e0s-a", Version: "1.4.0"}, now.Add(-10*time.Second), 40*time.Millisecond)
	seenB, skewB := now.Add(-5*time.Hour), 10*time.Minute
	f.status(t, "s-b", proto.StoreStatus{Online: true, Epoch: "e0s-b", Version: "1.3.9", Backlog: 120, BacklogBytes: 48000,
		OldestAt: ptr(seenB.Add(-skewB - time.Hour)), Errors: 3, LastError: "dial tcp 10.0.0.1:8883: i/o timeout"}, seenB, skewB)
	// Its Last Will: the connection that began with that status dropped.
	if err := f.r.ApplyStatus(context.Background(), "s-b", proto.StoreStatus{V: 1, Store: "s-b", TS: seenB.Add(-skewB)}, seenB); err != nil {
		t.Fatal(err)
	}
	f.status(t, "s-c", proto.StoreStatus{Online: true, Epoch: "e0s-c", Version: "1.4.0", Backlog: 5, BacklogBytes: 2000,
		OldestAt: ptr(now.Add(-10 * time.Second))}, now.Add(-10*time.Second), -3*time.Second)
	// No uplink carries a store's display name: HQ's own data.
	f.exec(t, `UPDATE stores SET name = CASE store WHEN 's-a' THEN 'Paws Xuhui' WHEN 's-b' THEN 'Cradle Pudong' ELSE 'Paws Jing''an' END`)

	f.send(t, "s-a", proto.TopicShopInfo, proto.ShopInfo{V: 1, Version: 3, TimeZone: "Asia/Shanghai", TS: now.Add(-time.Hour)})
	sh, _ := time.LoadLocation("Asia/Shanghai")
	f.send(t, "s-a", "booking/changes", proto.Change{V: 1, Seq: 1, Type: proto.ChangeCreated, Booking: "b-today", Customer: "cu1",
		Service: "Bath & dry", Start: time.Date(2026, 12, 8, 10, 0, 0, 0, sh), End: time.Date(2026, 12, 8, 11, 0, 0, 0, sh),
		Status: proto.StatusBooked, Resources: []string{"room-1"}, Rev: 2, TS: now.Add(-2 * time.Hour)})
	f.send(t, "s-a", "booking/changes", proto.Change{V: 1, Seq: 2, Type: proto.ChangeCreated, Booking: "b-yesterday", Customer: "cu2",
		Service: "Nail trim", Start: time.Date(2026, 12, 7, 18, 0, 0, 0, sh), End: time.Date(2026, 12, 7, 19, 0, 0, 0, sh),
		Status: proto.StatusCompleted, Rev: 1, TS: now.Add(-3 * time.Hour)})
	f.send(t, "s-a", "devices/kiosk-1/status", proto.DeviceStatus{V: 1, State: proto.StateOnline, TS: now.Add(-time.Minute).Format(time.RFC3339)})
	f.send(t, "s-a", "devices/cam-groom-2/status", proto.DeviceStatus{V: 1, State: proto.StateOffline, TS: now.Add(-3 * time.Hour).Format(time.RFC3339)})
	// cu1 asked an hour ago, was answered in 90 s, and asked again 30 min ago.
	f.chat(t, "s-a", "c1", "cu1", 1, "cu1", now.Add(-time.Hour), "Bath on Saturday?")
	f.chat(t, "s-a", "c1", "cu1", 2, "staff-li", now.Add(-time.Hour+90*time.Second), "Yes, 10:00 is free")
	f.chat(t, "s-a", "c1", "cu1", 3, "cu1", now.Add(-30*time.Minute), "Yes please, 10:00")
}

// call makes a request with an optional Bearer key and headers.
func (f *fixture) call(t *testing.T, method, path, key string, body string, hdr ...string) *http.Response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

type apiError struct {
	Error struct{ Code, Message string } `json:"error"`
}

func decode[T any](t *testing.T, res *http.Response) T {
	t.Helper()
	var v T
	b, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: not JSON: %v\n%s", res.Request.URL, err, b)
	}
	return v
}

func wantStatus(t *testing.T, res *http.Response, status int, code string) {
	t.Helper()
	if res.StatusCode != status {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("%s %s: status %d, want %d\n%s", res.Request.Method, res.Request.URL.Path, res.StatusCode, status, b)
	}
	if code != "" {
		e := decode[apiError](t, res)
		if e.Error.Code != code || e.Error.Message == "" {
			t.Fatalf("%s %s: error %+v, want code %q with a message", res.Request.Method, res.Request.URL.Path, e.Error, code)
		}
	}
}
