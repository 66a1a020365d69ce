package ingest_test

import (
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	"github.com/storeedge/storeedge/internal/testkit/pgtest"
	st "github.com/storeedge/storeedge/internal/testkit/storetest"
)

// A real store linked to HQ's broker: a booking made at the counter lands
// in the replica (the booking, its change, the activity log entry), and HQ
// keeps the walk-in's contact nowhere.
func TestARealStoreIntoTheReplica(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Options{})
	pg := pgtest.Start(t)
	r := openReplica(t, pg.URL)
	startConsumer(t, r, mq.Addr, "hq-1", time.Hour)
	anna := st.Device{ID: "staff-anna", Role: "staff"}
	s := st.Start(t, st.Options{Devices: []st.Device{anna}, Config: func(c *broker.Config) {
		c.Cloud.URL = "mqtt://" + mq.Addr
		c.Cloud.ReconnectMin, c.Cloud.ReconnectMax = 20*time.Millisecond, 200*time.Millisecond
	}})
	staff := s.Connect(t, anna, "")
	var a struct {
		Booking struct {
			ID string `json:"id"`
		} `json:"booking"`
	}
	st.OK(t, staff.Call(t, "booking", "book",
		`{"service":"dog-bath","start":"2026-11-24T10:00:00+08:00","source":"walk_in","contact":{"name":"Wang Fangfang","phone":"138 0013 8000"}}`)).Decode(t, &a)
	if a.Booking.ID == "" {
		t.Fatal("no booking id")
	}
	waitFor(t, 30*time.Second, "the booking, its change and the activity entry at HQ", func() bool {
		return count(t, r.Pool(), `SELECT count(*) FROM bookings WHERE store = 'demo-store' AND booking = $1
			AND service = 'dog-bath' AND start_at = '2026-11-24T02:00:00Z'`, a.Booking.ID) == 1 &&
			count(t, r.Pool(), `SELECT count(*) FROM booking_changes WHERE store = 'demo-store' AND booking = $1 AND type = 'created'`, a.Booking.ID) == 1 &&
			count(t, r.Pool(), `SELECT count(*) FROM audit_entries WHERE store = 'demo-store' AND entry->>'target' = $1`, a.Booking.ID) == 1
	})
	for _, q := range []string{
		`SELECT count(*) FROM audit_entries WHERE entry::text LIKE '%Wang%' OR entry::text LIKE '%0013%'`,
		`SELECT count(*) FROM booking_changes WHERE change::text LIKE '%Wang%'`,
	} {
		if n := count(t, r.Pool(), q); n != 0 {
			t.Fatalf("HQ keeps the walk-in's contact: %s", q)
		}
	}
}
