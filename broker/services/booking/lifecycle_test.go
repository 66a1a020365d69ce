package booking_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/broker/services/booking"
	st "github.com/storeedge/storeedge/internal/testkit/storetest"
)

func offered(t *testing.T, c *st.Client, service, day, start string) bool {
	t.Helper()
	var avail struct {
		Days []struct {
			Slots []booking.SlotView `json:"slots"`
		} `json:"days"`
	}
	st.OK(t, c.Call(t, "booking", "availability", fmt.Sprintf(`{"service":%q,"date":%q}`, service, day))).Decode(t, &avail)
	return len(avail.Days) == 1 && slices.ContainsFunc(avail.Days[0].Slots, func(s booking.SlotView) bool { return rfc(s.Start) == start })
}

// The dog vomited tonight: its owner moves tomorrow's groom herself. The
// slot she wants is taken (a conflict with alternatives, her booking stays
// as it was); the next one is free. The reminders follow the booking: the
// old time's reminder never comes, the new time's does. Then she cancels,
// and the slot is offered again.
func TestRescheduleAndCancel(t *testing.T) {
	s := st.Start(t, st.Options{Devices: all})
	staff := s.Connect(t, anna, "")
	owner := s.CustomerLogin(t, staff, "", "phone", false)
	st.OK(t, owner.Call(t, "chat", "open", `{}`))
	owner.Subscribe(t, booking.CustomerTopic(owner.Username))
	var b bookingAnswer
	st.OK(t, owner.Call(t, "booking", "book", fmt.Sprintf(`{"service":"dog-bath","start":%q}`, at(tue, "10:00")))).Decode(t, &b)
	id := b.Booking.ID
	// Wednesday 14:00 is full: both tables.
	wed := "2026-11-25"
	for _, c := range []string{"cust-a", "cust-b"} {
		st.OK(t, book(t, staff, "dog-bath", at(wed, "14:00"), c))
	}
	// Monday evening, after the 24 h reminder.
	s.Set(time.Date(2026, 11, 23, 20, 0, 0, 0, s.Now().Location()))
	waitChange(t, owner, id, booking.ChangeReminder, "24h")
	a := st.Fails(t, owner.Call(t, "booking", "reschedule", fmt.Sprintf(`{"booking":%q,"start":%q}`, id, at(wed, "14:00"))), "conflict", booking.ReasonTaken)
	var d errDetails
	a.Decode(t, &d)
	if len(d.Error.Details.Alternatives) == 0 {
		t.Fatalf("no alternatives: %s", a)
	}
	var now bookingAnswer
	st.OK(t, owner.Call(t, "booking", "get", fmt.Sprintf(`{"booking":%q}`, id))).Decode(t, &now)
	if rfc(now.Booking.Start) != at(tue, "10:00") || now.Booking.Rev != 1 {
		t.Fatalf("a refused reschedule changed the booking: %+v", now.Booking)
	}
	var moved bookingAnswer
	st.OK(t, owner.Call(t, "booking", "reschedule", fmt.Sprintf(`{"booking":%q,"start":%q}`, id, at(wed, "15:30")))).Decode(t, &moved)
	if rfc(moved.Booking.Start) != at(wed, "15:30") || moved.Booking.Rev != 2 || moved.Booking.Status != booking.StatusBooked {
		t.Fatalf("moved: %+v", moved.Booking)
	}
	if !offered(t, owner, "dog-bath", tue, at(tue, "10:00")) {
		t.Fatal("the old slot is not free again")
	}
	// Tuesday 08:00 (the old 2 h reminder's time) passes without one; Tuesday
	// 15:30 brings the new 24 h reminder, Wednesday 13:30 the 2 h one.
	reminded := func(lead, start string) {
		t.Helper()
		owner.WaitFor(t, 1, func(m st.Msg) bool {
			c := decodeChange(t, m)
			return c.Type == booking.ChangeReminder && c.Reminder == lead && rfc(c.Start) == start
		})
	}
	s.Set(time.Date(2026, 11, 24, 15, 30, 0, 0, s.Now().Location()))
	reminded("24h", at(wed, "15:30"))
	s.Set(time.Date(2026, 11, 25, 13, 30, 0, 0, s.Now().Location()))
	reminded("2h", at(wed, "15:30"))
	var reminders []string
	for _, c := range customerChanges(t, owner) {
		if c.Type == booking.ChangeReminder {
			reminders = append(reminders, c.Reminder+"@"+rfc(c.Start))
		}
	}
	want := []string{"24h@" + at(tue, "10:00"), "24h@" + at(wed, "15:30"), "2h@" + at(wed, "15:30")}
	if !slices.Equal(reminders, want) {
		t.Fatalf("reminders %v, want %v", reminders, want)
	}
	// She cancels; a repeat is harmless; the slot is offered again.
	st.OK(t, owner.Call(t, "booking", "cancel", fmt.Sprintf(`{"booking":%q,"reason":"still sick"}`, id)))
	var c bookingAnswer
	st.OK(t, owner.Call(t, "booking", "cancel", fmt.Sprintf(`{"booking":%q}`, id))).Decode(t, &c)
	if c.Booking.Status != booking.StatusCancelled {
		t.Fatalf("after cancel: %+v", c.Booking)
	}
	if !offered(t, owner, "dog-bath", wed, at(wed, "15:30")) {
		t.Fatal("the cancelled slot is not offered again")
	}
	st.Fails(t, owner.Call(t, "booking", "reschedule", fmt.Sprintf(`{"booking":%q,"start":%q}`, id, at(wed, "17:00"))), "conflict", booking.ReasonWrongState)
	// Another customer can neither see nor touch it.
	other := s.CustomerLogin(t, staff, "", "phone", false)
	st.Fails(t, other.Call(t, "booking", "get", fmt.Sprintf(`{"booking":%q}`, id)), "forbidden", booking.ReasonNotYours)
	st.Fails(t, other.Call(t, "booking", "cancel", fmt.Sprintf(`{"booking":%q}`, id)), "forbidden", booking.ReasonNotYours)
}

