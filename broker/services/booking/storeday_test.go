package booking_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/broker/services/booking"
	st "github.com/storeedge/storeedge/internal/testkit/storetest"
)

// customerChanges returns the distinct changes (by seq) that reached a
// customer on their booking topic, in seq order.
func customerChanges(t *testing.T, c *st.Client) []booking.Change {
	t.Helper()
	seen := map[uint64]booking.Change{}
	for _, m := range c.Msgs(st.Topic(booking.CustomerTopic(c.Username))) {
		ch := decodeChange(t, m)
		seen[ch.Seq] = ch
	}
	out := make([]booking.Change, 0, len(seen))
	for _, ch := range seen {
		out = append(out, ch)
	}
	slices.SortFunc(out, func(a, b booking.Change) int { return int(a.Seq) - int(b.Seq) })
	return out
}

// waitChange waits until a change of typ (and, when set, reminder lead)
// for booking id has reached the customer.
func waitChange(t *testing.T, c *st.Client, id, typ, lead string) booking.Change {
	t.Helper()
	m := c.WaitFor(t, 1, func(m st.Msg) bool {
		if m.Topic != booking.CustomerTopic(c.Username) {
			return false
		}
		var ch booking.Change
		return json.Unmarshal(m.Payload, &ch) == nil && ch.Booking == id && ch.Type == typ && (lead == "" || ch.Reminder == lead)
	})
	return decodeChange(t, m[0])
}

type chatMsg struct {
	Seq   uint64          `json:"seq"`
	From  string          `json:"from"`
	Kind  string          `json:"kind"`
	Text  string          `json:"text"`
	Card  json.RawMessage `json:"card"`
	Media *struct {
		Hash string `json:"hash"`
	} `json:"media"`
}

func chatHistory(t *testing.T, c *st.Client, conv string) []chatMsg {
	t.Helper()
	var h struct {
		Messages []chatMsg `json:"messages"`
	}
	st.OK(t, c.Call(t, "chat", "history", fmt.Sprintf(`{"conversation":%q}`, conv))).Decode(t, &h)
	return h.Messages
}

// cards counts a conversation's booking cards by "event/reminder" for one booking.
func cards(t *testing.T, msgs []chatMsg, id string) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, m := range msgs {
		var c struct{ Event, Booking, Reminder string }
		if m.Kind == "card" && json.Unmarshal(m.Card, &c) == nil && c.Booking == id {
			n[c.Event+"/"+c.Reminder]++
		}
	}
	return n
}

// uploadPNG uploads a photo through svc/media as a camera does and returns its hash.
func uploadPNG(t *testing.T, c *st.Client) (string, []byte) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for x := range 64 {
		for y := range 48 {
			img.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 5), 200, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	hash := hex.EncodeToString(sum[:])
	st.OK(t, c.Call(t, "media", "begin", fmt.Sprintf(`{"upload":"bath-1","type":"image/png","size":%d,"sha256":%q}`, buf.Len(), hash)))
	st.OK(t, c.Call(t, "media", "chunk", fmt.Sprintf(`{"upload":"bath-1","index":0,"data":%q}`, base64.StdEncoding.EncodeToString(buf.Bytes()))))
	var blob struct {
		Hash string `json:"hash"`
	}
	st.OK(t, c.Call(t, "media", "complete", `{"upload":"bath-1"}`)).Decode(t, &blob)
	if blob.Hash != hash {
		t.Fatalf("uploaded %s, stored %s", hash, blob.Hash)
	}
	return hash, buf.Bytes()
}

