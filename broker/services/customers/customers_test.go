package customers_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/proto"
)

var (
	anna   = storetest.Device{ID: "staff-anna", Role: "staff"}
	tablet = storetest.Device{ID: "tablet-01", Role: "chat-tablet"}
	kiosk  = storetest.Device{ID: "kiosk-01", Role: "kiosk"}
	all    = []storetest.Device{anna, tablet, kiosk}
)

type history struct {
	Messages []struct {
		Seq      int    `json:"seq"`
		From     string `json:"from"`
		Text     string `json:"text"`
		Recalled any    `json:"recalled"`
	} `json:"messages"`
}

func texts(h history) []string {
	var out []string
	for _, m := range h.Messages {
		if m.Text != "" {
			out = append(out, m.From+":"+m.Text)
		}
	}
	return out
}

// A customer scans the code, chats and keeps her login on the phone. Two
// days later (store clock) she comes back with it: same id, her history,
// her dog's profile. Unused for the whole login TTL, it is refused: she
// scans again.
func TestReturningCustomerRecognised(t *testing.T) {
	s := storetest.Start(t, storetest.Options{Devices: all})
	staff := s.Connect(t, anna, "")
	user, pw := s.CustomerCredentials(t, staff, "")
	phone := s.ConnectAs(t, user, pw, "phone", false)
	storetest.OK(t, phone.Call(t, "chat", "open", `{}`))
	storetest.OK(t, phone.Call(t, "chat", "send", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"does Nuomi need a bath?"}`, user)))
	storetest.OK(t, phone.Call(t, "booking", "profile_put", `{"profile":{"kind":"pet","name":"Nuomi","species":"dog","size":"medium"}}`))
	phone.Close()

	s.Advance(48 * time.Hour)
	phone = s.ConnectAs(t, user, pw, "phone", false)
	var open struct {
		Conversation string `json:"conversation"`
	}
	storetest.OK(t, phone.Call(t, "chat", "open", `{}`)).Decode(t, &open)
	if open.Conversation != user {
		t.Fatalf("two days later her conversation is %q, want %q", open.Conversation, user)
	}
	var h history
	storetest.OK(t, phone.Call(t, "chat", "history", fmt.Sprintf(`{"conversation":%q}`, user))).Decode(t, &h)
	if got := strings.Join(texts(h), "|"); !strings.Contains(got, user+":does Nuomi need a bath?") {
		t.Fatalf("her history two days later: %q", got)
	}
	var ps proto.ProfilesAnswer
	storetest.OK(t, phone.Call(t, "booking", "profile_list", `{}`)).Decode(t, &ps)
	if len(ps.Profiles) != 1 || ps.Profiles[0].Name != "Nuomi" {
		t.Fatalf("her profiles two days later: %+v", ps.Profiles)
	}
	phone.Close()

	// Each visit renews the login: 179 days after this visit it still works.
	s.Advance(179 * 24 * time.Hour)
	phone = s.ConnectAs(t, user, pw, "phone", false)
	phone.Close()
	// Then 180 days without a visit: refused.
	s.Advance(180*24*time.Hour + time.Minute)
	if _, err := s.TryConnectAs(t, user, pw, "phone"); err == nil {
		t.Fatal("a login unused for 180 days still connects")
	}
}

// Staff revoke a customer's login: her phone is disconnected and cannot
// log in again; a customer cannot revoke.
func TestRevoke(t *testing.T) {
	s := storetest.Start(t, storetest.Options{Devices: all})
	staff := s.Connect(t, anna, "")
	user, pw := s.CustomerCredentials(t, staff, "")
	phone := s.ConnectAs(t, user, pw, "phone", false)
	storetest.Fails(t, phone.Call(t, "customer", "revoke", fmt.Sprintf(`{"customer":%q}`, user)), "forbidden", "")
	var a proto.RevokeAnswer
	storetest.OK(t, staff.Call(t, "customer", "revoke", fmt.Sprintf(`{"customer":%q}`, user))).Decode(t, &a)
	if a.Ended != 1 || a.Customer != user {
		t.Fatalf("revoke: %+v", a)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := phone.TryCall("chat", "open", "p1", `{}`); err != nil {
			break // disconnected
		}
		if time.Now().After(deadline) {
			t.Fatal("the revoked phone is still connected 5 s later")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := s.TryConnectAs(t, user, pw, "phone"); err == nil {
		t.Fatal("a revoked login connects")
	}
	storetest.Fails(t, staff.Call(t, "customer", "revoke", `{"customer":"staff-anna"}`), "bad_request", "")
}

// A card: staff set it (versioned), the customer reads her own without
// staff notes and sets her name, phone and consent; names for the console;
// sealed at rest.
func TestCard(t *testing.T) {
	s := storetest.Start(t, storetest.Options{Devices: all})
	staff := s.Connect(t, anna, "")
	user, pw := s.CustomerCredentials(t, staff, "")
	phone := s.ConnectAs(t, user, pw, "phone", false)
	other, opw := s.CustomerCredentials(t, staff, "")
	otherPhone := s.ConnectAs(t, other, opw, "phone", false)
	storetest.OK(t, phone.Call(t, "booking", "profile_put", `{"profile":{"kind":"pet","name":"Nuomi","species":"dog","size":"medium"}}`))

	put := func(rev int, name string) storetest.Answer {
		return staff.Call(t, "customer", "card_put", fmt.Sprintf(
			`{"customer":%q,"rev":%d,"name":%q,"phone":"139-0000-7f3a","notes":"notes-7f3a","tags":["vip","dogs","vip"],"consent":false}`, user, rev, name))
	}
	var c proto.CardAnswer
	storetest.OK(t, put(0, "Lin-7f3a")).Decode(t, &c)
	if c.Card.Rev != 1 || c.Card.Name != "Lin-7f3a" || strings.Join(c.Card.Tags, ",") != "dogs,vip" {
		t.Fatalf("card_put: %+v", c.Card)
	}
	// A second admin who read rev 0 gets conflict, and nothing changes.
	storetest.Fails(t, put(0, "Someone else"), "conflict", "stale_rev")
	storetest.Fails(t, staff.Call(t, "customer", "card_put", fmt.Sprintf(`{"customer":%q,"rev":1,"name":"x\u202ey","phone":"","notes":"","tags":[],"consent":false}`, user)), "bad_request", "")
	storetest.Fails(t, staff.Call(t, "customer", "card_put", fmt.Sprintf(`{"customer":%q,"rev":1,"name":%q,"phone":"","notes":"","tags":[],"consent":false}`, user, strings.Repeat("n", 65))), "too_large", "")
	storetest.OK(t, staff.Call(t, "customer", "card_get", fmt.Sprintf(`{"customer":%q}`, user))).Decode(t, &c)
	if c.Card.Rev != 1 || c.Card.Name != "Lin-7f3a" || c.Card.Notes != "notes-7f3a" || len(c.Profiles) != 1 || c.Profiles[0].Name != "Nuomi" {
		t.Fatalf("staff card_get: %+v", c)
	}
	// Her own card: no staff notes or tags.
	c = proto.CardAnswer{}
	storetest.OK(t, phone.Call(t, "customer", "card_get", `{}`)).Decode(t, &c)
	if c.Card.Name != "Lin-7f3a" || c.Card.Notes != "" || c.Card.Tags != nil {
		t.Fatalf("her own card: %+v", c.Card)
	}
	storetest.Fails(t, otherPhone.Call(t, "customer", "card_get", fmt.Sprintf(`{"customer":%q}`, user)), "forbidden", proto.ReasonNotYours)
	storetest.Fails(t, otherPhone.Call(t, "customer", "card_put", fmt.Sprintf(`{"customer":%q,"rev":1,"name":"x","phone":"","notes":"","tags":[],"consent":false}`, user)), "forbidden", "")
	storetest.Fails(t, otherPhone.Call(t, "customer", "names", fmt.Sprintf(`{"customers":[%q]}`, user)), "forbidden", "")
	storetest.Fails(t, staff.Call(t, "customer", "me_put", `{"name":"x","phone":"","consent":true}`), "forbidden", "")
	storetest.OK(t, phone.Call(t, "customer", "me_put", `{"name":"Lin","phone":"13900007f3a","consent":true}`)).Decode(t, &c)
	if c.Card.Rev != 2 || c.Card.Name != "Lin" || !c.Card.Consent {
		t.Fatalf("me_put: %+v", c.Card)
	}
	storetest.OK(t, staff.Call(t, "customer", "card_get", fmt.Sprintf(`{"customer":%q}`, user))).Decode(t, &c)
	if c.Card.Notes != "notes-7f3a" || c.Card.Phone != "13900007f3a" {
		t.Fatalf("me_put lost the staff's notes or did not set her phone: %+v", c.Card)
	}
	var n proto.NamesAnswer
	storetest.OK(t, staff.Call(t, "customer", "names", fmt.Sprintf(`{"customers":[%q,%q,"staff-anna"]}`, user, other))).Decode(t, &n)
	if n.Names[user] != "Lin" || n.Names[other] != "" || len(n.Names) != 2 {
		t.Fatalf("names: %v", n.Names)
	}
	s.Restart()
	raw, err := os.ReadFile(filepath.Join(s.Dir, "data", broker.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"Lin-7f3a", "notes-7f3a", "13900007f3a"} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("%q is in the database file in clear", secret)
		}
	}
}

// Two phones, one person: staff merge the second id into the first. The
// console shows the kept card's name for both; the second phone's login
// is traded for the kept id's; a repeat of the request changes nothing.
func TestMerge(t *testing.T) {
	s := storetest.Start(t, storetest.Options{Devices: all})
	staff := s.Connect(t, anna, "")
	keep, _ := s.CustomerCredentials(t, staff, "")
	second, pw2 := s.CustomerCredentials(t, staff, "")
	storetest.OK(t, staff.Call(t, "customer", "card_put", fmt.Sprintf(`{"customer":%q,"rev":0,"name":"Lin","phone":"","notes":"","tags":["vip"],"consent":false}`, keep)))
	storetest.OK(t, staff.Call(t, "customer", "card_put", fmt.Sprintf(`{"customer":%q,"rev":0,"name":"Lin (2nd phone)","phone":"139","notes":"second","tags":["dogs"],"consent":false}`, second)))
	phone2 := s.ConnectAs(t, second, pw2, "phone2", false)
	storetest.OK(t, phone2.Call(t, "booking", "profile_put", `{"profile":{"kind":"pet","name":"Nuomi","species":"dog","size":"medium"}}`))
	phone2.Close()
	var c proto.CardAnswer
	body := fmt.Sprintf(`{"from":%q,"into":%q}`, second, keep)
	storetest.OK(t, staff.CallID(t, "customer", "merge", "m1", body)).Decode(t, &c)
	if c.Card.Name != "Lin" || c.Card.Phone != "139" || strings.Join(c.Card.Tags, ",") != "dogs,vip" || c.Card.Aliases[0] != second {
		t.Fatalf("merged card: %+v", c.Card)
	}
	storetest.OK(t, staff.CallID(t, "customer", "merge", "m1", body))
	storetest.OK(t, staff.CallID(t, "customer", "merge", "m2", body)) // the same merge, another request
	var n proto.NamesAnswer
	storetest.OK(t, staff.Call(t, "customer", "names", fmt.Sprintf(`{"customers":[%q,%q]}`, keep, second))).Decode(t, &n)
	if n.Names[keep] != "Lin" || n.Names[second] != "Lin" {
		t.Fatalf("names after the merge: %v", n.Names)
	}
	storetest.Fails(t, staff.Call(t, "customer", "card_put", fmt.Sprintf(`{"customer":%q,"rev":2,"name":"x","phone":"","notes":"","tags":[],"consent":false}`, second)), "conflict", "merged")
	if _, err := s.TryConnectAs(t, second, pw2, "phone"); err == nil {
		t.Fatal("the merged id still logs in as itself")
	}
	res, err := http.Post("http://"+s.HTTP+"/chat/redeem", "application/json", strings.NewReader(fmt.Sprintf(`{"username":%q,"password":%q}`, second, pw2)))
	if err != nil {
		t.Fatal(err)
	}
	var l struct{ Customer, Username, Password string }
	err = json.NewDecoder(res.Body).Decode(&l)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 || l.Username != keep {
		t.Fatalf("relogin of the merged phone: %d %+v %v", res.StatusCode, l, err)
	}
	phone2 = s.ConnectAs(t, l.Username, l.Password, "phone2", false)
	storetest.OK(t, phone2.Call(t, "customer", "card_get", `{}`)).Decode(t, &c)
	if c.Card.Customer != keep || c.Card.Name != "Lin" || len(c.Profiles) != 1 || c.Profiles[0].Name != "Nuomi" {
		t.Fatalf("the second phone's card and profiles: %+v", c)
	}
	storetest.Fails(t, staff.Call(t, "customer", "merge", fmt.Sprintf(`{"from":%q,"into":%q}`, keep, keep)), "bad_request", "")
}

// "Forget me": her messages' bodies, her profiles and her bookings' notes
// are erased, the counts kept; staff see "(forgotten)"; she is logged out.
func TestForgetMe(t *testing.T) {
	s := storetest.Start(t, storetest.Options{Devices: all})
	staff := s.Connect(t, anna, "")
	user, pw := s.CustomerCredentials(t, staff, "")
	phone := s.ConnectAs(t, user, pw, "phone", false)
	storetest.OK(t, phone.Call(t, "chat", "open", `{}`))
	storetest.OK(t, phone.Call(t, "chat", "send", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"secret-7f3a"}`, user)))
	storetest.OK(t, phone.Call(t, "customer", "me_put", `{"name":"Lin-7f3a","phone":"","consent":false}`))
	var p struct {
		Profile proto.Profile `json:"profile"`
	}
	storetest.OK(t, phone.Call(t, "booking", "profile_put", `{"profile":{"kind":"pet","name":"Nuomi-7f3a","species":"dog","size":"medium"}}`)).Decode(t, &p)
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, storetest.DefaultStart.Location()).Format(time.RFC3339)
	var b struct {
		Booking proto.Booking `json:"booking"`
	}
	storetest.OK(t, phone.Call(t, "booking", "book", fmt.Sprintf(`{"service":"dog-bath","start":%q,"profile":%q,"notes":"bnotes-7f3a"}`, start, p.Profile.ID))).Decode(t, &b)
	storetest.Fails(t, staff.Call(t, "customer", "forget", `{}`), "forbidden", "")

	var f proto.ForgetAnswer
	storetest.OK(t, phone.Call(t, "customer", "forget", `{}`)).Decode(t, &f)
	if f.Customer != user || f.Messages < 2 || f.Bookings != 1 || f.Profiles != 1 {
		t.Fatalf("forget: %+v", f)
	}
	var h history
	storetest.OK(t, staff.Call(t, "chat", "history", fmt.Sprintf(`{"conversation":%q}`, user))).Decode(t, &h)
	if len(h.Messages) != f.Messages || len(texts(h)) != 0 {
		t.Fatalf("after forget, staff see %d messages (want %d) with texts %v", len(h.Messages), f.Messages, texts(h))
	}
	var view struct {
		Booking proto.Booking `json:"booking"`
	}
	storetest.OK(t, staff.Call(t, "booking", "get", fmt.Sprintf(`{"booking":%q}`, b.Booking.ID))).Decode(t, &view)
	if view.Booking.Notes != "" || view.Booking.Status != proto.StatusBooked {
		t.Fatalf("her booking after forget: %+v", view.Booking)
	}
	var ps proto.ProfilesAnswer
	storetest.OK(t, staff.Call(t, "booking", "profile_list", fmt.Sprintf(`{"customer":%q}`, user))).Decode(t, &ps)
	if len(ps.Profiles) != 0 {
		t.Fatalf("profiles after forget: %+v", ps.Profiles)
	}
	var n proto.NamesAnswer
	storetest.OK(t, staff.Call(t, "customer", "names", fmt.Sprintf(`{"customers":[%q]}`, user))).Decode(t, &n)
	if n.Names[user] != proto.ForgottenName {
		t.Fatalf("staff see %q, want %q", n.Names[user], proto.ForgottenName)
	}
	if _, err := s.TryConnectAs(t, user, pw, "phone2"); err == nil {
		t.Fatal("she is still logged in after forget me")
	}
	// Her open connection got the answer; a few seconds on, it is closed.
	s.Advance(6 * time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := phone.TryCall("chat", "open", "p2", `{}`); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("her phone is still connected after forget me")
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.Restart()
	raw, err := os.ReadFile(filepath.Join(s.Dir, "data", broker.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	// bbolt may keep freed pages until they are reused; the sealed data is
	// encrypted anyway. What must not be there is any of it in clear.
	for _, secret := range []string{"secret-7f3a", "Lin-7f3a", "Nuomi-7f3a", "bnotes-7f3a"} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("%q is in the database file in clear", secret)
		}
	}
}