// A no-show is marked by staff, and only once the start has passed; a
// kiosk may check customers in but not mark no-shows or complete.
func TestNoShowAndRoles(t *testing.T) {
	s := st.Start(t, st.Options{Devices: all})
	staff := s.Connect(t, anna, "")
	k := s.Connect(t, kiosk1, "")
	camera := s.Connect(t, cam, "")
	var b bookingAnswer
	st.OK(t, book(t, k, "dog-bath", at(tue, "11:00"), "cust-late")).Decode(t, &b)
	id := b.Booking.ID
	st.Fails(t, staff.Call(t, "booking", "no_show", fmt.Sprintf(`{"booking":%q}`, id)), "conflict", booking.ReasonWrongState)
	st.Fails(t, k.Call(t, "booking", "check_in", fmt.Sprintf(`{"booking":%q}`, id)), "conflict", booking.ReasonWrongState) // not the day yet
	s.Set(time.Date(2026, 11, 24, 11, 30, 0, 0, s.Now().Location()))
	st.Fails(t, k.Call(t, "booking", "no_show", fmt.Sprintf(`{"booking":%q}`, id)), "forbidden", "")
	st.Fails(t, camera.Call(t, "booking", "progress", fmt.Sprintf(`{"booking":%q,"stage":"bathing"}`, id)), "conflict", booking.ReasonWrongState)
	var ns bookingAnswer
	st.OK(t, staff.Call(t, "booking", "no_show", fmt.Sprintf(`{"booking":%q}`, id))).Decode(t, &ns)
	if ns.Booking.Status != booking.StatusNoShow {
		t.Fatalf("no-show: %+v", ns.Booking)
	}
	st.Fails(t, k.Call(t, "booking", "check_in", fmt.Sprintf(`{"booking":%q}`, id)), "conflict", booking.ReasonWrongState)
	// The kiosk checks in today's next customer; only staff complete.
	st.OK(t, book(t, k, "dog-bath", at(tue, "13:00"), "cust-next")).Decode(t, &b)
	st.OK(t, k.Call(t, "booking", "check_in", fmt.Sprintf(`{"booking":%q}`, b.Booking.ID)))
	st.Fails(t, k.Call(t, "booking", "complete", fmt.Sprintf(`{"booking":%q}`, b.Booking.ID)), "forbidden", "")
	st.OK(t, staff.Call(t, "booking", "complete", fmt.Sprintf(`{"booking":%q}`, b.Booking.ID)))
}

