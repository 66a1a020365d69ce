package homelink_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"image/png"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	st "github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/proto"
)

// hq is HQ's broker (a real mosquitto) the store's cloudsync links to, and
// a client of it that hears everything the store sends up.
type hq struct {
	t    *testing.T
	addr string
	mu   sync.Mutex
	ups  map[string][][]byte // by the store's local topic
}

func startHQ(t *testing.T) *hq {
	t.Helper()
	b := mosquittotest.Start(t, mosquittotest.Options{})
	h := &hq{t: t, addr: b.Addr, ups: map[string][][]byte{}}
	conn, err := net.Dial("tcp", b.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: conn, ClientID: "hq-test", OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) {
			if parts := strings.SplitN(pr.Packet.Topic, "/", 4); len(parts) == 4 && parts[2] == "up" {
				h.mu.Lock()
				h.ups[parts[3]] = append(h.ups[parts[3]], pr.Packet.Payload)
				h.mu.Unlock()
			}
			return true, nil
		}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{KeepAlive: 30, ClientID: "hq-test", CleanStart: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "stores/+/up/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return h
}

// link links the store to HQ, with cloud.yaml's home_url set to homeURL
// ("" leaves it out).
func (h *hq) link(t *testing.T, homeURL string) func(*broker.Config) {
	return func(c *broker.Config) {
		c.Cloud.URL = "mqtt://" + h.addr
		c.Cloud.ReconnectMin, c.Cloud.ReconnectMax = 20*time.Millisecond, 200*time.Millisecond
		if homeURL != "" {
			p := filepath.Join(t.TempDir(), "cloud.yaml")
			y := strings.Replace(string(configs.Cloud), `home_url: ""`, "home_url: "+homeURL, 1)
			if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
				t.Fatal(err)
			}
			c.Cloud.MapFile = p
		}
	}
}

