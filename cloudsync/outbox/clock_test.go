package outbox_test

import (
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/cloudsync/outbox"
	"github.com/storeedge/storeedge/internal/testkit/testclock"
)

// Entries filed while the clock is not set are marked, sealed or in the
// clear; entries filed before and after read as they always did; the mark
// survives sealing an old entry, the kept range and a refile; and the
// clock going back in between changes nothing of the sending order.
func TestEntriesMarkedWhileClockUnsynced(t *testing.T) {
	for _, sealed := range []bool{true, false} {
		t.Run(map[bool]string{true: "sealed", false: "clear"}[sealed], func(t *testing.T) {
			db := openDB(t, filepath.Join(t.TempDir(), "o.db"))
			clock := testclock.New(time.Date(1970, 1, 1, 0, 1, 0, 0, time.UTC))
			var synced atomic.Bool
			o := outbox.Options{Classify: classify, Now: clock.Now, ClockSynced: synced.Load, KeepFor: 100 * 365 * 24 * time.Hour} // the kept range ages entries by their stamps
			if sealed {
				o.Seal = testKeys(t)
			}
			ob, err := outbox.New(o)
			if err != nil {
				t.Fatal(err)
			}
			mustPut(t, db, ob, clock, "chat/c1/hq", "booted in 1970")
			mustPut(t, db, ob, clock, "devices/k1/telemetry", "a reading in 1970")
			synced.Store(true)
			clock.Set(time.Date(2026, 12, 7, 19, 0, 0, 0, time.UTC)) // NTP
			mustPut(t, db, ob, clock, "chat/c1/hq", "after the sync")
			clock.Set(clock.Now().Add(-time.Hour)) // a step back
			mustPut(t, db, ob, clock, "chat/c1/hq", "after the step back")

			if s := stats(t, db, ob); !s.OldestUnsynced || s.Oldest.Year() != 1970 {
				t.Fatalf("stats with a 1970 entry oldest: %+v", s)
			}
			es := next(t, db, ob, 10, nil)
			got := map[string]bool{}
			var order []string
			for _, e := range es {
				got[string(e.Payload)] = e.ClockUnsynced
				if e.Class == "chat" {
					order = append(order, string(e.Payload))
				}
			}
			if !got["booted in 1970"] || !got["a reading in 1970"] || got["after the sync"] || got["after the step back"] {
				t.Fatalf("marks: %v", got)
			}
			if len(order) != 3 || order[0] != "booted in 1970" || order[1] != "after the sync" || order[2] != "after the step back" {
				t.Fatalf("chat sent in the order %v, not the order filed", order)
			}
			// The unmarked entries stay in the version every earlier
			// binary reads; the marked ones in the new one.
			if err := db.View(func(tx *bolt.Tx) error {
				return tx.Bucket([]byte("cloud_outbox")).ForEach(func(k, v []byte) error {
					base := byte(3)
					if sealed {
						base = 4
					}
					if v[0] != base && v[0] != base+2 {
						t.Errorf("entry %x written as version %d", k, v[0])
					}
					return nil
				})
			}); err != nil {
				t.Fatal(err)
			}
			// Once the 1970 entries are sent, the oldest is a real time.
			if err := db.Update(func(tx *bolt.Tx) error { return ob.Ack(tx, es[0].Seq, es[3].Seq) }); err != nil {
				t.Fatal(err)
			}
			if s := stats(t, db, ob); s.OldestUnsynced || s.Oldest.Year() != 2026 {
				t.Fatalf("stats once the 1970 entries are gone: %+v", s)
			}
			// Acked, kept, filed again for a resync: still marked.
			if err := db.Update(func(tx *bolt.Tx) error { return ob.Ack(tx, es[1].Seq, es[2].Seq) }); err != nil {
				t.Fatal(err)
			}
			var r outbox.Refiled
			if err := db.Update(func(tx *bolt.Tx) (err error) { r, err = ob.Refile(tx, "chat", 1, 2); return err }); err != nil {
				t.Fatal(err)
			}
			again := next(t, db, ob, 10, nil)
			marks := map[string]bool{}
			for _, e := range again {
				marks[string(e.Payload)] = e.ClockUnsynced
			}
			if !marks["booted in 1970"] || marks["after the sync"] {
				t.Fatalf("refiled (%+v): marks %v", r, marks)
			}
		})
	}
}
