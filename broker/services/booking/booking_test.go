package booking_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker/services/booking"
	st "github.com/storeedge/storeedge/internal/testkit/storetest"
)

func TestMain(m *testing.M) {
	st.Main() // a kill -9 test's broker process runs here
	os.Exit(m.Run())
}

var (
	kiosk1 = st.Device{ID: "kiosk-1", Role: "kiosk"}
	kiosk2 = st.Device{ID: "kiosk-2", Role: "kiosk"}
	anna   = st.Device{ID: "staff-anna", Role: "staff"}
	cam    = st.Device{ID: "cam-room-1", Role: "camera"}
	bridge = st.Device{ID: "hq-bridge", Role: "cloud"}
	tablet = st.Device{ID: "tablet-1", Role: "chat-tablet"}
	all    = []st.Device{kiosk1, kiosk2, anna, cam, bridge, tablet}
)

// The test store's clock starts on Monday 2026-11-23 08:00 (+08:00).
// Tuesday's groomers: Li 09:30-18:30 (large dogs, cats), Wang 12:30-21:00;
// two tables; Coach Chen in the pool 09:30-17:30.
const tue = "2026-11-24"

func at(day, clock string) string { return day + "T" + clock + ":00+08:00" }

// rfc is a time of an answer as the wire has it.
func rfc(t time.Time) string { return t.Format(time.RFC3339) }

// bookingAnswer is the booking op family's answer.
type bookingAnswer struct {
	Booking booking.View `json:"booking"`
}

type errDetails struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Details struct {
			Reason       string             `json:"reason"`
			Alternatives []booking.SlotView `json:"alternatives"`
		} `json:"details"`
	} `json:"error"`
}

func book(t *testing.T, c *st.Client, service, start, customer string) st.Answer {
	t.Helper()
	return c.Call(t, "booking", "book", fmt.Sprintf(`{"service":%q,"start":%q,"customer":%q}`, service, start, customer))
}

func lastChange(t *testing.T, staff *st.Client) uint64 {
	t.Helper()
	var ans struct {
		Last uint64 `json:"last"`
	}
	st.OK(t, staff.Call(t, "booking", "changes", `{"limit":1}`)).Decode(t, &ans)
	return ans.Last
}

