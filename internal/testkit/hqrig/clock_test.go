package hqrig_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/jackc/pgx/v5"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/internal/testkit/hqrig"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/internal/timesync"
)

// A store whose clock is not set files its bookings for HQ marked: they
// reach HQ's broker (a real mosquitto) with user property clock=unsynced
// and land in HQ's replica flagged; HQ's API says the store's clock is not
// set. Once the clock is set, what it files goes unmarked and HQ says so.
func TestUnsyncedEntriesFlaggedAtHQ(t *testing.T) {
	h := hqrig.Start(t, hqrig.Options{})
	src := timesync.NewSettable(false)
	kiosk, staff := storetest.Device{ID: "kiosk-1", Role: "kiosk"}, storetest.Device{ID: "staff-h", Role: "staff"}
	s := h.LinkStoreWith(t, "s-clock", storetest.Options{Start: time.Now(), Devices: []storetest.Device{kiosk, staff},
		Config: func(c *broker.Config) {
			c.Clock.PollEvery = 100 * time.Millisecond
			c.Cloud.StatusInterval = time.Hour // only a change of the clock publishes it again
		},
		Wire: func(_ *storetest.Store, c *broker.Config) { c.ClockSource = src.Read }})

	var mu sync.Mutex
	clockProp := map[string]string{} // booking id → the clock property it came with
	conn, err := net.Dial("tcp", h.MQTT.Addr)
	if err != nil {
		t.Fatal(err)
	}
	sub := paho.NewClient(paho.ClientConfig{Conn: conn, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(p paho.PublishReceived) (bool, error) {
			if p.Packet.Topic == "stores/s-clock/up/booking/changes" {
				mu.Lock()
				clockProp[string(p.Packet.Payload)] = p.Packet.Properties.User.Get("clock")
				mu.Unlock()
			}
			return true, nil
		}}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := sub.Connect(ctx, &paho.Connect{KeepAlive: 30, ClientID: "clock-watch", CleanStart: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Disconnect(&paho.Disconnect{}) })
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "stores/s-clock/up/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	h.WaitOnline(t, "s-clock", true, 30*time.Second)

	k := s.Connect(t, kiosk, "")
	sc := s.Connect(t, staff, "")
	health := func() (synced bool, known bool) {
		var st struct {
			Clock *struct{ Synced bool } `json:"clock"`
		}
		storetest.OK(t, sc.Call(t, "store", "health", `{}`)).Decode(t, &st)
		return st.Clock != nil && st.Clock.Synced, st.Clock != nil
	}
	if synced, known := health(); synced || !known {
		t.Fatalf("the health op's clock before the sync: synced %v, there %v", synced, known)
	}
	// The store's own status (the console reads it) says so too.
	sc.Subscribe(t, "cloudsync/status")
	statusSays := func(want bool) func(storetest.Msg) bool {
		return func(m storetest.Msg) bool {
			var st struct {
				ClockSynced *bool `json:"clock_synced"`
			}
			return m.Topic == "cloudsync/status" && json.Unmarshal(m.Payload, &st) == nil && st.ClockSynced != nil && *st.ClockSynced == want
		}
	}
	sc.WaitFor(t, 1, statusSays(false))
	day := s.Now().AddDate(0, 0, 2).Format("2006-01-02")
	bookOne := func(customer, hhmm string) string {
		var a struct {
			Booking struct {
				ID string `json:"id"`
			} `json:"booking"`
		}
		storetest.OK(t, k.Call(t, "booking", "book", fmt.Sprintf(`{"service":"dog-bath","start":"%sT%s:00+08:00","customer":%q}`, day, hhmm, customer))).Decode(t, &a)
		return a.Booking.ID
	}
	unsynced := bookOne("cust-u1", "11:00")
	src.Set(true)
	waitFor(t, 10*time.Second, "the store to see its clock set", func() bool { synced, _ := health(); return synced })
	sc.WaitFor(t, 1, statusSays(true)) // at once, not at the next periodic status
	synced := bookOne("cust-s1", "14:00")

	// On HQ's broker.
	waitFor(t, 30*time.Second, "both bookings on HQ's broker", func() bool {
		mu.Lock()
		defer mu.Unlock()
		u, s := 0, 0
		for payload, v := range clockProp {
			switch {
			case contains(payload, unsynced):
				if v == "unsynced" {
					u++
				}
			case contains(payload, synced):
				if v != "" {
					t.Errorf("a booking filed on a set clock came with clock=%q", v)
				}
				s++
			}
		}
		return u > 0 && s > 0
	})

	// In HQ's replica.
	db, err := pgx.Connect(ctx, h.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	flag := func(booking string) (bool, bool) {
		var f bool
		err := db.QueryRow(ctx, `SELECT bool_and(clock_unsynced) FROM booking_changes WHERE store = 's-clock' AND booking = $1 HAVING count(*) > 0`, booking).Scan(&f)
		return f, err == nil
	}
	waitFor(t, 30*time.Second, "both bookings in HQ's replica", func() bool {
		_, a := flag(unsynced)
		_, b := flag(synced)
		return a && b
	})
	if f, _ := flag(unsynced); !f {
		t.Error("the booking filed on an unset clock is not flagged in HQ's replica")
	}
	if f, _ := flag(synced); f {
		t.Error("the booking filed on a set clock is flagged in HQ's replica")
	}
	// HQ's API: the store's clock is set now.
	waitFor(t, 30*time.Second, "HQ to say the store's clock is set", func() bool {
		var row struct {
			ClockSynced *bool `json:"clock_synced"`
		}
		h.APIJSON(t, "/api/v1/stores/s-clock", &row)
		return row.ClockSynced != nil && *row.ClockSynced
	})
}

func contains(s, sub string) bool { return sub != "" && len(s) >= len(sub) && (indexOf(s, sub) >= 0) }

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !ok(); {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
}