// waitUp waits up to 20 s for a message on the store's local topic that
// match accepts.
func waitUp[T any](h *hq, local string, match func(T) bool) T {
	h.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; {
		h.mu.Lock()
		got := h.ups[local]
		h.mu.Unlock()
		for _, p := range got {
			var v T
			if json.Unmarshal(p, &v) == nil && match(v) {
				return v
			}
		}
		if time.Now().After(deadline) {
			h.mu.Lock()
			for k, v := range h.ups {
				h.t.Logf("up %s: %d", k, len(v))
			}
			h.mu.Unlock()
			h.t.Fatalf("nothing matching on up/%s within 20 s; got %d message(s): %q", local, len(got), got)
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
}

var (
	anna  = st.Device{ID: "staff-anna", Role: "staff"}
	kiosk = st.Device{ID: "kiosk-1", Role: "kiosk"}
	fleet = []st.Device{anna, kiosk}
)

const homeURL = "https://hq.example.com/home/"

var codePattern = regexp.MustCompile(`^[a-z2-7]{32}$`)

// checkVouch checks what a user of HQ would: the signature verifies under
// the key it names, and the code the customer got hashes to code_hash.
func checkVouch(t *testing.T, v proto.HomeVouch, code string) ed25519.PublicKey {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(v.Key)
	if err != nil || len(key) != ed25519.PublicKeySize {
		t.Fatalf("vouch key %q: %v", v.Key, err)
	}
	sig, err := base64.StdEncoding.DecodeString(v.Sig)
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(key, proto.HomeVouchSigned(v), sig) {
		t.Fatalf("the vouch's signature does not verify: %+v", v)
	}
	forged := v
	forged.Customer = "cust-other1"
	if ed25519.Verify(key, proto.HomeVouchSigned(forged), sig) {
		t.Fatal("the signature verifies for another customer too")
	}
	sum := sha256.Sum256([]byte(code))
	if v.CodeHash != hex.EncodeToString(sum[:]) {
		t.Fatalf("code_hash %s is not SHA-256 of the code %q", v.CodeHash, code)
	}
	return key
}

// A customer in the shop continues at home: svc/home/link answers a link to
// HQ's page with a one-time code, and the store's signed vouch for her
// reaches HQ's broker on stores/{store}/up/home/vouch. Staff make a new
// link for a customer who lost her phone (replace); the key is the
// store's one key, also after a restart; revoke files a signed revoke.
func TestLinkVouchesAtHQ(t *testing.T) {
	h := startHQ(t)
	s := st.Start(t, st.Options{Devices: fleet, Config: h.link(t, homeURL)})
	staff := s.Connect(t, anna, "")
	she := s.CustomerLogin(t, staff, "", "", false)
	var open struct {
		Conversation string `json:"conversation"`
	}
	st.OK(t, she.Call(t, "chat", "open", `{}`)).Decode(t, &open)
	cust := open.Conversation
	if !strings.HasPrefix(cust, "cust-") {
		t.Fatalf("her conversation %q", cust)
	}

	// Her name on her card goes with the vouch (HQ's page greets her).
	st.OK(t, she.Call(t, "customer", "me_put", `{"name":"Lin","phone":"","consent":false}`))
	var a proto.HomeLinkAnswer
	st.OK(t, she.Call(t, "home", "link", `{}`)).Decode(t, &a)
	if !codePattern.MatchString(a.Code) || a.Store != "demo-store" || a.URL != homeURL+"#link=demo-store."+a.Code {
		t.Fatalf("link answer: %+v", a)
	}
	if got := decodeQR(t, a.QRPNG); got != a.URL {
		t.Fatalf("the QR code reads %q, not the link %q", got, a.URL)
	}
	if want := s.Now().Add(15 * time.Minute); a.Expires.Sub(want).Abs() > 2*time.Second {
		t.Fatalf("expires %s, want about %s (home.link_ttl 15m)", a.Expires, want)
	}
	v := waitUp(h, "home/vouch", func(v proto.HomeVouch) bool { return v.Customer == cust })
	key := checkVouch(t, v, a.Code)
	if v.V != 1 || v.Store != "demo-store" || v.Replace || !v.Expires.Equal(a.Expires) || !strings.HasPrefix(v.ID, "hv-") || v.Name != "Lin" {
		t.Fatalf("vouch: %+v", v)
	}

	// She cannot link anyone else, nor end her other logins herself.
	st.Fails(t, she.Call(t, "home", "link", `{"customer":"cust-someone1"}`), "forbidden", "")
	st.Fails(t, she.Call(t, "home", "link", `{"replace":true}`), "forbidden", "")
	// Staff: a customer the store does not know; a customer not named.
	st.Fails(t, staff.Call(t, "home", "link", `{"customer":"cust-nobody77"}`), "not_found", "")
	st.Fails(t, staff.Call(t, "home", "link", `{}`), "bad_request", "")

	// The lost phone: staff link her again with replace, after a restart.
	s.Restart()
	staff = s.Connect(t, anna, "")
	var b proto.HomeLinkAnswer
	st.OK(t, staff.Call(t, "home", "link", `{"customer":"`+cust+`","replace":true}`)).Decode(t, &b)
	if b.Code == a.Code {
		t.Fatal("the same code twice")
	}
	v2 := waitUp(h, "home/vouch", func(v proto.HomeVouch) bool { return v.Replace })
	if k2 := checkVouch(t, v2, b.Code); !k2.Equal(key) || v2.Customer != cust {
		t.Fatalf("after a restart the store signs with another key, or for another customer: %+v", v2)
	}

	// Staff end her logins at home.
	rv := st.OK(t, staff.Call(t, "home", "revoke", `{"customer":"`+cust+`"}`))
	var ra struct{ Revoke string }
	rv.Decode(t, &ra)
	r := waitUp(h, "home/revoke", func(r proto.HomeRevoke) bool { return r.Customer == cust })
	sig, _ := base64.StdEncoding.DecodeString(r.Sig)
	if r.V != 1 || r.Store != "demo-store" || r.ID != ra.Revoke || r.Key != v.Key || !ed25519.Verify(key, proto.HomeRevokeSigned(r), sig) {
		t.Fatalf("revoke at HQ: %+v (answer %s)", r, rv)
	}
}

// Without a link to HQ, or without home_url, there is no page at home:
// link answers unavailable in people's words, and nothing is filed.
func TestLinkUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(*testing.T) func(*broker.Config)
	}{
		{"no HQ link", func(*testing.T) func(*broker.Config) { return nil }},
		{"no home_url", func(t *testing.T) func(*broker.Config) { return startHQ(t).link(t, "") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := st.Start(t, st.Options{Devices: fleet, Config: tc.cfg(t)})
			staff := s.Connect(t, anna, "")
			she := s.CustomerLogin(t, staff, "", "", false)
			st.OK(t, she.Call(t, "chat", "open", `{}`))
			a := st.Fails(t, she.Call(t, "home", "link", `{}`), "unavailable", "")
			if !strings.Contains(a.Error.Message, "not linked to HQ") {
				t.Fatalf("message: %s", a.Raw)
			}
		})
	}
}

