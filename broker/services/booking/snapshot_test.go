package booking

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/storeedge/storeedge/proto"
)

// A snapshot hands HQ every booking the store keeps as it is now (a
// cancelled one too), each a Change of type snapshot on HQ's changes
// topic, read in bounded batches.
func TestSnapshot(t *testing.T) {
	d := newDeskRig(t)
	var ids []string
	for i, start := range []string{"2026-11-24T11:00:00+08:00", "2026-11-24T15:00:00+08:00", "2026-11-25T11:00:00+08:00"} {
		ids = append(ids, bookedID(t, deskMust(t, d, d.book, "book", fmt.Sprintf("s-%d", i), deskStaff,
			fmt.Sprintf(`{"service":"dog-bath","start":%q,"customer":"cust-s%d"}`, start, i))))
	}
	deskMust(t, d, d.cancel, "cancel", "s-c", deskStaff, fmt.Sprintf(`{"booking":%q,"reason":"plans changed"}`, ids[1]))

	old := snapshotBatch
	snapshotBatch = 2
	t.Cleanup(func() { snapshotBatch = old })
	got := map[string]proto.Change{}
	err := d.Snapshot(t.Context(), func(topic string, payload []byte) error {
		var ch proto.Change
		if err := json.Unmarshal(payload, &ch); err != nil {
			return err
		}
		if topic != HQChangesTopic || ch.V != 1 || ch.Type != proto.ChangeSnapshot || ch.Seq != 0 {
			t.Errorf("snapshot entry on %s: %s", topic, payload)
		}
		if _, dup := got[ch.Booking]; dup {
			t.Errorf("booking %s twice", ch.Booking)
		}
		got[ch.Booking] = ch
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ids) {
		t.Fatalf("snapshot has %d bookings, want %d: %v", len(got), len(ids), got)
	}
	for i, id := range ids {
		ch := got[id]
		want := StatusBooked
		if i == 1 {
			want = StatusCancelled
		}
		if ch.Status != want || ch.Customer != fmt.Sprintf("cust-s%d", i) || ch.Service != "dog-bath" || ch.Rev < 1 || ch.Start.IsZero() {
			t.Fatalf("booking %d in the snapshot: %+v", i, ch)
		}
	}
}
