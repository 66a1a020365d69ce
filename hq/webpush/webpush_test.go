package webpush

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/storeedge/storeedge/cloudsync/hq"
	"github.com/storeedge/storeedge/hq/home"
	"github.com/storeedge/storeedge/hq/replica"
	"github.com/storeedge/storeedge/internal/httpjson"
	"github.com/storeedge/storeedge/internal/seal"
	"github.com/storeedge/storeedge/internal/testkit/pgtest"
	"github.com/storeedge/storeedge/proto"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func b64t(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RFC 8291, Appendix A.
const (
	rfcPlain    = "When I grow up, I want to be a watermelon"
	rfcASPriv   = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
	rfcUAPriv   = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"
	rfcUAPublic = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
	rfcAuth     = "BTBZMqHH6r4Tts7J_aSIgg"
	rfcSalt     = "DGv6ra1nlYgDCS1FRnbzlw"
	rfcBody     = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
)

// The encryption gives the RFC's bytes for the RFC's keys and salt, and
// the browser's side (decrypt, below) reads the RFC's body.
func TestEncryptRFC8291(t *testing.T) {
	as, err := ecdh.P256().NewPrivateKey(b64t(t, rfcASPriv))
	if err != nil {
		t.Fatal(err)
	}
	got, err := encrypt([]byte(rfcPlain), b64t(t, rfcUAPublic), b64t(t, rfcAuth), as, b64t(t, rfcSalt))
	if err != nil {
		t.Fatal(err)
	}
	if want := b64t(t, rfcBody); !bytes.Equal(got, want) {
		t.Fatalf("encrypt:\n got %x\nwant %x", got, want)
	}
	ua, err := ecdh.P256().NewPrivateKey(b64t(t, rfcUAPriv))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := decrypt(b64t(t, rfcBody), ua, b64t(t, rfcAuth))
	if err != nil || string(plain) != rfcPlain {
		t.Fatalf("decrypt: %q, %v", plain, err)
	}
}

// decrypt is the browser's side of RFC 8291 (one record).
func decrypt(body []byte, ua *ecdh.PrivateKey, auth []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, fmt.Errorf("body of %d bytes", len(body))
	}
	salt, rs, idlen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	if idlen != 65 || len(body) < 21+idlen {
		return nil, fmt.Errorf("keyid of %d bytes", idlen)
	}
	asPub, record := body[21:21+idlen], body[21+idlen:]
	if uint32(len(record)) > rs {
		return nil, fmt.Errorf("record of %d bytes over rs %d", len(record), rs)
	}
	as, err := ecdh.P256().NewPublicKey(asPub)
	if err != nil {
		return nil, err
	}
	secret, err := ua.ECDH(as)
	if err != nil {
		return nil, err
	}
	ikm, err := hkdf.Key(sha256.New, secret, auth, "WebPush: info\x00"+string(ua.PublicKey().Bytes())+string(asPub), 32)
	if err != nil {
		return nil, err
	}
	cek, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		return nil, err
	}
	nonce, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12)
	if err != nil {
		return nil, err
	}
	block, _ := aes.NewCipher(cek)
	gcm, _ := cipher.NewGCM(block)
	plain, err := gcm.Open(nil, nonce, record, nil)
	if err != nil {
		return nil, err
	}
	plain = bytes.TrimRight(plain, "\x00")
	if len(plain) == 0 || plain[len(plain)-1] != 2 {
		return nil, fmt.Errorf("no last-record delimiter")
	}
	return plain[:len(plain)-1], nil
}

// browser is a phone's push subscription: its own key and secret.
type browser struct {
	key  *ecdh.PrivateKey
	auth []byte
}

func newBrowser(t testing.TB) browser {
	t.Helper()
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	a := make([]byte, 16)
	_, _ = rand.Read(a)
	return browser{key: k, auth: a}
}

// pushed is one notification the stand-in push service accepted.
type pushed struct {
	path    string
	payload Payload
}

