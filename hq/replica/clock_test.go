package replica

import (
	"testing"

	"github.com/storeedge/storeedge/proto"
)

// Entries a store filed before its clock was set (clock=unsynced) land
// flagged, also when they arrive ahead of a gap and wait parked; the
// others do not.
func TestClockUnsyncedKeptWhereEntriesLand(t *testing.T) {
	r := newReplica(t)
	chat := func(seq uint64, unsynced bool) Outcome {
		m := msg("s1", "e1", proto.StreamChat, seq, seq, "chat/c1/hq", chatMsg("c1", "cu1", "cu1", seq, "hi", false))
		m.ClockUnsynced = unsynced
		return apply(t, r, m)
	}
	change := func(seq uint64, unsynced bool) Outcome {
		m := msg("s1", "e1", proto.StreamBooking, 100+seq, seq, "booking/changes",
			proto.Change{V: 1, Seq: seq, Type: proto.ChangeCreated, Booking: "b1", Rev: int(seq)})
		m.ClockUnsynced = unsynced
		return apply(t, r, m)
	}
	// Ahead of their gaps: parked, with the flag.
	if o := chat(3, true); !o.Parked {
		t.Fatalf("chat 3: %+v", o)
	}
	if o := chat(2, true); !o.Parked {
		t.Fatalf("chat 2: %+v", o)
	}
	if o := change(2, true); !o.Parked {
		t.Fatalf("change 2: %+v", o)
	}
	if n := count(t, r, `SELECT count(*) FROM parked WHERE clock_unsynced`); n != 3 {
		t.Fatalf("%d parked entries flagged, want 3", n)
	}
	// The gaps fill (on a set clock): everything drains.
	if o := chat(1, false); !o.Applied || o.Drained != 2 {
		t.Fatalf("chat 1: %+v", o)
	}
	if o := change(1, false); !o.Applied || o.Drained != 1 {
		t.Fatalf("change 1: %+v", o)
	}
	if n := count(t, r, `SELECT count(*) FROM messages WHERE store = 's1' AND clock_unsynced`); n != 2 {
		t.Errorf("%d messages flagged, want 2 (seq 2 and 3)", n)
	}
	if n := count(t, r, `SELECT count(*) FROM messages WHERE store = 's1' AND seq = 1 AND NOT clock_unsynced`); n != 1 {
		t.Errorf("message 1 (a set clock) is flagged or missing")
	}
	if n := count(t, r, `SELECT count(*) FROM booking_changes WHERE store = 's1' AND seq = 2 AND clock_unsynced`); n != 1 {
		t.Errorf("booking change 2 not flagged")
	}
	if n := count(t, r, `SELECT count(*) FROM booking_changes WHERE store = 's1' AND seq = 1 AND NOT clock_unsynced`); n != 1 {
		t.Errorf("booking change 1 flagged or missing")
	}
}
