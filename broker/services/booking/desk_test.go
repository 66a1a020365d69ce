package booking_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/storeedge/storeedge/broker/services/booking"
	st "github.com/storeedge/storeedge/internal/testkit/storetest"
)

type overlapDetails struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Details struct {
			Reason  string       `json:"reason"`
			Booking booking.View `json:"booking"`
		} `json:"details"`
	} `json:"error"`
}

type boardAnswer struct {
	Date     string               `json:"date"`
	Bookings []booking.BoardEntry `json:"bookings"`
}

type boardDays struct {
	Days []struct {
		Date      string `json:"date"`
		Bookings  int    `json:"bookings"`
		Cancelled int    `json:"cancelled"`
	} `json:"days"`
}

// The same customer cannot be booked twice at one time without a word: a
// second visit that overlaps the first, on another table, is answered
// conflict/overlap naming the first; it is booked once the request
// confirms; a visit that only touches the first is no overlap, and
// neither is a cancelled one. Moving a visit onto another is refused the
// same way.
func TestOverlapForOneCustomer(t *testing.T) {
	s := st.Start(t, st.Options{Devices: all})
	staff := s.Connect(t, anna, "")
	k := s.Connect(t, kiosk1, "")
	owner := s.CustomerLogin(t, staff, "", "phone", false)
	const wed = "2026-11-25" // three groomers, two tables

	var first bookingAnswer
	st.OK(t, book(t, staff, "dog-bath", at(wed, "13:00"), "cust-mei")).Decode(t, &first) // 13:00-14:00
	before := lastChange(t, staff)

	// At 13:30 a table and a groomer are free: only the customer clashes.
	a := st.Fails(t, book(t, staff, "dog-groom", at(wed, "13:30"), "cust-mei"), "conflict", booking.ReasonOverlap)
	var d overlapDetails
	a.Decode(t, &d)
	if d.Error.Details.Booking.ID != first.Booking.ID || !strings.Contains(d.Error.Message, "confirm_overlap") {
		t.Fatalf("the overlap does not name the first visit or how to book anyway: %s", a)
	}
	// A kiosk booking for her is refused the same way.
	st.Fails(t, book(t, k, "dog-groom", at(wed, "13:45"), "cust-mei"), "conflict", booking.ReasonOverlap)
	if after := lastChange(t, staff); after != before {
		t.Fatalf("a refused overlap changed the feed: %d → %d", before, after)
	}
	// Another customer at the same time is fine.
	var other bookingAnswer
	st.OK(t, book(t, staff, "dog-bath", at(wed, "13:30"), "cust-other")).Decode(t, &other)
	st.OK(t, staff.Call(t, "booking", "cancel", fmt.Sprintf(`{"booking":%q}`, other.Booking.ID)))
	// Starting when the first visit ends is no overlap.
	var next bookingAnswer
	st.OK(t, book(t, staff, "dog-bath", at(wed, "14:00"), "cust-mei")).Decode(t, &next)
	// Confirmed, an overlapping visit is booked, on the other table.
	var second bookingAnswer
	st.OK(t, staff.Call(t, "booking", "book", fmt.Sprintf(`{"service":"dog-bath","start":%q,"customer":"cust-mei","confirm_overlap":true}`,
		at(wed, "12:30")))).Decode(t, &second)
	if second.Booking.Resources[0] == first.Booking.Resources[0] {
		t.Fatalf("both visits on %v", second.Booking.Resources)
	}
	// Moving a visit onto another is refused the same way, then confirmed.
	st.OK(t, staff.Call(t, "booking", "cancel", fmt.Sprintf(`{"booking":%q}`, second.Booking.ID)))
	st.Fails(t, staff.Call(t, "booking", "reschedule", fmt.Sprintf(`{"booking":%q,"start":%q}`, next.Booking.ID, at(wed, "13:30"))), "conflict", booking.ReasonOverlap)
	st.OK(t, staff.Call(t, "booking", "reschedule", fmt.Sprintf(`{"booking":%q,"start":%q,"confirm_overlap":true}`, next.Booking.ID, at(wed, "13:30"))))
	// Cancelled visits no longer clash.
	st.OK(t, staff.Call(t, "booking", "cancel", fmt.Sprintf(`{"booking":%q}`, first.Booking.ID)))
	st.OK(t, staff.Call(t, "booking", "cancel", fmt.Sprintf(`{"booking":%q}`, next.Booking.ID)))
	st.OK(t, book(t, staff, "dog-bath", at(wed, "13:00"), "cust-mei"))

	// A customer booking from her phone is told too.
	var own bookingAnswer
	st.OK(t, owner.Call(t, "booking", "book", fmt.Sprintf(`{"service":"dog-bath","start":%q}`, at(tue, "15:00")))).Decode(t, &own)
	a = st.Fails(t, owner.Call(t, "booking", "book", fmt.Sprintf(`{"service":"dog-groom","start":%q}`, at(tue, "15:30"))), "conflict", booking.ReasonOverlap)
	a.Decode(t, &d)
	if d.Error.Details.Booking.ID != own.Booking.ID {
		t.Fatalf("the customer is not shown her own visit: %s", a)
	}
}

