package home

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/storeedge/storeedge/proto"
)

// A link works once, only when the store that signed it is the store it
// came from, under the key HQ pinned for that store, and before it
// expires; anything else gives no login.
func TestVouchesAndLinks(t *testing.T) {
	e := start(t, Config{})
	exp := t0.Add(15 * time.Minute)
	login := func(store, code string, want int) []byte {
		return e.call(t, "POST", "/login", "", map[string]string{"store": store, "code": code, "device": "Pixel"}, want, nil)
	}

	// The first vouch pins s-a's key; its code works once.
	if err := e.send(t, "s-a", proto.TopicHomeVouch, e.vouch("s-a", "cust-1", "goodcode1", false, exp, nil)); err != nil {
		t.Fatalf("a good vouch was refused: %v", err)
	}
	var ans struct {
		Token, Login string
		Customer     customerJSON
	}
	e.call(t, "POST", "/login", "", map[string]string{"store": "s-a", "code": "goodcode1", "device": "Pixel"}, 200, &ans)
	if len(ans.Token) < 40 || ans.Token[:4] != "hqt_" || ans.Login[:3] != "hl-" || ans.Customer.ID[:3] != "hc-" ||
		ans.Customer.Customer != "cust-1" || ans.Customer.Store != "s-a" || ans.Customer.Name != "Lin" {
		t.Fatalf("login answer: %+v", ans)
	}
	if b := login("s-a", "goodcode1", 410); errCode(b) != "gone" {
		t.Fatalf("a used code again: %s", b)
	}
	// The same vouch replayed on the uplink changes nothing: still used.
	e.send(t, "s-a", proto.TopicHomeVouch, e.vouch("s-a", "cust-1", "goodcode1", false, exp, nil))
	login("s-a", "goodcode1", 410)

	// Forged: signed by someone else's key under s-a's name (s-a's key is pinned).
	_, mallory, _ := ed25519.GenerateKey(rand.Reader)
	if err := e.send(t, "s-a", proto.TopicHomeVouch, e.vouch("s-a", "cust-2", "forged01", false, exp, mallory)); err == nil {
		t.Fatal("a vouch under another key was taken")
	}
	login("s-a", "forged01", 404)
	// A bad signature under the pinned key's name.
	v := e.vouch("s-a", "cust-2", "badsig01", false, exp, nil)
	v.Customer = "cust-3" // changed after signing
	if err := e.send(t, "s-a", proto.TopicHomeVouch, v); err == nil {
		t.Fatal("a vouch whose signature does not verify was taken")
	}
	login("s-a", "badsig01", 404)
	// s-b sends, through its own uplink, a vouch naming s-a (signed with its own key).
	v = e.vouch("s-a", "cust-1", "otherst1", false, exp, e.store("s-b").key)
	if err := e.send(t, "s-b", proto.TopicHomeVouch, v); err == nil {
		t.Fatal("a vouch for another store was taken")
	}
	login("s-a", "otherst1", 404)
	login("s-b", "otherst1", 404)

	// Expired before it was redeemed.
	e.send(t, "s-a", proto.TopicHomeVouch, e.vouch("s-a", "cust-1", "expired1", false, t0.Add(time.Minute), nil))
	e.clock.Add(2 * time.Minute)
	if b := login("s-a", "expired1", 410); errCode(b) != "gone" {
		t.Fatalf("an expired code: %s", b)
	}

	// The page retrying one link while its vouch is on the way is not
	// guessing: the same code many times counts once.
	for i := 0; i < 20; i++ {
		login("s-a", "notyetvouched", 404)
	}
	// Wrong codes from one address: 10 a minute, then 429 with retry_after.
	for i := 0; i < 8; i++ { // the expired code and the retried one were the first two this minute
		login("s-a", fmt.Sprintf("nosuchcode%d", i), 404)
	}
	b := login("s-a", "nosuchcode-more", 429)
	if errCode(b) != "quota_exceeded" || !contains(string(b), `"retry_after":`) {
		t.Fatalf("the 11th wrong code: %s", b)
	}
	e.clock.Add(61 * time.Second)
	login("s-a", "nosuchcode-more", 404)
}

