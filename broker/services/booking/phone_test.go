package booking_test

import (
	"fmt"
	"strings"
	"testing"

	st "github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/proto"
)

// A price question gets the catalogue's prices from the assistant, even
// before opening (08:00 on Monday), instead of the after-hours reply; a
// question that is not about prices still gets the after-hours reply.
func TestPriceQuestionAnswered(t *testing.T) {
	s := st.Start(t, st.Options{Devices: all})
	staff := s.Connect(t, anna, "")
	phone := s.CustomerLogin(t, staff, "", "phone", false)
	st.OK(t, phone.Call(t, "chat", "open", `{}`))
	ask := func(text, lang string) []chatMsg {
		t.Helper()
		before := len(chatHistory(t, phone, phone.Username))
		st.OK(t, phone.Call(t, "chat", "send", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":%q,"lang":%q}`, phone.Username, text, lang)))
		return chatHistory(t, phone, phone.Username)[before+1:]
	}
	replies := func(ms []chatMsg) string {
		var out []string
		for _, m := range ms {
			out = append(out, m.From+": "+m.Text)
		}
		return strings.Join(out, "\n")
	}
	got := replies(ask("How much is a dog bath?", "en"))
	if !strings.Contains(got, "Dog bath (small/medium): ¥88 (60 min)") || strings.Contains(got, "closed") {
		t.Fatalf("a price question before opening got:\n%s", got)
	}
	got = replies(ask("猫咪洗护多少钱？", "zh"))
	if !strings.Contains(got, "猫咪洗护：¥198（90 分钟）") || strings.Contains(got, "小中型犬洗澡") {
		t.Fatalf("a price question in Chinese got:\n%s", got)
	}
	got = replies(ask("Do you sell leads?", "en"))
	if !strings.Contains(got, "closed") {
		t.Fatalf("another question before opening got:\n%s", got)
	}
}

// The catalogue carries the week's opening hours, for the phone page.
func TestCatalogueWeek(t *testing.T) {
	s := st.Start(t, st.Options{Devices: all})
	phone := s.CustomerLogin(t, s.Connect(t, anna, ""), "", "phone", false)
	var c proto.Catalogue
	st.OK(t, phone.Call(t, "booking", "services", `{}`)).Decode(t, &c)
	if len(c.Week) != 7 || c.Week[0].Date != "2026-11-23" || strings.Join(c.Week[0].Open, ",") != "09:30-21:00" ||
		strings.Join(c.Week[6].Open, ",") != "09:00-20:00" {
		t.Fatalf("week: %+v", c.Week)
	}
}

// A customer books, moves and cancels her own visits only: naming another
// customer, or touching another's booking, is forbidden.
func TestCustomerBooksOnlyForHerself(t *testing.T) {
	s := st.Start(t, st.Options{Devices: all})
	staff := s.Connect(t, anna, "")
	her := s.CustomerLogin(t, staff, "", "phone", false)
	other := s.CustomerLogin(t, staff, "", "phone", false)
	st.Fails(t, her.Call(t, "booking", "book", fmt.Sprintf(`{"service":"dog-bath","start":%q,"customer":%q}`, at(tue, "10:00"), other.Username)),
		"forbidden", proto.ReasonNotYours)
	var b bookingAnswer
	st.OK(t, her.Call(t, "booking", "book", fmt.Sprintf(`{"service":"dog-bath","start":%q,"customer":%q}`, at(tue, "10:00"), her.Username))).Decode(t, &b)
	if b.Booking.Customer != her.Username || b.Booking.Source != "chat" {
		t.Fatalf("her booking: %+v", b.Booking)
	}
	st.Fails(t, other.Call(t, "booking", "reschedule", fmt.Sprintf(`{"booking":%q,"start":%q}`, b.Booking.ID, at(tue, "11:00"))), "forbidden", proto.ReasonNotYours)
	st.Fails(t, other.Call(t, "booking", "cancel", fmt.Sprintf(`{"booking":%q}`, b.Booking.ID)), "forbidden", proto.ReasonNotYours)
	st.Fails(t, other.Call(t, "booking", "list", fmt.Sprintf(`{"customer":%q}`, her.Username)), "forbidden", "")
	var moved bookingAnswer
	st.OK(t, her.Call(t, "booking", "reschedule", fmt.Sprintf(`{"booking":%q,"start":%q}`, b.Booking.ID, at(tue, "11:00")))).Decode(t, &moved)
	if rfc(moved.Booking.Start) != at(tue, "11:00") {
		t.Fatalf("moved: %+v", moved.Booking)
	}
	st.OK(t, her.Call(t, "booking", "cancel", fmt.Sprintf(`{"booking":%q}`, b.Booking.ID)))
}