// pushService stands in for a browser's push service: it checks each
// request's VAPID signature against HQ's public key and decrypts the body
// with the subscription's key, by the path the subscription named.
type pushService struct {
	t       testing.TB
	srv     *httptest.Server
	subject string

	mu       sync.Mutex
	key      string             // HQ's VAPID public key (base64url)
	browsers map[string]browser // path → the phone
	status   map[string]int     // path → the answer (201 when not set)
	got      []pushed
	errs     []string
}

func newPushService(t testing.TB, subject string) *pushService {
	p := &pushService{t: t, subject: subject, browsers: map[string]browser{}, status: map[string]int{}}
	p.srv = httptest.NewTLSServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *pushService) fail(w http.ResponseWriter, format string, a ...any) {
	p.mu.Lock()
	p.errs = append(p.errs, fmt.Sprintf(format, a...))
	p.mu.Unlock()
	http.Error(w, fmt.Sprintf(format, a...), http.StatusBadRequest)
}

func (p *pushService) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	b, ok := p.browsers[r.URL.Path]
	key, status := p.key, p.status[r.URL.Path]
	p.mu.Unlock()
	if !ok {
		p.fail(w, "no subscription at %s", r.URL.Path)
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Encoding") != "aes128gcm" || r.Header.Get("TTL") != "86400" {
		p.fail(w, "method %s, Content-Encoding %q, TTL %q", r.Method, r.Header.Get("Content-Encoding"), r.Header.Get("TTL"))
		return
	}
	if err := p.checkVAPID(r.Header.Get("Authorization"), key); err != nil {
		p.fail(w, "vapid: %v", err)
		return
	}
	body := make([]byte, 8192)
	n, _ := readAll(r, body)
	plain, err := decrypt(body[:n], b.key, b.auth)
	if err != nil {
		p.fail(w, "decrypt: %v", err)
		return
	}
	var pl Payload
	if err := json.Unmarshal(plain, &pl); err != nil {
		p.fail(w, "payload %q: %v", plain, err)
		return
	}
	p.mu.Lock()
	p.got = append(p.got, pushed{path: r.URL.Path, payload: pl})
	p.mu.Unlock()
	if status == 0 {
		status = http.StatusCreated
	}
	w.WriteHeader(status)
}

func readAll(r *http.Request, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Body.Read(buf[n:])
		n += m
		if err != nil {
			return n, nil
		}
	}
	return n, fmt.Errorf("body over %d bytes", len(buf))
}

// checkVAPID checks "vapid t=JWT, k=KEY" (RFC 8292): k is HQ's key, the
// JWT is ES256-signed by it, for this origin, expiring within 24 hours,
// with the configured subject.
func (p *pushService) checkVAPID(h, key string) error {
	rest, ok := strings.CutPrefix(h, "vapid ")
	if !ok {
		return fmt.Errorf("authorization %q is not vapid", h)
	}
	var jwt, k string
	for _, part := range strings.Split(rest, ",") {
		part = strings.TrimSpace(part)
		if v, ok := strings.CutPrefix(part, "t="); ok {
			jwt = v
		} else if v, ok := strings.CutPrefix(part, "k="); ok {
			k = v
		}
	}
	if k != key || key == "" {
		return fmt.Errorf("k=%q, HQ's key is %q", k, key)
	}
	pubBytes, err := base64.RawURLEncoding.DecodeString(k)
	if err != nil {
		return err
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pubBytes)
	if err != nil {
		return err
	}
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return fmt.Errorf("jwt of %d parts", len(parts))
	}
	var hdr struct{ Typ, Alg string }
	var claims struct {
		Aud string `json:"aud"`
		Exp int64  `json:"exp"`
		Sub string `json:"sub"`
	}
	for i, v := range []any{&hdr, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return err
		}
		if err := json.Unmarshal(raw, v); err != nil {
			return err
		}
	}
	if hdr.Alg != "ES256" {
		return fmt.Errorf("alg %q", hdr.Alg)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return fmt.Errorf("signature of %d bytes (%v)", len(sig), err)
	}
	hash := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(pub, hash[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return fmt.Errorf("the signature does not verify under k")
	}
	if claims.Aud != p.srv.URL {
		return fmt.Errorf("aud %q, want %q", claims.Aud, p.srv.URL)
	}
	exp := time.Unix(claims.Exp, 0)
	if now := time.Now(); !exp.After(now) || exp.After(now.Add(24*time.Hour)) {
		return fmt.Errorf("exp %v is not within 24 hours of now", exp)
	}
	if claims.Sub != p.subject {
		return fmt.Errorf("sub %q, want %q", claims.Sub, p.subject)
	}
	return nil
}

