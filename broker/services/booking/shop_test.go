package booking_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/broker/services/booking"
	st "github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/proto"
)

var (
	boss  = st.Device{ID: "admin-wu", Role: "admin"}
	boss2 = st.Device{ID: "admin-he", Role: "admin"}
	shop  = append(slices.Clone(all), boss, boss2)
)

const wed = "2026-11-25"

type catalogAnswer struct {
	Version  uint64              `json:"version"`
	Catalog  proto.ShopCatalog   `json:"catalog"`
	Stranded []proto.StrandedRef `json:"stranded"`
}

func getCatalog(t *testing.T, c *st.Client) catalogAnswer {
	t.Helper()
	var a catalogAnswer
	st.OK(t, c.Call(t, "booking", "catalog_get", `{}`)).Decode(t, &a)
	return a
}

func setCatalog(c *st.Client, t *testing.T, version uint64, cat proto.ShopCatalog, confirm bool) st.Answer {
	t.Helper()
	b, err := json.Marshal(proto.CatalogSetRequest{Version: version, Catalog: cat, Confirm: confirm})
	if err != nil {
		t.Fatal(err)
	}
	return c.Call(t, "booking", "catalog_set", string(b))
}

func serviceIn(cat proto.ShopCatalog, id string) *proto.ShopService {
	for i := range cat.Services {
		if cat.Services[i].ID == id {
			return &cat.Services[i]
		}
	}
	return nil
}

// kioskServices is what a kiosk's or a phone's service list shows.
func kioskServices(t *testing.T, c *st.Client) map[string]proto.Service {
	t.Helper()
	var cat proto.Catalogue
	st.OK(t, c.Call(t, "booking", "services", `{}`)).Decode(t, &cat)
	out := map[string]proto.Service{}
	for _, s := range cat.Services {
		out[s.ID] = s
	}
	return out
}

// An admin edits a price, adds a service and changes Monday's hours: the
// kiosk's list and the bookable times change at once, without a restart,
// and stay after one. A second admin still editing the old version gets
// conflict and changes nothing.
func TestCatalogEditedLive(t *testing.T) {
	s := st.Start(t, st.Options{Devices: shop})
	wu, he := s.Connect(t, boss, ""), s.Connect(t, boss2, "")
	k := s.Connect(t, kiosk1, "")

	seen := getCatalog(t, k) // kiosks may read it
	if seen.Version != 1 || seen.Catalog.TimeZone != "Asia/Shanghai" || serviceIn(seen.Catalog, "dog-bath") == nil ||
		serviceIn(seen.Catalog, "dog-bath").Price != 8800 || seen.Catalog.Hours.Mon[0] != "09:30-21:00" {
		t.Fatalf("seeded catalogue: %+v", seen)
	}
	if got := kioskServices(t, k)["dog-bath"].Price; got != 8800 {
		t.Fatalf("dog-bath costs %d before the edit", got)
	}

	// Both admins open the catalogue; Wu saves first.
	a, b := getCatalog(t, wu), getCatalog(t, he)
	edit := a.Catalog
	serviceIn(edit, "dog-bath").Price = 9900
	edit.Services = append(edit.Services, proto.ShopService{ID: "cat-nails", Name: proto.Text{ZH: "猫咪剪指甲", EN: "Cat nail trim"},
		Category: "pet", Minutes: 20, Price: 3000, Currency: "CNY", Needs: []proto.Need{{Kind: "table"}}, Species: []string{"cat"}})
	edit.Hours.Tue = []string{"12:00-18:00"}
	var saved catalogAnswer
	st.OK(t, setCatalog(wu, t, a.Version, edit, false)).Decode(t, &saved)
	if saved.Version != 2 || serviceIn(saved.Catalog, "cat-nails") == nil {
		t.Fatalf("saved: %+v", saved)
	}
	svcs := kioskServices(t, k)
	if svcs["dog-bath"].Price != 9900 || svcs["cat-nails"].Minutes != 20 {
		t.Fatalf("the kiosk still shows the old catalogue: %+v", svcs)
	}
	// Tuesday now opens at 12:00: 10:00 is outside the hours, 12:00 books.
	st.Fails(t, book(t, k, "cat-nails", at(tue, "10:00"), "cust-mia"), "bad_request", booking.ReasonOutsideHours)
	st.OK(t, book(t, k, "cat-nails", at(tue, "12:00"), "cust-mia"))

	// He edits the version he opened: conflict, nothing saved.
	old := b.Catalog
	serviceIn(old, "dog-bath").Price = 5000
	a2 := setCatalog(he, t, b.Version, old, false)
	st.Fails(t, a2, "conflict", booking.ReasonStaleVersion)
	if !strings.Contains(a2.Error.Message, "reload") {
		t.Fatalf("the conflict does not say what to do: %s", a2)
	}
	if got := kioskServices(t, k)["dog-bath"].Price; got != 9900 {
		t.Fatalf("a stale edit changed the price to %d", got)
	}

	// Durable: a restart keeps the edit (services.yaml does not win).
	s.Restart()
	k = s.Connect(t, kiosk1, "")
	if got := getCatalog(t, k); got.Version != 2 || serviceIn(got.Catalog, "dog-bath").Price != 9900 || got.Catalog.Hours.Tue[0] != "12:00-18:00" {
		t.Fatalf("after a restart: %+v", got)
	}
}

