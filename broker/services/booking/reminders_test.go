package booking_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker/services/booking"
	st "github.com/storeedge/storeedge/internal/testkit/storetest"
)

// feed reads the whole change feed.
func feed(t *testing.T, staff *st.Client) []booking.Change {
	t.Helper()
	var all []booking.Change
	var after uint64
	for {
		var ans struct {
			Changes []booking.Change `json:"changes"`
		}
		st.OK(t, staff.Call(t, "booking", "changes", fmt.Sprintf(`{"after":%d}`, after))).Decode(t, &ans)
		if len(ans.Changes) == 0 {
			return all
		}
		for _, c := range ans.Changes {
			if c.Seq != after+1 {
				t.Fatalf("the feed has a gap: %d after %d", c.Seq, after)
			}
			after = c.Seq
		}
		all = append(all, ans.Changes...)
	}
}

// reminderCount counts the reminders per booking and lead time, once from
// the change feed and once from the customers' conversations.
func reminderCount(t *testing.T, staff *st.Client, customers []string) (fromFeed, fromChat map[string]int) {
	t.Helper()
	fromFeed, fromChat = map[string]int{}, map[string]int{}
	for _, c := range feed(t, staff) {
		if c.Type == booking.ChangeReminder {
			fromFeed[c.Booking+"/"+c.Reminder]++
		}
	}
	for _, cust := range customers {
		var hist struct {
			Messages []struct {
				Card json.RawMessage `json:"card"`
			} `json:"messages"`
		}
		st.OK(t, staff.Call(t, "chat", "history", fmt.Sprintf(`{"conversation":%q}`, cust))).Decode(t, &hist)
		for _, m := range hist.Messages {
			var card struct {
				Type, Booking, Reminder string
			}
			if json.Unmarshal(m.Card, &card) == nil && card.Type == "reminder" {
				fromChat[card.Booking+"/"+card.Reminder]++
			}
		}
	}
	return fromFeed, fromChat
}

// The scheduler survives kill -9: twenty bookings' reminders come due while
// the clock runs through two days and the broker process is killed again
// and again at random moments. In the end every booking got its 24 h and
// its 2 h reminder exactly once — in the change feed and in the customer's
// conversation.
func TestRemindersSurviveKill9(t *testing.T) {
	s := st.Start(t, st.Options{Devices: all, Process: true})
	staff := s.Connect(t, anna, "")
	var ids, customers []string
	var starts []time.Time
	for i := range 20 {
		cust := fmt.Sprintf("cust-r%02d", i)
		day := "2026-11-24"
		if i%2 == 1 {
			day = "2026-11-25"
		}
		m := 10*60 + (i/2)*45 // Ms Liu's massages: 30 min plus a 10 min buffer
		start := at(day, fmt.Sprintf("%02d:%02d", m/60, m%60))
		var a bookingAnswer
		st.OK(t, staff.Call(t, "booking", "book", fmt.Sprintf(`{"service":"baby-massage","start":%q,"customer":%q}`, start, cust))).Decode(t, &a)
		ids, customers = append(ids, a.Booking.ID), append(customers, cust)
		t0, _ := time.Parse(time.RFC3339, start)
		starts = append(starts, t0)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	end := time.Date(2026, 11, 25, 18, 0, 0, 0, s.Now().Location())
	// due counts the reminders due by now: each must fire while the store
	// runs (one that comes due while it is down past a later one is
	// skipped on purpose, so the test lets the store catch up every step).
	due := func(now time.Time) int {
		n := 0
		for _, st := range starts {
			for _, lead := range []time.Duration{24 * time.Hour, 2 * time.Hour} {
				if !st.Add(-lead).After(now) {
					n++
				}
			}
		}
		return n
	}
	kills := 0
	var fromFeed, fromChat map[string]int
	for s.Now().Before(end) {
		s.Advance(20 * time.Minute)
		if rng.IntN(4) == 0 {
			// Let the scheduler get going (it ticks every 50 ms), then kill
			// it somewhere in the middle of firing.
			time.Sleep(time.Duration(rng.IntN(60)) * time.Millisecond) // a random kill moment, not a wait for a result
			s.Kill()
			s.Up()
			staff.Reconnect(t)
			kills++
		}
		want := due(s.Now())
		deadline := time.Now().Add(20 * time.Second)
		for {
			fromFeed, fromChat = reminderCount(t, staff, customers)
			total := 0
			for _, n := range fromFeed {
				total += n
			}
			if total >= want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("at %v: %d reminders fired, %d due", s.Now(), total, want)
			}
			time.Sleep(20 * time.Millisecond) // polling the feed with a deadline
		}
	}
	for _, id := range ids {
		for _, lead := range []string{"24h", "2h"} {
			if fromFeed[id+"/"+lead] != 1 || fromChat[id+"/"+lead] != 1 {
				t.Errorf("%s %s reminder: %d in the feed, %d in the chat; want 1 and 1", id, lead, fromFeed[id+"/"+lead], fromChat[id+"/"+lead])
			}
		}
	}
	if kills < 10 {
		t.Fatalf("only %d kills", kills)
	}
	t.Logf("%d kills", kills)
}