func (p *pushService) received() []pushed {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.errs) > 0 {
		p.t.Errorf("push service refused requests: %q", p.errs)
	}
	return append([]pushed(nil), p.got...)
}

// rig is a replica with one store and its customer at home.
type rig struct {
	t    *testing.T
	ctx  context.Context
	rep  *replica.Replica
	keys *seal.Keyring
	push *pushService
	key  string // the VAPID key file every instance shares
	seq  uint64
}

const (
	store    = "s1"
	customer = "cust-7f3a"
	subject  = "mailto:ops@example.com"
)

func newRig(t *testing.T) *rig {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	k := make([]byte, seal.KeySize)
	_, _ = rand.Read(k)
	keys, err := seal.ParseKeys("hq1:" + base64.StdEncoding.EncodeToString(k))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := replica.Open(ctx, pgtest.Start(t).URL, replica.Options{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rep.Close)
	r := &rig{t: t, ctx: ctx, rep: rep, keys: keys, push: newPushService(t, subject), key: filepath.Join(t.TempDir(), "vapid.pem")}
	r.exec(`INSERT INTO stores (store, name) VALUES ($1, 'Mochi Grooming')`, store)
	r.exec(`INSERT INTO home_customers (id, store, customer, name) VALUES ('hc-0123456789abcdef', $1, $2, 'Lin')`, store, customer)
	return r
}

func (r *rig) exec(sql string, args ...any) {
	r.t.Helper()
	if _, err := r.rep.Pool().Exec(r.ctx, sql, args...); err != nil {
		r.t.Fatalf("%s: %v", sql, err)
	}
}

func (r *rig) count(sql string, args ...any) int {
	r.t.Helper()
	var n int
	if err := r.rep.Pool().QueryRow(r.ctx, sql, args...).Scan(&n); err != nil {
		r.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// login adds a login of her (the page's phone) and its browser.
func (r *rig) login(id string) browser {
	r.t.Helper()
	h := sha256.Sum256([]byte(id))
	r.exec(`INSERT INTO home_logins (id, home_customer, hash, device) VALUES ($1, 'hc-0123456789abcdef', $2, 'phone')`, id, h[:])
	b := newBrowser(r.t)
	r.push.mu.Lock()
	r.push.browsers["/push/"+id] = b
	r.push.mu.Unlock()
	return b
}

// instance is one storeedge-hq's push part, with its own metrics.
type instance struct {
	*Server
	reg *prometheus.Registry
	mux *http.ServeMux
}

func (r *rig) instance(mod ...func(*Config)) *instance {
	r.t.Helper()
	cfg := Config{VAPIDKeyFile: r.key, Subject: subject, AllowedHosts: []string{r.push.srv.Listener.Addr().String()}, Workers: 1}
	for _, f := range mod {
		f(&cfg)
	}
	reg := prometheus.NewRegistry()
	s, err := New(cfg, Options{Pool: r.rep.Pool(), Keys: r.keys, Client: r.push.srv.Client(), Registerer: reg, LoginTTL: time.Hour})
	if err != nil {
		r.t.Fatal(err)
	}
	r.push.mu.Lock()
	r.push.key = s.PublicKey()
	r.push.mu.Unlock()
	mux := http.NewServeMux()
	s.Mount(mux, r.auth)
	return &instance{Server: s, reg: reg, mux: mux}
}

func (r *rig) start(in *instance) {
	r.t.Helper()
	in.Start(r.ctx)
	r.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := in.Stop(ctx); err != nil {
			r.t.Error(err)
		}
	})
	waitFor(r.t, "the sender listens", in.Listening)
}

// auth stands in for hq/home's: "Bearer <login id>" of an un-revoked
// login.
func (r *rig) auth(h home.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		id, _ := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
		var c home.Customer
		err := r.rep.Pool().QueryRow(req.Context(), `SELECT hc.id, hc.store, hc.customer, hc.name, l.id FROM home_logins l
			JOIN home_customers hc ON hc.id = l.home_customer WHERE l.id = $1 AND l.revoked_at IS NULL`, id).
			Scan(&c.ID, &c.Store, &c.Customer, &c.Name, &c.Login)
		if err != nil {
			httpjson.Error(w, http.StatusUnauthorized, "unauthorized", "Sign in again.")
			return
		}
		h(w, req, c)
	}
}

