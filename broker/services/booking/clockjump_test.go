package booking_test

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker/services/booking"
	st "github.com/storeedge/storeedge/internal/testkit/storetest"
)

// dropped reads storeedge_booking_schedule_dropped_total from /metrics.
func dropped(t *testing.T, s *st.Store) map[string]float64 {
	t.Helper()
	res, err := http.Get("http://" + s.HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	got := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		l := sc.Text()
		rest, ok := strings.CutPrefix(l, `storeedge_booking_schedule_dropped_total{what="`)
		if !ok {
			continue
		}
		what, v, _ := strings.Cut(rest, `"} `)
		got[what], _ = strconv.ParseFloat(v, 64)
	}
	return got
}

// settle waits until the scheduler has caught up with the clock (its
// tick is 50 ms): the feed stops growing for a few ticks.
func settle(t *testing.T, staff *st.Client) []booking.Change {
	t.Helper()
	prev, same := -1, 0
	for deadline := time.Now().Add(10 * time.Second); ; {
		f := feed(t, staff)
		if len(f) == prev {
			if same++; same == 5 {
				return f
			}
		} else {
			prev, same = len(f), 0
		}
		if time.Now().After(deadline) {
			t.Fatal("the change feed kept growing for 10 s")
		}
		time.Sleep(50 * time.Millisecond) // polling the feed with a deadline
	}
}

// counts counts a feed's reminders by booking/lead and its survey invites.
func counts(f []booking.Change) (reminders map[string]int, surveys int) {
	reminders = map[string]int{}
	for _, c := range f {
		switch c.Type {
		case booking.ChangeReminder:
			reminders[c.Booking+"/"+c.Reminder]++
		case booking.ChangeSurveyInvite:
			surveys++
		}
	}
	return reminders, surveys
}

// The box's clock jumps forward a week (it was off, or booted with a time
// NTP then corrected): no flood. Reminders of bookings that have begun are
// dropped, of one booking's reminders due at once only the latest goes,
// and a survey days late is dropped; /metrics counts each.
func TestClockJumpForwardNoFlood(t *testing.T) {
	s := st.Start(t, st.Options{Devices: all})
	staff := s.Connect(t, anna, "")
	k := s.Connect(t, kiosk1, "")
	var a, b, done bookingAnswer
	st.OK(t, book(t, k, "dog-bath", at("2026-11-26", "10:00"), "cust-a")).Decode(t, &a) // reminders due Wed 10:00, Thu 08:00
	st.OK(t, book(t, k, "dog-bath", at("2026-11-25", "14:00"), "cust-b")).Decode(t, &b) // Tue 14:00, Wed 12:00
	st.OK(t, book(t, k, "dog-bath", at(tue, "10:00"), "cust-done")).Decode(t, &done)
	s.Set(time.Date(2026, 11, 24, 10, 0, 0, 0, s.Now().Location()))
	st.OK(t, staff.Call(t, "booking", "check_in", fmt.Sprintf(`{"booking":%q}`, done.Booking.ID)))
	st.OK(t, staff.Call(t, "booking", "complete", fmt.Sprintf(`{"booking":%q}`, done.Booking.ID))) // survey due 11:00
	if rem, surveys := counts(settle(t, staff)); len(rem) != 0 || surveys != 0 {
		t.Fatalf("before the jump: %v, %d surveys", rem, surveys)
	}
	// cust-done's own reminders may have been let go as late when the clock
	// was set to her start, if the scheduler ticked before her check-in:
	// count only what the jump lets go.
	before := dropped(t, s)

	// Forward to Thursday 08:30: cust-b's booking began yesterday, cust-a's
	// 24 h and 2 h reminders are both due: only the 2 h one goes.
	s.Jump(time.Date(2026, 11, 26, 8, 30, 0, 0, s.Now().Location()))
	rem, surveys := counts(settle(t, staff))
	if rem[a.Booking.ID+"/2h"] != 1 || rem[a.Booking.ID+"/24h"] != 0 || rem[b.Booking.ID+"/24h"] != 0 || rem[b.Booking.ID+"/2h"] != 0 {
		t.Errorf("reminders after the jump: %v (a %s, b %s)", rem, a.Booking.ID, b.Booking.ID)
	}
	if surveys != 0 {
		t.Errorf("%d survey invitations sent two days late", surveys)
	}
	d := dropped(t, s)
	for what, n := range before {
		d[what] -= n
	}
	if d["reminder_late"] != 2 || d["reminder_stale"] != 1 || d["survey_late"] != 1 {
		t.Errorf("drops counted: %v; want 2 late reminders (cust-b's), 1 stale (cust-a's 24 h), 1 late survey", d)
	}
}

