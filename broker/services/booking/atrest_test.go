package booking_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker"
	st "github.com/storeedge/storeedge/internal/testkit/storetest"
)

// progressNotes reads a booking's progress notes through booking/get.
func progressNotes(t *testing.T, c *st.Client, id string) []string {
	t.Helper()
	var g struct {
		Booking struct {
			Progress []struct {
				Note string `json:"note"`
			} `json:"progress"`
		} `json:"booking"`
	}
	st.OK(t, c.Call(t, "booking", "get", fmt.Sprintf(`{"booking":%q}`, id))).Decode(t, &g)
	var out []string
	for _, p := range g.Booking.Progress {
		out = append(out, p.Note)
	}
	return out
}

// TestProgressNotesSealed: a progress note (what the groomer found on the
// dog) is shown to staff and the owner but never stored in the clear; a
// note stored in the clear by an older version is still shown, and is
// sealed when the store starts.
func TestProgressNotesSealed(t *testing.T) {
	const note = "found a tick behind the left ear"
	s := st.Start(t, st.Options{Devices: all})
	staff := s.Connect(t, anna, "")
	var b bookingAnswer
	st.OK(t, book(t, staff, "dog-bath", at(tue, "15:00"), "cust-walkin-3")).Decode(t, &b)
	s.Set(time.Date(2026, 11, 24, 14, 50, 0, 0, s.Now().Location()))
	st.OK(t, staff.Call(t, "booking", "check_in", fmt.Sprintf(`{"booking":%q}`, b.Booking.ID)))
	st.OK(t, staff.Call(t, "booking", "progress", fmt.Sprintf(`{"booking":%q,"stage":"bathing","note":%q}`, b.Booking.ID, note)))
	if got := progressNotes(t, staff, b.Booking.ID); len(got) != 2 || got[1] != note {
		t.Fatalf("progress notes: %q", got)
	}
	// A repeat of the same stage and note (its answer forgotten) changes nothing.
	st.OK(t, staff.Call(t, "booking", "progress", fmt.Sprintf(`{"booking":%q,"stage":"bathing","note":%q}`, b.Booking.ID, note)))
	if got := progressNotes(t, staff, b.Booking.ID); len(got) != 2 {
		t.Fatalf("a repeated stage was added again: %q", got)
	}
	s.Stop()

	path := filepath.Join(s.Dir, "data", broker.DBFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte("booking_bookings")) {
		t.Fatal("the search looked at the wrong file")
	}
	if i := bytes.Index(raw, []byte(note)); i >= 0 {
		t.Fatalf("the database file holds the progress note in the clear at byte %d", i)
	}

	// An older version stored the note in the clear.
	const oldNote = "nails trimmed short, owner asked"
	rewrite := func(fn func(rec map[string]any)) {
		t.Helper()
		db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.Update(func(tx *bolt.Tx) error {
			bk := tx.Bucket([]byte("booking_bookings"))
			var rec map[string]any
			if err := json.Unmarshal(bk.Get([]byte(b.Booking.ID)), &rec); err != nil {
				return err
			}
			fn(rec)
			v, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			return bk.Put([]byte(b.Booking.ID), v)
		}); err != nil {
			t.Fatal(err)
		}
	}
	rewrite(func(rec map[string]any) {
		p := rec["progress"].([]any)[1].(map[string]any)
		if p["note"] != nil || p["sealed_note"] == nil {
			t.Errorf("a new note's record: %v", p)
		}
		delete(p, "sealed_note")
		p["note"] = oldNote
	})
	s.Up()
	staff.Reconnect(t)
	if got := progressNotes(t, staff, b.Booking.ID); len(got) != 2 || got[1] != oldNote {
		t.Fatalf("an old clear note after the upgrade: %q", got)
	}
	s.Stop()
	rewrite(func(rec map[string]any) {
		p := rec["progress"].([]any)[1].(map[string]any)
		if p["note"] != nil || p["sealed_note"] == nil {
			t.Errorf("the old note was not sealed at start: %v", p)
		}
	})
}