// Two kiosks race for the last free groom at one time, ten times over: each
// time one gets the booking and the other a conflict with free slots
// offered instead, and no resource is ever held twice.
func TestRaceForLastSlot(t *testing.T) {
	s := st.Start(t, st.Options{Devices: all})
	staff := s.Connect(t, anna, "")
	k1, k2 := s.Connect(t, kiosk1, ""), s.Connect(t, kiosk2, "")
	for i := range 10 {
		day := time.Date(2026, 11, 24+i, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
		start := at(day, "14:00")
		// Staff take one table and one groomer; one of each is left.
		st.OK(t, book(t, staff, "dog-groom", start, fmt.Sprintf("cust-walkin-%d", i)))
		var wg sync.WaitGroup
		answers := make([]st.Answer, 2)
		for j, k := range []*st.Client{k1, k2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a, err := k.TryCall("booking", "book", fmt.Sprintf("race-%d-%d", i, j),
					fmt.Sprintf(`{"service":"dog-groom","start":%q,"customer":"cust-race-%d-%d"}`, start, i, j))
				if err != nil {
					t.Error(err)
				}
				answers[j] = a
			}()
		}
		wg.Wait()
		var won, lost int
		for _, a := range answers {
			switch {
			case a.OK:
				won++
			case a.Error != nil && a.Error.Code == "conflict":
				lost++
				var d errDetails
				a.Decode(t, &d)
				if d.Error.Details.Reason != booking.ReasonTaken || len(d.Error.Details.Alternatives) == 0 {
					t.Fatalf("conflict without alternatives: %s", a)
				}
				for _, alt := range d.Error.Details.Alternatives {
					if alt.Start.Format(time.RFC3339) == start {
						t.Fatalf("the taken slot is offered as an alternative: %s", a)
					}
				}
			default:
				t.Fatalf("race %d: %s", i, a)
			}
		}
		if won != 1 || lost != 1 {
			t.Fatalf("race %d: %d won, %d lost; want 1 and 1", i, won, lost)
		}
	}
	// Nothing is double-booked: on the boards, no resource has two
	// overlapping bookings.
	var entries []booking.BoardEntry
	for i := range 10 {
		var board struct {
			Bookings []booking.BoardEntry `json:"bookings"`
		}
		day := time.Date(2026, 11, 24+i, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
		st.OK(t, staff.Call(t, "booking", "board", fmt.Sprintf(`{"date":%q}`, day))).Decode(t, &board)
		entries = append(entries, board.Bookings...)
	}
	if len(entries) != 20 {
		t.Fatalf("the boards have %d bookings, want 20", len(entries))
	}
	type span struct{ from, to time.Time }
	held := map[string][]span{}
	for _, b := range entries {
		from, to := b.Start, b.End.Add(15*time.Minute) // dog-groom's buffer
		for _, r := range b.Resources {
			for _, o := range held[r] {
				if from.Before(o.to) && o.from.Before(to) {
					t.Fatalf("%s is held twice at %s", r, b.Start)
				}
			}
			held[r] = append(held[r], span{from, to})
		}
	}
}

// Every kind of bad input gets its documented code and reason and changes
// nothing: the change feed does not move.
func TestBadInputChangesNothing(t *testing.T) {
	s := st.Start(t, st.Options{Devices: all})
	staff := s.Connect(t, anna, "")
	k := s.Connect(t, kiosk1, "")
	owner := s.CustomerLogin(t, staff, "", "phone", false)
	other := s.CustomerLogin(t, staff, "", "phone", false)
	var prof struct {
		Profile booking.Profile `json:"profile"`
	}
	st.OK(t, other.Call(t, "booking", "profile_put", `{"profile":{"kind":"pet","name":"Dou","species":"dog","size":"large"}}`)).Decode(t, &prof)
	before := lastChange(t, staff)
	long := strings.Repeat("x", 501)
	cases := []struct {
		name, op, body, code, reason string
		who                          *st.Client
	}{
		{"unknown service", "book", `{"service":"unicorn-wash","start":"` + at(tue, "15:00") + `","customer":"c1"}`, "not_found", booking.ReasonUnknownService, k},
		{"outside hours", "book", `{"service":"dog-groom","start":"` + at(tue, "20:30") + `","customer":"c1"}`, "bad_request", booking.ReasonOutsideHours, k},
		{"before opening", "book", `{"service":"dog-groom","start":"` + at(tue, "08:00") + `","customer":"c1"}`, "bad_request", booking.ReasonOutsideHours, k},
		{"in the past", "book", `{"service":"dog-groom","start":"2026-11-20T15:00:00+08:00","customer":"c1"}`, "bad_request", booking.ReasonInPast, k},
		{"beyond the horizon", "book", `{"service":"dog-groom","start":"2027-06-01T15:00:00+08:00","customer":"c1"}`, "bad_request", booking.ReasonBeyondHorizon, k},
		{"no offset", "book", `{"service":"dog-groom","start":"2026-11-24T15:00:00","customer":"c1"}`, "bad_request", booking.ReasonBadTime, k},
		{"not a time", "book", `{"service":"dog-groom","start":"next tuesday 3pm","customer":"c1"}`, "bad_request", booking.ReasonBadTime, k},
		{"notes too long", "book", `{"service":"dog-groom","start":"` + at(tue, "15:00") + `","customer":"c1","notes":"` + long + `"}`, "too_large", booking.ReasonTooLong, k},
		{"another customer's profile", "book", `{"service":"large-dog-groom","start":"` + at(tue, "10:00") + `","profile":"` + prof.Profile.ID + `"}`, "forbidden", booking.ReasonNotYours, owner},
		{"booking for someone else", "book", `{"service":"dog-groom","start":"` + at(tue, "15:00") + `","customer":"cust-someone"}`, "forbidden", booking.ReasonNotYours, owner},
		{"profile does not fit", "book", `{"service":"dog-groom","start":"` + at(tue, "15:00") + `","profile":"` + prof.Profile.ID + `"}`, "bad_request", booking.ReasonDoesNotFit, other},
		{"unknown field", "book", `{"service":"dog-groom","start":"` + at(tue, "15:00") + `","customer":"c1","colour":"red"}`, "bad_request", "", k},
		{"wrongly cased field", "book", `{"Service":"dog-groom","start":"` + at(tue, "15:00") + `","customer":"c1"}`, "bad_request", "", k},
		{"duplicate field", "book", `{"service":"dog-groom","start":"` + at(tue, "15:00") + `","customer":"c1","customer":"c2"}`, "bad_request", "", k},
		{"wrongly cased profile field", "profile_put", `{"profile":{"kind":"pet","Name":"Bao","species":"dog"}}`, "bad_request", "", owner},
		{"bidi override in notes", "book", `{"service":"dog-groom","start":"` + at(tue, "15:00") + `","customer":"c1","notes":"ok \u202egnirts"}`, "bad_request", "", k},
		{"NUL in a profile name", "profile_put", `{"profile":{"kind":"pet","name":"Bao\u0000","species":"dog"}}`, "bad_request", "", owner},
		{"no customer from a kiosk", "book", `{"service":"dog-groom","start":"` + at(tue, "15:00") + `"}`, "bad_request", "", k},
		{"unknown booking", "cancel", `{"booking":"bk-nothing"}`, "not_found", booking.ReasonUnknownBooking, staff},
		{"bad stage", "progress", `{"booking":"bk-nothing","stage":"flying"}`, "bad_request", "", staff},
		{"survey score", "survey", `{"booking":"bk-nothing","score":9}`, "bad_request", "", owner},
		{"availability date", "availability", `{"service":"dog-groom","date":"24/11/2026"}`, "bad_request", booking.ReasonBadTime, k},
		{"availability days", "availability", `{"service":"dog-groom","days":90}`, "bad_request", "", k},
		{"kiosk on the board", "board", `{}`, "forbidden", "", k},
		{"profile notes too long", "profile_put", `{"profile":{"kind":"pet","name":"Bao","species":"dog","notes":"` + long + `"}}`, "too_large", booking.ReasonTooLong, owner},
		{"baby without birth date", "profile_put", `{"profile":{"kind":"baby","name":"Xiaobao"}}`, "bad_request", "", owner},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := st.Fails(t, c.who.Call(t, "booking", c.op, c.body), c.code, c.reason)
			if c.reason == booking.ReasonBadTime && c.op == "book" && !strings.Contains(a.Error.Message, "RFC 3339") {
				t.Fatalf("the error does not say RFC 3339 is required: %s", a)
			}
		})
	}
	if after := lastChange(t, staff); after != before {
		t.Fatalf("bad input changed the feed: %d → %d", before, after)
	}
	var ps struct {
		Profiles []booking.Profile `json:"profiles"`
	}
	st.OK(t, owner.Call(t, "booking", "profile_list", `{}`)).Decode(t, &ps)
	if len(ps.Profiles) != 0 {
		t.Fatalf("owner has profiles after bad input: %+v", ps.Profiles)
	}
	// The other customer's profile is invisible to the owner.
	st.Fails(t, owner.Call(t, "booking", "profile_list", fmt.Sprintf(`{"customer":%q}`, prof.Profile.ID)), "forbidden", booking.ReasonNotYours)
}

