package booking_test

import (
	"fmt"
	"net/url"
	"slices"
	"testing"

	"github.com/storeedge/storeedge/broker/services/booking"
	st "github.com/storeedge/storeedge/internal/testkit/storetest"
)

// atKiosk does what a customer does at a kiosk: the kiosk shows its
// presence code, her phone (logged in as her) scans it and confirms.
func atKiosk(t *testing.T, kiosk, phone *st.Client) {
	t.Helper()
	var code struct {
		Code  string `json:"code"`
		URL   string `json:"url"`
		QRPNG []byte `json:"qr_png"`
	}
	st.OK(t, kiosk.Call(t, "booking", "presence_start", `{}`)).Decode(t, &code)
	u, err := url.Parse(code.URL)
	if err != nil || u.Query().Get("present") != code.Code || len(code.QRPNG) == 0 {
		t.Fatalf("presence_start: %+v %v", code, err)
	}
	st.OK(t, phone.Call(t, "chat", "presence_confirm", fmt.Sprintf(`{"code":%q}`, code.Code)))
}

type profilesAnswer struct {
	Customer string            `json:"customer"`
	Profiles []booking.Profile `json:"profiles"`
}

// A kiosk is an unattended public device. It reads and writes a customer's
// pet or baby profiles, her bookings' notes and the progress notes of her
// visit only while she is at it, proven from her own phone; every other
// customer's are refused and stay as they were.
func TestKioskOnlyForTheCustomerAtIt(t *testing.T) {
	s := st.Start(t, st.Options{Devices: all})
	staff := s.Connect(t, anna, "")
	k := s.Connect(t, kiosk1, "")
	camera := s.Connect(t, cam, "")
	b := s.CustomerLogin(t, staff, "", "phone", false)
	c := s.CustomerLogin(t, staff, "", "phone", false)

	// B's dog and her visit today: a note for the groomer, a progress note.
	var prof struct {
		Profile booking.Profile `json:"profile"`
	}
	st.OK(t, b.Call(t, "booking", "profile_put", `{"profile":{"kind":"pet","name":"Nuomi","species":"dog","size":"medium","allergies":["tea tree shampoo"]}}`)).Decode(t, &prof)
	var bk bookingAnswer
	st.OK(t, b.Call(t, "booking", "book", fmt.Sprintf(`{"service":"dog-bath","start":%q,"profile":%q,"notes":"back door code 4321"}`,
		at("2026-11-23", "11:00"), prof.Profile.ID))).Decode(t, &bk)
	id := bk.Booking.ID
	st.OK(t, staff.Call(t, "booking", "check_in", fmt.Sprintf(`{"booking":%q}`, id)))
	st.OK(t, camera.Call(t, "booking", "progress", fmt.Sprintf(`{"booking":%q,"stage":"bathing","note":"nervous, bit the groomer"}`, id)))

	mine := func() booking.Profile {
		t.Helper()
		var ps profilesAnswer
		st.OK(t, b.Call(t, "booking", "profile_list", `{}`)).Decode(t, &ps)
		if len(ps.Profiles) != 1 {
			t.Fatalf("B's profiles: %+v", ps)
		}
		return ps.Profiles[0]
	}
	before := mine()
	rename := fmt.Sprintf(`{"customer":%q,"profile":{"id":%q,"kind":"pet","name":"Renamed","species":"dog","size":"medium"}}`, b.Username, prof.Profile.ID)
	refused := func(who string) {
		t.Helper()
		st.Fails(t, k.Call(t, "booking", "profile_list", fmt.Sprintf(`{"customer":%q}`, b.Username)), "forbidden", booking.ReasonNotPresent)
		st.Fails(t, k.Call(t, "booking", "profile_put", rename), "forbidden", booking.ReasonNotPresent)
		st.Fails(t, k.Call(t, "booking", "profile_delete", fmt.Sprintf(`{"customer":%q,"profile":%q}`, b.Username, prof.Profile.ID)), "forbidden", booking.ReasonNotPresent)
		st.Fails(t, k.Call(t, "booking", "list", fmt.Sprintf(`{"customer":%q}`, b.Username)), "forbidden", booking.ReasonNotPresent)
		st.Fails(t, k.Call(t, "booking", "book", fmt.Sprintf(`{"service":"dog-bath","start":%q,"customer":%q,"profile":%q}`,
			at(tue, "11:00"), b.Username, prof.Profile.ID)), "forbidden", booking.ReasonNotPresent)
		st.Fails(t, k.Call(t, "booking", "cancel", fmt.Sprintf(`{"booking":%q}`, id)), "forbidden", booking.ReasonNotYours)
		// The booking itself, to check a customer in: no notes of hers.
		var g bookingAnswer
		st.OK(t, k.Call(t, "booking", "get", fmt.Sprintf(`{"booking":%q}`, id))).Decode(t, &g)
		if g.Booking.Notes != "" || g.Booking.Contact != nil || len(g.Booking.Progress) != 2 ||
			slices.ContainsFunc(g.Booking.Progress, func(p booking.ProgressView) bool { return p.Note != "" || p.Photo != "" }) {
			t.Fatalf("%s: the kiosk reads B's booking %+v", who, g.Booking)
		}
		if after := mine(); after.Name != before.Name || !slices.Equal(after.Allergies, before.Allergies) {
			t.Fatalf("%s: B's profile changed: %+v", who, after)
		}
	}
	refused("nobody at the kiosk")

	// C at the kiosk does not make B's data reachable.
	atKiosk(t, k, c)
	refused("C at the kiosk")
	var cs profilesAnswer
	st.OK(t, k.Call(t, "booking", "profile_list", `{}`)).Decode(t, &cs)
	if cs.Customer != c.Username || len(cs.Profiles) != 0 {
		t.Fatalf("C's profiles at the kiosk: %+v", cs)
	}

	// B at the kiosk: her form pre-fills, her notes show, she edits her pet.
	atKiosk(t, k, b)
	var ps profilesAnswer
	st.OK(t, k.Call(t, "booking", "profile_list", `{}`)).Decode(t, &ps)
	if ps.Customer != b.Username || len(ps.Profiles) != 1 || ps.Profiles[0].Name != "Nuomi" {
		t.Fatalf("B's profiles at the kiosk: %+v", ps)
	}
	var g bookingAnswer
	st.OK(t, k.Call(t, "booking", "get", fmt.Sprintf(`{"booking":%q}`, id))).Decode(t, &g)
	if g.Booking.Notes != "back door code 4321" || g.Booking.Progress[1].Note != "nervous, bit the groomer" {
		t.Fatalf("B's booking at the kiosk she is at: %+v", g.Booking)
	}
	st.OK(t, k.Call(t, "booking", "profile_put", rename))
	if p := mine(); p.Name != "Renamed" {
		t.Fatalf("B's edit at the kiosk: %+v", p)
	}
	// She books at the kiosk without typing her id, for her pet.
	var nb bookingAnswer
	st.OK(t, k.Call(t, "booking", "book", fmt.Sprintf(`{"service":"dog-bath","start":%q,"profile":%q}`, at(tue, "11:00"), prof.Profile.ID))).Decode(t, &nb)
	if nb.Booking.Customer != b.Username || nb.Booking.Source != "kiosk" || nb.Booking.Profile != prof.Profile.ID {
		t.Fatalf("booked at the kiosk for the customer at it: %+v", nb.Booking)
	}
	// She is done: the kiosk forgets her.
	st.OK(t, k.Call(t, "booking", "presence_end", `{}`))
	before = mine()
	refused("after presence_end")
	// What the kiosk booked for her, the next person at it cannot cancel.
	st.Fails(t, k.Call(t, "booking", "cancel", fmt.Sprintf(`{"booking":%q}`, nb.Booking.ID)), "forbidden", booking.ReasonNotYours)
	var left bookingAnswer
	st.OK(t, b.Call(t, "booking", "get", fmt.Sprintf(`{"booking":%q}`, nb.Booking.ID))).Decode(t, &left)
	if left.Booking.Status != booking.StatusBooked || left.Booking.Customer != b.Username {
		t.Fatalf("her kiosk booking after she left: %+v", left.Booking)
	}

	// Phones and other devices do not show presence codes.
	st.Fails(t, b.Call(t, "booking", "presence_start", `{}`), "forbidden", "")
	st.Fails(t, staff.Call(t, "booking", "presence_start", `{}`), "forbidden", "")
}
