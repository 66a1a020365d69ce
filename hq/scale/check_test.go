package scale_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/storeedge/storeedge/firmware-sim/fleet"
	"github.com/storeedge/storeedge/hq/replica"
	"github.com/storeedge/storeedge/hq/scale"
	"github.com/storeedge/storeedge/internal/seal"
	"github.com/storeedge/storeedge/internal/testkit/pgtest"
	"github.com/storeedge/storeedge/proto"
)

// Check finds what a replica that lost, doubled or reordered messages
// would show: a row nobody filed, a message applied while one before it
// in its stream is not, and what is merely not there yet.
func TestCheckFindsWhatIsWrong(t *testing.T) {
	ctx := context.Background()
	pg := pgtest.Start(t)
	spec, err := scale.NewSealKeys()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := seal.ParseKeys(spec)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := replica.Open(ctx, pg.URL, replica.Options{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	rep.Close()
	db, err := pgx.Connect(ctx, pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)

	// A store that files, with nowhere to send (its link only retries).
	f, err := fleet.Start(ctx, fleet.Options{Broker: "127.0.0.1:1", Stores: 1, Manual: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	s := f.Stores()[0]
	var chat []fleet.Entry
	for range 3 {
		e, err := s.File(fleet.KindChat)
		if err != nil {
			t.Fatal(err)
		}
		chat = append(chat, e)
	}
	b, err := s.File(fleet.KindBooking)
	if err != nil {
		t.Fatal(err)
	}
	insert := func(e fleet.Entry) {
		t.Helper()
		if _, err := db.Exec(ctx, `INSERT INTO messages (store, conversation, seq, stored) VALUES ($1, $2, $3, $4)`,
			s.ID, e.Conversation, e.ChatSeq, e.Stored); err != nil {
			t.Fatal(err)
		}
	}
	check := func() scale.Report {
		t.Helper()
		r, err := scale.Check(ctx, db, f.Stores())
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	if r := check(); !r.Sound() || r.OK() || len(r.Pending) != 6 {
		t.Fatalf("nothing applied yet: %v", r)
	}
	insert(chat[0])
	insert(chat[2]) // the second is not there: the third came out of order
	if r := check(); r.Sound() || !strings.Contains(strings.Join(r.Problems, "\n"), "chat sseq 3 applied while sseq 2 is not") {
		t.Fatalf("out of order not found: %v", r)
	}
	insert(chat[1])
	if _, err := db.Exec(ctx, `INSERT INTO booking_changes (store, epoch, seq, type, change) VALUES ($1, $2, $3, 'created', '{}')`,
		s.ID, s.Epoch, b.ChangeSeq); err != nil {
		t.Fatal(err)
	}
	if r := check(); !r.Sound() || r.OK() || !strings.Contains(strings.Join(r.Pending, "\n"), "stream chat applied up to 0") {
		t.Fatalf("streams not applied yet: %v", r)
	}
	for stream, n := range map[string]int{proto.StreamChat: 3, proto.StreamBooking: 1} {
		if _, err := db.Exec(ctx, `INSERT INTO streams (store, epoch, stream, applied) VALUES ($1, $2, $3, $4)`, s.ID, s.Epoch, stream, n); err != nil {
			t.Fatal(err)
		}
	}
	if r := check(); !r.OK() || r.Chat != 3 || r.Changes != 1 {
		t.Fatalf("everything there: %v", r)
	}
	// A message nobody filed (a double under another key, a stray row).
	if _, err := db.Exec(ctx, `INSERT INTO messages (store, conversation, seq, stored) VALUES ($1, $2, 99, $3)`,
		s.ID, chat[0].Conversation, time.Now()); err != nil {
		t.Fatal(err)
	}
	if r := check(); r.Sound() || !strings.Contains(strings.Join(r.Problems, "\n"), "never filed") {
		t.Fatalf("a row nobody filed not found: %v", r)
	}
}