// A catalogue that breaks the rules is refused with every problem named in
// people's words, and changes nothing; only admins edit.
func TestCatalogRefusedChangesNothing(t *testing.T) {
	s := st.Start(t, st.Options{Devices: shop})
	wu, staff := s.Connect(t, boss, ""), s.Connect(t, anna, "")
	a := getCatalog(t, wu)
	st.Fails(t, setCatalog(staff, t, a.Version, a.Catalog, false), "forbidden", "")

	bad := a.Catalog
	bad.Services = slices.Clone(bad.Services)
	bad.Services[0].Price = -1
	bad.Services[1].Name.EN = ""
	bad.Services[2].Minutes = 0
	bad.Services[3].Needs = []proto.Need{{Kind: "sauna"}}
	bad.Hours.Wed = []string{"9 to 5"}
	ans := setCatalog(wu, t, a.Version, bad, false)
	st.Fails(t, ans, "bad_request", booking.ReasonInvalid)
	var d struct {
		Error struct {
			Details struct {
				Errors []string `json:"errors"`
			} `json:"details"`
		} `json:"error"`
	}
	ans.Decode(t, &d)
	want := []string{"services[0] (dog-groom).price: -1 is negative", "services[1] (dog-bath).name: needs both zh and en",
		"services[2] (large-dog-groom).minutes:", `services[3] (cat-groom).needs[0]: kind "sauna": no resource of that kind`,
		`hours.wed: "9 to 5"`}
	for _, w := range want {
		if !slices.ContainsFunc(d.Error.Details.Errors, func(e string) bool { return strings.Contains(e, w) }) {
			t.Errorf("no error says %q: %q", w, d.Error.Details.Errors)
		}
	}
	for _, e := range d.Error.Details.Errors {
		if strings.Contains(e, "booking.") || strings.Contains(e, "catServiceConf") || strings.Contains(e, ".duration") {
			t.Errorf("an error speaks Go or the file's names: %q", e)
		}
	}
	if st.OK(t, wu.Call(t, "booking", "services", `{}`)); getCatalog(t, wu).Version != a.Version {
		t.Fatal("a refused catalogue changed the version")
	}
	if got := kioskServices(t, wu)["dog-groom"].Price; got != 16800 {
		t.Fatalf("a refused catalogue changed a price to %d", got)
	}
	// The time zone is the store's.
	tz := a.Catalog
	tz.TimeZone = "Europe/Paris"
	st.Fails(t, setCatalog(wu, t, a.Version, tz, false), "bad_request", booking.ReasonInvalid)
}

