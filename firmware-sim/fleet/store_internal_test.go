package fleet

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/storeedge/storeedge/proto"
)

// The presence counts entries HQ asked for again as backlog, with their
// age, after everything was acknowledged once.
func TestPresenceCountsResentEntries(t *testing.T) {
	o := Options{Broker: "127.0.0.1:1", Stores: 1, Manual: true}
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	s, err := newStore("s1", &o)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for i := range 3 {
		if _, err := s.FileAt(KindChat, start.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	s.acked = 3
	s.resend = []*Entry{s.entries[1]}
	var st proto.StoreStatus
	if err := json.Unmarshal(s.status(true, start.Add(time.Hour)), &st); err != nil {
		t.Fatal(err)
	}
	if st.Backlog != 1 || st.OldestAt == nil || !st.OldestAt.Equal(start.Add(time.Minute)) || st.BacklogBytes != int64(len(s.entries[1].Payload)) {
		t.Fatalf("presence %+v: want the resent entry as the backlog, with its age", st)
	}
}
