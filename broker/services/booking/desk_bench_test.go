package booking

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/svc"
)

// fillMonth books n bookings through the book op as staff, at free slots of
// random services on the days days from first, one customer each.
func fillMonth(b *testing.B, d *Desk, first Date, days, n int) {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	made := 0
	for tries := 0; made < n; tries++ {
		if tries == 100*n {
			b.Fatalf("only %d bookings fit in %d days", made, days)
		}
		day := first.AddDays(rng.IntN(days))
		s := d.cat().Services[rng.IntN(len(d.cat().Services))]
		var busy []Busy
		if err := d.o.DB.View(func(tx *bolt.Tx) error {
			var err error
			busy, err = busyOn(tx, day)
			return err
		}); err != nil {
			b.Fatal(err)
		}
		free := d.cat().Slots(s, day, busy, deskNow, "")
		if len(free) == 0 {
			continue
		}
		sl := free[rng.IntN(len(free))]
		_, err := deskCall(d, d.book, "book", fmt.Sprintf("fill-%d", tries), deskStaff,
			fmt.Sprintf(`{"service":%q,"start":%q,"customer":"cust-%04d"}`, s.ID, d.fmtTime(sl.Start), made))
		var se *svc.Error
		switch {
		case errors.As(err, &se) && se.Code == svc.CodeConflict:
			continue
		case err != nil:
			b.Fatal(err)
		}
		made++
	}
}

// BenchmarkAvailabilityMonth: the availability op answering a month of one
// service's free slots, the calendar a customer browses, with 1000
// bookings on the books (about 32 a day) in a real bbolt file, made through
// the book op. The target is well under 10 ms.
func BenchmarkAvailabilityMonth(b *testing.B) {
	d := newDeskRig(b)
	const days, bookings = 31, 1000
	first := Date(20261124)
	fillMonth(b, d, first, days, bookings)
	if seq, _ := deskState(b, d); seq != bookings {
		b.Fatalf("the change feed has %d changes, want %d", seq, bookings)
	}
	body := fmt.Sprintf(`{"service":"dog-groom","date":%q,"days":%d}`, first, days)
	js, err := json.Marshal(deskMust(b, d, d.availability, "availability", "a", deskCustomer, body))
	if err != nil {
		b.Fatal(err)
	}
	var ans struct {
		Days []struct {
			Slots []SlotView `json:"slots"`
		} `json:"days"`
	}
	if err := json.Unmarshal(js, &ans); err != nil || len(ans.Days) != days {
		b.Fatalf("availability answered %s (%v), want %d days", js, err, days)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if _, err := deskCall(d, d.availability, "availability", "a", deskCustomer, body); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(n), "ms/op")
}

// BenchmarkBook: one booking per op through the book op, answered after
// its transaction is on disk (the fsync included). Each booking is
// cancelled, off the clock, so that the next one finds its slot free.
func BenchmarkBook(b *testing.B) {
	d := newDeskRig(b)
	body := `{"service":"dog-bath","start":"2026-11-25T10:00:00+08:00","customer":"cust-bench","notes":"first visit"}`
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		res, err := deskCall(d, d.book, "book", fmt.Sprintf("book-%d", n), deskStaff, body)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		deskMust(b, d, d.cancel, "cancel", fmt.Sprintf("cancel-%d", n), deskStaff,
			fmt.Sprintf(`{"booking":%q}`, bookedID(b, res)))
		n++
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(n), "ms/op")
}

// BenchmarkCustomersSearch: staff finding a customer by part of the phone
// among 2000 customers booked with a name and phone (every contact is
// unsealed and matched: the desk keeps no plain index of personal data).
func BenchmarkCustomersSearch(b *testing.B) {
	d := newDeskRig(b)
	const customers = 2000
	if err := d.o.DB.Update(b.Context(), func(tx *bolt.Tx) error {
		for i := range customers {
			c := &Contact{Name: fmt.Sprintf("Customer %04d", i), Phone: fmt.Sprintf("138 %04d %04d", i, i)}
			if err := d.putContact(tx, fmt.Sprintf("walkin-%04d", i), c, deskNow); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	body := `{"query":"0123 0123"}`
	js, err := json.Marshal(deskMust(b, d, d.customers, "customers", "q", deskStaff, body))
	if err != nil {
		b.Fatal(err)
	}
	var ans struct {
		Customers []struct{ Customer string } `json:"customers"`
	}
	if err := json.Unmarshal(js, &ans); err != nil || len(ans.Customers) != 1 || ans.Customers[0].Customer != "walkin-0123" {
		b.Fatalf("customers answered %s (%v)", js, err)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if _, err := deskCall(d, d.customers, "customers", "q", deskStaff, body); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(n), "ms/op")
}

// BenchmarkBoardDays: the week view's counts with 1000 bookings in the
// month (about 32 a day).
func BenchmarkBoardDays(b *testing.B) {
	d := newDeskRig(b)
	first := Date(20261124)
	fillMonth(b, d, first, 31, 1000)
	body := fmt.Sprintf(`{"from":%q,"days":7}`, first)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if _, err := deskCall(d, d.boardDays, "board_days", "w", deskStaff, body); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(n), "ms/op")
}

// BenchmarkCatalogSet: an admin saving the catalogue (a price changed)
// with 1000 bookings ahead, each checked against the old and the new
// catalogue for stranding, answered after its transaction is on disk.
func BenchmarkCatalogSet(b *testing.B) {
	ctx := b.Context()
	d := newDeskRig(b)
	if err := d.OpenShop(ctx); err != nil {
		b.Fatal(err)
	}
	fillMonth(b, d, Date(20261124), 31, 1000)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		cur := d.shop.Load().answer()
		cur.Catalog.Services[0].Price += 100
		body, err := json.Marshal(map[string]any{"version": cur.Version, "catalog": cur.Catalog})
		if err != nil {
			b.Fatal(err)
		}
		deskMust(b, d, d.catalogSet, "catalog_set", fmt.Sprintf("set-%d", n), deskAdmin, string(body))
		n++
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(n), "ms/op")
}