// A change that would strand bookings says which before anything is saved;
// with confirm it is saved and the bookings stay for staff to move.
func TestCatalogChangeThatStrandsBookings(t *testing.T) {
	s := st.Start(t, st.Options{Devices: shop})
	wu, staff := s.Connect(t, boss, ""), s.Connect(t, anna, "")
	var groom, swim bookingAnswer
	st.OK(t, book(t, staff, "dog-groom", at(tue, "19:00"), "cust-lin")).Decode(t, &groom)
	st.OK(t, book(t, staff, "baby-swim", at(tue, "10:00"), "cust-zhou")).Decode(t, &swim)

	a := getCatalog(t, wu)
	edit := a.Catalog
	// Tuesday closes at 18:00 now, and the pool is gone (with the swim).
	edit.Hours.Tue = []string{"09:30-18:00"}
	edit.Resources = slices.DeleteFunc(slices.Clone(edit.Resources), func(r proto.ShopResource) bool { return r.ID == "pool" })
	edit.Services = slices.DeleteFunc(slices.Clone(edit.Services), func(s proto.ShopService) bool { return s.ID == "baby-swim" })
	ans := setCatalog(wu, t, a.Version, edit, false)
	st.Fails(t, ans, "conflict", booking.ReasonStrands)
	var d struct {
		Error struct {
			Message string `json:"message"`
			Details struct {
				Count    int                 `json:"count"`
				Stranded []proto.StrandedRef `json:"stranded"`
			} `json:"details"`
		} `json:"error"`
	}
	ans.Decode(t, &d)
	why := map[string]string{}
	for _, r := range d.Error.Details.Stranded {
		why[r.Booking] = r.Why
	}
	if d.Error.Details.Count != 2 || !strings.Contains(why[groom.Booking.ID], "outside the opening hours") ||
		!strings.Contains(why[swim.Booking.ID], "baby-swim is no longer offered") || !strings.Contains(d.Error.Message, "nothing was saved") {
		t.Fatalf("stranded: %s", ans)
	}
	if getCatalog(t, wu).Version != a.Version || kioskServices(t, wu)["baby-swim"].ID == "" {
		t.Fatal("a refused change was saved")
	}
	var saved catalogAnswer
	st.OK(t, setCatalog(wu, t, a.Version, edit, true)).Decode(t, &saved)
	if saved.Version != a.Version+1 || len(saved.Stranded) != 2 {
		t.Fatalf("confirmed: %+v", saved)
	}
	if _, ok := kioskServices(t, wu)["baby-swim"]; ok {
		t.Fatal("baby-swim is still offered")
	}
	var g bookingAnswer
	st.OK(t, staff.Call(t, "booking", "get", fmt.Sprintf(`{"booking":%q}`, groom.Booking.ID))).Decode(t, &g)
	if g.Booking.Status != booking.StatusBooked {
		t.Fatalf("a stranded booking was changed: %+v", g.Booking)
	}
}

