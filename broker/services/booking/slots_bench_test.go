package booking

import (
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker/services/chat/faq"
	"github.com/storeedge/storeedge/configs"
)

// A month of availability for one service, as the availability op answers
// a customer browsing the calendar: Slots for each of 31 dates of a month
// holding 1000 bookings (about 33 a day, one or two resources each), made
// as the desk would make them, at free slots of random services.
func BenchmarkMonthAvailability(b *testing.B) {
	y, err := os.ReadFile("../../../configs/services.yaml")
	if err != nil {
		b.Fatal(err)
	}
	a, err := faq.Load(configs.FAQ)
	if err != nil {
		b.Fatal(err)
	}
	c, err := LoadCatalog(y, a.Hours())
	if err != nil {
		b.Fatal(err)
	}
	const days, bookings = 31, 1000
	first := Date(20261201)
	busy := make(map[Date][]Busy, days)
	rng := rand.New(rand.NewPCG(1, 2))
	made := 0
	for tries := 0; made < bookings && tries < 100*bookings; tries++ {
		d := first.AddDays(rng.IntN(days))
		s := c.Services[rng.IntN(len(c.Services))]
		free := c.Slots(s, d, busy[d], time.Time{}, "")
		if len(free) == 0 {
			continue
		}
		sl := free[rng.IntN(len(free))]
		id := "bk-" + sl.Start.Format("0102150405") + "-" + s.ID
		for _, r := range sl.Resources {
			busy[d] = append(busy[d], Busy{Resource: r, From: sl.Start, To: sl.End.Add(s.Buffer), Booking: id})
		}
		made++
	}
	if made < bookings {
		b.Fatalf("only %d bookings fit in the month", made)
	}
	groom, _ := c.Service("dog-groom")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for i := range days {
			d := first.AddDays(i)
			c.Slots(groom, d, busy[d], time.Time{}, "")
		}
	}
}