// The clock jumps back an hour after a reminder went, then runs on past
// it again: the reminder does not go twice (fired entries are deleted in
// the firing transaction), and the clock set back does not make the next
// reminder go early.
func TestClockJumpBackNoRepeat(t *testing.T) {
	s := st.Start(t, st.Options{Devices: all})
	staff := s.Connect(t, anna, "")
	k := s.Connect(t, kiosk1, "")
	var a bookingAnswer
	st.OK(t, book(t, k, "dog-bath", at("2026-11-25", "10:00"), "cust-a")).Decode(t, &a)
	loc := s.Now().Location()
	s.Set(time.Date(2026, 11, 24, 10, 0, 0, 0, loc))
	for deadline := time.Now().Add(10 * time.Second); ; {
		if rem, _ := counts(feed(t, staff)); rem[a.Booking.ID+"/24h"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the 24 h reminder did not go when due")
		}
		time.Sleep(20 * time.Millisecond) // polling the feed with a deadline
	}
	s.Jump(time.Date(2026, 11, 24, 9, 0, 0, 0, loc)) // back an hour
	settle(t, staff)
	s.Jump(time.Date(2026, 11, 25, 7, 59, 0, 0, loc)) // a minute before the 2 h reminder
	rem, _ := counts(settle(t, staff))
	if rem[a.Booking.ID+"/24h"] != 1 || rem[a.Booking.ID+"/2h"] != 0 {
		t.Fatalf("after the jump back and on: %v; want the 24 h reminder once and the 2 h one not yet", rem)
	}
	s.Jump(time.Date(2026, 11, 25, 8, 0, 0, 0, loc))
	for deadline := time.Now().Add(10 * time.Second); ; {
		if rem, _ := counts(feed(t, staff)); rem[a.Booking.ID+"/2h"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the 2 h reminder did not go when due")
		}
		time.Sleep(20 * time.Millisecond) // polling the feed with a deadline
	}
	rem, _ = counts(settle(t, staff))
	if rem[a.Booking.ID+"/24h"] != 1 || rem[a.Booking.ID+"/2h"] != 1 {
		t.Fatalf("in the end: %v", rem)
	}
}

// A booking made while the box's clock still said last week (not yet set
// by NTP): its reminders come from the start the customer chose, so once
// the clock is set they go at the right time, not a week off.
func TestBookingMadeWhileUnsyncedRemindsOnTime(t *testing.T) {
	s := st.Start(t, st.Options{Devices: all, Start: time.Date(2026, 11, 16, 8, 0, 0, 0, st.DefaultStart.Location())})
	staff := s.Connect(t, anna, "")
	k := s.Connect(t, kiosk1, "")
	var a bookingAnswer
	st.OK(t, book(t, k, "dog-bath", at("2026-11-25", "10:00"), "cust-a")).Decode(t, &a)
	loc := s.Now().Location()
	s.Jump(time.Date(2026, 11, 24, 9, 59, 0, 0, loc)) // NTP: a week and a day on
	if rem, _ := counts(settle(t, staff)); len(rem) != 0 {
		t.Fatalf("reminders before they are due: %v", rem)
	}
	s.Set(time.Date(2026, 11, 24, 10, 0, 0, 0, loc))
	for deadline := time.Now().Add(10 * time.Second); ; {
		if rem, _ := counts(feed(t, staff)); rem[a.Booking.ID+"/24h"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the 24 h reminder did not go at 24 h before the start")
		}
		time.Sleep(20 * time.Millisecond) // polling the feed with a deadline
	}
}