// A login lasts login_ttl since its last use; the store's revoke, her own
// sign-out and a lost-phone link (replace) end logins, and an ended login
// is refused (401) from then on.
func TestLoginLifetimeAndRevoke(t *testing.T) {
	e := start(t, Config{LoginTTL: 2 * time.Hour})
	a := e.signIn(t, "s-a", "cust-1")
	b := e.signIn(t, "s-a", "cust-1")
	var me struct {
		Customer customerJSON
		Login    string
		Logins   []loginJSON
		Store    StoreState
	}
	e.call(t, "GET", "/me", a, nil, 200, &me)
	if len(me.Logins) != 2 || me.Customer.Customer != "cust-1" {
		t.Fatalf("me: %+v", me)
	}
	current := 0
	for _, l := range me.Logins {
		if l.Current {
			current++
			if l.ID != me.Login {
				t.Fatalf("current login %s is not %s", l.ID, me.Login)
			}
		}
	}
	if current != 1 {
		t.Fatalf("current logins: %+v", me.Logins)
	}

	// Unused for longer than login_ttl: gone; used within it: kept.
	e.clock.Add(90 * time.Minute)
	e.call(t, "GET", "/me", a, nil, 200, nil)
	e.clock.Add(90 * time.Minute)
	e.call(t, "GET", "/me", a, nil, 200, nil)
	if c := errCode(e.call(t, "GET", "/me", b, nil, 401, nil)); c != "unauthorized" {
		t.Fatalf("an unused login: %s", c)
	}

	// Sign-out ends this login only.
	c := e.signIn(t, "s-a", "cust-1")
	e.call(t, "POST", "/logout", c, nil, 204, nil)
	e.call(t, "GET", "/me", c, nil, 401, nil)
	e.call(t, "GET", "/me", a, nil, 200, nil)

	// The store revokes her: every login ends.
	d := e.signIn(t, "s-a", "cust-1")
	other := e.signIn(t, "s-a", "cust-9")
	e.send(t, "s-a", proto.TopicHomeRevoke, e.revoke("s-a", "cust-1"))
	e.call(t, "GET", "/me", a, nil, 401, nil)
	e.call(t, "GET", "/me", d, nil, 401, nil)
	e.call(t, "GET", "/me", other, nil, 200, nil)

	// The lost phone: a replace link ends the others when redeemed.
	old := e.signIn(t, "s-a", "cust-1")
	e.send(t, "s-a", proto.TopicHomeVouch, e.vouch("s-a", "cust-1", "replace1", true, e.clock.Now().Add(time.Minute), nil))
	e.call(t, "GET", "/me", old, nil, 200, nil)
	var ans struct{ Token string }
	e.call(t, "POST", "/login", "", map[string]string{"store": "s-a", "code": "replace1", "device": "new"}, 200, &ans)
	e.call(t, "GET", "/me", old, nil, 401, nil)
	e.call(t, "GET", "/me", ans.Token, nil, 200, nil)

	// A revoke signed by another key changes nothing.
	r := e.revoke("s-a", "cust-1")
	_, mallory, _ := ed25519.GenerateKey(rand.Reader)
	r.Key = base64.StdEncoding.EncodeToString(mallory.Public().(ed25519.PublicKey))
	r.Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(mallory, proto.HomeRevokeSigned(r)))
	if err := e.send(t, "s-a", proto.TopicHomeRevoke, r); err == nil {
		t.Fatal("a forged revoke was taken")
	}
	e.call(t, "GET", "/me", ans.Token, nil, 200, nil)

	// No token, a made-up one.
	e.call(t, "GET", "/me", "", nil, 401, nil)
	e.call(t, "GET", "/me", "hqt_"+base64.RawURLEncoding.EncodeToString(make([]byte, 32)), nil, 401, nil)
}

// She sees and touches only her own: another customer's messages, media,
// logins are not found; her own are.
func TestPrivacy(t *testing.T) {
	e := start(t, Config{ReplyWait: time.Millisecond})
	e.status(t, "s-a", true)
	e.shop(t, "s-a")
	her := e.signIn(t, "s-a", "cust-1")
	other := e.signIn(t, "s-a", "cust-2")
	e.chat(t, "s-a", "cust-2", 1, "m-o1", "cust-2", "my private question", false)
	e.chat(t, "s-a", "cust-1", 1, "m-h1", "cust-1", "hello", false)

	var v viewJSON
	e.call(t, "GET", "/messages", her, nil, 200, &v)
	if len(v.Messages) != 1 || *v.Messages[0].Text != "hello" || v.Messages[0].From != "me" {
		t.Fatalf("her view: %+v", v.Messages)
	}
	// The other's message from home, media and login.
	e.call(t, "POST", "/messages", other, map[string]any{"id": "other-1", "kind": "text", "text": "secret"}, 200, nil)
	var up struct{ Hash string }
	e.call(t, "POST", "/media", other, rawBody{"image/png", []byte("\x89PNG other's photo")}, 200, &up)
	var me struct{ Login string }
	e.call(t, "GET", "/me", other, nil, 200, &me)

	e.call(t, "POST", "/messages/other-1/recall", her, nil, 404, nil)
	e.call(t, "GET", "/media/"+up.Hash, her, nil, 404, nil)
	e.call(t, "DELETE", "/logins/"+me.Login, her, nil, 404, nil)
	e.call(t, "POST", "/messages", her, map[string]any{"id": "h-img", "kind": "image",
		"media": map[string]any{"hash": up.Hash, "type": "image/png", "size": 18}}, 404, nil)
	// Her message under the other's id is refused, not merged.
	if c := errCode(e.call(t, "POST", "/messages", her, map[string]any{"id": "other-1", "kind": "text", "text": "x"}, 409, nil)); c != "conflict" {
		t.Fatalf("a taken id: %s", c)
	}
	e.call(t, "GET", "/messages", her, nil, 200, &v)
	for _, m := range v.Messages {
		if m.ID == "other-1" || m.ID == "m-o1" {
			t.Fatalf("she sees the other's message: %+v", m)
		}
	}
	// The other still has all of hers.
	e.call(t, "GET", "/media/"+up.Hash, other, nil, 200, nil)
	e.call(t, "GET", "/me", other, nil, 200, nil)

	// Her own: the other's login cannot be ended by her; her second can.
	second := e.signIn(t, "s-a", "cust-1")
	var me2 struct{ Login string }
	e.call(t, "GET", "/me", second, nil, 200, &me2)
	e.call(t, "DELETE", "/logins/"+me2.Login, her, nil, 204, nil)
	e.call(t, "GET", "/messages", second, nil, 401, nil)
	e.call(t, "DELETE", "/logins/"+me2.Login, her, nil, 404, nil)
	if errCode(e.call(t, "GET", "/nowhere", her, nil, http.StatusNotFound, nil)) != "not_found" {
		t.Fatal("an unknown path")
	}
}

func contains(s, sub string) bool { return len(s) >= len(sub) && (s == sub || indexOf(s, sub) >= 0) }

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}