// A kiosk is nobody's phone: it cannot send a customer home.
func TestLinkKioskForbidden(t *testing.T) {
	h := startHQ(t)
	s := st.Start(t, st.Options{Devices: fleet, Config: h.link(t, homeURL)})
	k := s.Connect(t, kiosk, "")
	a, err := k.TryCall("home", "link", "k-1", `{"customer":"cust-abcd1"}`)
	if err == nil && a.OK {
		t.Fatalf("a kiosk made a link: %s", a.Raw)
	}
}

// A customer who asks the store to forget her (svc/customer/forget) is
// logged out at home too: the store files a signed revoke for HQ.
func TestForgetRevokesAtHome(t *testing.T) {
	h := startHQ(t)
	s := st.Start(t, st.Options{Devices: fleet, Config: h.link(t, homeURL)})
	staff := s.Connect(t, anna, "")
	she := s.CustomerLogin(t, staff, "", "", false)
	var open struct {
		Conversation string `json:"conversation"`
	}
	st.OK(t, she.Call(t, "chat", "open", `{}`)).Decode(t, &open)
	var a proto.HomeLinkAnswer
	st.OK(t, she.Call(t, "home", "link", `{}`)).Decode(t, &a)
	v := waitUp(h, "home/vouch", func(v proto.HomeVouch) bool { return v.Customer == open.Conversation })
	st.OK(t, she.Call(t, "customer", "forget", `{}`))
	r := waitUp(h, "home/revoke", func(r proto.HomeRevoke) bool { return r.Customer == open.Conversation })
	key, _ := base64.StdEncoding.DecodeString(v.Key)
	sig, _ := base64.StdEncoding.DecodeString(r.Sig)
	if r.Key != v.Key || !ed25519.Verify(key, proto.HomeRevokeSigned(r), sig) {
		t.Fatalf("revoke after forget: %+v", r)
	}
}

// decodeQR reads a QR code PNG as a phone's camera would.
func decodeQR(t *testing.T, b []byte) string {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the QR code is not a PNG: %v", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := zxqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		// gozxing's finder-pattern search misses a few in 1 000 clean
		// codes; read as a pure code, those decode.
		res, err = zxqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
	}
	if err != nil {
		t.Fatalf("the QR code does not decode: %v", err)
	}
	return res.GetText()
}

// home.max_links bounds the links of one customer open at once: one more
// is quota_exceeded in people's words, and once they expire she may ask
// again.
func TestLinkQuota(t *testing.T) {
	h := startHQ(t)
	link := h.link(t, homeURL)
	s := st.Start(t, st.Options{Devices: fleet, Config: func(c *broker.Config) { link(c); c.Home.MaxLinks = 2 }})
	staff := s.Connect(t, anna, "")
	she := s.CustomerLogin(t, staff, "", "", false)
	st.OK(t, she.Call(t, "chat", "open", `{}`))
	st.OK(t, she.Call(t, "home", "link", `{}`))
	st.OK(t, she.Call(t, "home", "link", `{}`))
	a := st.Fails(t, she.Call(t, "home", "link", `{}`), "quota_exceeded", "")
	if !strings.Contains(a.Error.Message, "already open") {
		t.Fatalf("message: %s", a.Raw)
	}
	s.Advance(15*time.Minute + time.Second)
	st.OK(t, she.Call(t, "home", "link", `{}`))
}