// The clock goes back an hour between two chat messages and between two
// booking changes: the conversation's history and the change feed keep the
// order they were sent in (sequence numbers decide it; the times are only
// shown, and say what the clock said).
func TestClockBackKeepsSendOrder(t *testing.T) {
	s := st.Start(t, st.Options{Devices: all})
	staff := s.Connect(t, anna, "")
	k := s.Connect(t, kiosk1, "")
	var a bookingAnswer
	st.OK(t, book(t, k, "dog-bath", at(tue, "11:00"), "cust-aaaa")).Decode(t, &a) // opens her conversation with a card
	cust := s.CustomerLogin(t, staff, "cust-aaaa", "phone", false)
	st.OK(t, cust.Call(t, "chat", "send", `{"conversation":"cust-aaaa","kind":"text","text":"first"}`))
	st.OK(t, staff.Call(t, "booking", "reschedule", fmt.Sprintf(`{"booking":%q,"start":%q}`, a.Booking.ID, at(tue, "13:00"))))
	s.Jump(s.Now().Add(-time.Hour))
	st.OK(t, cust.Call(t, "chat", "send", `{"conversation":"cust-aaaa","kind":"text","text":"second"}`))
	st.OK(t, staff.Call(t, "booking", "reschedule", fmt.Sprintf(`{"booking":%q,"start":%q}`, a.Booking.ID, at(tue, "15:00"))))

	var hist struct {
		Messages []struct {
			Seq  uint64    `json:"seq"`
			Text string    `json:"text"`
			TS   time.Time `json:"ts"`
		} `json:"messages"`
	}
	st.OK(t, staff.Call(t, "chat", "history", `{"conversation":"cust-aaaa"}`)).Decode(t, &hist)
	var texts []string
	var first, second time.Time
	for i, m := range hist.Messages {
		if i > 0 && m.Seq <= hist.Messages[i-1].Seq {
			t.Fatalf("history out of order: %+v", hist.Messages)
		}
		if m.Text == "first" || m.Text == "second" { // not the assistant's answers
			texts = append(texts, m.Text)
		}
		switch m.Text {
		case "first":
			first = m.TS
		case "second":
			second = m.TS
		}
	}
	if strings.Join(texts, ",") != "first,second" {
		t.Fatalf("history shows %v, not the send order", texts)
	}
	if !second.Before(first) {
		t.Fatalf("the second message's time %v is not the clock set back (first %v): the test did not move the clock", second, first)
	}

	var starts []string
	var prev booking.Change
	for _, c := range feed(t, staff) {
		if c.Booking != a.Booking.ID || c.Type != booking.ChangeRescheduled {
			continue
		}
		if prev.Seq != 0 && !c.TS.Before(prev.TS) {
			t.Fatalf("the second change's time %v is not the clock set back (%v)", c.TS, prev.TS)
		}
		prev = c
		starts = append(starts, c.Start.In(s.Now().Location()).Format("15:04"))
	}
	if strings.Join(starts, ",") != "13:00,15:00" {
		t.Fatalf("the feed shows the moves as %v, not in the order made", starts)
	}
	var now bookingAnswer
	st.OK(t, staff.Call(t, "booking", "get", fmt.Sprintf(`{"booking":%q}`, a.Booking.ID))).Decode(t, &now)
	if now.Booking.Start.In(s.Now().Location()).Format("15:04") != "15:00" {
		t.Fatalf("the booking starts at %v, not where it was moved last", now.Booking.Start)
	}
}