// A store that was off while a reminder came due sends, when it is back,
// only the latest reminder still ahead of the start — not a stale "see you
// tomorrow" an hour before — and none at all once the start has passed.
func TestStaleRemindersSkipped(t *testing.T) {
	s := st.Start(t, st.Options{Devices: all})
	staff := s.Connect(t, anna, "")
	var early, late bookingAnswer
	st.OK(t, book(t, staff, "dog-bath", at(tue, "10:00"), "cust-early")).Decode(t, &early)
	st.OK(t, book(t, staff, "dog-bath", at(tue, "15:00"), "cust-late")).Decode(t, &late)
	s.Stop()
	// Back at 12:00 on Tuesday: the 10:00 booking has started (no reminder),
	// the 15:00 one is 3 h ahead: its 24 h reminder is due, the 2 h not yet.
	s.Set(time.Date(2026, 11, 24, 12, 0, 0, 0, s.Now().Location()))
	s.Up()
	staff.Reconnect(t)
	staff.Subscribe(t, booking.StaffTopic)
	s.Set(time.Date(2026, 11, 24, 13, 0, 0, 0, s.Now().Location()))
	staff.WaitFor(t, 1, func(m st.Msg) bool {
		c := decodeChange(t, m)
		return c.Type == booking.ChangeReminder && c.Booking == late.Booking.ID && c.Reminder == "2h"
	})
	var got []string
	for _, c := range feed(t, staff) {
		if c.Type == booking.ChangeReminder {
			got = append(got, c.Booking+"/"+c.Reminder)
		}
	}
	want := []string{late.Booking.ID + "/24h", late.Booking.ID + "/2h"}
	if !slices.Equal(got, want) {
		t.Fatalf("reminders %v, want %v", got, want)
	}
}

// The configured limits: a customer's profiles (quota_exceeded past
// booking.max_profiles) and a list page (booking.page_size, with more).
func TestLimits(t *testing.T) {
	s := st.Start(t, st.Options{Devices: all, Config: func(c *broker.Config) {
		c.Booking.MaxProfiles = 2
		c.Booking.PageSize = 2
	}})
	staff := s.Connect(t, anna, "")
	owner := s.CustomerLogin(t, staff, "", "phone", false)
	for _, name := range []string{"Dou", "Bao"} {
		st.OK(t, owner.Call(t, "booking", "profile_put", fmt.Sprintf(`{"profile":{"kind":"pet","name":%q,"species":"cat"}}`, name)))
	}
	st.Fails(t, owner.Call(t, "booking", "profile_put", `{"profile":{"kind":"pet","name":"Mi","species":"cat"}}`), "quota_exceeded", booking.ReasonTooManyProfile)
	for _, start := range []string{at(tue, "10:00"), at(tue, "12:00"), at(tue, "14:00")} {
		st.OK(t, owner.Call(t, "booking", "book", fmt.Sprintf(`{"service":"dog-bath","start":%q}`, start)))
	}
	var page struct {
		Bookings []booking.View `json:"bookings"`
		More     bool           `json:"more"`
	}
	st.OK(t, owner.Call(t, "booking", "list", `{}`)).Decode(t, &page)
	if len(page.Bookings) != 2 || !page.More || rfc(page.Bookings[0].Start) != at(tue, "10:00") {
		t.Fatalf("first page: %+v", page)
	}
	st.OK(t, owner.Call(t, "booking", "list", `{"from":"2026-11-25"}`)).Decode(t, &page)
	if len(page.Bookings) != 0 || page.More {
		t.Fatalf("after Tuesday: %+v", page)
	}
}