// TestStoreDay plays a store's day through real MQTT clients with the
// store's clock in the test's hand: a kiosk books a golden retriever's
// groom from the owner's pet profile, a mother books a baby swim in the
// chat, two walk-ins take the 13:00 baths while the link is down and HQ's
// online request for that slot is rejected with alternatives, the
// reminders fire once each across a broker restart, the groom's progress
// stages (one with the camera's photo) reach the owner as events and chat
// cards, and the owner answers the satisfaction survey.
func TestStoreDay(t *testing.T) {
	hq := startHQ(t)
	s := st.Start(t, st.Options{Devices: all, Config: hq.config})
	staff := s.Connect(t, anna, "")
	k := s.Connect(t, kiosk1, "")
	camera := s.Connect(t, cam, "")
	staff.Subscribe(t, booking.HQOutcomeTopic)

	// Monday 08:00. The golden retriever's owner scanned the chat code; her
	// phone keeps its session through restarts.
	owner := s.CustomerLogin(t, staff, "", "phone", true)
	st.OK(t, owner.Call(t, "chat", "open", `{}`))
	owner.Subscribe(t, booking.CustomerTopic(owner.Username))
	owner.Subscribe(t, "chat/"+owner.Username+"/events")
	// She says it once: Nuomi is afraid of the dryer and allergic to tea tree shampoo.
	var prof struct {
		Profile booking.Profile `json:"profile"`
	}
	st.OK(t, owner.Call(t, "booking", "profile_put", `{"profile":{"kind":"pet","name":"Nuomi","species":"dog","breed":"golden retriever","size":"large","allergies":["tea tree shampoo"],"temperament":"afraid of the dryer"}}`)).Decode(t, &prof)
	if prof.Profile.ID == "" {
		t.Fatalf("profile: %+v", prof)
	}

	// At the kiosk: she scans its code with her phone, the form pre-fills
	// from her profile, she picks Tuesday 15:00.
	atKiosk(t, k, owner)
	var ps struct {
		Profiles []booking.Profile `json:"profiles"`
	}
	st.OK(t, k.Call(t, "booking", "profile_list", fmt.Sprintf(`{"customer":%q}`, owner.Username))).Decode(t, &ps)
	if len(ps.Profiles) != 1 || ps.Profiles[0].Size != "large" {
		t.Fatalf("kiosk pre-fill: %+v", ps)
	}
	var avail struct {
		Days []struct {
			Date  string             `json:"date"`
			Slots []booking.SlotView `json:"slots"`
		} `json:"days"`
	}
	st.OK(t, k.Call(t, "booking", "availability", fmt.Sprintf(`{"service":"large-dog-groom","date":%q}`, tue))).Decode(t, &avail)
	if len(avail.Days) != 1 || !slices.ContainsFunc(avail.Days[0].Slots, func(s booking.SlotView) bool { return rfc(s.Start) == at(tue, "15:00") }) {
		t.Fatalf("15:00 is not offered: %+v", avail)
	}
	var groom bookingAnswer
	st.OK(t, k.Call(t, "booking", "book", fmt.Sprintf(`{"service":"large-dog-groom","start":%q,"customer":%q,"profile":%q}`,
		at(tue, "15:00"), owner.Username, prof.Profile.ID))).Decode(t, &groom)
	g := groom.Booking
	if g.Source != "kiosk" || g.Profile != prof.Profile.ID || g.Status != booking.StatusBooked {
		t.Fatalf("groom: %+v", g)
	}
	waitChange(t, owner, g.ID, booking.ChangeCreated, "")

	// In the chat: a mother books a baby swim for her six-month-old.
	mom := s.CustomerLogin(t, staff, "", "phone", false)
	st.OK(t, mom.Call(t, "chat", "open", `{}`))
	mom.Subscribe(t, booking.CustomerTopic(mom.Username))
	st.OK(t, mom.Call(t, "booking", "profile_put", `{"profile":{"kind":"baby","name":"Xiaoyu","birth_date":"2026-05-10","notes":"first time in water"}}`)).Decode(t, &prof)
	var swim bookingAnswer
	st.OK(t, mom.Call(t, "booking", "book", fmt.Sprintf(`{"service":"baby-swim","start":%q,"profile":%q,"notes":"please warm water"}`,
		at(tue, "10:00"), prof.Profile.ID))).Decode(t, &swim)
	sw := swim.Booking
	if sw.Source != "chat" || sw.Customer != mom.Username || sw.Notes != "please warm water" {
		t.Fatalf("swim: %+v", sw)
	}
	waitChange(t, mom, sw.ID, booking.ChangeCreated, "")
	if n := cards(t, chatHistory(t, mom, mom.Username), sw.ID); n["created/"] != 1 {
		t.Fatalf("the booking card is not in her conversation: %v", n)
	}

	// The link to HQ is down. Two walk-ins take both tables for 13:00 baths.
	for _, c := range []string{"cust-walkin-1", "cust-walkin-2"} {
		st.OK(t, book(t, k, "dog-bath", at(tue, "13:00"), c))
	}
	// It returns, and HQ's online request for a 13:00 bath arrives: rejected, with alternatives.
	hq.send(booking.HQRequestTopic, []byte(fmt.Sprintf(`{"v":1,"id":"hq-7731","customer":"hq-c9","service":"dog-bath","start":%q}`, at(tue, "13:00"))))
	o := outcomes(t, staff, 1, "hq-7731")[0]
	if o.OK || o.Reason != booking.ReasonTaken || len(o.Alternatives) == 0 {
		t.Fatalf("HQ outcome: %+v", o)
	}

	// Monday 10:00 and 15:00: the 24-hour reminders.
	s.Set(time.Date(2026, 11, 23, 10, 0, 0, 0, s.Now().Location()))
	waitChange(t, mom, sw.ID, booking.ChangeReminder, "24h")
	s.Set(time.Date(2026, 11, 23, 15, 0, 0, 0, s.Now().Location()))
	waitChange(t, owner, g.ID, booking.ChangeReminder, "24h")

	// The store's power is cut overnight; the broker starts again.
	s.Restart()
	for _, c := range []*st.Client{staff, k, camera, owner, mom} {
		c.Reconnect(t)
	}

	// Tuesday 08:00 and 13:00: the 2-hour reminders, after the restart.
	s.Set(time.Date(2026, 11, 24, 8, 0, 0, 0, s.Now().Location()))
	waitChange(t, mom, sw.ID, booking.ChangeReminder, "2h")
	s.Set(time.Date(2026, 11, 24, 13, 0, 0, 0, s.Now().Location()))
	waitChange(t, owner, g.ID, booking.ChangeReminder, "2h")

	// 14:50: Nuomi arrives and is checked in at the kiosk. The board shows
	// staff what to know about her.
	s.Set(time.Date(2026, 11, 24, 14, 50, 0, 0, s.Now().Location()))
	st.OK(t, k.Call(t, "booking", "check_in", fmt.Sprintf(`{"booking":%q}`, g.ID)))
	var board struct {
		Bookings []booking.BoardEntry `json:"bookings"`
	}
	st.OK(t, staff.Call(t, "booking", "board", fmt.Sprintf(`{"date":%q}`, tue))).Decode(t, &board)
	i := slices.IndexFunc(board.Bookings, func(e booking.BoardEntry) bool { return e.ID == g.ID })
	if i < 0 || board.Bookings[i].Profile == nil || board.Bookings[i].Profile.Temperament != "afraid of the dryer" ||
		!slices.Contains(board.Bookings[i].Profile.Allergies, "tea tree shampoo") || board.Bookings[i].Status != booking.StatusCheckedIn {
		t.Fatalf("the board does not show Nuomi's notes: %+v", board.Bookings)
	}

	// The grooming-room camera posts "bathing" with a photo; staff post the rest.
	hash, photo := uploadPNG(t, camera)
	s.Advance(20 * time.Minute)
	st.OK(t, camera.Call(t, "booking", "progress", fmt.Sprintf(`{"booking":%q,"stage":"bathing","note":"all fine","photo":%q}`, g.ID, hash)))
	for _, stage := range []string{"drying", "styling", "ready"} {
		s.Advance(30 * time.Minute)
		st.OK(t, staff.Call(t, "booking", "progress", fmt.Sprintf(`{"booking":%q,"stage":%q}`, g.ID, stage)))
	}
	bath := waitChange(t, owner, g.ID, booking.ChangeProgress, "")
	if bath.Stage != "bathing" || bath.Photo != hash {
		t.Fatalf("first progress: %+v", bath)
	}
	waitChange(t, owner, g.ID, booking.ChangeProgress, "")
	owner.WaitFor(t, 4, func(m st.Msg) bool {
		var ch booking.Change
		return m.Topic == booking.CustomerTopic(owner.Username) && json.Unmarshal(m.Payload, &ch) == nil && ch.Type == booking.ChangeProgress
	})
	// In her conversation: the progress cards, and the photo she can open.
	hist := chatHistory(t, owner, owner.Username)
	n := cards(t, hist, g.ID)
	if n["progress/"] != 4 || n["checked_in/"] != 1 {
		t.Fatalf("progress cards: %v", n)
	}
	pi := slices.IndexFunc(hist, func(m chatMsg) bool { return m.Kind == "image" && m.Media != nil && m.Media.Hash == hash })
	if pi < 0 || hist[pi].From != booking.ChatSender {
		t.Fatalf("the photo is not in her conversation: %+v", hist)
	}
	var got struct {
		Data []byte `json:"data"`
		EOF  bool   `json:"eof"`
	}
	st.OK(t, owner.Call(t, "media", "get", fmt.Sprintf(`{"hash":%q}`, hash))).Decode(t, &got)
	if !bytes.Equal(got.Data, photo) || !got.EOF {
		t.Fatalf("the photo she gets is not the camera's (%d bytes, want %d)", len(got.Data), len(photo))
	}

	// Picked up at 17:00; an hour later she is asked how it was.
	s.Set(time.Date(2026, 11, 24, 17, 0, 0, 0, s.Now().Location()))
	st.OK(t, staff.Call(t, "booking", "complete", fmt.Sprintf(`{"booking":%q}`, g.ID)))
	s.Advance(time.Hour)
	waitChange(t, owner, g.ID, booking.ChangeSurveyInvite, "")
	st.OK(t, owner.Call(t, "booking", "survey", fmt.Sprintf(`{"booking":%q,"score":5,"comment":"她很喜欢, no dryer drama"}`, g.ID)))
	st.Fails(t, owner.Call(t, "booking", "survey", fmt.Sprintf(`{"booking":%q,"score":1}`, g.ID)), "conflict", booking.ReasonAlreadyAnswered)
	var view struct {
		Survey *booking.Survey `json:"survey"`
	}
	st.OK(t, staff.Call(t, "booking", "get", fmt.Sprintf(`{"booking":%q}`, g.ID))).Decode(t, &view)
	if view.Survey == nil || view.Survey.Score != 5 || view.Survey.Comment != "她很喜欢, no dryer drama" {
		t.Fatalf("survey: %+v", view.Survey)
	}

	// Her phone saw her booking's whole day, once each, in order (the
	// answered event is published after the survey's answer: wait for it).
	waitChange(t, owner, g.ID, booking.ChangeSurveyAnswered, "")
	var types []string
	for _, ch := range customerChanges(t, owner) {
		if ch.Booking == g.ID {
			types = append(types, ch.Type+ch.Reminder+ch.Stage)
		}
	}
	want := []string{"created", "reminder24h", "reminder2h", "checked_inchecked_in", "progressbathing", "progressdrying",
		"progressstyling", "progressready", "completedready", "survey_invite" + "ready", "survey_answeredready"}
	if !slices.Equal(types, want) {
		t.Fatalf("her events:\n got %v\nwant %v", types, want)
	}
	// One card per reminder in each conversation, across the restart.
	if n := cards(t, chatHistory(t, owner, owner.Username), g.ID); n["reminder/24h"] != 1 || n["reminder/2h"] != 1 || n["survey_invite/"] != 1 {
		t.Fatalf("owner's reminder cards: %v", n)
	}
	if n := cards(t, chatHistory(t, mom, mom.Username), sw.ID); n["reminder/24h"] != 1 || n["reminder/2h"] != 1 {
		t.Fatalf("mother's reminder cards: %v", n)
	}
}