// Staff book a walk-in for another day by name and phone: the customer gets
// an id of their own, the booking is on that day's board (not today's) with
// the name, the week's counts show it, and staff find the customer again by
// name or by part of the phone. A walk-in has no phone login: no chat
// conversation is made for the cards.
func TestWalkInOnAnotherDaysBoard(t *testing.T) {
	s := st.Start(t, st.Options{Devices: all})
	staff := s.Connect(t, anna, "")
	k := s.Connect(t, kiosk1, "")

	// Bad walk-ins change nothing.
	before := lastChange(t, staff)
	for _, c := range []struct{ name, contact string }{
		{"no phone", `{"name":"Wang Fang"}`},
		{"no name", `{"phone":"138 0013 8000"}`},
		{"not a phone", `{"name":"Wang Fang","phone":"call me"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			st.Fails(t, staff.Call(t, "booking", "book", fmt.Sprintf(`{"service":"dog-bath","start":%q,"source":"walk_in","contact":%s}`,
				at(tue, "10:00"), c.contact)), "bad_request", "")
		})
	}
	// A kiosk cannot make up customers.
	st.Fails(t, k.Call(t, "booking", "book", fmt.Sprintf(`{"service":"dog-bath","start":%q,"contact":{"name":"X","phone":"13800138000"}}`, at(tue, "10:00"))), "bad_request", "")
	if after := lastChange(t, staff); after != before {
		t.Fatalf("a refused walk-in changed the feed: %d → %d", before, after)
	}

	var walkIn bookingAnswer
	st.OK(t, staff.Call(t, "booking", "book", fmt.Sprintf(`{"service":"dog-bath","start":%q,"source":"walk_in","contact":{"name":"Wang Fang","phone":"138 0013 8000"}}`,
		at(tue, "10:00")))).Decode(t, &walkIn)
	if !strings.HasPrefix(walkIn.Booking.Customer, booking.WalkInPrefix) || walkIn.Booking.Source != "walk_in" {
		t.Fatalf("walk-in booked as %+v", walkIn.Booking)
	}
	st.OK(t, staff.Call(t, "booking", "book", fmt.Sprintf(`{"service":"dog-groom","start":%q,"customer":"cust-li","source":"phone","contact":{"name":"Li Na","phone":"139 1111 2222"}}`,
		at("2026-11-26", "14:00"))))

	var today, tomorrow boardAnswer
	st.OK(t, staff.Call(t, "booking", "board", `{}`)).Decode(t, &today)
	if today.Date != "2026-11-23" || len(today.Bookings) != 0 {
		t.Fatalf("today's board: %+v", today)
	}
	st.OK(t, staff.Call(t, "booking", "board", fmt.Sprintf(`{"date":%q}`, tue))).Decode(t, &tomorrow)
	if tomorrow.Date != tue || len(tomorrow.Bookings) != 1 || tomorrow.Bookings[0].ID != walkIn.Booking.ID ||
		tomorrow.Bookings[0].Contact == nil || tomorrow.Bookings[0].Contact.Name != "Wang Fang" {
		t.Fatalf("tomorrow's board: %+v", tomorrow)
	}
	st.Fails(t, staff.Call(t, "booking", "board", `{"date":"24.11.2026"}`), "bad_request", booking.ReasonBadTime)

	var week boardDays
	st.OK(t, staff.Call(t, "booking", "board_days", `{}`)).Decode(t, &week)
	got := []string{}
	for _, d := range week.Days {
		got = append(got, fmt.Sprintf("%s:%d", d.Date, d.Bookings))
	}
	want := "2026-11-23:0 2026-11-24:1 2026-11-25:0 2026-11-26:1 2026-11-27:0 2026-11-28:0 2026-11-29:0"
	if strings.Join(got, " ") != want {
		t.Fatalf("week counts %v, want %s", got, want)
	}
	st.OK(t, staff.Call(t, "booking", "cancel", fmt.Sprintf(`{"booking":%q}`, walkIn.Booking.ID)))
	st.OK(t, staff.Call(t, "booking", "board_days", fmt.Sprintf(`{"from":%q,"days":1}`, tue))).Decode(t, &week)
	if len(week.Days) != 1 || week.Days[0].Bookings != 0 || week.Days[0].Cancelled != 1 {
		t.Fatalf("after the cancel: %+v", week.Days)
	}
	st.Fails(t, staff.Call(t, "booking", "board_days", `{"days":90}`), "bad_request", "")
	st.Fails(t, k.Call(t, "booking", "board_days", `{}`), "forbidden", "")

	// Found by name, by part of the phone; kiosks may not search.
	var found struct {
		Customers []struct{ Customer, Name, Phone string } `json:"customers"`
	}
	for _, q := range []string{"wang", "8000", "0013 8000"} {
		st.OK(t, staff.Call(t, "booking", "customers", fmt.Sprintf(`{"query":%q}`, q))).Decode(t, &found)
		if len(found.Customers) != 1 || found.Customers[0].Customer != walkIn.Booking.Customer || found.Customers[0].Name != "Wang Fang" {
			t.Fatalf("query %q found %+v", q, found.Customers)
		}
	}
	st.OK(t, staff.Call(t, "booking", "customers", `{"query":"li n"}`)).Decode(t, &found)
	if len(found.Customers) != 1 || found.Customers[0].Customer != "cust-li" {
		t.Fatalf("Li Na: %+v", found.Customers)
	}
	st.Fails(t, staff.Call(t, "booking", "customers", `{"query":"w"}`), "bad_request", "")
	st.Fails(t, k.Call(t, "booking", "customers", `{"query":"wang"}`), "forbidden", "")

	// No conversation for the walk-in; the phone customer gets the cards.
	var convs struct {
		Conversations []struct {
			Conversation string `json:"conversation"`
		} `json:"conversations"`
	}
	st.OK(t, staff.Call(t, "chat", "list", `{}`)).Decode(t, &convs)
	for _, c := range convs.Conversations {
		if strings.HasPrefix(c.Conversation, booking.WalkInPrefix) {
			t.Fatalf("a conversation was made for the walk-in: %+v", convs)
		}
	}
}
