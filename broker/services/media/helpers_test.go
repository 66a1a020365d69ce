package media

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/blob"
	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/broker/mqtt/auth/customer"
	"github.com/storeedge/storeedge/broker/store"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/internal/seal"
	"github.com/storeedge/storeedge/internal/testkit/mqtttest"
	"github.com/storeedge/storeedge/internal/testkit/svctest"
	"github.com/storeedge/storeedge/internal/testkit/testclock"
)

// A test device; its password is "pw-<id>".
type device = svctest.Device

var (
	tablet  = device{ID: "tablet-01", Role: "chat-tablet"}
	tablet2 = device{ID: "tablet-02", Role: "chat-tablet"}
	cam     = device{ID: "cam-01", Role: "camera"}
	anna    = device{ID: "staff-anna", Role: "staff"}
	owner   = device{ID: "owner", Role: "admin"}
	devices = []device{tablet, tablet2, cam, anna, owner}
)

// testKeys is a fixed keyring: key id k1.
func testKeys(t testing.TB) *seal.Keyring { return svctest.Keys(t) }

// envOptions configure newEnv.
type envOptions struct {
	limits blob.Limits // zero: testLimits()
	svc    Options     // CanFetch, StaffRoles
	// maxRequest is the router's MaxRequestBytes (0: RequestBytesFor the
	// media chunk size).
	maxRequest int
}

// testLimits: small chunks and pages, so a test image spans several of each.
func testLimits() blob.Limits {
	return blob.Limits{ChunkBytes: 8 << 10, PageBytes: 20 << 10}
}

// env is an in-process broker with the auth and session hooks, a svc Router
// and the media service over a real store file.
type env struct {
	o     envOptions
	path  string
	clock *testclock.Clock

	rig    *svctest.Rig
	srv    *mqtttest.Server
	db     *store.DB
	media  *blob.Store
	cust   *customer.Store // scan-to-chat logins (customerLogin)
	router *svc.Router
	svc    *Service
	addr   string
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	if o.limits.ChunkBytes == 0 && o.limits.PageBytes == 0 && o.limits.AllowedTypes == nil {
		o.limits = testLimits()
	}
	e := &env{o: o, path: filepath.Join(t.TempDir(), "store.db"), clock: testclock.New(time.Date(2025, 3, 4, 23, 0, 0, 0, time.UTC))}
	e.start(t)
	t.Cleanup(e.stop)
	return e
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func (e *env) start(t testing.TB) {
	t.Helper()
	e.rig = svctest.Start(t, svctest.Options{Path: e.path, Devices: devices, Now: e.clock.Now})
	e.srv, e.db, e.cust, e.addr = e.rig.Srv, e.rig.DB, e.rig.Customers, e.rig.Addr
	var err error
	if e.media, err = blob.New(blob.Options{DB: e.db, Seal: testKeys(t), Limits: e.o.limits, UploadTTL: time.Hour, Now: e.clock.Now}); err != nil {
		t.Fatal(err)
	}
	maxReq := e.o.maxRequest
	if maxReq == 0 {
		maxReq = RequestBytesFor(e.media.Limits().ChunkBytes)
	}
	e.router = e.rig.Route(t, svc.Options{MaxRequestBytes: maxReq})
	o := e.o.svc
	o.Router, o.Media, o.Log = e.router, e.media, e.rig.Log
	if e.svc, err = New(o); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Register(); err != nil {
		t.Fatal(err)
	}
	e.rig.Run(t)
}

// stop closes the router, the broker and the store; start opens them again
// on the same file.
func (e *env) stop() { e.rig.Stop() }

// client is a paho v5 client; answers are matched to calls by correlation data.
type client struct {
	*mqtttest.Requester
	c  *paho.Client
	id string
}

// connect logs in as dev (client id dev.ID) and subscribes to its reply topic.
func (e *env) connect(t testing.TB, dev device) *client {
	t.Helper()
	return e.connectAs(t, dev.ID, "pw-"+dev.ID)
}

// customerLogin logs a new customer in as a phone does after scanning a
// scan-to-chat code; the client's id is the customer id.
func (e *env) customerLogin(t testing.TB) *client {
	t.Helper()
	username, password := e.rig.CustomerLogin(t, "")
	return e.connectAs(t, username, password)
}

// connectAs logs in with username and password (client id username).
func (e *env) connectAs(t testing.TB, username, password string) *client {
	t.Helper()
	cp := &paho.Connect{ClientID: username, KeepAlive: 30, CleanStart: true,
		Username: username, UsernameFlag: true, Password: []byte(password), PasswordFlag: true}
	r := mqtttest.Connect(t, e.addr, cp, nil)
	return &client{Requester: r, c: r.Client, id: username}
}

// close disconnects (again: harmless).
func (c *client) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.c.Disconnect(&paho.Disconnect{})
	select {
	case <-c.c.Done():
	case <-ctx.Done():
	}
}