// The owner closes Wednesday for staff training: a customer booked that day
// is told in her conversation, with the nearest free slots after; booking
// that day is refused with the reason; availability shows the day closed;
// the closure survives a restart; reopening makes the day bookable again.
func TestClosure(t *testing.T) {
	s := st.Start(t, st.Options{Devices: shop})
	wu, staff := s.Connect(t, boss, ""), s.Connect(t, anna, "")
	k := s.Connect(t, kiosk1, "")
	mom := s.CustomerLogin(t, staff, "", "phone", false)
	st.OK(t, mom.Call(t, "chat", "open", `{}`))
	var swim bookingAnswer
	st.OK(t, mom.Call(t, "booking", "book", fmt.Sprintf(`{"service":"baby-swim","start":%q}`, at(wed, "10:00")))).Decode(t, &swim)

	st.Fails(t, staff.Call(t, "booking", "closure_add", fmt.Sprintf(`{"date":%q,"reason":{"zh":"员工培训","en":"Staff training"}}`, wed)), "forbidden", "")
	st.Fails(t, wu.Call(t, "booking", "closure_add", fmt.Sprintf(`{"date":%q,"reason":{"zh":"员工培训","en":""}}`, wed)), "bad_request", "")
	st.Fails(t, wu.Call(t, "booking", "closure_add", `{"date":"2026-11-20","reason":{"zh":"过去","en":"Past"}}`), "bad_request", booking.ReasonInPast)
	var added proto.ClosureAnswer
	st.OK(t, wu.Call(t, "booking", "closure_add", fmt.Sprintf(`{"date":%q,"reason":{"zh":"员工培训","en":"Staff training"}}`, wed))).Decode(t, &added)
	if added.Closure.ID == "" || added.AffectedCount != 1 || len(added.Affected) != 1 || added.Affected[0].Booking != swim.Booking.ID {
		t.Fatalf("closure: %+v", added)
	}

	// The mother is told in her conversation, with slots on Thursday.
	var card struct {
		Type, Event, Booking string
		Reason               proto.Text
		Alternatives         []booking.SlotView
	}
	for _, m := range chatHistory(t, mom, mom.Username) {
		if m.From == booking.ChatSender && m.Kind == "card" {
			if err := json.Unmarshal(m.Card, &card); err != nil {
				t.Fatal(err)
			}
		}
	}
	if card.Event != booking.EventClosed || card.Booking != swim.Booking.ID || card.Reason.ZH != "员工培训" || len(card.Alternatives) == 0 {
		t.Fatalf("the customer's card: %+v", card)
	}
	for _, alt := range card.Alternatives {
		if rfc(alt.Start) < at("2026-11-26", "00:00") {
			t.Fatalf("an alternative on the closed day: %+v", card.Alternatives)
		}
	}

	// Booking on the closed day: refused with the reason and slots after it.
	checkClosed := func(a st.Answer) {
		t.Helper()
		st.Fails(t, a, "bad_request", booking.ReasonClosed)
		var d struct {
			Error struct {
				Message string `json:"message"`
				Details struct {
					Closure      proto.Closure      `json:"closure"`
					Alternatives []booking.SlotView `json:"alternatives"`
				} `json:"details"`
			} `json:"error"`
		}
		a.Decode(t, &d)
		if d.Error.Details.Closure.Reason.EN != "Staff training" || !strings.Contains(d.Error.Message, "Staff training") ||
			len(d.Error.Details.Alternatives) == 0 || rfc(d.Error.Details.Alternatives[0].Start) < at("2026-11-26", "00:00") {
			t.Fatalf("closed-day refusal: %s", a)
		}
	}
	checkClosed(book(t, k, "dog-bath", at(wed, "14:00"), "cust-ann"))
	var avail proto.Availability
	st.OK(t, k.Call(t, "booking", "availability", fmt.Sprintf(`{"service":"dog-bath","date":%q,"days":2}`, tue))).Decode(t, &avail)
	if len(avail.Days) != 2 || len(avail.Days[0].Slots) == 0 || len(avail.Days[1].Slots) != 0 || avail.Days[1].Closed == nil || avail.Days[1].Closed.EN != "Staff training" {
		t.Fatalf("availability over the closure: %+v", avail)
	}
	var list proto.ClosureList
	st.OK(t, mom.Call(t, "booking", "closure_list", `{}`)).Decode(t, &list)
	if !slices.ContainsFunc(list.Closures, func(c proto.Closure) bool { return c.ID == added.Closure.ID }) {
		t.Fatalf("closure_list: %+v", list)
	}

	// The swim on the closed day is the closure's doing, not a catalogue
	// edit's: a price change saves without a warning about it.
	cur := getCatalog(t, wu)
	serviceIn(cur.Catalog, "tasting").Price = 500
	st.OK(t, setCatalog(wu, t, cur.Version, cur.Catalog, false))

	s.Restart()
	wu, k = s.Connect(t, boss, ""), s.Connect(t, kiosk1, "")
	checkClosed(book(t, k, "dog-bath", at(wed, "14:00"), "cust-ann"))
	st.Fails(t, wu.Call(t, "booking", "closure_remove", `{"closure":"cl-nope"}`), "not_found", booking.ReasonUnknownClosure)
	st.OK(t, wu.Call(t, "booking", "closure_remove", fmt.Sprintf(`{"closure":%q}`, added.Closure.ID)))
	st.OK(t, book(t, k, "dog-bath", at(wed, "14:00"), "cust-ann"))
}

