package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storeedge/storeedge/hq/internal/tempdb"
	"github.com/storeedge/storeedge/hq/replica"
	"github.com/storeedge/storeedge/internal/seal"
)

func TestMain(m *testing.M) { os.Exit(tempdb.Main(m)) }

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
}

// now is the tests' time: 17:30 UTC, 01:30 the next day in Shanghai.
var now = time.Date(2026, 12, 7, 17, 30, 0, 0, time.UTC)

func newFixture(t *testing.T, o Options) *fixture {
	t.Helper()
	url := tempdb.NewDB(t)
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
	tempdb.CreateSchema(t, url)
	f := &fixture{r: r, keys: keys, clock: &clock{t: now}, down: &downSeen{}}
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

// seed fills the replica as the uplink would: three stores (s-b offline
// for 5 h with a backlog of 120), s-a in Shanghai with devices, bookings
// and conversations.
func seed(t *testing.T, f *fixture) {
	t.Helper()
	f.exec(t, `INSERT INTO stores (store, name, version, online, last_seen, status_at, backlog, backlog_bytes, oldest_at, clock_skew_ms, errors, last_error, first_seen, epoch)
		VALUES ('s-a', 'Paws Xuhui', '1.4.0', true, $1, $1, 0, 0, NULL, 40, 0, '', $3, '9f3ac01b5e2d7a44'),
		       ('s-b', 'Cradle Pudong', '1.3.9', false, $2, $2, 120, 48000, $4, 600000, 3, 'dial tcp 10.0.0.1:8883: i/o timeout', $3, '0123456789abcdef'),
		       ('s-c', 'Paws Jing''an', '1.4.0', true, $1, $1, 5, 2000, $1, -3000, 0, '', $3, 'aaaabbbbccccdddd')`,
		now.Add(-10*time.Second), now.Add(-5*time.Hour), now.Add(-30*24*time.Hour), now.Add(-2*time.Hour-10*time.Minute))
	f.exec(t, `INSERT INTO shop_info (store, version, info, ts) VALUES ('s-a', 3, '{"v":1,"version":3,"time_zone":"Asia/Shanghai","catalog":{}}', $1)`, now)
	sh, _ := time.LoadLocation("Asia/Shanghai")
	f.exec(t, `INSERT INTO bookings (store, booking, customer, service, start_at, end_at, status, resources, rev)
		VALUES ('s-a', 'b-today', 'cu1', 'Bath & dry', $1, $2, 'confirmed', '{room-1}', 2),
		       ('s-a', 'b-yesterday', 'cu2', 'Nail trim', $3, $4, 'done', '{}', 1)`,
		time.Date(2026, 12, 8, 10, 0, 0, 0, sh), time.Date(2026, 12, 8, 11, 0, 0, 0, sh),
		time.Date(2026, 12, 7, 18, 0, 0, 0, sh), time.Date(2026, 12, 7, 19, 0, 0, 0, sh))
	f.exec(t, `INSERT INTO devices (store, device, online, last_seen, status)
		VALUES ('s-a', 'kiosk-1', true, $1, '{"battery":80}'), ('s-a', 'cam-groom-2', false, $2, NULL)`,
		now.Add(-time.Minute), now.Add(-3*time.Hour))
	f.exec(t, `INSERT INTO conversations (store, conversation, customer, opened_at, last_at, last_seq, first_customer_at, first_reply_at)
		VALUES ('s-a', 'c1', 'cu1', $1, $2, 2, $1, $1::timestamptz + interval '90 seconds')`,
		now.Add(-time.Hour), now.Add(-30*time.Minute))
	seal := func(text string) []byte {
		b, err := f.keys.Seal([]byte(`{"text":"`+text+`"}`), []byte("hq/messages.body"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	f.exec(t, `INSERT INTO messages (store, conversation, seq, sender, kind, ts, body)
		VALUES ('s-a', 'c1', 1, 'staff-li', 'text', $1, $3), ('s-a', 'c1', 2, 'cu1', 'text', $2, $4)`,
		now.Add(-time.Hour), now.Add(-30*time.Minute), seal("Bath on Saturday?"), seal("Yes please, 10:00"))
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