// Profiles, notes, contacts and survey comments are sealed at rest: the
// database file holds none of them in clear.
func TestPersonalDataSealedAtRest(t *testing.T) {
	s := st.Start(t, st.Options{Devices: all})
	staff := s.Connect(t, anna, "")
	k := s.Connect(t, kiosk1, "")
	owner := s.CustomerLogin(t, staff, "", "phone", false)
	var prof struct {
		Profile booking.Profile `json:"profile"`
	}
	st.OK(t, owner.Call(t, "booking", "profile_put", `{"profile":{"kind":"pet","name":"Nuomi-7f3a","species":"dog","size":"medium","allergies":["allergy-7f3a"],"temperament":"temperament-7f3a"}}`)).Decode(t, &prof)
	atKiosk(t, k, owner)
	var b bookingAnswer
	st.OK(t, k.Call(t, "booking", "book", fmt.Sprintf(`{"service":"dog-groom","start":%q,"customer":%q,"profile":%q,"notes":"notes-7f3a","contact":{"name":"name-7f3a","phone":"13907f3a"}}`,
		at(tue, "10:00"), owner.Username, prof.Profile.ID))).Decode(t, &b)
	var c bookingAnswer
	st.OK(t, owner.Call(t, "booking", "book", fmt.Sprintf(`{"service":"dog-bath","start":%q}`, at(tue, "16:00")))).Decode(t, &c)
	st.OK(t, owner.Call(t, "booking", "cancel", fmt.Sprintf(`{"booking":%q,"reason":"reason-7f3a"}`, c.Booking.ID)))
	s.Set(time.Date(2026, 11, 24, 9, 50, 0, 0, s.Now().Location()))
	st.OK(t, k.Call(t, "booking", "check_in", fmt.Sprintf(`{"booking":%q}`, b.Booking.ID)))
	st.OK(t, staff.Call(t, "booking", "complete", fmt.Sprintf(`{"booking":%q}`, b.Booking.ID)))
	st.OK(t, owner.Call(t, "booking", "survey", fmt.Sprintf(`{"booking":%q,"score":4,"comment":"comment-7f3a"}`, b.Booking.ID)))
	s.Restart() // everything on disk
	raw, err := os.ReadFile(filepath.Join(s.Dir, "data", broker.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"Nuomi-7f3a", "allergy-7f3a", "temperament-7f3a", "notes-7f3a", "name-7f3a", "13907f3a", "comment-7f3a", "reason-7f3a"} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("%q is in the database file in clear", secret)
		}
	}
	// …and still readable through the service.
	staff.Reconnect(t)
	var view struct {
		Booking booking.View     `json:"booking"`
		Profile *booking.Profile `json:"profile"`
		Survey  *booking.Survey  `json:"survey"`
	}
	st.OK(t, staff.Call(t, "booking", "get", fmt.Sprintf(`{"booking":%q}`, b.Booking.ID))).Decode(t, &view)
	if view.Booking.Notes != "notes-7f3a" || view.Booking.Contact == nil || view.Booking.Contact.Phone != "13907f3a" ||
		view.Profile == nil || view.Profile.Temperament != "temperament-7f3a" || view.Survey == nil || view.Survey.Comment != "comment-7f3a" {
		t.Fatalf("staff view after restart: %+v", view)
	}
	st.OK(t, staff.Call(t, "booking", "get", fmt.Sprintf(`{"booking":%q}`, c.Booking.ID))).Decode(t, &view)
	if view.Booking.Reason != "reason-7f3a" || view.Booking.Status != booking.StatusCancelled {
		t.Fatalf("the cancel reason is lost: %+v", view.Booking)
	}
}