// Closures not yet over are bounded by booking.max_closures; one more is
// refused with a documented code.
func TestClosuresBounded(t *testing.T) {
	s := st.Start(t, st.Options{Devices: shop, Config: func(c *broker.Config) { c.Booking.MaxClosures = 3 }})
	wu := s.Connect(t, boss, "")
	// faq.yaml's Spring Festival 2027 is seeded as a closure.
	var list proto.ClosureList
	st.OK(t, wu.Call(t, "booking", "closure_list", `{}`)).Decode(t, &list)
	if len(list.Closures) != 1 || list.Closures[0].Date != "2027-02-05" || list.Closures[0].Reason.EN != "春节 Spring Festival" {
		t.Fatalf("seeded closures: %+v", list)
	}
	for i := range 2 {
		st.OK(t, wu.Call(t, "booking", "closure_add", fmt.Sprintf(`{"date":"2026-12-%02d","reason":{"zh":"休息","en":"Closed"}}`, 10+i)))
	}
	st.Fails(t, wu.Call(t, "booking", "closure_add", `{"date":"2026-12-20","reason":{"zh":"休息","en":"Closed"}}`), "quota_exceeded", booking.ReasonTooManyClosures)
}

// The hours live with the catalogue: the assistant's hours answer and its
// after-hours reply follow an admin's edit at once.
func TestAssistantHoursFollowTheCatalogue(t *testing.T) {
	s := st.Start(t, st.Options{Devices: shop})
	wu, staff := s.Connect(t, boss, ""), s.Connect(t, anna, "")
	cust := s.CustomerLogin(t, staff, "", "phone", false)
	st.OK(t, cust.Call(t, "chat", "open", `{}`))
	ask := func(text string) chatMsg {
		t.Helper()
		st.OK(t, cust.Call(t, "chat", "send", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":%q}`, cust.Username, text)))
		h := chatHistory(t, cust, cust.Username)
		return h[len(h)-1]
	}
	// Monday 08:00: closed until 09:30.
	if m := ask("What are your opening hours?"); !strings.Contains(m.Text, "Mon–Thu 9:30–21:00") {
		t.Fatalf("hours answer before the edit: %q", m.Text)
	}
	a := getCatalog(t, wu)
	edit := a.Catalog
	edit.Hours.Mon = []string{"10:00-20:00"}
	st.OK(t, setCatalog(wu, t, a.Version, edit, false))
	if m := ask("What are your opening hours?"); !strings.Contains(m.Text, "Mon 10:00–20:00") || !strings.Contains(m.Text, "Tue–Thu 9:30–21:00") {
		t.Fatalf("hours answer after the edit: %q", m.Text)
	}
	if m := ask("is the parking free for bicycles"); !strings.Contains(m.Text, "today at 10:00") {
		t.Fatalf("after-hours reply after the edit: %q", m.Text)
	}
	st.OK(t, wu.Call(t, "booking", "closure_add", `{"date":"2026-11-24","until":"2026-11-25","reason":{"zh":"店庆","en":"Shop party"}}`))
	if m := ask("你们几点开门?"); !strings.Contains(m.Text, "11月24日–11月25日（店庆 Shop party）") {
		t.Fatalf("hours answer with a closure: %q", m.Text)
	}
}

// services.yaml seeds the catalogue: a changed file is applied at the next
// start while nobody edited the catalogue in the console, and ignored after.
func TestServicesFileSeedsTheCatalogue(t *testing.T) {
	file := filepath.Join(t.TempDir(), "services.yaml")
	yaml, err := os.ReadFile("../../../configs/services.yaml")
	if err != nil {
		t.Fatal(err)
	}
	write := func(price string) {
		t.Helper()
		b := strings.Replace(string(yaml), "price: 8800", "price: "+price, 1)
		if err := os.WriteFile(file, []byte(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("8800")
	s := st.Start(t, st.Options{Devices: shop, Config: func(c *broker.Config) { c.Booking.ServicesFile = file }})
	wu := s.Connect(t, boss, "")
	if got := kioskServices(t, wu)["dog-bath"].Price; got != 8800 {
		t.Fatalf("seeded price %d", got)
	}
	write("9000")
	s.Restart()
	wu = s.Connect(t, boss, "")
	a := getCatalog(t, wu)
	if serviceIn(a.Catalog, "dog-bath").Price != 9000 || a.Version != 2 {
		t.Fatalf("the edited file was not applied: %+v", a)
	}
	serviceIn(a.Catalog, "dog-bath").Price = 9500
	st.OK(t, setCatalog(wu, t, a.Version, a.Catalog, false))
	write("7000")
	s.Restart()
	wu = s.Connect(t, boss, "")
	if got := kioskServices(t, wu)["dog-bath"].Price; got != 9500 {
		t.Fatalf("the file overrode the console's edit: %d", got)
	}
}