// call sends a request to in's routes as login.
func (in *instance) call(t testing.TB, login, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd *bytes.Reader
	if s, ok := body.(string); ok {
		rd = bytes.NewReader([]byte(s))
	} else {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req := httptest.NewRequest(method, "/home/api/v1"+path, rd)
	req.Header.Set("Authorization", "Bearer "+login)
	rec := httptest.NewRecorder()
	in.mux.ServeHTTP(rec, req)
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out
}

// subscribe posts the browser's subscription as the page does.
func (r *rig) subscribe(in *instance, login string, b browser) {
	r.t.Helper()
	sub := map[string]any{"endpoint": r.push.srv.URL + "/push/" + login, "expirationTime": nil,
		"keys": map[string]string{"p256dh": base64.RawURLEncoding.EncodeToString(b.key.PublicKey().Bytes()),
			"auth": base64.RawURLEncoding.EncodeToString(b.auth)}}
	if code, out := in.call(r.t, login, "POST", "/push", sub); code != http.StatusNoContent {
		r.t.Fatalf("POST /push: %d %v", code, out)
	}
}

// chat applies a message of her conversation to the replica as the
// store's uplink does.
func (r *rig) chat(from, text string, auto bool) uint64 {
	r.t.Helper()
	return r.chatEntry(proto.HQChatEntry{From: from, Kind: "text", Text: text, Auto: auto})
}

// chatEntry applies e with the conversation's next seq.
func (r *rig) chatEntry(e proto.HQChatEntry) uint64 {
	r.t.Helper()
	r.seq++
	e.V, e.Type, e.Origin, e.Conversation, e.Customer = 1, "message", fmt.Sprintf("%s/%d", customer, r.seq), customer, customer
	e.Seq, e.ID, e.TS = r.seq, fmt.Sprintf("m%d", r.seq), time.Now()
	b, _ := json.Marshal(e)
	local := "chat/" + customer + "/hq"
	out, err := r.rep.Apply(r.ctx, hq.Message{Store: store, Origin: fmt.Sprintf("e1/%d", r.seq), Seq: r.seq, Stored: time.Now(),
		Epoch: "e1", Stream: proto.StreamChat, SSeq: r.seq, Topic: proto.CloudUpTopic(store, local), LocalTopic: local, Payload: b})
	if err != nil || !out.Applied {
		r.t.Fatalf("apply %d: %+v %v", r.seq, out, err)
	}
	return r.seq
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func counter(_ *instance, c *prometheus.CounterVec, label string) float64 {
	return value(c.WithLabelValues(label))
}

func value(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

// handled is how many staff replies the instance has dealt with (pushed
// or left to the other instance).
func (in *instance) handled() int {
	return int(counter(in, in.m.replies, "pushed") + counter(in, in.m.replies, "claimed_elsewhere"))
}

// A staff reply lands: one notification, from one of two instances, with
// the store's name and the reply, signed and encrypted for her phone. Her
// own message, the assistant's and an automatic one send none.
func TestStaffReplyPushedOnceAcrossInstances(t *testing.T) {
	r := newRig(t)
	a, b := r.instance(), r.instance()
	if a.PublicKey() != b.PublicKey() {
		t.Fatal("two instances with one key file have different keys")
	}
	r.start(a)
	r.start(b)
	phone := r.login("hl-phone")
	r.subscribe(a, "hl-phone", phone)

	r.chat(customer, "Is Mochi ready?", false)
	r.chat("assistant", "We will answer soon.", true)
	r.chat("staff-anna", "Back at 9 tomorrow.", true) // the after-hours reply
	r.chat("assistant", "Opening hours are 9 to 7.", false)
	long := strings.Repeat("毛", 130)
	r.chat("staff-anna", "Yes, come at 4pm. "+long, false)
	r.chat(customer, "Thanks!", false)
	r.chat("staff-bo", "See you!", false)

	// A reply counts as pushed before its request is made, and two
	// instances send at once: wait for both requests, in either order.
	waitFor(t, "both instances handled both replies", func() bool {
		return a.handled() == 2 && b.handled() == 2 && len(r.push.received()) >= 2
	})
	got := r.push.received()
	slices.SortFunc(got, func(x, y pushed) int { return strings.Compare(y.payload.Body, x.payload.Body) })
	want := []Payload{
		{V: 1, Title: "Mochi Grooming", Body: firstChars("Yes, come at 4pm. "+long, 120), URL: "/home/", Tag: "chat"},
		{V: 1, Title: "Mochi Grooming", Body: "See you!", URL: "/home/", Tag: "chat"},
	}
	if len(got) != len(want) {
		t.Fatalf("pushes %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].payload != want[i] || got[i].path != "/push/hl-phone" {
			t.Errorf("push %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if n := len([]rune(got[0].payload.Body)); n != 120 { // "Yes, …" sorts first
		t.Errorf("body of %d characters, want the first 120", n)
	}
	if p := counter(a, a.m.replies, "pushed") + counter(b, b.m.replies, "pushed"); p != 2 {
		t.Errorf("pushed by the two instances: %v, want 2", p)
	}
	if n := r.count(`SELECT count(*) FROM home_push_sent`); n != 2 {
		t.Errorf("home_push_sent has %d rows, want 2", n)
	}
}

// A photo or a voice message from staff is named in the notification.
func TestPhotoAndVoiceReplies(t *testing.T) {
	r := newRig(t)
	in := r.instance()
	r.start(in)
	r.subscribe(in, "hl-phone", r.login("hl-phone"))
	r.chatEntry(proto.HQChatEntry{From: "staff-anna", Kind: "image", Media: &proto.MediaInfo{Hash: "ab12", Type: "image/jpeg", Size: 1000}})
	r.chatEntry(proto.HQChatEntry{From: "staff-anna", Kind: "voice", Media: &proto.MediaInfo{Hash: "cd34", Type: "audio/webm", Size: 900, DurationMs: 3000}})
	// A reply counts as pushed before its request is made, and the
	// workers send at once: wait for both requests, in either order.
	waitFor(t, "both pushed", func() bool { return in.handled() == 2 && len(r.push.received()) >= 2 })
	got := r.push.received()
	bodies := map[string]bool{}
	for _, p := range got {
		bodies[p.payload.Body] = true
	}
	if len(got) != 2 || !bodies["Photo"] || !bodies["Voice message"] {
		t.Fatalf("pushes %+v, want one \"Photo\" and one \"Voice message\"", got)
	}
}

// A subscription its push service says is gone (410) is deleted; one
// answering 500 is kept and its failure counted.
func TestGoneSubscriptionDeleted(t *testing.T) {
	r := newRig(t)
	in := r.instance()
	r.start(in)
	gone, broken := r.login("hl-0gone"), r.login("hl-1broken")
	r.subscribe(in, "hl-0gone", gone)
	r.subscribe(in, "hl-1broken", broken)
	r.push.mu.Lock()
	r.push.status["/push/hl-0gone"] = http.StatusGone
	r.push.status["/push/hl-1broken"] = http.StatusInternalServerError
	r.push.mu.Unlock()

	r.chat("staff-anna", "Your photo arrived.", false)
	waitFor(t, "both posted", func() bool {
		return counter(in, in.m.sent, "gone") == 1 && counter(in, in.m.sent, "unavailable") == 1
	})
	if n := r.count(`SELECT count(*) FROM home_push_subscriptions WHERE login = 'hl-0gone'`); n != 0 {
		t.Errorf("the gone subscription is kept")
	}
	if n := r.count(`SELECT failures FROM home_push_subscriptions WHERE login = 'hl-1broken'`); n != 1 {
		t.Errorf("failures %d, want 1", n)
	}
}

// A revoked login's subscription gets nothing, nor one of a login unused
// for longer than the logins live; her other phone gets the reply.
func TestRevokedLoginGetsNothing(t *testing.T) {
	r := newRig(t)
	in := r.instance()
	r.start(in)
	lost, stale, current := r.login("hl-0lost"), r.login("hl-0stale"), r.login("hl-1new")
	r.subscribe(in, "hl-0lost", lost)
	r.subscribe(in, "hl-0stale", stale)
	r.subscribe(in, "hl-1new", current)
	r.exec(`UPDATE home_logins SET revoked_at = now(), revoked_by = 'store' WHERE id = 'hl-0lost'`)
	r.exec(`UPDATE home_logins SET last_used = now() - interval '2 hours' WHERE id = 'hl-0stale'`) // over LoginTTL

	r.chat("staff-anna", "Found the lost collar.", false)
	// The logins are sent to in order of id, the revoked and stale ones
	// first: when the current phone has it, they would have had it.
	waitFor(t, "the current phone has it", func() bool { return len(r.push.received()) >= 1 })
	waitFor(t, "posted", func() bool { return counter(in, in.m.sent, "delivered") == 1 })
	got := r.push.received()
	if len(got) != 1 || got[0].path != "/push/hl-1new" || got[0].payload.Body != "Found the lost collar." {
		t.Fatalf("pushes %+v, want one to hl-1new", got)
	}
}

// Replies applied while the listening connection was lost are pushed once
// it is back.
func TestRepliesWhileDisconnectedArePushed(t *testing.T) {
	r := newRig(t)
	in := r.instance(func(c *Config) { c.ReconnectWait = 3 * time.Second })
	r.start(in)
	phone := r.login("hl-phone")
	r.subscribe(in, "hl-phone", phone)

	r.exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'LISTEN hq_messages'`)
	waitFor(t, "the sender lost its connection", func() bool { return !in.Listening() })
	r.chat("staff-anna", "Sent while you were away.", false)
	if in.Listening() {
		t.Fatal("the sender listened again before the reply was applied: raise ReconnectWait")
	}
	waitFor(t, "pushed after reconnecting", func() bool { return len(r.push.received()) == 1 })
	if got := r.push.received()[0].payload.Body; got != "Sent while you were away." {
		t.Errorf("body %q", got)
	}
	if n := value(in.m.reconnects); n != 1 {
		t.Errorf("reconnects %v", n)
	}
}

// The API: the key, a subscription kept per login and replaced, refused
// when HQ could not or must not post to it, and ended.
func TestSubscriptionAPI(t *testing.T) {
	r := newRig(t)
	in := r.instance()
	phone := r.login("hl-phone")
	code, out := in.call(t, "hl-phone", "GET", "/push/key", nil)
	if code != 200 || out["public_key"] != in.PublicKey() || len(b64t(t, in.PublicKey())) != 65 {
		t.Fatalf("GET /push/key: %d %v", code, out)
	}
	if code, _ := in.call(t, "hl-nobody", "GET", "/push/key", nil); code != http.StatusUnauthorized {
		t.Errorf("without a login: %d", code)
	}
	p256 := base64.RawURLEncoding.EncodeToString(phone.key.PublicKey().Bytes())
	auth := base64.RawURLEncoding.EncodeToString(phone.auth)
	for _, c := range []struct {
		name string
		body any
		want string
	}{
		{"not json", "{", "not JSON"},
		{"plain http", map[string]any{"endpoint": "http://127.0.0.1/x", "keys": map[string]string{"p256dh": p256, "auth": auth}}, "secure web address"},
		{"other host", map[string]any{"endpoint": "https://10.0.0.1/x", "keys": map[string]string{"p256dh": p256, "auth": auth}}, "is not one HQ sends"},
		{"other port", map[string]any{"endpoint": "https://" + r.push.srv.Listener.Addr().(*net.TCPAddr).IP.String() + ":1/x", "keys": map[string]string{"p256dh": p256, "auth": auth}}, "is not one HQ sends"},
		{"bad key", map[string]any{"endpoint": r.push.srv.URL + "/x", "keys": map[string]string{"p256dh": auth, "auth": auth}}, "p256dh"},
		{"short auth", map[string]any{"endpoint": r.push.srv.URL + "/x", "keys": map[string]string{"p256dh": p256, "auth": "AAAA"}}, "auth"},
		{"huge", map[string]any{"endpoint": r.push.srv.URL + "/" + strings.Repeat("x", 9000)}, "at most"},
	} {
		code, out := in.call(t, "hl-phone", "POST", "/push", c.body)
		msg, _ := out["error"].(map[string]any)["message"].(string)
		if code != http.StatusBadRequest && code != http.StatusRequestEntityTooLarge || !strings.Contains(msg, c.want) {
			t.Errorf("%s: %d %v", c.name, code, out)
		}
	}
	if n := r.count(`SELECT count(*) FROM home_push_subscriptions`); n != 0 {
		t.Fatalf("refused subscriptions kept: %d", n)
	}
	r.subscribe(in, "hl-phone", phone)
	r.subscribe(in, "hl-phone", phone) // the page subscribes again: replaced, not added
	var endpoint string
	if err := r.rep.Pool().QueryRow(r.ctx, `SELECT endpoint FROM home_push_subscriptions WHERE login = 'hl-phone'`).Scan(&endpoint); err != nil ||
		endpoint != r.push.srv.URL+"/push/hl-phone" || r.count(`SELECT count(*) FROM home_push_subscriptions`) != 1 {
		t.Fatalf("kept %q, %v", endpoint, err)
	}
	if code, _ := in.call(t, "hl-phone", "DELETE", "/push", nil); code != http.StatusNoContent {
		t.Fatalf("DELETE /push: %d", code)
	}
	if n := r.count(`SELECT count(*) FROM home_push_subscriptions`); n != 0 {
		t.Fatalf("subscription kept after DELETE")
	}
}

// The key file is made once, 0600, and read again by the next start.
func TestVAPIDKeyFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "vapid.pem")
	v1, created, err := loadVAPID(p, subject)
	if err != nil || !created {
		t.Fatalf("first: %v %v", created, err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", fi.Mode(), err)
	}
	v2, created, err := loadVAPID(p, subject)
	if err != nil || created || v2.public != v1.public {
		t.Fatalf("second: created %v, same key %v, %v", created, v2.public == v1.public, err)
	}
}

// Bad settings are refused, naming the key.
func TestConfigValidate(t *testing.T) {
	ok := Config{Subject: subject}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "push.subject"},
		{Config{Subject: "ops@example.com"}, "push.subject"},
		{Config{Subject: subject, TTL: time.Second}, "push.ttl"},
		{Config{Subject: subject, MaxPayloadBytes: 5000}, "push.max_payload_bytes"},
		{Config{Subject: subject, AllowedHosts: []string{}}, "push.allowed_hosts"},
		{Config{Subject: subject, AllowedHosts: []string{"https://x"}}, "push.allowed_hosts"},
	} {
		if err := c.cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %s", c.cfg, err, c.want)
		}
	}
	c := ok.withDefaults()
	c.AllowedHosts = append(c.AllowedHosts, "push.example.net:8443")
	for host, want := range map[string]bool{"fcm.googleapis.com": true, "web.push.apple.com": true, "push.apple.com": false,
		"evil.com": false, "fcm.googleapis.com.evil.com": false, "fcm.googleapis.com:443": true, "fcm.googleapis.com:22": false,
		"push.example.net:8443": true, "push.example.net": false} {
		if c.hostAllowed(host) != want {
			t.Errorf("hostAllowed(%q) != %v", host, want)
		}
	}
}

// BenchmarkSealAndSign is the work HQ does per device per reply: a fresh
// key, the encryption and the VAPID signature.
func BenchmarkSealAndSign(b *testing.B) {
	br := newBrowser(b)
	v, _, err := loadVAPID(filepath.Join(b.TempDir(), "vapid.pem"), subject)
	if err != nil {
		b.Fatal(err)
	}
	payload := []byte(`{"v":1,"title":"Mochi Grooming","body":"Yes, come at 4pm.","url":"/home/","tag":"chat"}`)
	for b.Loop() {
		if _, err := sealFor(payload, br.key.PublicKey().Bytes(), br.auth); err != nil {
			b.Fatal(err)
		}
		if _, err := v.authorization("https://fcm.googleapis.com/fcm/send/x", time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