// A request repeated with its id gets the first booking; nothing is booked twice.
func TestBookIdempotent(t *testing.T) {
	s := st.Start(t, st.Options{Devices: all})
	staff := s.Connect(t, anna, "")
	k := s.Connect(t, kiosk1, "")
	body := fmt.Sprintf(`{"service":"dog-bath","start":%q,"customer":"cust-x"}`, at(tue, "11:00"))
	var a1, a2 bookingAnswer
	st.OK(t, k.CallID(t, "booking", "book", "same-id", body)).Decode(t, &a1)
	before := lastChange(t, staff)
	st.OK(t, k.CallID(t, "booking", "book", "same-id", body)).Decode(t, &a2)
	if a1.Booking.ID != a2.Booking.ID || a1.Booking.ID == "" {
		t.Fatalf("repeat gave %q, first %q", a2.Booking.ID, a1.Booking.ID)
	}
	if after := lastChange(t, staff); after != before {
		t.Fatalf("a repeat filed a change: %d → %d", before, after)
	}
	// After a restart (svc's answer cache is durable, and the booking's
	// request index is too) the repeat still finds it.
	s.Restart()
	k.Reconnect(t)
	staff.Reconnect(t)
	st.OK(t, k.CallID(t, "booking", "book", "same-id", body)).Decode(t, &a2)
	if a2.Booking.ID != a1.Booking.ID {
		t.Fatalf("after restart a repeat gave %q", a2.Booking.ID)
	}
}

func decodeChange(t *testing.T, m st.Msg) booking.Change {
	t.Helper()
	var c booking.Change
	if err := json.Unmarshal(m.Payload, &c); err != nil {
		t.Fatalf("%s: %v", m.Payload, err)
	}
	return c
}