// answer is a decoded answer with the fields of every media op.
type answer struct {
	V     int        `json:"v"`
	ID    string     `json:"id"`
	OK    bool       `json:"ok"`
	Error *svc.Error `json:"error"`

	Upload     string    `json:"upload"`
	ChunkBytes int       `json:"chunk_bytes"`
	Chunks     int       `json:"chunks"`
	Received   int       `json:"received"`
	Missing    []int     `json:"missing"`
	Complete   bool      `json:"complete"`
	Expires    time.Time `json:"expires"`
	Index      int       `json:"index"`

	Hash       string `json:"hash"`
	Type       string `json:"type"`
	Size       int64  `json:"size"`
	Width      int    `json:"width"`
	Height     int    `json:"height"`
	Thumbnail  string `json:"thumbnail"`
	DurationMs int64  `json:"duration_ms"`

	Offset int64  `json:"offset"`
	Data   []byte `json:"data"` // base64 on the wire
	EOF    bool   `json:"eof"`

	raw string
}

// call sends svc/media/{op} with the fields of body (a JSON object without
// id and v) under request id reqID ("" = a fresh one) and waits for the answer.
func (c *client) call(t testing.TB, op, reqID, body string) answer {
	t.Helper()
	if reqID == "" {
		reqID = fmt.Sprintf("%s-r%d", c.id, c.Seq())
	}
	payload := svctest.Payload(reqID, body)
	return c.raw(t, op, []byte(payload))
}

// raw publishes payload as is on svc/media/{op} and waits for the answer.
func (c *client) raw(t testing.TB, op string, payload []byte) answer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	raw, err := c.Request(ctx, "svc/media/"+op, payload)
	if err != nil {
		t.Fatal(err)
	}
	var a answer
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("answer to %s is not JSON: %v: %.300s", op, err, raw)
	}
	a.raw = string(raw)
	return a
}

// ok asserts a successful answer.
func ok(t testing.TB, a answer) answer {
	t.Helper()
	if !a.OK || a.V != 1 {
		t.Fatalf("want ok, got %.500s", a.raw)
	}
	return a
}

// fails asserts an error answer with code.
func fails(t testing.TB, a answer, code string) answer {
	t.Helper()
	if a.OK || a.Error == nil || a.Error.Code != code {
		t.Fatalf("want error %s, got %.500s", code, a.raw)
	}
	return a
}

// testPNG is a w×h PNG of noise (so it does not compress much).
func testPNG(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(1, 2))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, color.NRGBA{uint8(r.Uint32()), uint8(x), uint8(y), 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func hashOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// beginBody is a begin request's fields for data.
func beginBody(upload, typ string, data []byte) string {
	return fmt.Sprintf(`{"upload":%q,"type":%q,"size":%d,"sha256":%q,"name":"photo.png"}`, upload, typ, len(data), hashOf(data))
}

func chunkOf(data []byte, chunkBytes, i int) []byte {
	return data[i*chunkBytes : min(len(data), (i+1)*chunkBytes)]
}

func chunkBody(upload string, index int, data []byte) string {
	return fmt.Sprintf(`{"upload":%q,"index":%d,"data":%q}`, upload, index, base64.StdEncoding.EncodeToString(data))
}

// readAll reads a blob back through get, as c.
func readAll(t testing.TB, c *client, hash string, length int) []byte {
	t.Helper()
	var out []byte
	for {
		a := ok(t, c.call(t, "get", "", fmt.Sprintf(`{"hash":%q,"offset":%d,"length":%d}`, hash, len(out), length)))
		if !strings.EqualFold(a.Hash, hash) || a.Hash != strings.ToLower(a.Hash) || a.Offset != int64(len(out)) {
			t.Fatalf("get answered %s at %d, asked %s at %d", a.Hash, a.Offset, hash, len(out))
		}
		out = append(out, a.Data...)
		if a.EOF {
			return out
		}
		if len(a.Data) == 0 {
			t.Fatalf("get at %d: no data and not eof", len(out))
		}
	}
}

// uploadKeys counts every key under media_uploads (nested upload buckets
// included): chunks stored twice would show here.
func (e *env) uploadKeys(t testing.TB) int {
	t.Helper()
	n := 0
	if err := e.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte("media_uploads")); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// usage is the media store's stored and reserved bytes.
func (e *env) usage(t testing.TB) [2]int64 {
	t.Helper()
	s, r, err := e.media.Usage()
	if err != nil {
		t.Fatal(err)
	}
	return [2]int64{s, r}
}

// request builds a request as the router hands it to a handler.
func request(who auth.Identity, op, body string) *svc.Request {
	payload := fmt.Sprintf(`{"id":"direct-1","v":1,%s`, strings.TrimPrefix(strings.TrimSpace(body), "{"))
	return &svc.Request{Service: ServiceName, Op: op, ID: "direct-1", V: 1, Body: json.RawMessage(payload), From: who}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
